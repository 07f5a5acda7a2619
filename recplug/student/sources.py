"""Training sources: datasets of (query, target[, score]) pairs, each with its views and patterns.
Adding a source is a config entry: name a builder, its views and which view pairs to score.

Builders read only what `recplug.student.holdout` leaves to training: interactions before the validation
window, trainable items, training queries; validation and test pairs come from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from recplug.data import Dataset
from recplug.student.items import ItemStore
from recplug.student.views import View

OMNI = View()
TEXT_ONLY = View(modalities=("text",))
IMAGE_ONLY = View(modalities=("image",), fields=())
AUDIO_ONLY = View(modalities=("audio",), fields=())


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    builder: Literal["coengagement", "item_views", "query_item", "item_category", "graded_query"]
    weight: float = Field(1.0, ge=0)
    temperature: float = Field(0.05, gt=0, description="initial value of this source's learnable temperature")
    loss: Literal["infonce", "cosent"] = "infonce"
    views: dict[str, View]
    patterns: list[tuple[str, str]] = Field(
        min_length=1, description="(query view, target view) pairs to score"
    )
    max_pairs: int = Field(200_000, ge=1)

    @model_validator(mode="after")
    def _patterns_name_views(self) -> SourceSpec:
        for q, t in self.patterns:
            for v in (q, t):
                if v not in self.views:
                    raise ValueError(
                        f"source '{self.name}': pattern ({q}, {t}) names unknown view '{v}'; views: {sorted(self.views)}"
                    )
        if self.loss == "cosent" and self.builder != "graded_query":
            raise ValueError(
                f"source '{self.name}': loss 'cosent' needs graded pairs (builder 'graded_query')"
            )
        return self


def default_sources() -> list[SourceSpec]:
    item_views = {
        "omni": View(instruction="item"),
        "text": View(modalities=("text",), instruction="item"),
        "image": View(modalities=("image",), fields=(), instruction="item"),
        "audio": View(modalities=("audio",), fields=(), instruction="item"),
    }
    return [
        SourceSpec(
            name="i2i_coengagement",
            builder="coengagement",
            weight=1.0,
            temperature=0.1,
            views=item_views,
            patterns=[("omni", "omni")],
        ),
        # an item against itself through other views: its image, its audio, its text alone must land
        # next to its full embedding, so no modality's information can be dropped
        SourceSpec(
            name="i2i_views",
            builder="item_views",
            weight=1.0,
            views=item_views,
            patterns=[("image", "omni"), ("audio", "omni"), ("text", "omni")],
        ),
        SourceSpec(
            name="q2i_search",
            builder="query_item",
            weight=1.0,
            views={
                "query": View(modalities=("text",), fields=(), instruction="search query"),
                "omni": View(instruction="item"),
            },
            patterns=[("query", "omni")],
        ),
        SourceSpec(
            name="i2c_category",
            builder="item_category",
            weight=0.5,
            views={
                "omni": View(instruction="item"),
                "label": View(modalities=("text",), fields=(), instruction="category"),
            },
            patterns=[("omni", "label")],
        ),
        SourceSpec(
            name="q2i_graded",
            builder="graded_query",
            weight=0.5,
            loss="cosent",
            views={
                "query": View(modalities=("text",), fields=(), instruction="search query"),
                "omni": View(instruction="item"),
            },
            patterns=[("query", "omni")],
        ),
    ]


@dataclass
class PairSet:
    """Pairs of one source. Sides are item rows (int arrays) or texts (lists)."""

    spec: SourceSpec
    query_rows: np.ndarray | None
    query_texts: list[str] | None
    target_rows: np.ndarray | None
    target_texts: list[str] | None
    score: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.query_rows) if self.query_rows is not None else len(self.query_texts or [])

    @cached_property
    def query_groups(self) -> np.ndarray:
        """(n,) int: pairs with the same query (item row or text) share a group: each pair's target
        is a known positive of every pair in its group, never a negative."""
        keys = self.query_rows if self.query_rows is not None else np.array(self.query_texts, dtype=str)
        return np.unique(keys, return_inverse=True)[1].ravel()


def coengagement_pairs(
    ds: Dataset, store: ItemStore, until: int, since: int | None = None, max_gap_s: int = 3600
) -> pl.DataFrame:
    """Consecutive positives of the same user less than `max_gap_s` apart, both items distinct."""
    pos = ds.interactions.lazy().filter(ds.meta.positive_rule.expr() & (pl.col("ts") < until))
    if since is not None:
        pos = pos.filter(pl.col("ts") >= since)
    pairs = (
        pos.select("user_id", "item_id", "ts")
        .sort("user_id", "ts", maintain_order=True)  # ties keep the log's order: one prev_item every run
        .with_columns(
            prev_item=pl.col("item_id").shift(1).over("user_id"),
            prev_ts=pl.col("ts").shift(1).over("user_id"),
        )
        .filter((pl.col("ts") - pl.col("prev_ts") < max_gap_s) & (pl.col("item_id") != pl.col("prev_item")))
        .select(pl.col("prev_item").alias("a"), pl.col("item_id").alias("b"))
        .unique(maintain_order=True)
        .collect()
    )
    return pairs


def build_pairs(
    spec: SourceSpec,
    ds: Dataset,
    store: ItemStore,
    rng: np.random.Generator,
    *,
    until: int,
    trainable: np.ndarray,
    label_trainable: np.ndarray,
) -> PairSet:
    """One source's training pairs: interactions before `until`, only items whose row is `trainable`
    (category labels only where `label_trainable`); `ds.queries` holds the training queries alone."""
    if spec.builder == "coengagement":
        p = coengagement_pairs(ds, store, until)
        q, t = store.rows(p["a"].to_numpy()), store.rows(p["b"].to_numpy())
        keep = (q >= 0) & (t >= 0)
        keep[keep] &= trainable[q[keep]] & trainable[t[keep]]
        out = PairSet(spec, q[keep], None, t[keep], None)
    elif spec.builder == "item_views":
        rows = np.flatnonzero(trainable)
        out = PairSet(spec, rows, None, rows.copy(), None)
    elif spec.builder in ("query_item", "graded_query"):
        if ds.queries is None:
            raise ValueError(f"source '{spec.name}' needs queries.parquet, which {ds.root} does not have")
        qf = ds.queries
        if spec.builder == "query_item" and "score" in qf.columns:
            qf = qf.filter(pl.col("score") >= qf["score"].max())
        rows = store.rows(qf["item_id"].to_numpy())
        keep = rows >= 0
        keep[keep] &= trainable[rows[keep]]
        score = qf["score"].to_numpy()[keep].astype(np.float32) if "score" in qf.columns else None
        out = PairSet(
            spec,
            None,
            [t for t, k in zip(qf["query"].to_list(), keep, strict=True) if k],
            rows[keep],
            None,
            score,
        )
    elif spec.builder == "item_category":
        rows = np.array([i for i, c in enumerate(store.category) if c and label_trainable[i]], dtype=np.int64)
        out = PairSet(spec, rows, None, None, [store.category[i] for i in rows])
    else:  # pragma: no cover - pydantic restricts builder
        raise ValueError(spec.builder)
    if len(out) > spec.max_pairs:
        idx = np.sort(rng.choice(len(out), spec.max_pairs, replace=False))
        out = subset(out, idx)
    return out


def subset(p: PairSet, idx: np.ndarray) -> PairSet:
    pick = lambda a: None if a is None else (a[idx] if isinstance(a, np.ndarray) else [a[i] for i in idx])  # noqa: E731
    return PairSet(
        p.spec,
        pick(p.query_rows),
        pick(p.query_texts),
        pick(p.target_rows),
        pick(p.target_texts),
        pick(p.score),
    )
