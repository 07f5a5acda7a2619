"""Time-based splits and cold items: the only split recplug uses, so no stage ever sees its future."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from recplug.data.io import Dataset
from recplug.data.meta import Splits


@dataclass
class TimeSplit:
    train: pl.DataFrame
    valid: pl.DataFrame
    test: pl.DataFrame
    cold_items: pl.Series  # item ids first seen in the test period

    def is_cold(self, item_ids: pl.Series | pl.Expr) -> pl.Expr:
        return (item_ids if isinstance(item_ids, pl.Expr) else pl.lit(item_ids)).is_in(
            self.cold_items.implode()
        )


def period_expr(splits: Splits) -> pl.Expr:
    """'train' / 'valid' / 'test' for each interaction's ts."""
    return (
        pl.when(pl.col("ts") < splits.train_end)
        .then(pl.lit("train"))
        .when(pl.col("ts") < splits.valid_end)
        .then(pl.lit("valid"))
        .otherwise(pl.lit("test"))
    )


def cold_items(ds: Dataset) -> pl.Series:
    """Items first seen in the test period: by first interaction, or by `created_ts` when the item has none before."""
    test_start = ds.meta.splits.valid_end
    first_seen = ds.interactions.lazy().group_by("item_id").agg(pl.col("ts").min().alias("first_ts"))
    items = ds.items.lazy().select(
        "item_id", *(["created_ts"] if "created_ts" in ds.items.collect_schema() else [])
    )
    joined = items.join(first_seen, on="item_id", how="left")
    seen = pl.col("first_ts")
    created = (
        pl.col("created_ts") if "created_ts" in joined.collect_schema() else pl.lit(None, dtype=pl.Int64)
    )
    cold = (seen >= test_start) | (seen.is_null() & (created >= test_start))
    return joined.filter(cold).select("item_id").collect().to_series().sort()


def time_split(ds: Dataset) -> TimeSplit:
    """Split interactions by the dataset's time boundaries and mark cold items."""
    s = ds.meta.splits
    inter = ds.interactions.lazy()
    return TimeSplit(
        train=inter.filter(pl.col("ts") < s.train_end).collect(),
        valid=inter.filter((pl.col("ts") >= s.train_end) & (pl.col("ts") < s.valid_end)).collect(),
        test=inter.filter(pl.col("ts") >= s.valid_end).collect(),
        cold_items=cold_items(ds),
    )


def quantile_splits(ts: pl.Series, train_frac: float = 0.7, valid_frac: float = 0.15) -> Splits:
    """Time boundaries at quantiles of the interaction times (for imported logs with no natural cut)."""
    if not (0 < train_frac < 1 and 0 <= valid_frac < 1 - train_frac + 1e-9):
        raise ValueError(
            f"need 0 < train_frac < 1 and train_frac + valid_frac <= 1, got {train_frac}, {valid_frac}"
        )
    q = lambda f: int(ts.quantile(f, interpolation="nearest"))  # noqa: E731
    return Splits(
        start=int(ts.min()),
        train_end=q(train_frac),
        valid_end=q(train_frac + valid_frac),
        end=int(ts.max()) + 1,
    )
