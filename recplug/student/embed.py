"""Embed items and texts with a trained student, in batches, without gradients."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from recplug.student.items import ItemStore
from recplug.student.media_features import MediaFeatures
from recplug.student.modeling import OmniEncoder
from recplug.student.views import Encoding, Entries, View, encode_inputs


@torch.no_grad()
def embed_entries(
    encoder: OmniEncoder,
    store: ItemStore,
    tokenizer,
    view: View,
    *,
    rows: np.ndarray | None = None,
    texts: list[str] | None = None,
    batch: int = 256,
    max_text_tokens: int = 48,
    progress: bool = False,
    media: MediaFeatures | None = None,
) -> np.ndarray:
    """One embedding per entry (`rows` of the store or free `texts`) through `view`; `media`: the
    frozen encoders' stored outputs, used in place of the items' media."""
    encoder.eval()
    # each distinct row / text once (the mining queries repeat items thousands of times): the model is
    # in eval mode, so a repeat's embedding is the same vector
    if rows is not None:
        rows, inverse = np.unique(np.asarray(rows), return_inverse=True)
    else:
        first: dict[str, int] = {}
        inverse = np.fromiter((first.setdefault(t, len(first)) for t in texts or []), np.int64)
        texts = list(first)
    n = len(rows) if rows is not None else len(texts)
    enc = Encoding(max_text_tokens=max_text_tokens)
    out = []
    for lo in tqdm(range(0, n, batch), desc="embed", unit="batch", disable=not progress):
        e = (
            Entries(view, item_rows=rows[lo : lo + batch])
            if rows is not None
            else Entries(view, texts=texts[lo : lo + batch])
        )
        inputs, _ = encode_inputs(store, tokenizer, [e], enc)
        if media is not None and rows is not None:
            inputs = media.inputs(inputs, e.item_rows)
        out.append(encoder(**inputs).embedding.float().numpy())
    if not out:
        return np.zeros((len(inverse), encoder.config.hidden_size), dtype=np.float32)
    return np.concatenate(out)[inverse.reshape(-1)]


def embed_items(encoder, store: ItemStore, tokenizer, view: View | None = None, **kw) -> np.ndarray:
    return embed_entries(
        encoder, store, tokenizer, view or View(instruction="item"), rows=np.arange(len(store.item_ids)), **kw
    )
