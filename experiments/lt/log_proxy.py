"""A log-based LT proxy for real logs, where no simulator exists.

**This is a correlation, not a causal estimate.** It asks: among the users active in a window of the
test period, do those whose impressions the variant scores well (their engaged items scored high,
a high per-user AUC) come back on more of the following days? A variant that served those users
might have kept them; but the logs were served by the production policy, not by the variant, and users
who are easy to predict (long histories, steady tastes) tend to be heavy users anyway. So the proxy
also reports the same correlation with the user's *past* active days: when the two are alike, the
proxy mostly measures who the user is, not what the variant would do. Only an A/B test (or, on the
synthetic world, `experiments.lt.simulator`) measures LT itself.

Units: the test period is cut into windows of `window_days`; every window whose `horizon` following days
fit before the end of the logs gives one unit per user with impressions in it (every window, not only
the first, so a sparse log still gives many units); intervals resample users, each with all its units.
Per unit (user u, window w):
- `pos_score`: mean score of u's impressions in w that u engaged with positively (units with a positive);
- `auc`: AUC of the scores separating u's positives from negatives in w (units with both);
- future active days: distinct days among the `horizon` days after w with any logged interaction; past
  active days likewise over the `horizon` days before w.

Rows (experiment `lt_proxy`, split `all`, n = units): Spearman and Pearson correlation of each
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


class EmptyWindow(ValueError):
    """A test window with no impression (skipped; an error only when every window is empty)."""


def _labelled(impressions: pl.DataFrame, ds: Dataset, day0_ts: int, width: int = DAY) -> pl.DataFrame:
    """First-window impressions with a `positive` column from the dataset's logs (by user, item, ts)."""
    missing = [c for c in REQUIRED if c not in impressions.columns]
    if missing:
        raise ValueError(f"impressions frame lacks column(s) {missing}; it needs {list(REQUIRED)}")
    day = impressions.lazy().filter(pl.col("ts").is_between(day0_ts, day0_ts + width, closed="left"))
    day = day.select(*(pl.col(c).cast(pl.Float64 if c == "score" else pl.Int64) for c in REQUIRED)).collect()
    if day.height == 0:
        raise EmptyWindow(
            f"impressions frame has no row in the test window ts in [{day0_ts}, {day0_ts + width})"
        )
    if day["score"].is_null().any() or not day["score"].is_finite().all():
        raise ValueError(
            "impressions frame: column 'score' has null, NaN or infinite values in a test window"
        )
    if "positive" in impressions.columns:  # labels given (sampled negatives are in no log)
        got = impressions.lazy().filter(pl.col("ts").is_between(day0_ts, day0_ts + width, closed="left"))
        return day.with_columns(got.select(pl.col("positive").cast(pl.Boolean)).collect()["positive"])
    logged = (
        ds.interactions.lazy()
        .filter(pl.col("ts").is_between(day0_ts, day0_ts + width, closed="left"))
        .group_by("user_id", "item_id", "ts")
        .agg(positive=ds.meta.positive_rule.expr().any())
        .collect()
    )
    out = day.join(logged, on=["user_id", "item_id", "ts"], how="left", maintain_order="left")
    unmatched = out.filter(pl.col("positive").is_null())
    if unmatched.height:
        first = unmatched.row(0, named=True)
        raise ValueError(
            f"{unmatched.height} of {out.height} impressions of a test window are not in "
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
    frame = pl.DataFrame({"user_id": users}).join(days, on="user_id", how="left", maintain_order="left")
    return frame["days"].fill_null(0).to_numpy().astype(np.float64)


def _quintile_gap(x: np.ndarray, y: np.ndarray) -> float:
    lo, hi = np.quantile(x, [0.2, 0.8])
    return float(y[x >= hi].mean() - y[x <= lo].mean())


def _paired_row(
    variant: str, metric: str, stat, x: np.ndarray, y: np.ndarray, n_boot: int, seed: int, users: np.ndarray
) -> MetricRow:
    """`stat(x, y)` with a percentile bootstrap over users (each user's units resampled together)."""
    return statistic_row(
        EXPERIMENT, variant, metric, "all", lambda i: stat(x[i], y[i]), len(x), n_boot, seed, clusters=users
    )


def lt_proxy(
    impressions: pl.DataFrame,
    data: str | Path | Dataset,
    variant: str = "variant",
    horizon: int = 7,
    n_boot: int = 200,
    seed: int = 0,
    window_days: int = 1,
    warnings: list[str] | None = None,
) -> list[MetricRow]:
    """Rows relating the variant's per-user quality in a test window to users' later (and earlier)
    active days, over every window: the test period is cut into windows of `window_days`, and each
    window whose `horizon` following days fit before the end of the logs gives one unit per user with
    impressions in it; intervals resample users (a user's windows are not independent).
    `impressions`: test impressions with `user_id, item_id, ts, score` (the variant's score). When the
    horizon had to be shortened to fit the test period, a message is appended to `warnings`."""
    ds = as_dataset(data)
    s = ds.meta.splits
    width = window_days * DAY  # sparse logs (MovieLens) need wider windows than one day
    days_after = (s.end - s.valid_end) // DAY
    h = min(horizon, days_after - window_days)
    if h < 1:
        raise ValueError(
            f"{ds.root}: the test period ({days_after} days) leaves no day after a {window_days}-day window; "
            "the proxy needs at least one (lower lt.proxy_window_days)"
        )
    if h < horizon and warnings is not None:
        warnings.append(
            f"LT proxy: a {window_days}-day window and a {horizon}-day horizon exceed the test period "
            f"({days_after} days): the horizon is cut to {h} days"
        )
    anchors = [w for w in range(s.valid_end, s.end, width) if w + width + h * DAY <= s.end]
    units = []
    for w in anchors:
        try:
            per_user = user_measures(_labelled(impressions, ds, w, width))
        except EmptyWindow:
            continue
        units.append(
            per_user.with_columns(
                future=pl.Series(active_days(ds, per_user["user_id"], w + width, h)),
                past=pl.Series(active_days(ds, per_user["user_id"], w - h * DAY, h)),
            )
        )
    if not units:
        raise ValueError(
            f"impressions frame has no row in any test window of {window_days} day(s) from ts {s.valid_end}"
        )
    per_unit = pl.concat(units)
    rows: list[MetricRow] = []
    for m in MEASURES:
        defined = per_unit.filter(pl.col(m).is_not_null())
        x, users = defined[m].to_numpy(), defined["user_id"].to_numpy()
        future, past = defined["future"].to_numpy(), defined["past"].to_numpy()
        n = len(x)
        if n < 3:
            raise ValueError(
                f"only {n} (user, window) unit(s) of the test period have a defined '{m}'; need 3 or more "
                "(widen lt.proxy_window_days)"
            )
        for name, fn in (("spearman", spearman), ("pearson", pearson)):
            for when, y in ((f"future{h}d", future), (f"past{h}d", past)):
                rows.append(_paired_row(variant, f"{name}_{m}_{when}", fn, x, y, n_boot, seed, users))
        q_lo, q_hi = np.quantile(x, [0.2, 0.8])
        for name, group in (("top20", x >= q_hi), ("bottom20", x <= q_lo)):
            rows.append(
                metric_row(
                    EXPERIMENT,
                    variant,
                    f"future{h}d_{name}_{m}",
                    "all",
                    future[group],
                    seed=seed,
                    clusters=users[group],
                )
            )
        rows.append(
            _paired_row(
                variant, f"future{h}d_top_minus_bottom20_{m}", _quintile_gap, x, future, n_boot, seed, users
            )
        )
    return rows
