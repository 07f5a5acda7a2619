"""Users' engagement histories as ragged arrays: the one shape that match features, the ranking
model and the LT simulator pass between them.

Row r holds the item ids that user engaged with positively strictly before the moment row r
describes, most recent first, at most a configured cap (older items are cut and counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from features.events import EventIndex

DEFAULT_MAX_HISTORY = 50


@dataclass
class Histories:
    lengths: np.ndarray  # (n,) int64, items in each row's history
    items: np.ndarray  # (lengths.sum(),) int64 item ids, row after row, most recent first in a row
    truncated: int = 0  # rows whose history was longer than the cap and was cut

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    def take(self, rows: np.ndarray) -> Histories:
        """The histories of `rows`, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.offsets[rows]
        lengths = self.lengths[rows]
        index = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(
            lengths.sum()
        )
        return Histories(lengths.copy(), self.items[index], 0)

    def slice(self, lo: int, hi: int) -> Histories:
        """Rows lo:hi without copying the items (batches of a precomputed table)."""
        offsets = self.offsets
        return Histories(self.lengths[lo:hi], self.items[offsets[lo] : offsets[hi]], 0)

    @classmethod
    def from_lists(cls, rows: list[list[int]]) -> Histories:
        """From Python lists (most recent first): for hand-built cases and small callers."""
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        items = np.array([i for r in rows for i in r], dtype=np.int64)
        return cls(lengths, items, 0)

    def to_lists(self) -> list[list[int]]:
        return [a.tolist() for a in np.split(self.items, self.offsets[1:-1])] if len(self) else []


def positive_engagements(interactions: pl.DataFrame, positive: pl.Expr) -> EventIndex:
    """The positive engagements of a log, indexed by user so histories can be cut at any moment."""
    pos = interactions.filter(positive).select("user_id", "item_id", "ts")
    return EventIndex(pos["user_id"].to_numpy(), pos["ts"].to_numpy(), payload=pos["item_id"].to_numpy())


def histories_before(
    engagements: EventIndex, user_ids: np.ndarray, ts: np.ndarray, max_history: int = DEFAULT_MAX_HISTORY
) -> Histories:
    """Each (user, ts)'s positively engaged items strictly before ts, most recent first, at most
    `max_history` (rows cut are counted in `truncated`). Vectorised: one searchsorted, one gather."""
    if engagements.payload is None:
        raise ValueError("the engagement index has no item payload; build it with positive_engagements()")
    if max_history < 1:
        raise ValueError(f"max_history must be >= 1, got {max_history}")
    start, end = engagements.span_before(user_ids, ts)
    full = end - start
    lengths = np.minimum(full, max_history).astype(np.int64)
    total = int(lengths.sum())
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    items = engagements.payload[np.repeat(end - 1, lengths) - within]  # newest first
    return Histories(lengths, items.astype(np.int64, copy=False), int((full > max_history).sum()))
