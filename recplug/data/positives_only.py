"""An implicit view of any dataset: its positive engagements only, each one event of an implicit label
(`play`, `purchase`...), optionally at day granularity. What a purchase / play log looks like, made from
a log that has negatives, so the implicit path can be tested and compared against the explicit one
(`recplug data implicit SRC --out DIR`; the tests use the world's clicks)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recplug.data.io import load_dataset, write_dataset
from recplug.data.meta import PositiveRule
from recplug.data.schema import IMPLICIT_LABELS
from recplug.data.validate import validate_dataset

DAY = 86400


def positives_only(src: str | Path, out: str | Path, label: str = "play", day_level: bool = False) -> Path:
    """Write the implicit view of dataset `src` to `out`. With `day_level`, every ts is floored to its
    day (split boundaries too, so no event changes period) and a user's day is one basket."""
    if label not in IMPLICIT_LABELS:
        raise ValueError(f"label must be one of {list(IMPLICIT_LABELS)}, got '{label}'")
    ds = load_dataset(src)
    inter = ds.positives().select("user_id", "item_id", "ts", pl.lit(1.0, dtype=pl.Float32).alias(label))
    splits = ds.meta.splits
    update: dict = {
        "name": f"{ds.meta.name}-implicit",
        "label_columns": [label],
        "positive_rule": PositiveRule(column=label, min=1),
        "generator": None,  # a log now, not the world's: no simulator reads it
        "seed": None,
        "preset": None,
        "source": f"positive engagements of {src} ({ds.meta.positive_rule.describe()}), one '{label}' each",
    }
    if day_level:
        inter = inter.with_columns((pl.col("ts") // DAY) * DAY)
        floor = {k: (v // DAY) * DAY for k, v in splits.model_dump().items()}
        floor["end"] = max(floor["end"], int(inter["ts"].max()) + 1)
        update |= {"splits": splits.model_copy(update=floor), "time_granularity": "day", "basket": "day"}
    items = ds.items
    if day_level and "created_ts" in items.columns:
        items = items.with_columns((pl.col("created_ts") // DAY) * DAY)
    meta = ds.meta.model_copy(update=update)
    queries = ds.queries
    write_dataset(out, meta, items, inter.sort("ts", "user_id", "item_id"), queries)
    validate_dataset(out, check_media=False)
    return Path(out)
