"""A log-based LT proxy for real logs, where no simulator exists.

**This is a correlation, not a causal estimate.** It asks: among the users active on the first day of
the test period, do those whose impressions the variant scores well (their engaged items scored high,
a high per-user AUC) come back on more of the following days? A variant that served those users
might have kept them; but the logs were served by the production policy, not by the variant, and users
who are easy to predict (long histories, steady tastes) tend to be heavy users anyway. So the proxy
also reports the same correlation with the user's *past* active days: when the two are alike, the
proxy mostly measures who the user is, not what the variant would do. Only an A/B test (or, on the
synthetic world, `experiments.lt.simulator`) measures LT itself.

Per user u active on test day 0 (the impressions of that day in the frame):
- `pos_score`: mean score of the impressions u engaged with positively (users with a positive);
- `auc`: AUC of the scores separating u's positives from negatives (users with both);
- future active days: distinct days among the next `horizon` days (cut at the end of the logs) with
  any logged interaction; past active days likewise over the `horizon` days before day 0.

Rows (experiment `lt_proxy`, split `all`, n = users): Spearman and Pearson correlation of each
measure with future (and past) active days, 95% percentile bootstrap over users; the mean future
active days of the top and bottom quintile of users by the measure, and their difference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from experiments.lt.start import as_dataset
from recplug.data import Dataset
from recplug.data.world.config import DAY
from recplug.metrics.intervals import MetricRow, metric_row, statistic_row

EXPERIMENT = "lt_proxy"
REQUIRED = ("user_id", "item_id", "ts", "score")
MEASURES = ("pos_score", "auc")


def average_ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (what Spearman's correlation needs)."""
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    new = np.concatenate([[True], sorted_v[1:] != sorted_v[:-1]])
    group = np.cumsum(new) - 1
    bounds = np.concatenate([np.flatnonzero(new), [len(v)]])
    ranks = np.empty(len(v))
    ranks[order] = 0.5 * (bounds[group] + bounds[group + 1] + 1)
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(average_ranks(x), average_ranks(y))


def _labelled(impressions: pl.DataFrame, ds: Dataset, day0_ts: int, width: int = DAY) -> pl.DataFrame:
    """First-window impressions with a `positive` column from the dataset's logs (by user, item, ts)."""
    missing = [c for c in REQUIRED if c not in impressions.columns]
    if missing:
        raise ValueError(f"impressions frame lacks column(s) {missing}; it needs {list(REQUIRED)}")
    day = impressions.lazy().filter(pl.col("ts").is_between(day0_ts, day0_ts + width, closed="left"))
    day = day.select(*(pl.col(c).cast(pl.Float64 if c == "score" else pl.Int64) for c in REQUIRED)).collect()
    if day.height == 0:
        raise ValueError(
            f"impressions frame has no row in the first test window (ts in [{day0_ts}, {day0_ts + width}))"
        )
    if day["score"].is_null().any() or not day["score"].is_finite().all():
        raise ValueError(
            "impressions frame: column 'score' has null, NaN or infinite values on the first test day"
        )
    logged = (
        ds.interactions.lazy()
        .filter(pl.col("ts").is_between(day0_ts, day0_ts + width, closed="left"))
        .group_by("user_id", "item_id", "ts")
        .agg(positive=ds.meta.positive_rule.expr().any())
        .collect()
    )
    out = day.join(logged, on=["user_id", "item_id", "ts"], how="left")
    unmatched = out.filter(pl.col("positive").is_null())
    if unmatched.height:
        first = unmatched.row(0, named=True)
        raise ValueError(
            f"{unmatched.height} of {out.height} impressions of the first test day are not in "
            f"{ds.root}'s interactions (first: user_id {first['user_id']}, item_id {first['item_id']}, "
            f"ts {first['ts']}); the proxy needs logged impressions"
        )
    return out


def user_measures(day: pl.DataFrame) -> pl.DataFrame:
    """Per user: pos_score and auc (null where undefined)."""
    n_pos = pl.col("positive").sum()
    n_neg = pl.len() - n_pos
    pos_rank_sum = pl.col("rank").filter(pl.col("positive")).sum()
    return (
        day.with_columns(rank=pl.col("score").rank("average").over("user_id"))
        .group_by("user_id")
        .agg(
            pos_score=pl.col("score").filter(pl.col("positive")).mean(),
            auc=pl.when((n_pos > 0) & (n_neg > 0)).then(
                (pos_rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
            ),
        )
        .sort("user_id")  # group_by's order is arbitrary: the bootstrap's units must come in one order
    )


def active_days(ds: Dataset, users: pl.Series, first_day_ts: int, n_days: int) -> np.ndarray:
    """Distinct days with any interaction per user (in `users` order) in [first_day_ts, + n_days)."""
    days = (
        ds.interactions.lazy()
        .filter(pl.col("ts").is_between(first_day_ts, first_day_ts + n_days * DAY, closed="left"))
        .group_by("user_id")
        .agg(days=((pl.col("ts") - first_day_ts) // DAY).n_unique())
        .collect()
    )
    frame = pl.DataFrame({"user_id": users}).join(days, on="user_id", how="left")
    return frame["days"].fill_null(0).to_numpy().astype(np.float64)


def _quintile_gap(x: np.ndarray, y: np.ndarray) -> float:
    lo, hi = np.quantile(x, [0.2, 0.8])
    return float(y[x >= hi].mean() - y[x <= lo].mean())


def _paired_row(
    variant: str, metric: str, stat, x: np.ndarray, y: np.ndarray, n_boot: int, seed: int
) -> MetricRow:
    """`stat(x, y)` with a percentile bootstrap over users (the pairs are resampled together)."""
    return statistic_row(EXPERIMENT, variant, metric, "all", lambda i: stat(x[i], y[i]), len(x), n_boot, seed)


def lt_proxy(
    impressions: pl.DataFrame,
    data: str | Path | Dataset,
    variant: str = "variant",
    horizon: int = 7,
    n_boot: int = 200,
    seed: int = 0,
    window_days: int = 1,
) -> list[MetricRow]:
    """Rows relating the variant's per-user quality on test day 0 to users' later (and earlier) active
    days. `impressions`: test impressions with `user_id, item_id, ts, score` (the variant's score)."""
    ds = as_dataset(data)
    s = ds.meta.splits
    day0 = s.valid_end
    width = window_days * DAY  # sparse logs (MovieLens) need a wider first window than one day
    h = min(horizon, (s.end - day0) // DAY - window_days)
    if h < 1:
        raise ValueError(
            f"{ds.root}: the test period has no day after its first; the proxy needs at least one"
        )
    per_user = user_measures(_labelled(impressions, ds, day0, width))
    rows: list[MetricRow] = []
    for m in MEASURES:
        users = per_user.filter(pl.col(m).is_not_null())
        x = users[m].to_numpy()
        future = active_days(ds, users["user_id"], day0 + width, h)
        past = active_days(ds, users["user_id"], day0 - h * DAY, h)
        n = len(x)
        if n < 3:
            raise ValueError(
                f"only {n} user(s) in the first {window_days} test day(s) have a defined '{m}'; need 3 or "
                "more (widen lt.proxy_window_days)"
            )
        for name, fn in (("spearman", spearman), ("pearson", pearson)):
            for when, y in ((f"future{h}d", future), (f"past{h}d", past)):
                rows.append(_paired_row(variant, f"{name}_{m}_{when}", fn, x, y, n_boot, seed))
        q_lo, q_hi = np.quantile(x, [0.2, 0.8])
        for name, group in (("top20", x >= q_hi), ("bottom20", x <= q_lo)):
            rows.append(
                metric_row(EXPERIMENT, variant, f"future{h}d_{name}_{m}", "all", future[group], seed=seed)
            )
        rows.append(
            _paired_row(variant, f"future{h}d_top_minus_bottom20_{m}", _quintile_gap, x, future, n_boot, seed)
        )
    return rows
