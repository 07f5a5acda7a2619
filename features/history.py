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
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # mixes a row's length into its hash


@dataclass
class Histories:
    lengths: np.ndarray  # (n,) int64, items in each row's history
    items: np.ndarray  # (lengths.sum(),) int64 item ids, row after row, most recent first in a row
    truncated: int = 0  # rows whose history was longer than the cap and was cut
    # (n,) int64 or None: rows with equal keys hold equal histories (where a row's history came from,
    # set by `histories_before`); lets `groups` find shared histories without comparing items
    key: np.ndarray | None = None
    # (n,) int64 or None: row r's history is positions [end - length, end) of one shared sequence of
    # engagements, newest first (set by `histories_before`: its index of all users' engagements). A
    # user's successive histories overlap there, so match features score a stretch of it once for
    # many rows instead of every history again
    end: np.ndarray | None = None

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
        return Histories(lengths.copy(), self.items[index], 0, _at(self.key, rows), _at(self.end, rows))

    def slice(self, lo: int, hi: int) -> Histories:
        """Rows lo:hi without copying the items (batches of a precomputed table)."""
        offsets = self.offsets
        rows = slice(lo, hi)
        return Histories(
            self.lengths[lo:hi],
            self.items[offsets[lo] : offsets[hi]],
            0,
            _at(self.key, rows),
            _at(self.end, rows),
        )

    def groups(self) -> tuple[np.ndarray, np.ndarray]:
        """(first row of each distinct history, group of every row): rows with equal histories share a
        group (a user's impressions between two of their positives). Rows with a `key` group by it;
        otherwise a 64-bit polynomial hash of each row proposes the groups; every row is then compared item by item with its group's first row,
        and one that differs (a hash collision) gets a group of its own, so the grouping is exact."""
        n = len(self)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.key is not None:
            _, first, group = np.unique(self.key, return_index=True, return_inverse=True)
            return first.astype(np.int64), group.ravel().astype(np.int64)
        offsets = self.offsets
        row_of = np.repeat(np.arange(n), self.lengths)
        position = np.arange(len(self.items)) - offsets[row_of]
        multipliers = np.random.default_rng(0).integers(1, 2**63, size=int(self.lengths.max(initial=0)) + 1)
        terms = self.items.astype(np.uint64) * (multipliers.astype(np.uint64) * 2 + 1)[position]
        sums = np.concatenate([np.zeros(1, np.uint64), np.cumsum(terms, dtype=np.uint64)])  # wraps: fine
        key = (sums[offsets[1:]] - sums[offsets[:-1]]) ^ (self.lengths.astype(np.uint64) * _GOLDEN)
        _, first, group = np.unique(key, return_index=True, return_inverse=True)
        group = group.ravel()
        # exact: compare every row with its group's first row
        rep = first[group]
        same = self.lengths == self.lengths[rep]
        entries = same[row_of]
        differ = np.zeros(n, dtype=bool)
        at = np.flatnonzero(entries)
        mismatch = self.items[at] != self.items[offsets[rep[row_of[at]]] + position[at]]
        differ[row_of[at[mismatch]]] = True
        differ |= ~same
        if differ.any():  # collisions: each such row alone
            extra = np.flatnonzero(differ)
            group[extra] = len(first) + np.arange(len(extra))
            first = np.concatenate([first, extra])
        return first.astype(np.int64), group.astype(np.int64)

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
    # the newest engagement's index and the length name the history: equal keys, equal items
    key = end.astype(np.int64) * (max_history + 1) + lengths
    truncated = int((full > max_history).sum())
    return Histories(lengths, items.astype(np.int64, copy=False), truncated, key, end.astype(np.int64))


def _at(values: np.ndarray | None, rows) -> np.ndarray | None:
    return None if values is None else values[rows]
