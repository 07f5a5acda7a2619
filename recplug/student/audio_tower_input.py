"""What a pretrained audio tower takes in, made by the checkpoint's own feature extractor.

Waveform towers (Wav2Vec2, HuBERT) take the normalised waveform as `input_values`; spectrogram towers
take the extractor's features: AST a (frames, mel) Kaldi filterbank as `input_values`, Whisper's encoder
an (mel, 3000-frame) log-mel as `input_features`. The extractor's settings (`preprocessor_config.json`)
are kept in the student's config, so a saved student rebuilds the same input without the checkpoint.
Clips are resampled to the extractor's rate. Whisper pads every window to its fixed 30 s: only the
tokens that cover the window's own samples are pooled, not the padding's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers

from recplug.student.towers import processor_config


def audio_processor_config(folder: str | Path) -> dict | None:
    """The feature extractor's settings of a pretrained audio folder (None without one)."""
    settings = processor_config(folder)
    if settings is not None and "feature_extractor_type" not in settings:
        raise ValueError(
            f"audio_pretrained: {folder}/preprocessor_config.json names no feature_extractor_type"
        )
    return settings


class AudioTowerInput:
    """(windows, samples) at the student's sample rate -> the tower's keyword inputs, and how many of
    the tower's output tokens carry the window's signal."""

    def __init__(self, processor: dict | None, sample_rate: int):
        self.sample_rate = sample_rate
        self.extractor = None
        if processor:
            name = processor["feature_extractor_type"]
            cls = getattr(transformers, name, None)
            if cls is None:
                raise ValueError(f"audio_pretrained: unknown feature extractor '{name}'")
            self.extractor = cls.from_dict(processor)

    def __call__(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.extractor is None:  # no processor: the waveform as it is (already zero mean, unit variance)
            return {"input_values": windows}
        rate = self.extractor.sampling_rate
        if rate != self.sample_rate:
            size = round(windows.shape[1] * rate / self.sample_rate)
            windows = F.interpolate(windows[:, None], size=size, mode="linear", align_corners=False)[:, 0]
        clips = list(windows.detach().cpu().numpy().astype(np.float32))
        features = self.extractor(clips, sampling_rate=rate, return_tensors="pt")
        key = self.extractor.model_input_names[0]
        return {key: features[key].to(windows.dtype)}

    def signal_tokens(self, tokens: int, samples: int) -> int:
        """Output tokens that cover a window of `samples` (all of them unless the extractor pads to a
        fixed length of samples, as Whisper's does)."""
        padded = getattr(self.extractor, "n_samples", None)
        if not padded:
            return tokens
        seconds = samples / self.sample_rate
        return max(1, min(tokens, int(np.ceil(tokens * seconds * self.extractor.sampling_rate / padded))))
