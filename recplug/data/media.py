"""Encode and decode the media the contract stores as bytes (PNG images, WAV audio), and read a media
cell: its bytes, or a file confined to the dataset folder, bounded in size."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from recplug.data.errors import DatasetError
from recplug.data.limits import MEDIA_MAX_BYTES


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


def read_media(value: bytes | str | None, root: Path, max_bytes: int = MEDIA_MAX_BYTES) -> bytes | None:
    """A media cell's bytes: the cell itself, or the file its path names inside the dataset folder.

    The contract lets a cell hold encoded bytes or a path relative to the folder. A path is confined to
    the folder (no absolute path, no '..', no symlink leading out) and must name a regular file (not a
    device like /dev/zero, a FIFO or a folder); at most `max_bytes` are read. Anything else raises a
    one-line DatasetError naming the path, which callers prefix with the item and column."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        _within(len(value), max_bytes, "inline media")
        return bytes(value)
    return _read_bounded(media_file(value, root), value, max_bytes)


def media_file(value: str, root: Path) -> Path:
    """The regular file inside the dataset folder `root` that the media path `value` names."""
    if not value.strip() or "\x00" in value:
        raise DatasetError(f"media path {value!r} is empty or holds a NUL byte")
    relative = Path(value)
    if relative.is_absolute():
        raise DatasetError(
            f"media path {value!r} is absolute; media paths are relative to the dataset folder"
        )
    if ".." in relative.parts:
        raise DatasetError(
            f"media path {value!r} climbs out with '..'; media stays inside the dataset folder"
        )
    try:
        base = Path(root).resolve()
        target = (base / relative).resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        raise DatasetError(f"media path {value!r} does not resolve ({e})") from None
    if not target.is_relative_to(base):
        raise DatasetError(
            f"media path {value!r} resolves to {target}, outside the dataset folder (a symlink leading out)"
        )
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        raise DatasetError(f"media path {value!r}: no such file in the dataset folder") from None
    except OSError as e:
        raise DatasetError(f"media path {value!r} cannot be read ({e.strerror})") from None
    _regular(mode, value)
    return target


def _regular(mode: int, value: str) -> None:
    if not stat.S_ISREG(mode):
        kind = "folder" if stat.S_ISDIR(mode) else "FIFO" if stat.S_ISFIFO(mode) else "device or special file"
        raise DatasetError(f"media path {value!r} is a {kind}, not a regular file")


def _within(size: int, max_bytes: int, what: str) -> None:
    if size > max_bytes:
        raise DatasetError(
            f"{what} is {size:,} bytes, over the limit of {max_bytes:,} bytes per item "
            "(limits.media_bytes in dataset.json)"
        )


def _read_bounded(path: Path, value: str, max_bytes: int) -> bytes:
    """Read at most `max_bytes` + 1 bytes of a regular file, re-checked on the open descriptor (the path
    may have been swapped since `media_file` looked at it; O_NONBLOCK keeps a FIFO from hanging the open)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise DatasetError(f"media path {value!r} cannot be opened ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        _regular(info.st_mode, value)
        _within(info.st_size, max_bytes, f"media file {value!r}")
        data = f.read(max_bytes + 1)
    _within(len(data), max_bytes, f"media file {value!r}")
    return data
