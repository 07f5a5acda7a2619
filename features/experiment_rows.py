"""Report rows of the ranking experiment from test-period scores: each metric is the mean over seeds,
its interval a two-level bootstrap (users, then training seeds), and every variant's difference to the
baseline is paired (both use the same resamples), which is what makes small AUC gains measurable."""

from __future__ import annotations

import numpy as np

from features.impressions import Impressions
from recplug.metrics.classification import (
    Metric,
    MetricUndefined,
    combine_seed_draws,
    group_auc,
    metric_seed_draws,
    metric_value,
)
from recplug.metrics.intervals import MetricRow, diff_metric, two_level_bootstrap

METRICS: tuple[Metric, ...] = ("auc", "gauc", "logloss")
DIFF_COLUMNS = tuple(diff_metric(m) for m in METRICS)
REFERENCE = "Reference (SAIL-Embedding report, Douyin scale, online): match features +0.08 to +0.1 point AUC."
SPLITS = ("all", "cold")
BASELINE = "baseline"


def _row(
    variant: str,
    metric: str,
    split: str,
    value: float,
    draws: np.ndarray,
    n: int,
    experiment: str = "ranking",
) -> MetricRow:
    finite = draws[np.isfinite(draws)]
    low, high = np.quantile(finite, [0.025, 0.975]) if len(finite) else (np.nan, np.nan)
    return MetricRow(
        experiment=experiment,
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
    imps: Impressions,
    scores: dict[str, list[np.ndarray]],
    n_boot: int = 500,
    seed: int = 0,
    widening: list[dict] | None = None,
    experiment: str = "ranking",
) -> tuple[list[MetricRow], list[str]]:
    """(rows, messages for metrics that are undefined on a split). `scores[variant]` holds one array
    of probabilities for the test-period rows (`imps.rows("test")`) per training seed.

    Intervals are a two-level bootstrap: each draw resamples users and then training seeds (the same
    resample for every variant, so differences stay paired); they hold the models' seed-to-seed
    variance as well as user sampling. When `widening` is a list, each difference row appends to it
    its interval with users resampled alone, beside the one reported."""
    test = imps.rows("test")
    rows: list[MetricRow] = []
    undefined: list[str] = []
    for split in SPLITS:
        mask = split_rows(imps, split)
        labels, users = imps.label[test][mask], imps.user_id[test][mask]
        what = f"test split '{split}'"
        if len(labels) and labels.min() == labels.max():  # no metric of one label value is a result
            undefined.append(
                f"{what}: every one of its {len(labels):,} rows has label {labels[0]:g}: no metric reported"
            )
            continue
        for metric in METRICS:
            try:
                draws = {
                    v: metric_seed_draws(metric, labels, users, [s[mask] for s in sets], n_boot, seed, what)
                    for v, sets in scores.items()
                }
            except MetricUndefined as e:
                undefined.append(f"{metric}: {e}")
                continue
            for v, (value, d) in draws.items():
                rows.append(
                    _row(v, metric, split, value, combine_seed_draws(d, seed), len(labels), experiment)
                )
            if BASELINE in draws:
                base, base_draws = draws[BASELINE]
                for v, (value, d) in draws.items():
                    if v == BASELINE:
                        continue
                    both = combine_seed_draws(d, seed) - combine_seed_draws(base_draws, seed)
                    row = _row(v, diff_metric(metric), split, value - base, both, len(labels), experiment)
                    rows.append(row)
                    if widening is not None:
                        users_only = _row(v, "", split, 0.0, d.mean(1) - base_draws.mean(1), 0)
                        widening.append(
                            {
                                "experiment": experiment,
                                "variant": v,
                                "metric": diff_metric(metric),
                                "split": split,
                                "ci_users_only": [users_only["ci_low"], users_only["ci_high"]],
                                "ci_users_and_seeds": [row["ci_low"], row["ci_high"]],
                            }
                        )
    return rows, undefined


def catalog_rows(
    per_seed: dict[str, list[dict[str, list[float]]]],
    reference: dict[str, np.ndarray],
    n_boot: int = 500,
    experiment: str = "catalog_dlrm",
) -> list[MetricRow]:
    """Full-catalog rows (split 'all', n = queries): each variant's recall@k / ndcg@k (mean over seeds,
    two-level interval: queries then seeds), its paired difference to the baseline, and the popularity
    reference (variant 'popularity (reference)')."""
    rows: list[MetricRow] = []

    def add(variant: str, metric: str, values: np.ndarray) -> None:
        (mean, low, high), _ = two_level_bootstrap(values, n_boot, seed=0)
        rows.append(
            MetricRow(
                experiment=experiment,
                variant=variant,
                metric=metric,
                split="all",
                mean=mean,
                ci_low=low,
                ci_high=high,
                n=int(values.shape[1]),
            )
        )

    for metric, ref in reference.items():
        add("popularity (reference)", metric, np.asarray(ref)[None, :])
        values = {v: np.array([seed[metric] for seed in seeds]) for v, seeds in per_seed.items()}
        for v, vals in values.items():
            add(v, metric, vals)
        if BASELINE in values:
            for v, vals in values.items():
                if v != BASELINE:
                    add(v, diff_metric(metric), vals - values[BASELINE])
    return rows
