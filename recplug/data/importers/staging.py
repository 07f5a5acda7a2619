"""Importers write a dataset folder under a temporary name beside `out` and rename it into place only when
it is complete and valid: a failed import (a bad value, a failed validation, Ctrl-C) leaves neither a
half-written folder at `out` nor a temporary one beside it, and an older dataset at `out` is replaced only
by a complete new one. `out` is checked before any work, so a wrong `--out` fails at once."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recplug.data.errors import DatasetError, ValidationFailed
from recplug.data.schema import ID_MAP_DIR, INTERACTIONS_FILE, ITEMS_FILE, META_FILE, QUERIES_FILE

DATASET_ENTRIES = frozenset({ITEMS_FILE, INTERACTIONS_FILE, QUERIES_FILE, META_FILE, ID_MAP_DIR, "describe"})


def check_out(out: Path) -> None:
    """`out` is absent, or a folder holding nothing but a dataset's entries (which an import replaces)."""
    if out.exists() and not out.is_dir():
        raise DatasetError(
            f"{out}: exists and is not a folder; --out names the dataset folder to write", file=str(out)
        )
    if out.is_dir():
        foreign = sorted(
            p.name for p in out.iterdir() if p.name not in DATASET_ENTRIES and not p.name.startswith(".")
        )
        if foreign:
            raise DatasetError(
                f"{out}: exists and holds {foreign[:3]}, not only a dataset; choose another --out",
                file=str(out),
            )


@contextmanager
def staged(out: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on a clean exit it becomes `out`, on any error it is removed."""
    out = Path(out)
    check_out(out)
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        tmp.chmod(0o755)  # mkdtemp makes 0700; a dataset folder is meant to be shared
    except OSError as e:
        _remove_empty(made)
        raise DatasetError(
            f"{out}: cannot write the dataset folder here ({e.strerror})", file=str(out)
        ) from None
    try:
        yield tmp
        check_out(out)
        _replace(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)
        if isinstance(e, ValidationFailed):  # name `out`, not the temporary folder
            raise ValidationFailed(str(out), e.problems) from None
        raise


def _replace(tmp: Path, out: Path) -> None:
    """Rename `tmp` to `out`; an older dataset there is moved aside first and removed once `tmp` is in."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the parent folders `staged` created, deepest first (only while empty)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
