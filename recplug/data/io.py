"""Read and write dataset folders: typed polars frames in, atomic parquet/JSON files out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recplug.data.artifacts import atomic_write, atomic_write_text  # noqa: F401  (writers live there)
from recplug.data.errors import DatasetError
from recplug.data.limits import clipped
from recplug.data.meta import DatasetMeta, read_meta
from recplug.data.parquet_files import collect, scan_table
from recplug.data.schema import INTERACTIONS_FILE, ITEMS_FILE, QUERIES_FILE, polars_schema

PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "statistics": True}


@dataclass
class Dataset:
    """A loaded dataset folder. Frames are lazy when loaded with `lazy=True` (large data)."""

    root: Path
    meta: DatasetMeta
    items: pl.DataFrame | pl.LazyFrame
    interactions: pl.DataFrame | pl.LazyFrame
    queries: pl.DataFrame | pl.LazyFrame | None

    def positives(self) -> pl.DataFrame | pl.LazyFrame:
        """Interactions that meet the dataset's positive-engagement rule."""
        return self.interactions.filter(self.meta.positive_rule.expr())


def _typed_scan(path: Path, file: str) -> pl.LazyFrame:
    if not path.exists():
        raise DatasetError(f"{path}: missing", file=file)
    lf = scan_table(path, file)
    columns = lf.collect_schema().names()
    return lf.with_columns(pl.col(c).cast(t) for c, t in polars_schema(file, columns).items())


def load_dataset(directory: str | Path, *, lazy: bool = False, validate: bool = False) -> Dataset:
    """Load a dataset folder with the contract's dtypes (ids int64, ts int64 seconds, labels float32).

    With `validate=True` the folder is first checked by `recplug.data.validate` (media included).
    """
    root = Path(directory)
    if validate:
        from recplug.data.validate import validate_dataset

        validate_dataset(root)
    meta = read_meta(root)
    items = clipped(_typed_scan(root / ITEMS_FILE, ITEMS_FILE), meta.size_limits.text_chars)
    interactions = _typed_scan(root / INTERACTIONS_FILE, INTERACTIONS_FILE)
    queries = _typed_scan(root / QUERIES_FILE, QUERIES_FILE) if (root / QUERIES_FILE).exists() else None
    if not lazy:
        items = collect(items, root / ITEMS_FILE)
        interactions = collect(interactions, root / INTERACTIONS_FILE)
        queries = collect(queries, root / QUERIES_FILE) if queries is not None else None
    return Dataset(root, meta, items, interactions, queries)


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: frame.write_parquet(tmp, **PARQUET_OPTIONS))


def write_dataset(
    directory: str | Path,
    meta: DatasetMeta,
    items: pl.DataFrame,
    interactions: pl.DataFrame,
    queries: pl.DataFrame | None = None,
) -> Path:
    """Write a whole dataset folder; dataset.json goes last so a folder with it is complete."""
    root = Path(directory)
    write_parquet(items, root / ITEMS_FILE)
    write_parquet(interactions, root / INTERACTIONS_FILE)
    if queries is not None:
        write_parquet(queries, root / QUERIES_FILE)
    meta.write(root)
    return root
