"""Dense context features every ranking variant gets: time of day and the user's and item's logged
counts before the impression (impressions, positives, smoothed rate). Counts come from an `EventIndex`,
so they only ever see the past; past the end of the log they stay at their final values."""

from __future__ import annotations

import numpy as np
import polars as pl

from features.events import EventIndex

PRIOR_RATE_WEIGHT = 10.0  # pseudo-impressions at the global rate, so a new item's rate is not 0 or 1


class ContextFeatures:
    names = [
        "hour_sin",
        "hour_cos",
        "log1p_history",
        "log1p_user_impressions",
        "user_rate",
        "log1p_item_impressions",
        "log1p_item_positives",
        "item_rate",
    ]

    def __init__(self, interactions: pl.DataFrame, positive: pl.Expr, prior_until: int | None = None):
        """`prior_until`: the global positive rate (the smoothing prior) is taken over interactions
        before this ts only (the pipeline passes the test period's start)."""
        frame = interactions.select("user_id", "item_id", "ts", positive.alias("_pos"))
        pos = frame.filter(pl.col("_pos"))
        ts = frame["ts"].to_numpy()
        self.user_shown = EventIndex(frame["user_id"].to_numpy(), ts)
        self.user_liked = EventIndex(pos["user_id"].to_numpy(), pos["ts"].to_numpy())
        self.item_shown = EventIndex(frame["item_id"].to_numpy(), ts)
        self.item_liked = EventIndex(pos["item_id"].to_numpy(), pos["ts"].to_numpy())
        prior = frame if prior_until is None else frame.filter(pl.col("ts") < prior_until)
        self.global_rate = float(prior["_pos"].sum() / max(prior.height, 1))

    def _rate(self, liked: np.ndarray, shown: np.ndarray) -> np.ndarray:
        return (liked + PRIOR_RATE_WEIGHT * self.global_rate) / (shown + PRIOR_RATE_WEIGHT)

    def __call__(
        self, user_ids: np.ndarray, item_ids: np.ndarray, ts: np.ndarray, history_lengths: np.ndarray
    ) -> np.ndarray:
        """(n, len(names)) float32 for impressions (user, item, ts) with histories of these lengths."""
        ts = np.asarray(ts, dtype=np.int64)
        angle = 2 * np.pi * (ts % 86400) / 86400
        u_shown = self.user_shown.count_before(user_ids, ts)
        u_liked = self.user_liked.count_before(user_ids, ts)
        i_shown = self.item_shown.count_before(item_ids, ts)
        i_liked = self.item_liked.count_before(item_ids, ts)
        return np.stack(
            [
                np.sin(angle),
                np.cos(angle),
                np.log1p(history_lengths),
                np.log1p(u_shown),
                self._rate(u_liked, u_shown),
                np.log1p(i_shown),
                np.log1p(i_liked),
                self._rate(i_liked, i_shown),
            ],
            1,
        ).astype(np.float32)
