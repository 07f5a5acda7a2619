"""Every artifact recplug writes, and whether it is still valid: one fingerprint, one stamp, one policy.

- Writes go to a temporary name in the destination's own folder and are renamed into place
  (`atomic_write` for files, `atomic_folder` for folders such as `save_pretrained` ones): a kill, a full
  disk or a read-only folder never leaves a half-written file under a final name. Such OS errors become
  one `ArtifactError` line naming the path.
- `fingerprint(description)` hashes a JSON-able description (a config, a stage key); `digest(*parts)`
  hashes contents (arrays, bytes, files) with the same function.
- A folder's work is complete only when its stamp (`.stage.json`, holding the key's fingerprint) is
  written, last of all its files: `is_fresh(folder, key)` is the one test, `stamp(folder, key)` the one
  mark. `claim(folder, key, state)` starts a folder afresh when it holds the state of another key, so a
  resumable run never continues another config's checkpoints.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from recplug.data.errors import DatasetError

log = logging.getLogger(__name__)

STAMP = ".stage.json"
OWNER = ".owner.json"
# OS errors that are the place's fault (not recplug's): reported as one line naming the path
_PLACE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


class ArtifactError(DatasetError):
    """An output could not be written (disk full, read-only folder...); nothing was left under its name."""


def fingerprint(description: Any) -> str:
    """16 hex digits of sha256 over the canonical JSON (sorted keys; other objects as str)."""
    return digest(json.dumps(description, sort_keys=True, default=str).encode())


def digest(*parts: bytes | str | np.ndarray | Path) -> str:
    """16 hex digits of sha256 over contents: bytes, str, arrays (dtype and shape included) or files."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            with open(part, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        elif isinstance(part, np.ndarray):
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _place_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        if e.errno in _PLACE_ERRORS and not isinstance(e, ArtifactError):
            raise ArtifactError(
                f"{path}: cannot write ({_PLACE_ERRORS[e.errno]}); nothing was left under this name",
                file=str(path),
            ) from e
        raise


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """`write(tmp)` writes a temporary file in the same folder, which is then renamed to `path`."""
    path = Path(path)
    with _place_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            write(tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are meant to be shared
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yields a temporary sibling folder to fill; on success it replaces `path` (an older folder there
    is removed only after the new one is complete), on failure it is removed."""
    path = Path(path)
    with _place_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            yield tmp
            os.chmod(tmp, 0o755)
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def read_stamp(folder: Path) -> dict | None:
    path = Path(folder) / STAMP
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # a stamp is written atomically: an unreadable one was written by hand; not fresh


def is_fresh(folder: Path, key: Any) -> bool:
    """The folder's work is complete and was done for `key`."""
    stamp_ = read_stamp(folder)
    return stamp_ is not None and stamp_.get("config_hash") == fingerprint(key)


_work_done = 0


def stamp(folder: Path, key: Any, **info: Any) -> None:
    """Mark the folder complete for `key`: call it after every other file of the folder is written."""
    body = {"config_hash": fingerprint(key), "config": key, **info}
    atomic_write_text(Path(folder) / STAMP, json.dumps(body, indent=2, default=str))
    count_work()


def count_work() -> None:
    """Record that keyed work was done (a stamp, or a file that carries its own key was written)."""
    global _work_done
    _work_done += 1


def work_done() -> int:
    """How much keyed work this process has done: unchanged across a block means it only reused."""
    return _work_done


def file_identity(folder: Path) -> dict[str, list[int]]:
    """A folder's input files by name, size and modification time: the key of inputs too large to
    hash on every run (a user's dataset folder, a MovieLens download)."""
    files = sorted(p for p in Path(folder).glob("*") if p.is_file())
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files}


def unstamp(folder: Path) -> None:
    (Path(folder) / STAMP).unlink(missing_ok=True)


def claim(folder: Path, key: Any, state: list[str]) -> bool:
    """Make `folder` the workspace of `key`: when it holds the work of another key, remove its `state`
    (files or folders, relative) first. A folder that names no owner is adopted as it is. Returns True
    when earlier work may be resumed."""
    folder = Path(folder)
    path = folder / OWNER
    want = fingerprint(key)
    try:
        owner = json.loads(path.read_text()).get("config_hash") if path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        owner = "unreadable"
    if owner not in (None, want):
        present = [name for name in state if (folder / name).exists()]
        if present:
            log.warning("%s: holds work of another config: %s start afresh", folder, ", ".join(present))
        for name in present:
            p = folder / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    if owner != want:
        atomic_write_text(path, json.dumps({"config_hash": want}, indent=2))
    return owner in (None, want)
