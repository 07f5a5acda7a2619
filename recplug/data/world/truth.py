"""Ground truth of a generated world, for evaluation code only (training code never reads it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recplug.data.vectors import unit_rows
from recplug.data.world.behaviour import ReturnModel
from recplug.data.world.latents import Latents
from recplug.data.world.vocab import ATTRIBUTES


@dataclass
class GroundTruth:
    latents: Latents

    @property
    def item_ids(self) -> np.ndarray:
        return np.arange(1, self.latents.cfg.n_items + 1)

    @property
    def user_ids(self) -> np.ndarray:
        return np.arange(1, self.latents.cfg.n_users + 1)

    @property
    def item_vectors(self) -> np.ndarray:
        """v_i, the collaborative vectors, row i-1 for item_id i."""
        return self.latents.items.vectors

    @property
    def return_model(self) -> ReturnModel:
        return ReturnModel(self.latents.cfg, self.latents.users.activity)

    def modality_of(self) -> dict[str, str]:
        return {a.name: a.modality for a in ATTRIBUTES}

    def item_attributes(self) -> pl.DataFrame:
        """item_id plus one column per attribute holding its value name."""
        attrs = self.latents.items.attrs
        return pl.DataFrame(
            {"item_id": self.item_ids}
            | {a.name: np.array(a.values)[attrs[:, j]] for j, a in enumerate(ATTRIBUTES)}
        )

    def user_attribute_weights(self) -> np.ndarray:
        return self.latents.users.attribute_weights

    def affinity(self, user_ids: np.ndarray, item_ids: np.ndarray, day: float | np.ndarray) -> np.ndarray:
        """True affinity of aligned (user_id, item_id) pairs on `day` (before per-impression noise)."""
        return self.latents.affinity_pairs(np.asarray(user_ids) - 1, np.asarray(item_ids) - 1, day)

    def affinity_matrix(self, user_ids: np.ndarray, item_ids: np.ndarray, day: float) -> np.ndarray:
        return self.latents.affinity_grid(np.asarray(user_ids) - 1, np.asarray(item_ids) - 1, day)

    def neighbours(self, item_ids: np.ndarray, k: int, candidates: np.ndarray | None = None) -> np.ndarray:
        """(len(item_ids), k) true nearest item ids by cosine of v, the item itself excluded."""
        v = unit_rows(self.item_vectors)
        cand = self.item_ids if candidates is None else np.asarray(candidates)
        out = np.empty((len(item_ids), k), dtype=np.int64)
        for lo in range(0, len(item_ids), 1024):  # chunks bound memory for large catalogs
            q = np.asarray(item_ids[lo : lo + 1024])
            sims = v[q - 1] @ v[cand - 1].T
            sims[q[:, None] == cand[None, :]] = -np.inf
            top = np.argpartition(-sims, k, axis=1)[:, :k]
            top = np.take_along_axis(top, np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1), axis=1)
            out[lo : lo + 1024] = cand[top]
        return out
