"""Embed items and texts with a trained student, in batches, without gradients."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from recplug.student.items import ItemStore
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
) -> np.ndarray:
    encoder.eval()
    n = len(rows) if rows is not None else len(texts or [])
    enc = Encoding(max_text_tokens=max_text_tokens)
    out = []
    for lo in tqdm(range(0, n, batch), desc="embed", unit="batch", disable=not progress):
        e = (
            Entries(view, item_rows=rows[lo : lo + batch])
            if rows is not None
            else Entries(view, texts=texts[lo : lo + batch])
        )
        inputs, _ = encode_inputs(store, tokenizer, [e], enc)
        out.append(encoder(**inputs).embedding.float().numpy())
    return np.concatenate(out) if out else np.zeros((0, encoder.config.hidden_size), dtype=np.float32)


def embed_items(encoder, store: ItemStore, tokenizer, view: View | None = None, **kw) -> np.ndarray:
    return embed_entries(
        encoder, store, tokenizer, view or View(instruction="item"), rows=np.arange(len(store.item_ids)), **kw
    )
