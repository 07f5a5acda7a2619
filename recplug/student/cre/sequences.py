"""Sequence samples for sequence-to-item distillation and its benchmark: each positive engagement is a
target; the user's earlier positives (most recent first, up to a pool size) are what the interest views
choose the history from. Built with one sort and array arithmetic, no loop over users or events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recplug.data import Dataset
from recplug.student.items import ItemStore


@dataclass
class SequenceSamples:
    user_ids: np.ndarray  # (N,)
    ts: np.ndarray  # (N,) time of the target engagement
    targets: np.ndarray  # (N,) store rows
    target_bits: np.ndarray  # (N,) int: which behaviour labels the target engagement has (bit per label)
    pool: np.ndarray  # (N, P) store rows of earlier positives, most recent first, -1 padded
    pool_bits: np.ndarray  # (N, P) int label bits of those engagements
    skipped_short: int = 0  # targets with fewer earlier positives than min_history

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, idx: np.ndarray) -> SequenceSamples:
        return SequenceSamples(
            self.user_ids[idx],
            self.ts[idx],
            self.targets[idx],
            self.target_bits[idx],
            self.pool[idx],
            self.pool_bits[idx],
        )


def label_bits(ds: Dataset) -> pl.Expr:
    """One bit per behaviour label that fired (positive-rule column: its threshold; others: > 0)."""
    rule = ds.meta.positive_rule
    expr = pl.lit(0, dtype=pl.Int64)
    for b, col in enumerate(c for c in ds.meta.label_columns if c in ds.interactions.columns):
        fired = (pl.col(col) >= rule.min) if col == rule.column else (pl.col(col).cast(pl.Float64) > 0)
        expr = expr + fired.cast(pl.Int64) * (1 << b)
    return expr


def sequence_samples(
    ds: Dataset,
    store: ItemStore,
    *,
    target_since: int | None,
    target_until: int,
    pool: int,
    min_history: int,
    max_samples: int | None = None,
    seed: int = 0,
) -> SequenceSamples:
    """Targets are positives with target_since <= ts < target_until; their pools hold the positives
    strictly before them (any period): a sample never sees its own or later engagements."""
    pos = (
        ds.interactions.lazy()
        .filter(ds.meta.positive_rule.expr() & (pl.col("ts") < target_until))
        .select("user_id", "item_id", "ts", label_bits(ds).alias("bits"))
        .sort("user_id", "ts", "item_id")
        .collect()
    )
    users, items, ts, bits = (pos[c].to_numpy() for c in ("user_id", "item_id", "ts", "bits"))
    rows = store.rows(items)
    n = len(users)
    first = np.r_[True, users[1:] != users[:-1]] if n else np.zeros(0, dtype=bool)
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))  # first index of each user's run
    earlier = np.arange(n) - start
    is_target = (earlier >= min_history) & (rows >= 0)
    if target_since is not None:
        is_target &= ts >= target_since
    in_window = rows >= 0
    if target_since is not None:
        in_window &= ts >= target_since
    skipped = int((in_window & (earlier < min_history)).sum())
    g = np.flatnonzero(is_target)
    if max_samples is not None and len(g) > max_samples:
        g = np.sort(np.random.default_rng([seed, 61]).choice(g, max_samples, replace=False))
    back = g[:, None] - np.arange(1, pool + 1)[None, :]
    valid = back >= start[g][:, None]
    back = np.where(valid, back, 0)
    pool_rows = np.where(valid, rows[back], -1)
    pool_bits = np.where(valid & (pool_rows >= 0), bits[back], 0)
    return SequenceSamples(users[g], ts[g], rows[g], bits[g], pool_rows, pool_bits, skipped_short=skipped)


def final_pools(ds: Dataset, store: ItemStore, until: int, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """(user_ids, (U, pool) rows): each user's positives before `until`, most recent first: the
    history a teacher's exported user state describes."""
    pos = (
        ds.interactions.lazy()
        .filter(ds.meta.positive_rule.expr() & (pl.col("ts") < until))
        .sort("user_id", "ts", "item_id")
        .group_by("user_id", maintain_order=True)
        .agg(pl.col("item_id").reverse().head(pool))
        .collect()
    )
    lengths = pos["item_id"].list.len().to_numpy().astype(np.int64)
    flat = store.rows(pos["item_id"].explode().to_numpy())
    out = np.full((len(pos), pool), -1, dtype=np.int64)
    r = np.repeat(np.arange(len(pos)), lengths)
    c = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[r, c] = flat
    return pos["user_id"].to_numpy(), out
