"""The data contract's column specs: what each parquet file of a dataset folder must hold.

One table of `ColumnSpec`s per file is the single source of truth: validation, loading and the
importers all read it, so a contract change is made here once.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

ITEMS_FILE = "items.parquet"
INTERACTIONS_FILE = "interactions.parquet"
QUERIES_FILE = "queries.parquet"
META_FILE = "dataset.json"

TEXT_FIELDS = ("title", "description", "tags", "ocr", "asr", "author")
MEDIA_FIELDS = ("image", "audio")
LABEL_COLUMNS = ("click", "like", "finish", "rating", "watch_time", "purchase", "play", "weight")
IMPLICIT_LABELS = ("purchase", "play", "weight")  # labels of logs that record only what users did
ID_MAP_DIR = "id_map"  # string ids -> int64: id_map/<column>.parquet (id, key)

INTEGER = frozenset({pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64})
NUMERIC = INTEGER | {pl.Float32, pl.Float64, pl.Boolean}
TEXT = frozenset({pl.String})
MEDIA = frozenset({pl.Binary, pl.String})  # encoded bytes, or a path relative to the folder


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    accepts: frozenset  # polars dtypes accepted on read
    cast_to: pl.DataType | None  # dtype after loading; None keeps the file's dtype
    required: bool = False
    expected: str = ""  # how the error message names the expected type

    def describe(self) -> str:
        return self.expected or str(self.cast_to)


ITEM_COLUMNS = (
    ColumnSpec("item_id", INTEGER, pl.Int64, required=True, expected="int64"),
    *(ColumnSpec(f, TEXT, pl.String, expected="string") for f in TEXT_FIELDS),
    ColumnSpec("category", TEXT, pl.String, expected="string"),
    *(ColumnSpec(f, MEDIA, None, expected="binary (encoded bytes) or string (path)") for f in MEDIA_FIELDS),
    ColumnSpec("created_ts", INTEGER, pl.Int64, expected="int64 (seconds)"),
)

INTERACTION_COLUMNS = (
    ColumnSpec("user_id", INTEGER, pl.Int64, required=True, expected="int64"),
    ColumnSpec("item_id", INTEGER, pl.Int64, required=True, expected="int64"),
    ColumnSpec("ts", INTEGER, pl.Int64, required=True, expected="int64 (seconds)"),
    *(ColumnSpec(c, NUMERIC, pl.Float32, expected="boolean or number") for c in LABEL_COLUMNS),
    ColumnSpec("session_id", INTEGER, pl.Int64, expected="int64"),
)

QUERY_COLUMNS = (
    ColumnSpec("query", TEXT, pl.String, required=True, expected="string"),
    ColumnSpec("item_id", INTEGER, pl.Int64, required=True, expected="int64"),
    ColumnSpec("score", NUMERIC, pl.Float32, expected="number"),
)

SPECS: dict[str, tuple[ColumnSpec, ...]] = {
    ITEMS_FILE: ITEM_COLUMNS,
    INTERACTIONS_FILE: INTERACTION_COLUMNS,
    QUERIES_FILE: QUERY_COLUMNS,
}


def polars_schema(file: str, columns: list[str]) -> dict[str, pl.DataType]:
    """The loaded dtypes of `columns` of `file` (labels are float32, media binary...)."""
    by_name = {c.name: c for c in SPECS[file]}
    return {c: by_name[c].cast_to for c in columns if c in by_name and by_name[c].cast_to is not None}


def positions_in(sorted_ids, ids):
    """Position of each id in the sorted unique array `sorted_ids`, -1 where it is absent (vectorised).
    The one id -> row lookup used by item stores, embedding tables and teacher vocabularies."""
    import numpy as np

    sorted_ids, ids = np.asarray(sorted_ids), np.asarray(ids)
    if len(sorted_ids) == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1)
