"""Generic importer: any CSV/parquet pair of items and interactions, with a column mapping."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recplug.data.errors import DatasetError
from recplug.data.io import write_dataset
from recplug.data.meta import DatasetMeta, PositiveRule
from recplug.data.schema import (
    INTERACTION_COLUMNS,
    ITEM_COLUMNS,
    LABEL_COLUMNS,
    MEDIA_FIELDS,
    QUERY_COLUMNS,
    TEXT_FIELDS,
)
from recplug.data.split import quantile_splits
from recplug.data.validate import validate_dataset


def read_table(path: str | Path) -> pl.DataFrame:
    """A CSV, TSV or parquet file as a frame (by suffix)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file", file=str(path))
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pl.read_parquet(path)
    if suffix in (".csv", ".tsv", ".txt"):
        return pl.read_csv(path, separator="\t" if suffix == ".tsv" else ",", infer_schema_length=10_000)
    raise DatasetError(
        f"{path}: unsupported file type '{suffix}' (use .csv, .tsv or .parquet)", file=str(path)
    )


def _apply_mapping(frame: pl.DataFrame, mapping: dict[str, str], wanted: set[str], file: str) -> pl.DataFrame:
    """Rename source columns to contract names and keep only contract columns."""
    missing = {
        target: src for target, src in mapping.items() if target in wanted and src not in frame.columns
    }
    if missing:
        (target, src), *_ = missing.items()
        raise DatasetError(
            f"{file}: mapping {target}={src} names column '{src}', which is not in the file (has {frame.columns})",
            file=file,
            column=src,
        )
    renames = {src: target for target, src in mapping.items() if target in wanted and src in frame.columns}
    frame = frame.rename(renames)
    return frame.select([c for c in frame.columns if c in wanted])


def _seconds(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Datetime / date columns to int64 epoch seconds; numbers pass through."""
    if column in frame.columns and frame.schema[column].is_temporal():
        return frame.with_columns(pl.col(column).dt.epoch("s"))
    return frame


def import_table(
    interactions: str | Path,
    out: str | Path,
    *,
    items: str | Path | None = None,
    queries: str | Path | None = None,
    mapping: dict[str, str] | None = None,
    positive: PositiveRule | None = None,
    name: str | None = None,
    train_frac: float = 0.7,
    valid_frac: float = 0.15,
) -> Path:
    """Write a validated dataset folder from arbitrary tables.

    `mapping` maps contract column names to source names (e.g. {"user_id": "uid", "ts": "timestamp"});
    columns already named as in the contract need no entry. Items default to the ids seen in the log.
    """
    mapping = mapping or {}
    inter = _apply_mapping(
        read_table(interactions), mapping, {c.name for c in INTERACTION_COLUMNS}, str(interactions)
    )
    inter = _seconds(inter, "ts")
    labels = [c for c in LABEL_COLUMNS if c in inter.columns]
    if not labels:
        raise DatasetError(
            f"{interactions}: no label column after mapping; map one of {list(LABEL_COLUMNS)} (e.g. --map rating=stars)",
            file=str(interactions),
        )
    positive = positive or PositiveRule(column=labels[0], min=1)
    if items is not None:
        item_frame = _apply_mapping(read_table(items), mapping, {c.name for c in ITEM_COLUMNS}, str(items))
        item_frame = _seconds(item_frame, "created_ts")
    else:
        item_frame = inter.select(pl.col("item_id").unique().sort())
    query_frame = None
    if queries is not None:
        query_frame = _apply_mapping(
            read_table(queries), mapping, {c.name for c in QUERY_COLUMNS}, str(queries)
        )
    text_fields = [f for f in TEXT_FIELDS if f in item_frame.columns]
    modalities = (["text"] if text_fields else []) + [m for m in MEDIA_FIELDS if m in item_frame.columns]
    meta = DatasetMeta(
        name=name or Path(out).name,
        modalities=modalities,
        text_fields=text_fields,
        label_columns=labels,
        positive_rule=positive,
        splits=quantile_splits(inter["ts"], train_frac, valid_frac)
        if len(inter)
        else quantile_splits(pl.Series([0])),
        media="inline" if any(m in item_frame.columns for m in MEDIA_FIELDS) else "none",
        source=f"imported from {interactions}",
    )
    write_dataset(out, meta, item_frame, inter.sort("ts"), query_frame)
    validate_dataset(out)
    return Path(out)
