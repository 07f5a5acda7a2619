"""Library errors on reading a user's file, turned into one line that names the file.

The CLI prints `recplug: error: <message>` for a `DatasetError`; these helpers make sure what reaches
it says which file and what is wrong with it (permission, a folder where a file is expected, bad JSON
at line l) instead of a library's bare message or a traceback.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

from recplug.data.errors import BadFileError


def one_line(text: object, limit: int = 300) -> str:
    """The first non-empty line of `text`, cut at `limit` characters."""
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def os_problem(e: OSError) -> str:
    """What an OSError means for the user, in a few words."""
    words = {
        errno.ENOENT: "no such file",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EISDIR: "is a folder, a file was expected",
        errno.ENOTDIR: "a folder was expected",
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EIO: "input/output error (a failing disk or network mount?)",
    }
    return words.get(e.errno, one_line(e.strerror or e) or type(e).__name__)


def require_file(path: str | Path, what: str) -> Path:
    """`path` if it is a readable file, else a BadFileError saying why not."""
    path = Path(path)
    if path.is_dir():
        raise BadFileError(f"{path}: is a folder, expected the {what} file", file=str(path))
    if not path.is_file():
        raise BadFileError(f"{path}: {what} file not found", file=str(path))
    return path


def file_error(path: Path, what: str, e: BaseException) -> BadFileError:
    """A BadFileError for an exception raised while reading `path`."""
    problem = os_problem(e) if isinstance(e, OSError) else one_line(e) or type(e).__name__
    return BadFileError(f"{path}: cannot read the {what} file: {problem}", file=str(path))


def read_json(path: str | Path, what: str, *, kind: type = dict) -> Any:
    """The JSON value in `path` (an object unless `kind` says otherwise); every failure one line."""
    path = require_file(path, what)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise file_error(path, what, e) from None
    if not text.strip():
        raise BadFileError(f"{path}: the {what} file is empty (0 bytes of JSON)", file=str(path))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadFileError(
            f"{path}: the {what} file is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})",
            file=str(path),
        ) from None
    if not isinstance(value, kind):
        expected = {dict: "object", list: "array"}.get(kind, kind.__name__)
        raise BadFileError(
            f"{path}: the {what} file holds a JSON {type(value).__name__}, expected a JSON {expected}",
            file=str(path),
        )
    return value
