"""The embedding-file contract: how teachers (or a user's production system) hand vectors to the
student and to the ranking features.

A folder holds `embeddings.parquet` (`item_id` int64 unique, `embedding` list of float32, all one
length) and `metadata.json` (at least `kind` and `dim`; recplug teachers also write the data cut-off,
the dataset they were trained on (`data`), metrics and config hash). User-state files
(`user_states.parquet`) have `user_id` instead of `item_id`.

`read_embeddings` is the one reader of these files; each refusal is one line naming the file:
a file that is not a readable parquet (empty, truncated, damaged, a folder), missing or mistyped
columns, null or duplicate ids, vectors of mixed or zero length, NaN/inf values, a degenerate table
(every vector all zeros, or every row the same vector), a metadata.json that is not a JSON object or
whose `dim` disagrees, and, given the dataset's ids, a table none of whose ids is in the dataset.

metadata.json is REQUIRED for teacher folders (`teacher=True`: the CRE's teacher files): without it
the vectors' kind, size, source dataset and data cut-off are unknown, and a teacher trained past the
training split would leak into the student unseen. Refusing costs a user's own exporter one small
file (`{"kind": "...", "dim": N}`); other embedding folders (ranking feature sources) may omit it.

Doubts that do not stop a run are warnings, kept in `EmbeddingTable.warnings` and logged: coverage
below half of the dataset's ids, vectors that are all zeros, and a metadata.json naming another
dataset. Callers put them in their reports.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recplug.data.embedding_checks import check_dataset, check_finite, check_informative
from recplug.data.errors import DatasetError
from recplug.data.io import atomic_write_text
from recplug.data.parquet_files import read_parquet, write_parquet_checksummed
from recplug.data.read_errors import read_json
from recplug.data.schema import positions_in

EMBEDDINGS_FILE = "embeddings.parquet"
USER_STATES_FILE = "user_states.parquet"
METADATA_FILE = "metadata.json"
log = logging.getLogger(__name__)


@dataclass
class EmbeddingTable:
    ids: np.ndarray  # (n,) int64, sorted
    vectors: np.ndarray  # (n, dim) float32
    metadata: dict[str, Any]
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)  # doubts worth a line in a report

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
    write_parquet_checksummed(with_keys(frame, dataset, id_column), path)


def write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
    atomic_write_text(Path(folder) / METADATA_FILE, json.dumps(metadata, indent=2, default=str))


def read_embeddings(
    path: str | Path,
    id_column: str = "item_id",
    *,
    teacher: bool = False,
    dataset_ids: np.ndarray | None = None,
    dataset: str = "",
    who: str = "the file",
) -> EmbeddingTable:
    """Load and check an embedding (or user-state) file, a folder being read as its embeddings.parquet
    (user_states.parquet for `id_column="user_id"`); see the module docstring for what is refused.
    With `dataset_ids` (and the dataset's name in `dataset`) the ids are checked against the dataset."""
    path = Path(path)
    if path.is_dir():
        path = path / (EMBEDDINGS_FILE if id_column == "item_id" else USER_STATES_FILE)
    what = "user-state" if id_column == "user_id" else "embedding"
    frame = read_parquet(path, what)
    ids, vectors = _columns(frame, path, id_column)
    check_finite(path, ids, vectors, id_column)
    metadata = _metadata(path, vectors.shape[1], teacher=False)
    warnings = []
    if dataset_ids is not None:  # first: vectors of another dataset are wrong whatever they hold
        warnings += check_dataset(path, ids, metadata, dataset_ids, dataset, id_column, who)
    warnings += check_informative(path, ids, vectors, id_column)
    if teacher:
        metadata = _metadata(path, vectors.shape[1], teacher=True)
    for line in warnings:
        log.warning(line)
    order = np.argsort(ids, kind="stable")
    return EmbeddingTable(ids[order], vectors[order], metadata, path, warnings)


def _columns(frame: pl.DataFrame, path: Path, id_column: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of a frame with the contract's columns, refusing what cannot be vectors."""
    if frame.height == 0:
        raise DatasetError(f"{path}: no rows (has columns {frame.columns})", file=str(path))
    for col in (id_column, "embedding"):
        if col not in frame.columns:
            other = {"item_id": "an item", "user_id": "a user-state"}
            hint = next(
                (f": it looks like {other[c]} file" for c in other if c != id_column and c in frame.columns),
                "",
            )
            raise DatasetError(
                f"{path}: missing column '{col}' (has {frame.columns}){hint}", file=str(path), column=col
            )
    dtype = frame.schema["embedding"]
    if not isinstance(dtype, pl.List | pl.Array) or not dtype.inner.is_numeric():
        raise DatasetError(
            f"{path}: column 'embedding' has dtype {dtype}, expected list of float32",
            file=str(path),
            column="embedding",
        )
    if not frame.schema[id_column].is_integer():
        raise DatasetError(
            f"{path}: column '{id_column}' has dtype {frame.schema[id_column]}, expected int64 (the dataset's ids)",
            file=str(path),
            column=id_column,
        )
    for col in (id_column, "embedding"):
        if frame[col].null_count():
            row = int(frame[col].is_null().arg_true()[0])
            raise DatasetError(
                f"{path}: column '{col}' is null at row {row}", file=str(path), column=col, row=row
            )
    ids = frame[id_column]
    if ids.is_duplicated().any():
        row = int(ids.is_duplicated().arg_true()[0])
        raise DatasetError(
            f"{path}: column '{id_column}' has duplicate {ids[row]} (row {row})",
            file=str(path),
            column=id_column,
            row=row,
        )
    if isinstance(dtype, pl.List):
        lengths = frame["embedding"].list.len().to_numpy()
        if (lengths != lengths[0]).any():
            row = int(np.flatnonzero(lengths != lengths[0])[0])
            raise DatasetError(
                f"{path}: column 'embedding' has length {lengths[row]} at row {row}, but {lengths[0]} at row 0",
                file=str(path),
                column="embedding",
                row=row,
            )
        flat = frame["embedding"].explode().to_numpy()
    else:
        flat = frame["embedding"].to_numpy()
    vectors = np.asarray(flat, dtype=np.float32).reshape(frame.height, -1)
    if vectors.shape[1] == 0:
        raise DatasetError(
            f"{path}: column 'embedding' holds empty vectors", file=str(path), column="embedding"
        )
    return ids.cast(pl.Int64).to_numpy(), vectors


def _metadata(path: Path, dim: int, teacher: bool) -> dict[str, Any]:
    """metadata.json beside the file ({} when absent, unless the folder is a teacher's)."""
    meta_path = path.parent / METADATA_FILE
    if not meta_path.exists():
        if teacher:
            raise DatasetError(
                f"{meta_path}: missing; a teacher folder needs it beside {path.name} (at least "
                f'{{"kind": "...", "dim": {dim}}}; recplug teachers write it): without it the vectors\' '
                "kind, size and data cut-off are unknown",
                file=str(meta_path),
            )
        return {}
    metadata = read_json(meta_path, "embedding metadata")
    missing = [k for k in ("kind", "dim") if k not in metadata] if teacher else []
    if missing:
        raise DatasetError(
            f"{meta_path}: no key(s) {missing}; a teacher folder's metadata.json needs kind and dim",
            file=str(meta_path),
        )
    if "dim" in metadata:
        try:
            declared = int(metadata["dim"])
        except (TypeError, ValueError):
            raise DatasetError(
                f"{meta_path}: 'dim' is {metadata['dim']!r}, expected an integer", file=str(meta_path)
            ) from None
        if declared != dim:
            raise DatasetError(
                f"{path}: embeddings have dim {dim} but {meta_path} says dim={metadata['dim']}",
                file=str(path),
                column="embedding",
            )
    return metadata


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
