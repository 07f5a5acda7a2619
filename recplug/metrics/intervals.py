"""Confidence intervals: every figure recplug reports carries its spread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict

import numpy as np

DIFF = "_diff"  # a paired difference to a baseline is the row of metric `<metric>_diff`


def diff_metric(metric: str) -> str:
    """The metric name of a paired difference (variant minus baseline on the same units)."""
    return metric + DIFF


def versus(variant: str, baseline: str) -> str:
    """The variant name of a difference where an experiment has several baselines."""
    return f"{variant} - {baseline}"


class MetricRow(TypedDict):
    """One row of report.json: {experiment, variant, metric, split, mean, ci_low, ci_high, n}."""

    experiment: str
    variant: str
    metric: str
    split: str
    mean: float
    ci_low: float
    ci_high: float
    n: int


def resample_counts(n: int, n_boot: int, seed: int, chunk: int = 200) -> Iterator[np.ndarray]:
    """Bootstrap resamples of n units as (b, n) float count matrices, in chunks (a multinomial draw is
    the same as resampling indices); the same seed gives the same resamples, which is what makes two
    models' intervals paired."""
    rng = np.random.default_rng(seed)
    for lo in range(0, n_boot, chunk):
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, n_boot - lo)).astype(np.float64)


def seed_weights(n_boot: int, n_seeds: int, seed: int = 0) -> np.ndarray:
    """(n_boot, n_seeds) weights summing to 1 per row: training seeds resampled with replacement, the
    same for every call with the same arguments (so paired differences resample seeds alike)."""
    if n_seeds == 1:
        return np.ones((n_boot, 1))
    rng = np.random.default_rng([seed, 1])
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot) / n_seeds


def bootstrap_ci(
    values: np.ndarray,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    chunk: int = 200,
    clusters: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """(mean, low, high) of the mean of per-unit `values` (e.g. per-user hits), percentile bootstrap.
    With `clusters` (one label per unit: a user's several events are not independent), each draw
    resamples whole clusters and takes the mean over their units (a ratio of sums). Resampling runs in
    chunks so a large `values` does not need an (n_boot, n) matrix at once."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    if clusters is None:
        sums, sizes = values, None
    else:
        _, idx = np.unique(np.asarray(clusters), return_inverse=True)
        sums, sizes = np.bincount(idx, weights=values), np.bincount(idx).astype(np.float64)
    means = np.concatenate(
        [
            c @ sums / (n if sizes is None else c @ sizes)
            for c in resample_counts(len(sums), n_boot, seed, chunk)
        ]
    )
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(values.mean()), float(low), float(high)


def two_level_bootstrap(
    values: np.ndarray, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0, chunk: int = 200
) -> tuple[tuple[float, float, float], tuple[float, float]]:
    """((mean, low, high), (low, high) with units alone) of the mean of `values` (n_seeds, n_units),
    e.g. per-user LT of each simulation seed. Each draw resamples units, then seeds (both with
    replacement), so the interval holds the between-seed (model and simulation) variance as well as
    the units'; the second interval resamples units alone, to show how much the seeds add."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    s, n = values.shape
    if n == 0:
        nan = float("nan")
        return (nan, nan, nan), (nan, nan)
    per_seed = np.concatenate(
        [c @ values.T / n for c in resample_counts(n, n_boot, seed, chunk)]
    )  # (b, seeds)
    both, units = (per_seed * seed_weights(n_boot, s, seed)).sum(1), per_seed.mean(1)
    q = [alpha / 2, 1 - alpha / 2]
    low, high = np.quantile(both, q)
    u_low, u_high = np.quantile(units, q)
    return (float(values.mean()), float(low), float(high)), (float(u_low), float(u_high))


def metric_row(
    experiment: str,
    variant: str,
    metric: str,
    split: str,
    values: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> MetricRow:
    """A row of per-unit `values` (mean and percentile-bootstrap interval); with `clusters`, the
    bootstrap resamples clusters (users) rather than units (events)."""
    estimate = bootstrap_ci(values, n_boot=n_boot, seed=seed, clusters=clusters)
    return make_row(experiment, variant, metric, split, estimate, len(values))


def make_row(
    experiment: str, variant: str, metric: str, split: str, estimate: tuple[float, float, float], n: int
) -> MetricRow:
    """A report row from (value, ci_low, ci_high)."""
    mean, low, high = estimate
    return MetricRow(
        experiment=experiment,
        variant=variant,
        metric=metric,
        split=split,
        mean=mean,
        ci_low=low,
        ci_high=high,
        n=n,
    )


def bootstrap_statistic(
    statistic,
    n: int,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """(value, low, high) of any statistic of n units (`statistic(indices) -> float`), percentile
    bootstrap over resampled unit indices, or, with `clusters` (one label per unit), over resampled
    clusters, each bringing all its units. For statistics that are not means (NMI, Kendall tau, a
    correlation)."""
    rng = np.random.default_rng(seed)
    value = float(statistic(np.arange(n)))
    if clusters is None:
        draw = lambda: rng.integers(0, n, n)  # noqa: E731
    else:
        _, idx = np.unique(np.asarray(clusters), return_inverse=True)
        members = np.argsort(idx, kind="stable")
        starts = np.searchsorted(idx[members], np.arange(idx.max() + 2))
        sizes = np.diff(starts)
        k = len(sizes)

        def draw():
            """The picked clusters' units, cluster after cluster: one gather, no loop over clusters."""
            picked = rng.integers(0, k, k)
            lens = sizes[picked]
            ends = np.cumsum(lens)
            return members[np.repeat(starts[picked] - (ends - lens), lens) + np.arange(ends[-1])]

    draws = np.array([statistic(draw()) for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return value, float("nan"), float("nan")
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return value, float(low), float(high)


def statistic_row(
    experiment: str,
    variant: str,
    metric: str,
    split: str,
    statistic,
    n: int,
    n_boot: int = 200,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> MetricRow:
    """A report row for any statistic of n units, with its percentile-bootstrap interval (over
    `clusters` when given)."""
    estimate = bootstrap_statistic(statistic, n, n_boot=n_boot, seed=seed, clusters=clusters)
    return make_row(experiment, variant, metric, split, estimate, n)
