"""What the teachers learn from: positive engagements before the cut-off, turned into table rows and
per-example histories with numpy (no Python loop over rows).

Leakage rule: an example at time t only ever sees the user's positives with ts < t, and nothing at or
after the cut-off is read at all (the cut-off filter is the first thing applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from recplug.data import Dataset, DatasetError
from recplug.data.vocabulary import Vocabulary
from teachers.config import TeacherConfig


def ragged_gather(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate values[starts[i] : starts[i] + lengths[i]] for all i, vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return values[:0]
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return values[offsets + np.arange(total)]


@dataclass
class EvalSet:
    """Next-positive-item queries: every positive event after the cut-off on a warm item, by a user
    with history (one row per event; `clusters`, the raw user ids, are the bootstrap clusters)."""

    user_rows: np.ndarray
    target_rows: np.ndarray
    hist_lengths: np.ndarray
    hist_values: np.ndarray  # item rows, oldest first
    skipped: dict[str, int] = field(default_factory=dict)
    user_ids: np.ndarray | None = None  # raw user id per event (the bootstrap clusters; row 0 is shared)

    def __len__(self) -> int:
        return len(self.user_rows)

    @property
    def clusters(self) -> np.ndarray:
        return self.user_ids if self.user_ids is not None else self.user_rows

    def history_list(self) -> list[np.ndarray]:
        return np.split(self.hist_values, np.cumsum(self.hist_lengths)[:-1])


@dataclass
class TeacherData:
    users: Vocabulary
    items: Vocabulary
    categories: list[str]
    item_category: np.ndarray  # (items.size,) category row per item row (0 = none)
    # positives before the cut-off, sorted by (user, ts)
    user_row: np.ndarray
    item_row: np.ndarray
    ts: np.ndarray
    hist_start: np.ndarray  # per positive: where its user's block starts
    hist_end: np.ndarray  # per positive: first position of the user's block with ts >= this ts
    user_block: np.ndarray  # (users.size + 1,) block offsets of each user row
    item_freq: np.ndarray  # (items.size,) positives per item row, for logQ correction
    cutoff: int
    fingerprint: dict = field(default_factory=dict)
    root: Path | None = None  # the dataset folder (its id maps give exports their source keys)

    @classmethod
    def from_dataset(cls, ds: Dataset, cfg: TeacherConfig) -> TeacherData:
        cutoff = getattr(ds.meta.splits, cfg.cutoff)
        pos = (
            ds.interactions.lazy()
            .filter(pl.col("ts") < cutoff)
            .filter(ds.meta.positive_rule.expr())
            .select("user_id", "item_id", "ts")
            .sort("user_id", "ts", "item_id")
            .collect()
        )
        if pos.height == 0:
            raise DatasetError(
                f"{ds.root}: no positive interactions ({ds.meta.positive_rule.describe()}) before the cut-off "
                f"'{cfg.cutoff}' (ts < {cutoff}); a teacher has nothing to learn from",
                file="interactions.parquet",
            )
        users = Vocabulary.of(pos["user_id"].to_numpy())
        items = Vocabulary.of(pos["item_id"].to_numpy())
        if items.size > cfg.max_items:
            raise ValueError(f"item table would have {items.size:,} rows, over max_items={cfg.max_items:,}")
        u = users.rows(pos["user_id"].to_numpy())
        it = items.rows(pos["item_id"].to_numpy())
        ts = pos["ts"].to_numpy()
        block = np.searchsorted(u, np.arange(users.size + 1))
        hist_start = block[u]
        # strict "before": first index in the user's block whose ts >= this ts (ties excluded)
        key = u.astype(np.int64) * (int(ts.max()) + 1) + ts
        hist_end = np.searchsorted(key, key, side="left")

        categories: list[str] = []
        item_category = np.zeros(items.size, dtype=np.int64)
        if "category" in ds.items.collect_schema().names():
            cats = ds.items.lazy().select("item_id", "category").collect()
            categories = sorted(c for c in cats["category"].unique().to_list() if c is not None)
            cat_rows = cats["category"].replace_strict(
                categories, list(range(1, len(categories) + 1)), default=0
            )
            rows = items.rows(cats["item_id"].to_numpy())
            known = rows > 0
            item_category[rows[known]] = cat_rows.to_numpy()[known]
        freq = np.bincount(it, minlength=items.size).astype(np.float64)
        fingerprint = {
            "dataset": ds.meta.name,
            "cutoff": int(cutoff),
            "positives": int(pos.height),
            "items": len(items.ids),
        }
        return cls(
            users,
            items,
            categories,
            item_category,
            u,
            it,
            ts,
            hist_start,
            hist_end,
            block,
            freq,
            int(cutoff),
            fingerprint,
            ds.root,
        )

    @property
    def n_examples(self) -> int:
        return len(self.user_row)

    def histories(self, examples: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(lengths, values) of the `length` most recent positives strictly before each example."""
        end = self.hist_end[examples]
        start = np.maximum(self.hist_start[examples], end - length)
        lengths = end - start
        return lengths, ragged_gather(self.item_row, start, lengths)

    def final_histories(self, user_rows: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(lengths, values) of each user's `length` most recent positives before the cut-off."""
        end = self.user_block[user_rows + 1]
        start = np.maximum(self.user_block[user_rows], end - length)
        lengths = np.where(user_rows > 0, end - start, 0)
        return lengths, ragged_gather(self.item_row, start, lengths)

    def eval_set(
        self, ds: Dataset, until: int, length: int, max_events: int = 20_000, seed: int = 0
    ) -> EvalSet:
        """Every positive in [cut-off, until) on a warm item whose user has history: the query is the
        user's latest `length` positives strictly before the event (before or after the cut-off; items
        the teacher does not know are left out), with the user's row (0 for a user who arrived after the
        cut-off). Above `max_events`, a seeded uniform sample (counted in `skipped`). Users are the
        bootstrap clusters."""
        pos = (
            ds.interactions.lazy()
            .filter(pl.col("ts") < until)
            .filter(ds.meta.positive_rule.expr())
            .sort("user_id", "ts", "item_id")
            .select("user_id", "item_id", "ts")
            .collect()
        )
        raw_users, ts = pos["user_id"].to_numpy(), pos["ts"].to_numpy()
        items = self.items.rows(pos["item_id"].to_numpy())
        _, code = np.unique(raw_users, return_inverse=True)
        key = code.astype(np.int64) * (int(ts.max(initial=0)) + 1) + ts
        block = np.searchsorted(code, code, side="left")  # first position of each event's user
        end = np.searchsorted(key, key, side="left")  # strictly before the event (ties excluded)
        known = np.concatenate([[0], np.cumsum(items > 0)])  # known-item positives before each position
        lengths = np.minimum(length, known[end] - known[block])
        target = (ts >= self.cutoff) & (items > 0) & (lengths > 0)
        skipped = {
            "events_without_history": int(((ts >= self.cutoff) & (lengths == 0)).sum()),
            "events_on_cold_items": int(((ts >= self.cutoff) & (lengths > 0) & (items == 0)).sum()),
        }
        rows = np.flatnonzero(target)
        if len(rows) > max_events:
            rows = np.sort(np.random.default_rng([seed, 71]).choice(rows, max_events, replace=False))
        skipped["events_sampled_out"] = int(target.sum()) - len(rows)
        known_items = items[items > 0]
        values = ragged_gather(known_items, known[end[rows]] - lengths[rows], lengths[rows])
        return EvalSet(
            self.users.rows(raw_users[rows]), items[rows], lengths[rows], values, skipped, raw_users[rows]
        )

    def sequences(self, length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
        """Training windows for the sequence tower: (starts, lengths) into the positives, each a window
        of up to length + 1 consecutive positives of one user, ending every `stride` positives from the
        user's latest backwards (stride < length gives overlapping windows: more contexts per target)."""
        counts = np.diff(self.user_block)[1:]  # positives per user row 1..
        users = np.arange(1, len(counts) + 1)
        n_windows = np.where(counts >= 2, np.ceil((counts - 1) / stride).astype(np.int64), 0)
        owner = np.repeat(users, n_windows)
        k = np.arange(n_windows.sum()) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
        block_end = self.user_block[owner + 1]
        end = block_end - k * stride
        start = np.maximum(self.user_block[owner], end - length - 1)
        return start, end - start
