"""Where each row's history lies in one sequence of table rows, and the pieces of rows scored together.

Match features compare a candidate with every item of its row's history. Rows share those items: a
user's impressions between two positives share one history, and a user's successive histories are
overlapping windows of the same engagements. `Windows` lays every history out as a window of one
sequence (`seq`, table rows, newest last) and cuts the rows into pieces: at most a few dozen rows whose
windows all lie inside one short stretch `[lo, lo + span)` of it. A piece costs one small GEMM (its
candidates x its stretch), and each row then reads its own window out of that product: the history
vectors are gathered once per stretch, not once per history or per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from features.history import Histories

ROWS_PER_PIECE = 64  # candidates scored against one stretch (the GEMM's M)
BLOCK = 32  # positions whose rows go together: a stretch spans at most BLOCK + the longest history
UNREAD = -1  # a sequence position inside no window


@dataclass
class Windows:
    seq: np.ndarray  # (P,) int64 table rows of the sequence's positions (UNREAD: inside no window)
    order: np.ndarray  # (n,) the rows, piece after piece
    piece_start: np.ndarray  # (pieces + 1,) where each piece's rows begin in `order`
    lo: np.ndarray  # (pieces,) first position of each piece's stretch
    span: np.ndarray  # (pieces,) the stretch's length
    end: np.ndarray  # (n,) one past each row's newest history position
    length: np.ndarray  # (n,) each row's history length: its window is [end - length, end), newest first

    def __len__(self) -> int:
        return len(self.end)


def windows_of_positions(
    hist: Histories, rows_of: Callable[[np.ndarray], np.ndarray], block: int = BLOCK
) -> Windows:
    """Windows of histories that carry `end` (where they lie in the engagements they were cut from):
    a piece holds rows whose windows end inside one block of `block` positions (a user's successive
    histories), at most ROWS_PER_PIECE of them. The sequence is rebuilt from one row per distinct end."""
    if hist.end is None:
        raise ValueError("these histories do not say where they lie (no `end`); use windows_of_groups")
    end, length = np.asarray(hist.end, np.int64), np.asarray(hist.lengths, np.int64)
    base = int((end - length).min()) if len(end) else 0
    end = end - base
    # by end, the longest history first among equal ends (windows with one end are nested: one user's
    # rows hold the same history, and another user's ending there holds none)
    longest = int(length.max(initial=0)) + 1
    order = torch.sort(torch.from_numpy(end * longest + (longest - 1 - length)), stable=True).indices.numpy()
    ends = end[order]
    first = order[np.flatnonzero(np.diff(ends, prepend=-1))]  # the longest row of each distinct end
    # each position written once where windows overlap: a window starting no earlier than the one
    # before it writes only its items past that one's end (its newest ones)
    first_end, first_start = end[first], end[first] - length[first]
    prev_end = np.concatenate([[0], first_end[:-1]])
    covered = np.zeros(len(first), bool)
    covered[1:] = first_start[1:] >= first_start[:-1]
    written = np.where(covered, first_end - np.maximum(first_start, prev_end), length[first])
    seq = _laid_out(
        hist.items, hist.offsets[first], written, first_end, int(ends[-1]) if len(ends) else 0, rows_of
    )
    return _cut(seq, order, ends // block, end, length)


def windows_of(hist: Histories, rows_of: Callable[[np.ndarray], np.ndarray]) -> Windows:
    """The windows of any histories: by position where they carry `end`, else one per distinct history."""
    if hist.end is not None:
        return windows_of_positions(hist, rows_of)
    first, group = hist.groups()
    return windows_of_groups(hist.items, hist.offsets[first], hist.lengths[first], group, rows_of)


def windows_of_groups(
    items: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    group: np.ndarray,
    rows_of: Callable[[np.ndarray], np.ndarray],
) -> Windows:
    """Windows of histories given once per group (group g's at items[starts[g] : starts[g] +
    lengths[g]], newest first; `group[i]` is row i's): each group's history laid out after the
    previous one, and a piece holds rows of one group."""
    lengths = np.asarray(lengths, np.int64)
    group = np.asarray(group, np.int64)
    group_end = np.cumsum(lengths)
    seq = _laid_out(items, starts, lengths, group_end, int(group_end[-1]) if len(lengths) else 0, rows_of)
    order = torch.sort(torch.from_numpy(group), stable=True).indices.numpy()
    return _cut(seq, order, group[order], group_end[group], lengths[group])


def _laid_out(items, starts, lengths, ends, size, rows_of) -> np.ndarray:
    """The sequence of table rows where history h (items[starts[h]:][:lengths[h]], newest first)
    ends at position ends[h]; positions no history covers hold UNREAD."""
    seq = np.full(size, UNREAD, np.int64)
    within = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    seq[np.repeat(ends - 1, lengths) - within] = rows_of(items[np.repeat(starts, lengths) + within])
    return seq


def _cut(seq, order, block_sorted, end, length) -> Windows:
    """Pieces of the rows in `order`: consecutive rows of one block, at most ROWS_PER_PIECE each;
    each piece's stretch runs from its earliest window start to its last end."""
    n = len(order)
    new_block = np.ones(n, bool)
    new_block[1:] = block_sorted[1:] != block_sorted[:-1]
    block_first = np.flatnonzero(new_block)
    rank = np.arange(n) - block_first[np.cumsum(new_block) - 1]
    piece_start = np.flatnonzero(new_block | (rank % ROWS_PER_PIECE == 0))
    if n:
        lo = np.minimum.reduceat((end - length)[order], piece_start)
        hi = np.maximum.reduceat(end[order], piece_start)
    else:
        lo = hi = np.zeros(0, np.int64)
    return Windows(seq, order, np.append(piece_start, n), lo, hi - lo, end, length)
