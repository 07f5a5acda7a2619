"""Encode and decode the media the contract stores as bytes: PNG images and WAV audio."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 HxWx3 array -> PNG bytes (deterministic: no timestamps, fixed compression)."""
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """Encoded image bytes -> uint8 HxWx3 array. Raises on bytes that are not an image."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def encode_wav(wave: np.ndarray, sample_rate: int) -> bytes:
    """float waveform in [-1, 1] -> 16-bit PCM WAV bytes."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(wave, -1.0, 1.0).astype(np.float32), sample_rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Encoded audio bytes (WAV, FLAC, OGG...) -> (mono float32 waveform, sample rate)."""
    wave, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return wave.mean(axis=1), sr


def read_media(value: bytes | str | None, root: Path) -> bytes | None:
    """The contract lets a media cell hold bytes or a path relative to the dataset folder."""
    if value is None or isinstance(value, bytes):
        return value
    return (Path(root) / value).read_bytes()
