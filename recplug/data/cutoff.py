"""A dataset seen from an earlier cut-off: the same files (linked, not copied) under a `dataset.json`
whose training period ends earlier. Every stage that trains on `ts < train_end` then trains on data
before that cut-off with no change of its own: the forward-chaining folds of the ranking experiment
are built this way (embeddings for fold k's rows never saw fold k)."""

from __future__ import annotations

import os
from pathlib import Path

from recplug.data.meta import META_FILE, Splits, read_meta


def dataset_cut_at(src: str | Path, dst: str | Path, train_end: int, valid_end: int) -> Path:
    """`dst`: every entry of dataset folder `src` linked (media paths stay relative to the folder), and
    a dataset.json with splits (start, train_end, valid_end, end). Idempotent."""
    src, dst = Path(src).resolve(), Path(dst)
    meta = read_meta(src)
    s = meta.splits
    if not s.start < train_end <= valid_end <= s.end:
        raise ValueError(
            f"{src}: a cut-off needs start < train_end <= valid_end <= end "
            f"({s.start} < {train_end} <= {valid_end} <= {s.end})"
        )
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        if entry.name in (META_FILE, ".stage.json"):
            continue
        link = dst / entry.name
        if not link.is_symlink() or os.readlink(link) != str(entry):
            link.unlink(missing_ok=True)
            link.symlink_to(entry)
    cut = meta.model_copy(
        update={"splits": Splits(start=s.start, train_end=train_end, valid_end=valid_end, end=s.end)}
    )
    cut.write(dst)
    return dst
