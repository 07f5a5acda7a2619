"""Classification metrics for ranking models: AUC, GAUC, logloss, and paired user-level bootstrap
intervals for the difference between two models scored on the same impressions.

Impressions of one user are correlated, so intervals resample users (a cluster bootstrap), not rows.
A resample is a vector of per-user counts; every metric here is computed for many such weight vectors at
once (AUC from one sort of the scores and cumulative weight sums), so hundreds of resamples take seconds.
AUC needs both classes: a split without positives or negatives raises `MetricUndefined` naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from recplug.metrics.intervals import resample_counts, seed_weights

Metric = Literal["auc", "gauc", "logloss"]
EPS = 1e-7


class MetricUndefined(ValueError):
    """A metric that cannot be computed on this data (e.g. AUC of a split with one class)."""


def _labels(labels: np.ndarray) -> np.ndarray:
    return np.asarray(labels).astype(np.float64) > 0.5


def _check_classes(y: np.ndarray, what: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        missing = "positives" if n_pos == 0 else "negatives"
        raise MetricUndefined(f"AUC undefined: {what} has 0 {missing} ({len(y)} impressions)")


def _tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """Start positions of runs of equal scores in a sorted array."""
    return np.flatnonzero(np.concatenate([[True], sorted_scores[1:] != sorted_scores[:-1]]))


def auc(labels: np.ndarray, scores: np.ndarray, what: str = "the data") -> float:
    """Area under the ROC curve: the chance a random positive outscores a random negative, ties
    counting one half (Mann-Whitney with averaged ranks)."""
    return float(weighted_auc(labels, scores, np.ones((1, len(labels))), what)[0])


def weighted_auc(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, what: str = "the data"
) -> np.ndarray:
    """AUC under each row of `weights` (b, n) (row weights, e.g. bootstrap counts): pairs (i, j)
    count w_i * w_j. One sort serves every row: each positive needs the negative weight below its
    score (a cumulative sum over the sorted negatives) and the negative weight tied with it."""
    return _SortedAUC(labels, scores, what)(np.atleast_2d(weights))


class _SortedAUC:
    """The sort-dependent part of AUC, computed once per score vector and reused for every resample."""

    def __init__(self, labels: np.ndarray, scores: np.ndarray, what: str):
        y, scores = _labels(labels), np.asarray(scores, dtype=np.float64)
        _check_classes(y, what)
        self.pos, self.neg = np.flatnonzero(y), np.flatnonzero(~y)
        self.neg = self.neg[np.argsort(scores[self.neg], kind="stable")]
        neg_scores = scores[self.neg]
        self.lo = np.searchsorted(neg_scores, scores[self.pos], side="left")  # negatives strictly below
        self.hi = np.searchsorted(neg_scores, scores[self.pos], side="right")  # ... or tied
        # float32 counts are exact while their sum stays below 2**24
        self.dtype = np.float32 if len(y) < 2**23 else np.float64

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """AUC for each row of (b, n) row weights."""
        return self.from_columns(weights[:, self.pos], weights[:, self.neg])

    def from_columns(self, w_pos: np.ndarray, w_neg: np.ndarray) -> np.ndarray:
        """AUC from the weights of the positives and of the score-sorted negatives."""
        cum = np.zeros((w_neg.shape[0], w_neg.shape[1] + 1), dtype=self.dtype)
        np.cumsum(w_neg, axis=1, dtype=self.dtype, out=cum[:, 1:])
        below, upto = cum[:, self.lo], cum[:, self.hi]
        num = (w_pos * (below + 0.5 * (upto - below))).sum(1, dtype=np.float64)
        den = w_pos.sum(1, dtype=np.float64) * cum[:, -1].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


@dataclass
class GroupAUC:
    """Per-group AUCs (nan where a group has one class) and the impressions of each group."""

    groups: np.ndarray  # (g,) group ids, sorted
    auc: np.ndarray  # (g,)
    impressions: np.ndarray  # (g,)

    @property
    def defined(self) -> np.ndarray:
        return np.isfinite(self.auc)

    @property
    def skipped(self) -> int:
        """Groups left out because all their impressions have one label."""
        return int((~self.defined).sum())

    def value(self, group_weights: np.ndarray | None = None) -> np.ndarray | float:
        """Impression-weighted mean AUC over defined groups; with (b, g) `group_weights` (bootstrap
        counts of each group) one value per row."""
        ok = self.defined
        if not ok.any():
            raise MetricUndefined("GAUC undefined: no user has both a positive and a negative")
        w = self.impressions[ok].astype(np.float64)
        if group_weights is None:
            return float((w * self.auc[ok]).sum() / w.sum())
        gw = np.atleast_2d(group_weights)[:, ok] * w
        with np.errstate(invalid="ignore", divide="ignore"):
            return (gw @ self.auc[ok]) / gw.sum(1)


def group_auc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> GroupAUC:
    """AUC within each group (user), vectorised: one lexsort, tie-averaged ranks within each group."""
    y, scores, groups = _labels(labels), np.asarray(scores, np.float64), np.asarray(groups)
    order = np.lexsort((scores, groups))
    g, s, ys = groups[order], scores[order], y[order]
    uniq, g_start, counts = np.unique(g, return_index=True, return_counts=True)
    gid = np.repeat(np.arange(len(uniq)), counts)
    tie_start = np.flatnonzero(np.concatenate([[True], (g[1:] != g[:-1]) | (s[1:] != s[:-1])]))
    tie_len = np.diff(np.concatenate([tie_start, [len(s)]]))
    tie_mid = np.repeat(tie_start + (tie_len - 1) / 2.0, tie_len)  # averaged 0-based position
    rank = tie_mid - g_start[gid] + 1
    n_pos = np.bincount(gid, weights=ys, minlength=len(uniq))
    n_neg = counts - n_pos
    rank_sum = np.bincount(gid, weights=rank * ys, minlength=len(uniq))
    with np.errstate(invalid="ignore", divide="ignore"):
        per = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    per[(n_pos == 0) | (n_neg == 0)] = np.nan
    return GroupAUC(uniq, per, counts)


def gauc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """Group AUC: per-user AUC weighted by the user's impressions; users with one class are skipped
    (their count is `group_auc(...).skipped`)."""
    return float(group_auc(labels, scores, groups).value())


def logloss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities (clipped to [1e-7, 1 - 1e-7])."""
    y = _labels(labels)
    p = np.clip(np.asarray(probs, np.float64), EPS, 1 - EPS)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def user_resamples(n_users: int, n_boot: int, seed: int, chunk: int = 50) -> Iterator[np.ndarray]:
    """Bootstrap resamples of users as (b, n_users) count matrices, in chunks (`resample_counts`)."""
    return resample_counts(n_users, n_boot, seed, chunk)


def metric_value(metric: Metric, labels, users, scores, what: str = "the data") -> float:
    """The metric of one model's scores (probabilities; AUC and GAUC only use their order)."""
    if metric == "auc":
        return auc(labels, scores, what)
    if metric == "gauc":
        _check_classes(_labels(labels), what)
        return gauc(labels, scores, users)
    if metric == "logloss":
        return logloss(labels, scores)
    raise ValueError(f"unknown metric '{metric}'; known: auc, gauc, logloss")


def metric_seed_draws(
    metric: Metric,
    labels: np.ndarray,
    users: np.ndarray,
    score_sets: Sequence[np.ndarray],
    n_boot: int = 500,
    seed: int = 0,
    what: str = "the data",
) -> tuple[float, np.ndarray]:
    """(value, draws): the metric averaged over `score_sets` (e.g. one per training seed) on the data,
    and, per score set, on `n_boot` user resamples: draws is (n_boot, len(score_sets)), and draw b
    uses the same user resample for every score set (and for every call with the same seed)."""
    labels = _labels(labels)
    if len(labels) == 0:
        raise MetricUndefined(f"{metric} undefined: {what} has no impressions")
    if metric in ("auc", "gauc"):
        _check_classes(labels, what)
    uniq, user_idx = np.unique(np.asarray(users), return_inverse=True)
    value = float(np.mean([metric_value(metric, labels, users, s, what) for s in score_sets]))
    per_seed = []
    for s in score_sets:
        if metric == "gauc":
            grouped = group_auc(labels, s, user_idx)  # groups are 0..U-1 in order
            per_seed.append(lambda c, g=grouped: g.value(c))
        elif metric == "logloss":
            p = np.clip(np.asarray(s, np.float64), EPS, 1 - EPS)
            loss = np.bincount(
                user_idx, weights=-np.where(labels, np.log(p), np.log1p(-p)), minlength=len(uniq)
            )
            count = np.bincount(user_idx, minlength=len(uniq)).astype(np.float64)
            per_seed.append(lambda c, loss=loss, count=count: (c @ loss) / (c @ count))
        else:
            sorted_auc = _SortedAUC(labels, s, what)
            pos_users, neg_users = user_idx[sorted_auc.pos], user_idx[sorted_auc.neg]
            per_seed.append(
                lambda c, a=sorted_auc, pu=pos_users, nu=neg_users: a.from_columns(
                    c[:, pu].astype(a.dtype), c[:, nu].astype(a.dtype)
                )
            )
    draws = [np.stack([f(counts) for f in per_seed], 1) for counts in user_resamples(len(uniq), n_boot, seed)]
    return value, np.concatenate(draws) if draws else np.zeros((0, len(score_sets)))


def combine_seed_draws(per_seed: np.ndarray, seed: int = 0, resample_seeds: bool = True) -> np.ndarray:
    """One draw per row of `metric_seed_draws`' (n_boot, seeds) draws: the seed mean, or, with
    `resample_seeds`, a mean over resampled seeds, so the interval holds the between-seed (model)
    variance as well as the user sampling (a two-level bootstrap: users, then training seeds)."""
    if not resample_seeds:
        return per_seed.mean(1)
    return (per_seed * seed_weights(len(per_seed), per_seed.shape[1], seed)).sum(1)


def metric_draws(
    metric: Metric,
    labels: np.ndarray,
    users: np.ndarray,
    score_sets: Sequence[np.ndarray],
    n_boot: int = 500,
    seed: int = 0,
    what: str = "the data",
    resample_seeds: bool = True,
) -> tuple[float, np.ndarray]:
    """(value, draws): `metric_seed_draws` with the seeds combined (see `combine_seed_draws`)."""
    value, per_seed = metric_seed_draws(metric, labels, users, score_sets, n_boot, seed, what)
    return value, combine_seed_draws(per_seed, seed, resample_seeds)


@dataclass
class Interval:
    value: float
    low: float
    high: float
    n: int  # impressions


def _interval(value: float, draws: np.ndarray, n: int, alpha: float) -> Interval:
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return Interval(value, float("nan"), float("nan"), n)
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return Interval(value, float(low), float(high), n)


def bootstrap_metric(
    metric: Metric,
    labels,
    users,
    score_sets: Sequence[np.ndarray],
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
    what: str = "the data",
) -> Interval:
    """The metric (mean over score sets) with a percentile interval from a user-level bootstrap."""
    value, draws = metric_draws(metric, labels, users, score_sets, n_boot, seed, what)
    return _interval(value, draws, len(labels), alpha)


def paired_bootstrap(
    metric: Metric,
    labels,
    users,
    baseline: Sequence[np.ndarray],
    variant: Sequence[np.ndarray],
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
    what: str = "the data",
) -> Interval:
    """variant - baseline on the same impressions, each the mean of its per-seed metric, with an
    interval from resampling users: both models see the same resample in every draw, so the
    (usually strong) correlation between them cancels out of the interval."""
    base, base_draws = metric_draws(metric, labels, users, baseline, n_boot, seed, what)
    var, var_draws = metric_draws(metric, labels, users, variant, n_boot, seed, what)
    return _interval(var - base, var_draws - base_draws, len(labels), alpha)
