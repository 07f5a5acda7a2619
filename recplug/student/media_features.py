"""The frozen perception encoders' outputs for every item, computed once.

CRE keeps the image and audio encoders fixed (`CREConfig.freeze`): their output for an item never
changes, yet every training step and every refresh of the item cache ran them again (on the demo
world the audio spectrogram transformer alone was a third of CRE's time). `MediaFeatures` holds them
per item row, computed in eval mode (a frozen encoder has no dropout), and swaps them into a batch's
model inputs in place of pixels and waveforms (`OmniEncoder.forward(image_features=, audio_features=)`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from recplug.student.items import ItemStore
from recplug.student.modeling import OmniEncoder


@dataclass
class MediaFeatures:
    image: torch.Tensor | None  # (items, patches, width): the image encoder's patch states; None: it trains
    audio: torch.Tensor | None  # (items, width): the audio encoder's pooled windows; None: it trains

    @classmethod
    @torch.no_grad()
    def compute(
        cls,
        encoder: OmniEncoder,
        store: ItemStore,
        image: bool,
        audio: bool,
        batch: int = 256,
        progress: bool = False,
    ) -> MediaFeatures:
        """Features of the frozen encoders (`image` / `audio`) for the store's items that have the
        medium (zeros for the others, which the model masks out)."""
        was_training = encoder.training
        encoder.eval()
        try:
            return cls(
                _per_item(encoder.image_features, store.images, store.has_image, batch, "image", progress)
                if image
                else None,
                _per_item(encoder.audio_features, store.audio, store.has_audio, batch, "audio", progress)
                if audio
                else None,
            )
        finally:
            encoder.train(was_training)

    def inputs(self, inputs: dict[str, torch.Tensor], rows: np.ndarray) -> dict[str, torch.Tensor]:
        """A batch's model inputs (`encode_inputs`) for item `rows` (-1: a free text) with the stored
        features in place of the media they come from."""
        safe = torch.as_tensor(np.maximum(rows, 0))
        out = dict(inputs)
        if self.image is not None:
            del out["pixel_values"]
            out["image_features"] = self.image[safe]
        if self.audio is not None:
            del out["audio_values"]
            out["audio_features"] = self.audio[safe]
        return out


def _per_item(encode, media: torch.Tensor, present: torch.Tensor, batch: int, what: str, progress: bool):
    rows = torch.nonzero(present).flatten()
    parts = [
        encode(media[rows[lo : lo + batch]])
        for lo in tqdm(range(0, len(rows), batch), desc=f"frozen {what} encoder", disable=not progress)
    ]
    if not parts:  # no item has the medium: zeros of the encoder's output shape
        parts = [encode(media[:1])[:0]]
    out = torch.zeros(len(media), *parts[0].shape[1:], dtype=parts[0].dtype)
    out[rows] = torch.cat(parts)
    return out
