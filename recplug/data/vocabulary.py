"""Raw ids <-> embedding-table rows, the one id vocabulary of the house (teachers and ranking models).

Ids known when the vocabulary is built get rows 1..n; every other id shares row 0 (unknown, padding),
which is what a new user or a cold item looks like to an id-based model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recplug.data.schema import positions_in

UNKNOWN_ROW = 0


@dataclass
class Vocabulary:
    """Args:
    ids: sorted unique raw ids; `ids[k]` lives in row k + 1.

    Example:
        >>> v = Vocabulary.of(np.array([30, 10, 30]))
        >>> v.rows(np.array([10, 30, 99])).tolist(), v.size
        ([1, 2, 0], 3)
    """

    ids: np.ndarray

    @classmethod
    def of(cls, ids: np.ndarray) -> Vocabulary:
        return cls(np.unique(np.asarray(ids, dtype=np.int64)))

    @property
    def size(self) -> int:
        """Rows of a table over this vocabulary (row 0 included)."""
        return len(self.ids) + 1

    def rows(self, ids: np.ndarray) -> np.ndarray:
        return positions_in(self.ids, np.asarray(ids, dtype=np.int64)) + 1  # absent (-1) becomes row 0

    def ids_at(self, rows: np.ndarray) -> np.ndarray:
        """The raw ids of rows 1..n (row 0 has none)."""
        return self.ids[np.asarray(rows) - 1]
