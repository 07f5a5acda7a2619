"""Weight files (safetensors, and the zip files torch.save and Lightning write), checked before they
are loaded so that a bad one is refused in one line naming it: empty, truncated, another format, damaged,
or written by another model. Nothing is ever unpickled: safetensors hold tensors only, and torch files
are read with `weights_only=True` by their loaders.

The checks read the file once: a safetensors header must promise exactly the bytes the file holds
(a cut write is caught), and every member of a torch zip must match its CRC32 (a flipped byte is
caught; torch itself does not check).
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

from recplug.data.errors import BadFileError
from recplug.data.read_errors import one_line, os_problem, require_file

MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


def _bad(path: Path, what: str, problem: str) -> BadFileError:
    return BadFileError(f"{path}: the {what} file is {problem}", file=str(path))


def _format_of(head: bytes) -> str:
    """What the first bytes of a file say it is: 'safetensors', 'zip' (torch.save), 'pickle' or ''."""
    if head[8:9] == b"{":
        return "safetensors"
    if head.startswith(b"PK"):
        return "zip"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    return ""


FORMAT_NAMES = {
    "safetensors": "a safetensors file",
    "zip": "a torch.save zip",
    "pickle": "a Python pickle or legacy torch file",
    "": "of an unknown format",
}


def _head(path: Path, what: str) -> tuple[int, bytes]:
    try:
        with path.open("rb") as f:
            return path.stat().st_size, f.read(9)
    except OSError as e:
        raise _bad(path, what, f"unreadable ({os_problem(e)})") from None


def _opened(path: str | Path, what: str, empty: str) -> tuple[Path, int, bytes]:
    """(path, size, first bytes) of a file that exists and is not empty (`empty`: what it is then not)."""
    path = require_file(path, what)
    size, head = _head(path, what)
    if size == 0:
        raise _bad(path, what, f"empty (0 bytes), not {empty}")
    return path, size, head


def safetensors_header(path: str | Path, what: str = "weights") -> dict:
    """The tensors a safetensors file declares ({name: {dtype, shape, data_offsets}}), after checking
    that the file holds exactly the bytes its header promises."""
    path, size, head = _opened(path, what, "a safetensors file")
    kind = _format_of(head)
    if kind != "safetensors":
        pickled = (
            "; pickled weights are never loaded: convert them to safetensors"
            if kind in ("zip", "pickle")
            else ""
        )
        raise _bad(path, what, f"not a safetensors file ({FORMAT_NAMES[kind]}){pickled}")
    n = struct.unpack("<Q", head[:8])[0]
    if n > min(MAX_HEADER, size - 8):
        raise _bad(path, what, f"a truncated safetensors file ({size:,} bytes: its header is cut)")
    try:
        with path.open("rb") as f:
            f.seek(8)
            header = json.loads(f.read(n))
        tensors = {k: v for k, v in header.items() if k != "__metadata__"}
        end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    except OSError as e:
        raise _bad(path, what, f"unreadable ({os_problem(e)})") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise _bad(path, what, f"a damaged safetensors file (bad header: {one_line(e, 120)})") from None
    available = size - 8 - n
    if end > available:
        raise _bad(
            path,
            what,
            f"a truncated safetensors file ({available:,} bytes of tensor data, the header declares "
            f"{end:,}): its write was cut short",
        )
    if end < available:
        raise _bad(path, what, f"a damaged safetensors file ({available - end:,} bytes beyond its tensors)")
    return tensors


def load_safetensors(path: str | Path, what: str = "weights") -> dict:
    """All tensors of a checked safetensors file (torch tensors on the CPU)."""
    from safetensors.torch import load_file

    safetensors_header(path, what)
    try:
        return load_file(str(path))
    except Exception as e:  # SafetensorError: the header passed, the contents did not
        raise _bad(Path(path), what, f"a damaged safetensors file ({one_line(e, 160)})") from None


def mismatch(tensors: dict, model_state: dict) -> str:
    """How a file's {name: shape} differs from a model's state dict, in a few words ('' if it fits)."""
    missing = sorted(set(model_state) - set(tensors))
    unexpected = sorted(set(tensors) - set(model_state))
    shaped = [
        f"'{k}' {tuple(tensors[k])} in the file, {tuple(model_state[k].shape)} in the model"
        for k in sorted(set(tensors) & set(model_state))
        if tuple(tensors[k]) != tuple(model_state[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensor(s) missing (e.g. '{missing[0]}')")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. '{unexpected[0]}')")
    if shaped:
        parts.append(f"{len(shaped)} of another shape (e.g. {shaped[0]})")
    return ", ".join(parts)


def load_into(module, path: str | Path, what: str = "weights") -> None:
    """Load a checked safetensors file into `module` (strict); a file of another model or config is
    refused with what differs."""
    from safetensors.torch import load_model

    tensors = safetensors_header(path, what)
    try:
        load_model(module, str(path), strict=True)
    except (RuntimeError, ValueError, KeyError) as e:
        shapes = {k: v["shape"] for k, v in tensors.items()}
        differs = mismatch(shapes, module.state_dict()) or one_line(e, 160)
        raise _bad(
            Path(path), what, f"not weights of this model ({differs}): written by another model or config?"
        ) from None


def check_torch_zip(path: str | Path, what: str = "checkpoint") -> Path:
    """A torch.save / Lightning checkpoint that is a complete zip whose every member matches its CRC32.
    A legacy (non-zip) pickle is refused: recplug never unpickles."""
    path, size, head = _opened(path, what, "a checkpoint")
    kind = _format_of(head)
    if kind != "zip":
        raise _bad(path, what, f"not a torch checkpoint ({FORMAT_NAMES[kind]})")
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        problem = (
            f"a truncated checkpoint ({size:,} bytes, no zip directory): its write was cut short"
            if isinstance(e, zipfile.BadZipFile)
            else f"a damaged checkpoint ({one_line(e, 120)})"
        )
        raise _bad(path, what, problem) from None
    if bad is not None:
        raise _bad(path, what, f"a damaged checkpoint (CRC mismatch in '{bad}')")
    return path
