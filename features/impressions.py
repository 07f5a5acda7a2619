"""The impressions a ranking model learns from and is judged on: every logged (user, item, ts) with
its label (the dataset's positive rule), its period (train / valid / test by the dataset's time
boundaries), whether its item is cold, and the user's history just before it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from features.history import DEFAULT_MAX_HISTORY, Histories, histories_before, positive_engagements
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

    def __len__(self) -> int:
        return len(self.user_id)

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


def load_impressions(ds: Dataset, max_history: int = DEFAULT_MAX_HISTORY) -> Impressions:
    """All impressions of a loaded dataset, in log order, with leak-free histories."""
    inter = ds.interactions
    if isinstance(inter, pl.LazyFrame):
        inter = inter.collect()
    positive = ds.meta.positive_rule.expr()
    splits = ds.meta.splits
    ts = inter["ts"].to_numpy()
    period = np.searchsorted([splits.train_end, splits.valid_end], ts, side="right").astype(np.int8)
    user_id, item_id = inter["user_id"].to_numpy(), inter["item_id"].to_numpy()
    return Impressions(
        user_id=user_id,
        item_id=item_id,
        ts=ts,
        label=inter.select(positive.fill_null(False)).to_series().to_numpy().astype(np.float32),
        period=period,
        cold=np.isin(item_id, cold_items(ds).to_numpy()),
        hist=histories_before(positive_engagements(inter, positive), user_id, ts, max_history),
    )
