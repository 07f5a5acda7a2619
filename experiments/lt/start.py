"""Where the users stand when the logs end: their return state and their engagement histories.

The LT simulator continues the world from the last logged day, so it must start from the state the
logs left behind, not from a fresh population. Both parts are rebuilt from the logs alone:

- the return state is replayed exactly: the world's `ReturnModel.update` applied day by day to each
  active user's mean per-impression satisfaction (`Labels.satisfaction` of the logged labels). Every
  impression the world simulated is logged and every session has the same number of impressions, so
  the replay reproduces the generator's state bit for bit (tests/test_lt.py checks this);
- histories are each user's logged positives, most recent first, capped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from features.history import Histories
from recplug.data import Dataset, load_dataset
from recplug.data.world import World
from recplug.data.world.behaviour import Labels
from recplug.data.world.config import DAY, START_TS

WORLD_LABELS = ("click", "finish", "like")


@dataclass
class LTStart:
    """The population on the first simulated day. Rows are user_id - 1."""

    day: int  # first simulated day: the day after the last logged one
    state: np.ndarray  # (n_users,) the return model's state
    histories: Histories  # (n_users,) logged positives, most recent first, capped
    positives: np.ndarray  # (n_users,) all logged positives (uncapped), to split users by history


def as_dataset(data: str | Path | Dataset) -> Dataset:
    return data if isinstance(data, Dataset) else load_dataset(data, lazy=True)


def day_of(ts: np.ndarray | pl.Expr) -> np.ndarray | pl.Expr:
    return (ts - START_TS) // DAY


def replay_return_state(world: World, ds: Dataset, end_day: int) -> np.ndarray:
    """The return model's state after the logged days before `end_day`, replayed from the labels."""
    missing = [c for c in WORLD_LABELS if c not in ds.meta.label_columns]
    if missing:
        raise ValueError(f"{ds.root}: interactions lack the world's label columns {missing}")
    logs = (
        ds.interactions.lazy()
        .select("user_id", "ts", *WORLD_LABELS)
        .filter(pl.col("ts") < START_TS + end_day * DAY)
        .collect()
    )
    sat = Labels(*(logs[c].cast(pl.Float64).to_numpy() for c in WORLD_LABELS)).satisfaction()
    daily = (
        logs.select(pl.col("user_id") - 1, day=day_of(pl.col("ts")), sat=pl.Series(sat))
        .group_by("day", "user_id")
        .agg(pl.col("sat").mean())
        .sort("day", "user_id")
    )
    days, users, means = (daily[c].to_numpy() for c in ("day", "user_id", "sat"))
    bounds = np.searchsorted(days, np.arange(end_day + 1))
    returns = world.ground_truth().return_model
    state = returns.initial_state()
    for d in range(end_day):  # the world's own update, one day at a time
        lo, hi = bounds[d], bounds[d + 1]
        state = returns.update(state, users[lo:hi], means[lo:hi])
    return state


def logged_histories(ds: Dataset, n_users: int, end_ts: int, cap: int) -> tuple[Histories, np.ndarray]:
    """(capped histories, uncapped positive counts) of every user from the positives before `end_ts`."""
    pos = (
        ds.positives()
        .lazy()
        .filter(pl.col("ts") < end_ts)
        .select(pl.col("user_id") - 1, "item_id", "ts")
        .sort(["user_id", "ts"], descending=[False, True], maintain_order=True)
        .collect()
    )
    counts = np.bincount(pos["user_id"].to_numpy(), minlength=n_users)
    kept = pos.group_by("user_id", maintain_order=True).head(cap)
    lengths = np.bincount(kept["user_id"].to_numpy(), minlength=n_users).astype(np.int64)
    items = kept["item_id"].to_numpy().astype(np.int64)
    return Histories(lengths, items, int((counts > cap).sum())), counts


def lt_start(world: World, data: str | Path | Dataset, history_cap: int = 50) -> LTStart:
    ds = as_dataset(data)
    end_day = int(day_of(ds.meta.splits.end))
    histories, counts = logged_histories(ds, world.config.n_users, ds.meta.splits.end, history_cap)
    return LTStart(end_day, replay_return_state(world, ds, end_day), histories, counts)


def prepend(hist: Histories, rows: np.ndarray, lengths: np.ndarray, items: np.ndarray, cap: int) -> Histories:
    """`hist` with `items` (grouped by `rows`, `lengths` each, most recent first) put in front of the
    rows' histories, each cut to `cap`. Vectorised: every item is scattered to its final slot."""
    n = len(hist)
    add = np.zeros(n, dtype=np.int64)
    add[rows] = lengths
    total = hist.lengths + add
    out_len = np.minimum(total, cap)
    out_off = np.concatenate([[0], np.cumsum(out_len)])
    new_user = np.repeat(rows, lengths)
    new_rank = np.arange(len(items)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    old_user = np.repeat(np.arange(n), hist.lengths)
    old_rank = add[old_user] + np.arange(len(hist.items)) - np.repeat(hist.offsets[:-1], hist.lengths)
    user = np.concatenate([new_user, old_user])
    rank = np.concatenate([new_rank, old_rank])
    keep = rank < cap
    out = np.empty(out_off[-1], dtype=np.int64)
    out[out_off[user[keep]] + rank[keep]] = np.concatenate([items, hist.items])[keep]
    return Histories(out_len, out, int((total > cap).sum()))
