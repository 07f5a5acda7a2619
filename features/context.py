"""Dense context features every ranking variant gets: time of day and the user's and item's logged
counts before the impression (impressions, positives, smoothed rate), then the dataset's own context
columns (numeric as they are, categorical one-hot over their most frequent values). Counts come from an
`EventIndex` of the logged events only (never sampled negatives), so they only ever see the past; past
the end of the log they stay at their final values.

Columns that carry nothing on the rows a ranker is fitted on are dropped with a note
(`drop_uninformative`): hour of day on day-level dates, rates that are 1 on a log of positives only,
impression counts equal to positive counts."""

from __future__ import annotations

import numpy as np
import polars as pl

from features.events import EventIndex

PRIOR_RATE_WEIGHT = 10.0  # pseudo-impressions at the global rate, so a new item's rate is not 0 or 1
MAX_LEVELS = 16  # a categorical context column's most frequent values, one-hot (the rest: all zero)
BASE_NAMES = (
    "hour_sin",
    "hour_cos",
    "log1p_history",
    "log1p_user_impressions",
    "user_rate",
    "log1p_item_impressions",
    "log1p_item_positives",
    "item_rate",
)


class ContextFeatures:
    def __init__(
        self,
        interactions: pl.DataFrame,
        positive: pl.Expr,
        prior_until: int | None = None,
        columns: dict[str, str] | None = None,
    ):
        """`prior_until`: the global positive rate (the smoothing prior) and the categorical levels are
        taken over interactions before this ts only (the pipeline passes the test period's start).
        `columns`: the dataset's context columns and their kinds ('numeric' / 'categorical')."""
        frame = interactions.select("user_id", "item_id", "ts", positive.alias("_pos"))
        pos = frame.filter(pl.col("_pos"))
        ts = frame["ts"].to_numpy()
        self.user_shown = EventIndex(frame["user_id"].to_numpy(), ts)
        self.user_liked = EventIndex(pos["user_id"].to_numpy(), pos["ts"].to_numpy())
        self.item_shown = EventIndex(frame["item_id"].to_numpy(), ts)
        self.item_liked = EventIndex(pos["item_id"].to_numpy(), pos["ts"].to_numpy())
        prior = frame if prior_until is None else frame.filter(pl.col("ts") < prior_until)
        self.global_rate = float(prior["_pos"].sum() / max(prior.height, 1))
        self.columns = dict(columns or {})
        before = interactions if prior_until is None else interactions.filter(pl.col("ts") < prior_until)
        self.levels = {
            c: before[c]  # ties at the cut go to the smallest values, so the levels never depend on hashing
            .drop_nulls()
            .value_counts(name="_n")
            .sort(["_n", c], descending=[True, False])
            .head(MAX_LEVELS)[c]
            .sort()
            .to_list()
            for c, kind in self.columns.items()
            if kind == "categorical"
        }
        self.all_names = list(BASE_NAMES) + [
            n
            for c, kind in self.columns.items()
            for n in ([c] if kind == "numeric" else [f"{c}={v}" for v in self.levels[c]])
        ]
        self.keep = np.arange(len(self.all_names))
        self.dropped: dict[str, str] = {}

    @property
    def names(self) -> list[str]:
        return [self.all_names[i] for i in self.keep]

    def _rate(self, liked: np.ndarray, shown: np.ndarray) -> np.ndarray:
        return (liked + PRIOR_RATE_WEIGHT * self.global_rate) / (shown + PRIOR_RATE_WEIGHT)

    def encode(self, extra: pl.DataFrame | None, n: int) -> np.ndarray:
        """(n, columns) float32 of the dataset's context columns (NaN-free: missing numbers are 0)."""
        if not self.columns:
            return np.zeros((n, 0), np.float32)
        if extra is None:
            raise ValueError(f"context columns {list(self.columns)} are needed for these rows")
        parts = []
        for c, kind in self.columns.items():
            if kind == "numeric":
                parts.append(extra[c].cast(pl.Float32).fill_null(0).fill_nan(0).to_numpy()[:, None])
            else:
                values = extra[c].cast(pl.String).to_numpy()
                parts.append(np.stack([values == v for v in self.levels[c]], 1).reshape(n, -1))
        return np.concatenate(parts, 1).astype(np.float32)

    def __call__(
        self,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        ts: np.ndarray,
        history_lengths: np.ndarray,
        extra: pl.DataFrame | None = None,
    ) -> np.ndarray:
        """(n, len(names)) float32 for impressions (user, item, ts) with histories of these lengths
        (and, when the dataset has context columns, `extra`: their values for these rows)."""
        ts = np.asarray(ts, dtype=np.int64)
        angle = 2 * np.pi * (ts % 86400) / 86400
        u_shown = self.user_shown.count_before(user_ids, ts)
        u_liked = self.user_liked.count_before(user_ids, ts)
        i_shown = self.item_shown.count_before(item_ids, ts)
        i_liked = self.item_liked.count_before(item_ids, ts)
        base = np.stack(
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
        values = np.concatenate([base, self.encode(extra, len(ts))], 1) if self.columns else base
        return values[:, self.keep]

    def drop_uninformative(self, values: np.ndarray) -> dict[str, str]:
        """Drop the columns constant on `values` (all columns, the rows a ranker is fitted on) or equal
        to an earlier column; later calls return the kept columns only. Returns {dropped: why}."""
        keep = []
        for j in range(values.shape[1]):
            col = values[:, j]
            if len(col) and np.all(col == col[0]):
                self.dropped[self.all_names[j]] = f"constant ({col[0]:g}) on the fitting rows"
                continue
            same = next((i for i in keep if np.array_equal(values[:, i], col)), None)
            if same is not None:
                self.dropped[self.all_names[j]] = f"equal to {self.all_names[same]} on the fitting rows"
                continue
            keep.append(j)
        self.keep = np.asarray(keep, dtype=np.int64)
        return dict(self.dropped)
