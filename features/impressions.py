"""The impressions a ranking model learns from and is judged on: every logged (user, item, ts) with
its label (the dataset's positive rule), its period (train / valid / test by the dataset's time
boundaries), whether its item is cold, and the user's history just before it. On an implicit log
(no logged negatives) the sampled negatives of `features.negatives` join them (label 0, `sampled`),
each at its positive's (user, ts) with its history and event context; histories and counts come from
the logged events only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from features.history import DEFAULT_MAX_HISTORY, Histories, histories_before, positive_engagements
from features.negatives import NegativeConfig, sample_negatives
from recplug.data import Dataset, cold_items

PERIODS = ("train", "valid", "test")


@dataclass
class Impressions:
    user_id: np.ndarray
    item_id: np.ndarray
    ts: np.ndarray
    label: np.ndarray  # float32 0/1
    period: np.ndarray  # int8 index into PERIODS
    cold: np.ndarray  # bool, the item is first seen in the test period
    hist: Histories
    sampled: np.ndarray | None = None  # bool, a sampled negative (None: every row was logged)
    extra: pl.DataFrame | None = None  # the dataset's context columns per row (negatives: their positive's)
    negatives: dict | None = None  # the sampler's description and counts

    def __len__(self) -> int:
        return len(self.user_id)

    def fingerprint(self) -> str:
        """A hash of the rows (user, item, ts, label): what cached features of these rows depend on."""
        from recplug.data.artifacts import digest

        return digest(self.user_id, self.item_id, self.ts, self.label)

    def rows(self, period: str, cold_only: bool = False) -> np.ndarray:
        """Row indices of one period (and only cold items when asked)."""
        mask = self.period == PERIODS.index(period)
        return np.flatnonzero(mask & self.cold if cold_only else mask)

    def fit_rows(
        self, fit_on: str, select_fraction: float = 0.2, start: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(fit, select) rows for a ranking model, the select rows always the latest in time.
        fit_on="train": fit on the training period, select on the validation period. fit_on="valid":
        fit on the validation period but its last `select_fraction` of time, select on that last part;
        the leak-free choice when the feature tables were fitted on the training period. fit_on=
        "forward": the same over every pre-test impression at or after `start` (the first fold's
        cut-off): leak-free when each row's features come from tables cut off before it (forward
        chaining, see `features.experiment.RankingRun`)."""
        if fit_on == "train":
            return self.rows("train"), self.rows("valid")
        if fit_on not in ("valid", "forward"):
            raise ValueError(f"fit_on must be 'train', 'valid' or 'forward', got '{fit_on}'")
        if fit_on == "valid":
            rows = self.rows("valid")
        else:
            if start is None:
                raise ValueError("fit_on='forward' needs the first fold's cut-off (start)")
            rows = np.flatnonzero((self.period < 2) & (self.ts >= start))
        if len(rows) == 0:
            return rows, rows
        t0, t1 = self.ts[rows].min(), self.ts[rows].max() + 1
        late = self.ts[rows] >= t0 + (1 - select_fraction) * (t1 - t0)
        return rows[~late], rows[late]


def period_of(ds: Dataset, ts: np.ndarray) -> np.ndarray:
    """0 / 1 / 2 (train / valid / test) of each ts by the dataset's boundaries."""
    s = ds.meta.splits
    return np.searchsorted([s.train_end, s.valid_end], ts, side="right").astype(np.int8)


def item_availability(ds: Dataset, inter: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(catalog item ids sorted, the first ts each may be shown: its creation or first logged event)."""
    from features.negatives import availability

    first = inter.group_by("item_id").agg(pl.col("ts").min().alias("first"))
    cols = ["item_id"] + (["created_ts"] if "created_ts" in ds.items.columns else [])
    items = ds.items.select(cols).join(first, on="item_id", how="left").sort("item_id")
    created = items["created_ts"].cast(pl.Float64).to_numpy() if "created_ts" in cols else None
    return items["item_id"].to_numpy(), availability(
        items["item_id"].to_numpy(), created, items["first"].cast(pl.Float64).to_numpy()
    )


def load_impressions(
    ds: Dataset, max_history: int = DEFAULT_MAX_HISTORY, negatives: NegativeConfig | None = None
) -> Impressions:
    """All impressions of a loaded dataset, in log order, with leak-free histories; with `negatives`,
    sampled negatives for every positive join them (sorted in by ts after the logged rows)."""
    inter = ds.interactions
    if isinstance(inter, pl.LazyFrame):
        inter = inter.collect()
    positive = ds.meta.positive_rule.expr()
    ts = inter["ts"].to_numpy()
    period = period_of(ds, ts)
    user_id, item_id = inter["user_id"].to_numpy(), inter["item_id"].to_numpy()
    label = inter.select(positive.fill_null(False)).to_series().to_numpy().astype(np.float32)
    context = list(ds.meta.context_columns)
    extra = inter.select(context) if context else None
    sampled, stats = None, None
    if negatives is not None:
        pos = np.flatnonzero(label > 0)
        catalog, available = item_availability(ds, inter)
        neg = sample_negatives(
            user_id[pos], item_id[pos], ts[pos], period[pos], catalog, available, negatives
        )
        order = np.argsort(np.concatenate([ts, neg.ts]), kind="stable")
        user_id = np.concatenate([user_id, neg.user_id])[order]
        item_id = np.concatenate([item_id, neg.item_id])[order]
        ts = np.concatenate([ts, neg.ts])[order]
        period = np.concatenate([period, period[pos][neg.source]])[order]
        label = np.concatenate([label, np.zeros(len(neg.ts), np.float32)])[order]
        sampled = np.concatenate([np.zeros(len(inter), bool), np.ones(len(neg.ts), bool)])[order]
        if extra is not None:
            extra = pl.concat([extra, extra[pos[neg.source]]])[order]
        stats = neg.stats | {"description": negatives.describe()}
    return Impressions(
        user_id=user_id,
        item_id=item_id,
        ts=ts,
        label=label,
        period=period,
        cold=np.isin(item_id, cold_items(ds).to_numpy()),
        hist=histories_before(positive_engagements(inter, positive), user_id, ts, max_history),
        sampled=sampled,
        extra=extra,
        negatives=stats,
    )
