"""A trained ranking model as a plain function for the LT simulator:
`scorer(user_ids, item_ids, hist, ts) -> probabilities`, with match features computed on the fly by the
variant's `MatchFeatures` modules from the histories the simulator passes in."""

from __future__ import annotations

import numpy as np

from features.history import Histories
from features.ranking import RankingModel
from features.train import predict, torch_threads
from features.variant import VariantFeatures


class RankingScorer:
    def __init__(
        self, model: RankingModel, pipeline: VariantFeatures, batch_size: int = 65536, threads: int = 1
    ):
        self.model, self.pipeline, self.batch_size, self.threads = model.eval(), pipeline, batch_size, threads

    @property
    def variant(self) -> str:
        return self.pipeline.variant.name

    def __call__(
        self, user_ids: np.ndarray, item_ids: np.ndarray, hist: Histories, ts: np.ndarray
    ) -> np.ndarray:
        """P(positive) for each (user, item) shown at ts after history `hist` (one row each; rows
        with the same user and ts must carry the same history, as any history of "the user's past at
        ts" does)."""
        user_ids, item_ids = np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64)
        ts = np.broadcast_to(np.asarray(ts, np.int64), user_ids.shape)
        if not (len(user_ids) == len(item_ids) == len(hist)):
            raise ValueError(
                f"{len(user_ids)} users, {len(item_ids)} items and {len(hist)} histories: must match"
            )
        # rows of one (user, ts) share their history (it is the user's past at ts): look it up once
        keys = np.stack([user_ids, ts], 1)
        _, first, group = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        groups = (hist.take(first), group.ravel()) if len(first) < len(user_ids) else None
        with torch_threads(self.threads):
            dense = self.pipeline.dense(user_ids, item_ids, ts, hist, groups=groups)
            sparse = self.pipeline.sparse(user_ids, item_ids)
            return predict(self.model, dense, sparse, np.arange(len(user_ids)), self.batch_size)
