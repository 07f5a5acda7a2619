"""Semantic-ID features: an item's residual-quantisation codes as ordinary sparse id features
("sid_0".."sid_{L-1}"), the form in which the report found student embeddings gained most online.

Codes come from `semantic_ids.parquet` (`item_id`, `sid_0`, `sid_1`, ...). Items the file lacks get
one extra "unknown" code per level (index `codes_per_level`), counted by `missing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recplug.data.errors import DatasetError
from recplug.data.parquet_files import read_parquet
from recplug.data.schema import positions_in

SEMANTIC_IDS_FILE = "semantic_ids.parquet"


@dataclass
class SemanticIds:
    ids: np.ndarray  # (n,) int64 item ids, sorted
    codes: np.ndarray  # (n, levels) int64, each level in [0, codes_per_level)
    codes_per_level: int

    @property
    def levels(self) -> int:
        return self.codes.shape[1]

    @property
    def feature_names(self) -> list[str]:
        return [f"sid_{level}" for level in range(self.levels)]

    @property
    def num_embeddings(self) -> int:
        """Rows each level's table needs: every code plus the unknown one."""
        return self.codes_per_level + 1

    def codes_of(self, item_ids: np.ndarray) -> np.ndarray:
        """(len(item_ids), levels) codes; the unknown code where the file has no row for an item."""
        rows = positions_in(self.ids, np.asarray(item_ids, dtype=np.int64))
        out = np.full((len(rows), self.levels), self.codes_per_level, dtype=np.int64)
        out[rows >= 0] = self.codes[rows[rows >= 0]]
        return out

    def missing(self, item_ids: np.ndarray) -> int:
        return int((positions_in(self.ids, np.asarray(item_ids, dtype=np.int64)) < 0).sum())


def read_semantic_ids(path: str | Path) -> SemanticIds:
    """Load and check a semantic-id file (a folder is read as folder/semantic_ids.parquet)."""
    path = Path(path)
    if path.is_dir():
        path = path / SEMANTIC_IDS_FILE
    frame = read_parquet(path, "semantic-id")
    levels = sorted(
        (c for c in frame.columns if c.startswith("sid_") and c[4:].isdigit()), key=lambda c: int(c[4:])
    )
    if "item_id" not in frame.columns or not levels:
        raise DatasetError(
            f"{path}: needs columns 'item_id' and sid_0, sid_1, ... (has {frame.columns})", file=str(path)
        )
    if levels != [f"sid_{i}" for i in range(len(levels))]:
        raise DatasetError(f"{path}: sid columns must be sid_0..sid_{{L-1}}, got {levels}", file=str(path))
    for col in ["item_id", *levels]:
        if not frame.schema[col].is_integer():
            raise DatasetError(
                f"{path}: column '{col}' has dtype {frame.schema[col]}, expected integers",
                file=str(path),
                column=col,
            )
    for col in ["item_id", *levels]:
        if frame[col].null_count():
            row = int(frame[col].is_null().arg_true()[0])
            raise DatasetError(
                f"{path}: column '{col}' is null at row {row}", file=str(path), column=col, row=row
            )
    if frame["item_id"].is_duplicated().any():
        row = int(frame["item_id"].is_duplicated().arg_true()[0])
        raise DatasetError(
            f"{path}: column 'item_id' has duplicate {frame['item_id'][row]} (row {row})",
            file=str(path),
            column="item_id",
            row=row,
        )
    frame = frame.sort("item_id")
    codes = frame.select(levels).to_numpy().astype(np.int64)
    if (codes < 0).any():
        row, col = map(int, np.argwhere(codes < 0)[0])
        raise DatasetError(
            f"{path}: column '{levels[col]}' has negative code {codes[row, col]}",
            file=str(path),
            column=levels[col],
        )
    return SemanticIds(frame["item_id"].to_numpy(), codes, int(codes.max()) + 1)
