"""Frozen teacher targets read from embedding files (recplug's teachers or a user's own export),
aligned to the student's item rows. Items without a teacher row are left out of that teacher's loss
(never given a zero target), and the coverage is reported."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from recplug.data.embeddings import read_embeddings
from recplug.data.vectors import unit_rows
from recplug.student.cre.config import TeacherFile
from recplug.student.items import ItemStore

log = logging.getLogger(__name__)


@dataclass
class TeacherTargets:
    name: str
    vectors: np.ndarray  # (n_store_rows, dim) float32, L2-normalised, zeros where not covered
    covered: np.ndarray  # (n_store_rows,) bool
    user_ids: np.ndarray | None = None  # sorted user ids with a user state
    user_vectors: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def user_dim(self) -> int:
        return 0 if self.user_vectors is None else self.user_vectors.shape[1]

    def coverage(self, store: ItemStore) -> dict:
        return {
            "teacher": self.name,
            "dim": self.dim,
            "items_covered": int(self.covered.sum()),
            "items_total": len(self.covered),
            "coverage": float(self.covered.mean()),
            "users_with_state": 0 if self.user_ids is None else len(self.user_ids),
        }

    def user_rows(self, user_ids: np.ndarray) -> np.ndarray:
        """Row of each user in user_vectors, -1 where the teacher has no state for it."""
        if self.user_ids is None:
            return np.full(len(user_ids), -1)
        pos = np.searchsorted(self.user_ids, user_ids).clip(0, len(self.user_ids) - 1)
        return np.where(self.user_ids[pos] == user_ids, pos, -1)


def load_teacher_targets(spec: TeacherFile, store: ItemStore) -> TeacherTargets:
    """Read, check (ids, NaN rows, dim vs metadata: `read_embeddings` names file/column/row) and align."""
    table = read_embeddings(spec.path)
    rows = table.rows_of(store.item_ids)
    covered = rows >= 0
    if not covered.any():
        raise ValueError(
            f"teacher '{spec.name}' ({spec.path}): none of its {len(table.ids):,} item ids matches the "
            f"dataset's {len(store.item_ids):,} items (ids {table.ids[:3].tolist()}... vs "
            f"{store.item_ids[:3].tolist()}...): is it from another dataset?"
        )
    vectors = np.zeros((len(store.item_ids), table.dim), dtype=np.float32)
    vectors[covered] = unit_rows(table.vectors[rows[covered]]).astype(np.float32)
    out = TeacherTargets(spec.name, vectors, covered)
    if spec.user_states:
        users = read_embeddings(spec.path, id_column="user_id")
        out.user_ids, out.user_vectors = users.ids, unit_rows(users.vectors).astype(np.float32)
    log.info(
        "teacher '%s': %d of %d items covered (%.1f%%)",
        spec.name,
        covered.sum(),
        len(covered),
        100 * covered.mean(),
    )
    return out
