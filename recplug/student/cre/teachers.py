"""Frozen teacher targets read from embedding files (recplug's teachers or a user's own export),
aligned to the student's item rows. Items without a teacher row are left out of that teacher's loss
(never given a zero target), and the coverage is reported."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import polars as pl

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
    warnings: list[str] = field(default_factory=list)  # doubts about the files, for the report

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
            "warnings": self.warnings,
        }

    def user_rows(self, user_ids: np.ndarray) -> np.ndarray:
        """Row of each user in user_vectors, -1 where the teacher has no state for it."""
        if self.user_ids is None:
            return np.full(len(user_ids), -1)
        pos = np.searchsorted(self.user_ids, user_ids).clip(0, len(self.user_ids) - 1)
        return np.where(self.user_ids[pos] == user_ids, pos, -1)


def _user_ids(ds) -> np.ndarray:
    users = ds.interactions.select("user_id").unique()
    return (users.collect() if isinstance(users, pl.LazyFrame) else users)["user_id"].to_numpy()


def load_teacher_targets(spec: TeacherFile, store: ItemStore, ds=None) -> TeacherTargets:
    """Read, check and align a teacher folder: `read_embeddings` (teacher=True) refuses a bad file or
    one of another dataset, naming it, and requires metadata.json; its warnings (coverage below half
    the items, ...) are kept in `warnings` for the report. `ds`: the dataset (its name and users)."""
    name = ds.meta.name if ds is not None else ""
    who = f"teacher '{spec.name}'"
    table = read_embeddings(spec.path, teacher=True, dataset_ids=store.item_ids, dataset=name, who=who)
    rows = table.rows_of(store.item_ids)
    covered = rows >= 0
    vectors = np.zeros((len(store.item_ids), table.dim), dtype=np.float32)
    vectors[covered] = unit_rows(table.vectors[rows[covered]]).astype(np.float32)
    out = TeacherTargets(spec.name, vectors, covered, warnings=list(table.warnings))
    if spec.user_states:
        users = read_embeddings(
            spec.path,
            id_column="user_id",
            teacher=True,
            dataset_ids=None if ds is None else _user_ids(ds),
            dataset=name,
            who=who,
        )
        out.warnings += users.warnings
        out.user_ids, out.user_vectors = users.ids, unit_rows(users.vectors).astype(np.float32)
    log.info(
        "teacher '%s': %d of %d items covered (%.1f%%)",
        spec.name,
        covered.sum(),
        len(covered),
        100 * covered.mean(),
    )
    return out
