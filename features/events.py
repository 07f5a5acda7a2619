"""Leak-free time lookups: "the events of key k strictly before time t" as one vectorised searchsorted.

Histories (a user's positives before an impression) and popularity counts (an item's impressions before
an impression) are both this question; answering it in one place is what keeps every feature free of the
future. Ties count as the future: an event at exactly t is not before t (an impression's own click is
logged at the impression's ts).
"""

from __future__ import annotations

import numpy as np


class EventIndex:
    """Events (key, ts[, payload]) sorted by (key, ts); queries are vectorised over many (key, t) pairs.

    Keys are mapped to dense ranks and combined with time into one int64 so that a single
    `np.searchsorted` answers every query; keys never seen have no events."""

    def __init__(self, keys: np.ndarray, ts: np.ndarray, payload: np.ndarray | None = None):
        keys, ts = np.asarray(keys, dtype=np.int64), np.asarray(ts, dtype=np.int64)
        if keys.shape != ts.shape:
            raise ValueError(f"keys {keys.shape} and ts {ts.shape} must have the same shape")
        self.unique_keys = np.unique(keys)
        self.t0 = int(ts.min()) if len(ts) else 0
        t1 = int(ts.max()) if len(ts) else 0
        self.span = t1 - self.t0 + 2  # query times are clipped into [t0, t1 + 1]
        if len(self.unique_keys) and len(self.unique_keys) * self.span >= 2**62:
            raise ValueError(
                f"{len(self.unique_keys)} keys x a {self.span} s time span overflows int64 keys; "
                "use coarser timestamps or fewer keys per index"
            )
        combined = self._combine(np.searchsorted(self.unique_keys, keys), ts)
        order = np.argsort(combined, kind="stable")
        self.combined = combined[order]
        self.payload = None if payload is None else np.asarray(payload)[order]
        # where each key's events start (and the last one's end): a query's start is a lookup, and a
        # query after all of its key's events (every query past the log's end) needs no search
        self.key_start = np.searchsorted(
            self.combined, np.arange(len(self.unique_keys) + 1, dtype=np.int64) * self.span
        )

    def __len__(self) -> int:
        return len(self.combined)

    def _combine(self, rank: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return rank.astype(np.int64) * self.span + (np.clip(ts, self.t0, self.t0 + self.span - 1) - self.t0)

    def span_before(self, keys: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start, end): the events of key[i] strictly before ts[i] are positions start[i]:end[i] of
        the sorted events (oldest first), empty for unknown keys."""
        keys, ts = np.asarray(keys, dtype=np.int64), np.asarray(ts, dtype=np.int64)
        rank = np.searchsorted(self.unique_keys, keys)
        known = (rank < len(self.unique_keys)) & (
            self.unique_keys[np.minimum(rank, max(len(self.unique_keys) - 1, 0))] == keys
            if len(self.unique_keys)
            else np.zeros(keys.shape, bool)
        )
        start, stop = self.key_start[rank], self.key_start[np.minimum(rank + 1, len(self.unique_keys))]
        query = self._combine(rank, ts)
        end = stop.copy()
        search = np.flatnonzero(known & (stop > start))
        search = search[query[search] <= self.combined[stop[search] - 1]]  # not after all its events
        end[search] = np.searchsorted(self.combined, query[search], side="left")
        end = np.where(known, np.maximum(end, start), start)
        return start, end

    def count_before(self, keys: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """How many events of key[i] happened strictly before ts[i]."""
        start, end = self.span_before(keys, ts)
        return end - start
