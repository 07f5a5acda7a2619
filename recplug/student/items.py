"""Item content decoded once into tensors: text fields, images, audio, and which modalities each item
has. Undecodable media is counted and reported (or an error, with `on_bad_media="error"`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import torch
from tqdm.auto import tqdm

from recplug.data.errors import DatasetError
from recplug.data.limits import MEDIA_MAX_BYTES
from recplug.data.media import decode_audio, decode_image, read_media
from recplug.data.schema import positions_in

log = logging.getLogger(__name__)


@dataclass
class ItemStore:
    item_ids: np.ndarray  # sorted
    texts: dict[str, list[str | None]]  # field -> per item text (None when absent)
    category: list[str | None]
    images: torch.Tensor  # (n, 3, S, S) float in [0, 1] (zeros where absent)
    has_image: torch.Tensor  # (n,) bool
    audio: torch.Tensor  # (n, samples) float (zeros where absent)
    has_audio: torch.Tensor  # (n,) bool
    text_present: dict[str, np.ndarray] = field(default_factory=dict)  # field -> (n,) bool, non-empty text
    report: dict[str, int] = field(default_factory=dict)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        return positions_in(self.item_ids, ids)

    def has_text(self, fields: tuple[str, ...]) -> np.ndarray:
        present = np.zeros(len(self.item_ids), dtype=bool)
        for f in fields:
            if f in self.text_present:
                present |= self.text_present[f]
        return present


def _decode_column(values: list, decode, read, on_bad: str, what: str, ids: np.ndarray, report: dict):
    out, ok = [], []
    for item_id, v in zip(
        ids, tqdm(values, desc=f"decode {what}", leave=False, disable=len(values) < 2000), strict=True
    ):
        if v is None:
            out.append(None)
            ok.append(False)
            continue
        try:
            out.append(decode(read(v)))
            ok.append(True)
        except Exception as e:  # noqa: BLE001
            if on_bad == "error":
                raise DatasetError(
                    f"items.parquet: column '{what}' does not decode for item_id={item_id} ({e})", column=what
                ) from None
            report[f"bad_{what}"] = report.get(f"bad_{what}", 0) + 1
            out.append(None)
            ok.append(False)
    return out, np.array(ok, dtype=bool)


def with_rendered_media(
    items: pl.DataFrame, render, batch: int = 2048, progress: bool = True
) -> pl.DataFrame:
    """Items with `image` / `audio` columns rendered on demand (a generated world whose folder stores
    no media, e.g. the `large` preset): `render(item_ids)` -> frame (item_id, image, audio)."""
    ids = items["item_id"].to_numpy()
    parts = [
        render(ids[lo : lo + batch])
        for lo in tqdm(range(0, len(ids), batch), desc="render media", unit="batch", disable=not progress)
    ]
    return items.join(pl.concat(parts), on="item_id", how="left")


def load_items(
    items: pl.DataFrame,
    root: Path,
    image_size: int,
    audio_samples: int,
    on_bad_media: str = "skip",
    max_media_bytes: int = MEDIA_MAX_BYTES,
) -> ItemStore:
    """Decode every item's media into fixed-size tensors (images resized, audio cut/padded); a media
    file is read only inside `root` and up to `max_media_bytes` (the dataset's limit)."""
    items = items.sort("item_id")
    read = partial(read_media, root=root, max_bytes=max_media_bytes)
    ids = items["item_id"].to_numpy()
    n = len(ids)
    report: dict[str, int] = {}
    texts = {
        f: items[f].to_list()
        for f in ("title", "description", "tags", "ocr", "asr", "author")
        if f in items.columns
    }
    category = items["category"].to_list() if "category" in items.columns else [None] * n
    images = torch.zeros(n, 3, image_size, image_size)
    has_image = np.zeros(n, dtype=bool)
    if "image" in items.columns:
        decoded, has_image = _decode_column(
            items["image"].to_list(), decode_image, read, on_bad_media, "image", ids, report
        )
        for i in np.flatnonzero(has_image):
            px = torch.as_tensor(decoded[i], dtype=torch.float32).permute(2, 0, 1) / 255.0
            if px.shape[-1] != image_size or px.shape[-2] != image_size:
                px = torch.nn.functional.interpolate(
                    px[None], size=(image_size, image_size), mode="bilinear"
                )[0]
            images[i] = px
    audio = torch.zeros(n, audio_samples)
    has_audio = np.zeros(n, dtype=bool)
    if "audio" in items.columns:
        decoded, has_audio = _decode_column(
            items["audio"].to_list(), lambda b: decode_audio(b)[0], read, on_bad_media, "audio", ids, report
        )
        for i in np.flatnonzero(has_audio):
            w = torch.as_tensor(decoded[i][:audio_samples])
            audio[i, : len(w)] = w
    text_present = {f: (items[f].fill_null("").str.len_bytes() > 0).to_numpy() for f in texts}
    has_text = np.logical_or.reduce(list(text_present.values())) if text_present else np.zeros(n, dtype=bool)
    no_modality = ~(has_image | has_audio | has_text)
    report["items_without_any_modality"] = int(no_modality.sum())
    if any(report.values()):
        log.warning("item content report: %s", report)
    return ItemStore(
        ids,
        texts,
        category,
        images,
        torch.as_tensor(has_image),
        audio,
        torch.as_tensor(has_audio),
        text_present,
        report,
    )
