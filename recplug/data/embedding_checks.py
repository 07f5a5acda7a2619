"""What `read_embeddings` checks beyond the file's format: vectors that carry information, and ids that
belong to the dataset they are used with. Refusals raise a DatasetError naming the file; doubts
are returned as warning lines (the caller keeps them in `EmbeddingTable.warnings` and logs them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recplug.data.errors import DatasetError

MIN_COVERAGE = 0.5  # below this share of the dataset's ids covered, a table is used with a warning


def check_finite(path: Path, ids: np.ndarray, vectors: np.ndarray, id_column: str) -> None:
    bad = ~np.isfinite(vectors).all(1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DatasetError(
            f"{path}: column 'embedding' has NaN/inf values in {len(rows)} row(s), first at row {rows[0]} "
            f"({id_column}={ids[rows[0]]})",
            file=str(path),
            column="embedding",
            row=int(rows[0]),
        )


def check_informative(path: Path, ids: np.ndarray, vectors: np.ndarray, id_column: str) -> list[str]:
    """A table that is not degenerate: all zeros, or every row the same vector (an export that went
    wrong, which would silently make every item look alike). Rows that are all zeros (an item without
    content, say) are kept with a warning."""
    zero = ~vectors.any(1)
    if zero.all():
        raise DatasetError(
            f"{path}: every vector in column 'embedding' is all zeros ({len(vectors)} rows): nothing to "
            "learn from; was the export broken?",
            file=str(path),
            column="embedding",
        )
    if len(vectors) > 1 and (vectors == vectors[0]).all():
        raise DatasetError(
            f"{path}: every row of column 'embedding' holds the same vector ({len(vectors)} rows, "
            f"first values {np.round(vectors[0, :3], 4).tolist()}): it cannot tell ids apart; was the export broken?",
            file=str(path),
            column="embedding",
        )
    if zero.any():
        row = int(np.flatnonzero(zero)[0])
        return [
            f"{path}: {int(zero.sum())} of {len(vectors)} vectors are all zeros (first at row {row}, "
            f"{id_column}={ids[row]}): they match nothing"
        ]
    return []


def check_dataset(
    path: Path,
    ids: np.ndarray,
    metadata: dict,
    dataset_ids: np.ndarray,
    dataset: str,
    id_column: str = "item_id",
    who: str = "the file",
) -> list[str]:
    """The table's ids against the dataset's (`dataset` is its name): none in common is refused, naming
    the dataset the metadata says the table was made from; coverage below MIN_COVERAGE and a recorded
    dataset of another name are warnings."""
    noun = id_column.removesuffix("_id")
    about = f"dataset '{dataset}'" if dataset else "the dataset"
    dataset_ids = np.unique(np.asarray(dataset_ids))
    covered = np.isin(dataset_ids, ids)
    made_from = (
        (metadata.get("data") or {}).get("dataset") if isinstance(metadata.get("data"), dict) else None
    )
    if not covered.any():
        recorded = (
            f"; its metadata.json says it was made from dataset '{made_from}'"
            if made_from and made_from != dataset
            else ""
        )
        raise DatasetError(
            f"{path}: {who} covers 0 of the {len(dataset_ids)} {noun}s of {about}: none of its "
            f"{len(ids)} {noun} ids matches (file {id_column} {ids.min()}..{ids.max()}, dataset "
            f"{id_column} {dataset_ids.min()}..{dataset_ids.max()}){recorded}: is it from another dataset?",
            file=str(path),
            column=id_column,
        )
    warnings = []
    if made_from and dataset and made_from != dataset:
        warnings.append(f"{path}: made from dataset '{made_from}' (its metadata.json), used with {about}")
    if covered.mean() < MIN_COVERAGE:
        warnings.append(
            f"{path}: {who} covers only {covered.sum():,} of the {len(dataset_ids):,} {noun}s of {about} "
            f"({covered.mean():.0%}, below {MIN_COVERAGE:.0%}): the {noun}s it lacks get no vector"
        )
    return warnings
