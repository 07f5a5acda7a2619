"""Reference ranking variants for the LT simulator: an upper bound (the true affinity), a floor
(random) and the usual non-personalised baseline (popularity).

A scorer is any `scorer(user_ids, item_ids, hist, ts) -> scores` over aligned (user, candidate)
pairs: ids are 1-based, `hist` row r is the history of pair r's user, `ts` the session's start.
A scorer must be a pure function of its inputs so that the simulator's common random numbers
apply to it too (the random scorer hashes its inputs instead of drawing from a generator).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from experiments.lt.start import as_dataset, day_of
from features.history import Histories
from recplug.data import Dataset
from recplug.data.world import World

Scorer = Callable[[np.ndarray, np.ndarray, Histories, np.ndarray], np.ndarray]


def true_affinity_scorer(world: World) -> Scorer:
    """The oracle: the world's true affinity on the session's day (before per-impression noise)."""
    truth = world.ground_truth()

    def score(user_ids, item_ids, hist, ts):
        return truth.affinity(user_ids, item_ids, day_of(np.asarray(ts)))

    return score


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-spread uint64 hash."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def random_scorer(seed: int = 0) -> Scorer:
    """Uniform scores that depend only on (seed, user, item, ts): calling it twice gives the same."""

    def score(user_ids, item_ids, hist, ts):
        x = _mix(np.asarray(user_ids, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15))
        x = _mix(x ^ np.asarray(item_ids, dtype=np.uint64))
        x = _mix(x ^ np.asarray(ts, dtype=np.uint64))
        return (x >> np.uint64(11)).astype(np.float64) / 2.0**53

    return score


def popularity_scorer(data: str | Path | Dataset) -> Scorer:
    """Positive engagements per item in the training period (items never engaged score 0)."""
    ds = as_dataset(data)
    counts = (
        ds.positives()
        .lazy()
        .filter(pl.col("ts") < ds.meta.splits.train_end)
        .group_by("item_id")
        .len()
        .collect()
    )
    ids = counts["item_id"].to_numpy()
    table = np.zeros(int(ids.max(initial=0)) + 1)
    table[ids] = counts["len"].to_numpy()

    def score(user_ids, item_ids, hist, ts):
        item_ids = np.asarray(item_ids)
        return np.where(item_ids < len(table), table[np.minimum(item_ids, len(table) - 1)], 0.0)

    return score


REFERENCES = ("random", "popularity", "oracle")


def reference_scorers(world: World, data: str | Path | Dataset, names=REFERENCES) -> dict[str, Scorer]:
    """The reference rankers by name: `random`, `popularity` (training-period counts), `oracle`
    (the world's true affinity): the floor, the obvious heuristic and the ceiling of LT."""
    make = {
        "random": lambda: random_scorer(0),
        "popularity": lambda: popularity_scorer(data),
        "oracle": lambda: true_affinity_scorer(world),
    }
    unknown = [n for n in names if n not in make]
    if unknown:
        raise ValueError(f"unknown reference ranker(s) {unknown}; known: {list(make)}")
    return {n: make[n]() for n in names}
