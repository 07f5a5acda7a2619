"""Views: what of an item (or a text) the encoder sees: a modality subset, text fields, an instruction.
`encode_inputs` turns a batch of (entity, view) entries into the model's tensors in one go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from recplug.student.items import ItemStore

Modality = Literal["text", "image", "audio"]


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    modalities: tuple[Modality, ...] = ("text", "image", "audio")
    fields: tuple[str, ...] = ("title", "description", "tags")
    instruction: str = ""

    def key(self) -> str:
        return f"{'+'.join(self.modalities)}|{','.join(self.fields)}|{self.instruction}"


@dataclass
class Entries:
    """One side of a pattern for a batch: either item rows or free texts, seen through one view."""

    view: View
    item_rows: np.ndarray | None = None  # (n,) rows of the ItemStore
    texts: list[str] | None = None  # (n,) free texts (queries, label names)

    def __len__(self) -> int:
        return len(self.item_rows) if self.item_rows is not None else len(self.texts or [])

    def present(self, store: ItemStore) -> np.ndarray:
        """Which entries have at least one of the view's modalities (a pattern needs both sides)."""
        if self.texts is not None:
            return np.array(["text" in self.view.modalities and bool(t) for t in self.texts], dtype=bool)
        rows = self.item_rows
        ok = np.zeros(len(rows), dtype=bool)
        if "text" in self.view.modalities:
            ok |= store.has_text(self.view.fields)[rows]
        if "image" in self.view.modalities:
            ok |= store.has_image.numpy()[rows]
        if "audio" in self.view.modalities:
            ok |= store.has_audio.numpy()[rows]
        return ok


class Encoding(BaseModel):
    """Knobs for turning entries into tensors."""

    model_config = ConfigDict(extra="forbid")
    max_text_tokens: int = Field(48, ge=4)
    field_dropout: float = Field(0.0, ge=0, lt=1)
    text_dropout: float = Field(
        0.0, ge=0, lt=1, description="drop ALL text of an item that has image or audio (training)"
    )


def _item_text(
    store: ItemStore, row: int, view: View, rng: np.random.Generator | None, dropout: float
) -> str:
    parts = []
    for f in view.fields:
        t = store.texts.get(f, [None] * (row + 1))[row]
        if t and not (rng is not None and dropout > 0 and rng.random() < dropout):
            parts.append(t)
    return " ; ".join(parts)


def encode_inputs(
    store: ItemStore, tokenizer, entries: list[Entries], enc: Encoding, rng: np.random.Generator | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Model inputs for all entries of all sides, concatenated in order, and how many texts were
    truncated. Field dropout (training) drops whole text fields at random, never all of a view's; text
    dropout drops all of an item's text when it has media."""
    texts, rows, use_image, use_audio = [], [], [], []
    for e in entries:
        if e.texts is not None:
            texts += [f"{e.view.instruction} : {t}" if e.view.instruction else t for t in e.texts]
            rows.append(np.full(len(e.texts), -1))
            use_image.append(np.zeros(len(e.texts), dtype=bool))
            use_audio.append(np.zeros(len(e.texts), dtype=bool))
            continue
        r = e.item_rows
        if "text" in e.view.modalities:
            body = [_item_text(store, int(i), e.view, rng, enc.field_dropout) for i in r]
            if rng is not None and enc.field_dropout > 0:  # never drop every field of an entry
                body = [
                    b or _item_text(store, int(i), e.view, None, 0.0) for b, i in zip(body, r, strict=True)
                ]
            if rng is not None and enc.text_dropout > 0 and {"image", "audio"} & set(e.view.modalities):
                # the item is then its media alone: image and audio must carry what text would have
                media = ("image" in e.view.modalities) & store.has_image.numpy()[r]
                media |= ("audio" in e.view.modalities) & store.has_audio.numpy()[r]
                drop = media & (rng.random(len(r)) < enc.text_dropout)
                body = ["" if d else b for b, d in zip(body, drop, strict=True)]
        else:
            body = [""] * len(r)
        texts += [f"{e.view.instruction} : {b}" if (e.view.instruction and b) else b for b in body]
        rows.append(r)
        use_image.append(("image" in e.view.modalities) & store.has_image.numpy()[r])
        use_audio.append(("audio" in e.view.modalities) & store.has_audio.numpy()[r])
    rows_all = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    ids = tokenizer(texts, truncation=False)["input_ids"]
    truncated = sum(len(x) > enc.max_text_tokens for x in ids)
    sep = [tokenizer.sep_token_id] if tokenizer.sep_token_id is not None else []
    ids = [x if len(x) <= enc.max_text_tokens else x[: enc.max_text_tokens - len(sep)] + sep for x in ids]
    tok = tokenizer.pad({"input_ids": ids}, return_tensors="pt")
    mask = tok["attention_mask"].clone()
    empty_text = torch.as_tensor([not t for t in texts])
    mask[empty_text] = 0  # no text: mask even [CLS]/[SEP]
    safe = np.maximum(rows_all, 0)
    inputs = {
        "input_ids": tok["input_ids"],
        "attention_mask": mask,
        "pixel_values": store.images[safe],
        "has_image": torch.as_tensor(np.concatenate(use_image)),
        "audio_values": store.audio[safe],
        "has_audio": torch.as_tensor(np.concatenate(use_audio)),
    }
    return inputs, {"truncated_texts": truncated}


QUERY_VIEW = View(modalities=("text",), fields=(), instruction="search query")  # how queries are embedded
