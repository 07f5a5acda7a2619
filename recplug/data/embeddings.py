"""The embedding-file contract: how teachers (or a user's production system) hand vectors to the
student and to the ranking features.

A folder holds `embeddings.parquet` (`item_id` int64 unique, `embedding` list of float32, all one
length) and `metadata.json` (at least `kind` and `dim`; recplug teachers also write the data cut-off,
metrics and config hash). User-state files (`user_states.parquet`) have `user_id` instead of `item_id`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recplug.data.errors import DatasetError
from recplug.data.io import atomic_write_text, write_parquet
from recplug.data.schema import positions_in

EMBEDDINGS_FILE = "embeddings.parquet"
USER_STATES_FILE = "user_states.parquet"
METADATA_FILE = "metadata.json"


@dataclass
class EmbeddingTable:
    ids: np.ndarray  # (n,) int64, sorted
    vectors: np.ndarray  # (n, dim) float32
    metadata: dict[str, Any]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id, -1 where the table has no row for it."""
        return positions_in(self.ids, ids)


def write_embeddings(
    path: Path, ids: np.ndarray, vectors: np.ndarray, id_column: str = "item_id", dataset: Path | None = None
) -> None:
    """`dataset`: the dataset folder the ids come from; when it mapped string ids, the source keys are
    written beside them (`item_key` / `user_key`, see recplug.data.id_map)."""
    from recplug.data.id_map import with_keys

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    frame = pl.DataFrame(
        {
            id_column: np.asarray(ids, dtype=np.int64),
            "embedding": pl.Series(vectors).cast(pl.List(pl.Float32)),
        }
    )
    write_parquet(with_keys(frame, dataset, id_column), path)


def write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
    atomic_write_text(Path(folder) / METADATA_FILE, json.dumps(metadata, indent=2, default=str))


def read_embeddings(path: str | Path, id_column: str = "item_id") -> EmbeddingTable:
    """Load and check an embedding file: ids unique and non-null, one dimension, no NaN/inf rows, and
    a dim that agrees with metadata.json when there is one. Errors name the file, column and row."""
    path = Path(path)
    if path.is_dir():
        path = path / (EMBEDDINGS_FILE if id_column == "item_id" else USER_STATES_FILE)
    if not path.is_file():
        raise DatasetError(f"{path}: embedding file not found", file=str(path))
    frame = pl.read_parquet(path)
    for col in (id_column, "embedding"):
        if col not in frame.columns:
            raise DatasetError(
                f"{path}: missing column '{col}' (has {frame.columns})", file=str(path), column=col
            )
    if not isinstance(frame.schema["embedding"], pl.List | pl.Array):
        raise DatasetError(
            f"{path}: column 'embedding' has dtype {frame.schema['embedding']}, expected list of float32",
            file=str(path),
            column="embedding",
        )
    lengths = (
        frame["embedding"].list.len().to_numpy() if isinstance(frame.schema["embedding"], pl.List) else None
    )
    if frame.height == 0:
        raise DatasetError(f"{path}: no rows", file=str(path))
    if lengths is not None and (lengths != lengths[0]).any():
        row = int(np.flatnonzero(lengths != lengths[0])[0])
        raise DatasetError(
            f"{path}: column 'embedding' has length {lengths[row]} at row {row}, but {lengths[0]} at row 0",
            file=str(path),
            column="embedding",
            row=row,
        )
    ids = frame[id_column]
    if ids.null_count():
        row = int(ids.is_null().arg_true()[0])
        raise DatasetError(
            f"{path}: column '{id_column}' is null at row {row}", file=str(path), column=id_column, row=row
        )
    if ids.is_duplicated().any():
        row = int(ids.is_duplicated().arg_true()[0])
        raise DatasetError(
            f"{path}: column '{id_column}' has duplicate {ids[row]} (row {row})",
            file=str(path),
            column=id_column,
            row=row,
        )
    vectors = np.asarray(
        frame["embedding"].to_list()
        if lengths is None
        else frame["embedding"].explode().to_numpy().reshape(frame.height, -1),
        dtype=np.float32,
    )
    bad = ~np.isfinite(vectors).all(1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DatasetError(
            f"{path}: column 'embedding' has NaN/inf values in {len(rows)} row(s), first at row {rows[0]} ({id_column}={ids[int(rows[0])]})",
            file=str(path),
            column="embedding",
            row=int(rows[0]),
        )
    meta_path = path.parent / METADATA_FILE
    metadata: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if "dim" in metadata and int(metadata["dim"]) != vectors.shape[1]:
        raise DatasetError(
            f"{path}: embeddings have dim {vectors.shape[1]} but {meta_path} says dim={metadata['dim']}",
            file=str(path),
            column="embedding",
        )
    order = np.argsort(ids.to_numpy(), kind="stable")
    return EmbeddingTable(ids.to_numpy()[order], vectors[order], metadata)


def embedding_bag_collection(table: EmbeddingTable, feature: str = "item_id", name: str = "embedding_table"):
    """A frozen TorchRec EmbeddingBagCollection holding the table (row r = table.ids[r]); look ids up
    with `table.rows_of(ids)`. Lets embedding files shard like any other TorchRec table."""
    import torch
    from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, PoolingType

    ebc = EmbeddingBagCollection(
        tables=[
            EmbeddingBagConfig(
                name=name,
                num_embeddings=len(table.ids),
                embedding_dim=table.dim,
                feature_names=[feature],
                pooling=PoolingType.SUM,
            )
        ]
    )
    with torch.no_grad():
        ebc.embedding_bags[name].weight.copy_(torch.as_tensor(table.vectors))
    ebc.requires_grad_(False)
    return ebc
