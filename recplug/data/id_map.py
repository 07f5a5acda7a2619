"""String ids of a source log (`"0266875001"`, `"u_8f3a"`) as the contract's int64 ids, and back.

The importer maps every distinct key of a column to 1..n in sorted key order and writes the map beside
the dataset (`id_map/<column>.parquet`: `id`, `key`); exports (embeddings, user states, semantic ids)
carry the key column again (`item_key`, `user_key`), so a user joins recplug's outputs to their own
tables by their own ids. Ids that are canonical integers (no leading zero, fit int64) are kept as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recplug.data.errors import raise_first_bad
from recplug.data.schema import ID_MAP_DIR

CANONICAL_INT = r"^(0|-?[1-9][0-9]{0,17})$"  # at most 18 digits: always inside int64


def key_column(id_column: str) -> str:
    """'item_id' -> 'item_key'."""
    return id_column.removesuffix("_id") + "_key"


def needs_map(values: pl.Series) -> bool:
    """True when a column's values are not all canonical integers (strings, leading zeros, too long)."""
    if values.dtype.is_integer():
        return False
    text = values.cast(pl.String).drop_nulls()
    return not bool(text.str.contains(CANONICAL_INT).all())


def build_map(values: pl.Series) -> pl.DataFrame:
    """(id, key): every distinct non-null key, sorted, numbered from 1."""
    keys = values.cast(pl.String).drop_nulls().unique().sort()
    return pl.DataFrame({"id": np.arange(1, len(keys) + 1, dtype=np.int64), "key": keys})


def apply_map(frame: pl.DataFrame, column: str, mapping: pl.DataFrame, file: str) -> pl.DataFrame:
    """`column` of `frame` (keys) replaced by their ids; a key the map lacks is an error naming its row."""
    joined = frame.with_columns(pl.col(column).cast(pl.String)).join(
        mapping.rename({"key": column, "id": "_id"}), on=column, how="left", maintain_order="left"
    )
    raise_first_bad(
        joined, column, pl.col(column).is_not_null() & pl.col("_id").is_null(), file, "is not in the id map"
    )
    return joined.with_columns(pl.col("_id").alias(column)).drop("_id")


def write_map(root: Path, column: str, mapping: pl.DataFrame) -> None:
    from recplug.data.io import write_parquet

    write_parquet(mapping, Path(root) / ID_MAP_DIR / f"{column}.parquet")


def read_map(root: Path, column: str) -> pl.DataFrame | None:
    """The map of `column` of the dataset at `root`, or None when its ids were not mapped."""
    path = Path(root) / ID_MAP_DIR / f"{column}.parquet"
    from recplug.data.parquet_files import read_parquet

    return read_parquet(path, "id map") if path.exists() else None


def with_keys(frame: pl.DataFrame, root: Path | None, column: str = "item_id") -> pl.DataFrame:
    """`frame` with the source keys of its `column` beside it (`item_key`), when the dataset mapped them."""
    mapping = None if root is None else read_map(root, column)
    if mapping is None:
        return frame
    keys = mapping.rename({"id": column, "key": key_column(column)})
    return frame.join(keys, on=column, how="left", maintain_order="left")
