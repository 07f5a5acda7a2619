"""Report rows of the ranking experiment from test-period scores: each metric is the mean over seeds,
its interval a user-level bootstrap, and every variant's difference to the baseline is paired (both use
the same user resamples), which is what makes small AUC gains measurable."""

from __future__ import annotations

import numpy as np

from features.impressions import Impressions
from recplug.metrics.classification import Metric, MetricUndefined, group_auc, metric_draws, metric_value
from recplug.metrics.intervals import MetricRow

METRICS: tuple[Metric, ...] = ("auc", "gauc", "logloss")
SPLITS = ("all", "cold")
BASELINE = "baseline"


def _row(variant: str, metric: str, split: str, value: float, draws: np.ndarray, n: int) -> MetricRow:
    finite = draws[np.isfinite(draws)]
    low, high = np.quantile(finite, [0.025, 0.975]) if len(finite) else (np.nan, np.nan)
    return MetricRow(
        experiment="ranking",
        variant=variant,
        metric=metric,
        split=split,
        mean=float(value),
        ci_low=float(low),
        ci_high=float(high),
        n=int(n),
    )


def split_rows(imps: Impressions, split: str) -> np.ndarray:
    """Positions within the test-period rows that belong to a split ("all" or "cold" items)."""
    test = imps.rows("test")
    return np.flatnonzero(imps.cold[test]) if split == "cold" else np.arange(len(test))


def split_counts(imps: Impressions) -> dict[str, dict[str, int]]:
    """Impressions, positives and users per split, and the users GAUC skips (one class only)."""
    test, out = imps.rows("test"), {}
    for split in SPLITS:
        rows = test[split_rows(imps, split)]
        labels, users = imps.label[rows], imps.user_id[rows]
        out[split] = {
            "impressions": len(rows),
            "positives": int(labels.sum()),
            "users": int(len(np.unique(users))),
            "gauc_skipped_users": group_auc(labels, np.zeros(len(rows)), users).skipped,
        }
    return out


def point_metrics(imps: Impressions, scores: np.ndarray) -> dict[str, dict[str, float | str]]:
    """One model's metrics on each split (no intervals), or the reason a metric is undefined."""
    test, out = imps.rows("test"), {}
    for split in SPLITS:
        pos = split_rows(imps, split)
        labels, users = imps.label[test][pos], imps.user_id[test][pos]
        out[split] = {}
        for metric in METRICS:
            try:
                out[split][metric] = metric_value(metric, labels, users, scores[pos], f"test split '{split}'")
            except MetricUndefined as e:
                out[split][metric] = str(e)
    return out


def ranking_rows(
    imps: Impressions, scores: dict[str, list[np.ndarray]], n_boot: int = 500, seed: int = 0
) -> tuple[list[MetricRow], list[str]]:
    """(rows, messages for metrics that are undefined on a split). `scores[variant]` holds one array
    of probabilities for the test-period rows (`imps.rows("test")`) per training seed."""
    test = imps.rows("test")
    rows: list[MetricRow] = []
    undefined: list[str] = []
    for split in SPLITS:
        mask = split_rows(imps, split)
        labels, users = imps.label[test][mask], imps.user_id[test][mask]
        what = f"test split '{split}'"
        for metric in METRICS:
            try:
                draws = {
                    v: metric_draws(metric, labels, users, [s[mask] for s in sets], n_boot, seed, what)
                    for v, sets in scores.items()
                }
            except MetricUndefined as e:
                undefined.append(f"{metric}: {e}")
                continue
            for v, (value, d) in draws.items():
                rows.append(_row(v, metric, split, value, d, len(labels)))
            if BASELINE in draws:
                base, base_draws = draws[BASELINE]
                for v, (value, d) in draws.items():
                    if v != BASELINE:
                        rows.append(
                            _row(v, f"{metric}_diff", split, value - base, d - base_draws, len(labels))
                        )
    return rows, undefined
