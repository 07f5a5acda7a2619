"""Match features of rows that share a history, scored together, equal the per-row path (within 1e-6),
whether the histories carry where they came from (`key`) or are grouped by their items."""

from __future__ import annotations

import numpy as np
import pytest

from features.history import Histories, histories_before, positive_engagements
from features.match import MatchFeatures, compute_match_features
from recplug.data.embeddings import EmbeddingTable


def _table(n_items=300, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_items + 1, dtype=np.int64) * 3  # sparse ids: some ids in the log are not in it
    return EmbeddingTable(ids, rng.normal(size=(n_items, dim)).astype(np.float32), {})


def _per_row(module, hist, items):
    return module(module.input(hist, items).features).numpy()


def _log(seed=0, users=40, events=3000):
    import polars as pl

    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "user_id": rng.integers(1, users, events),
            "item_id": rng.integers(1, 1000, events),  # ids beyond the table: missing history / candidates
            "ts": rng.integers(0, 500, events),
            "click": rng.random(events) < 0.4,
        }
    )


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "by-items"])
def test_grouped_equals_per_row(keyed):
    import polars as pl

    log = _log()
    hist = histories_before(
        positive_engagements(log, pl.col("click")), log["user_id"].to_numpy(), log["ts"].to_numpy(), 12
    )
    if not keyed:
        hist = Histories(hist.lengths, hist.items, hist.truncated)
    items = log["item_id"].to_numpy()
    module = MatchFeatures(_table(), top_k=3, decay=0.8, bins=5)
    first, group = hist.groups()
    assert len(first) < len(hist) / 2  # the log shares histories: the test exercises the grouping
    got, stats = compute_match_features(module, hist, items, batch_size=700)  # batches cut groups
    np.testing.assert_allclose(got, _per_row(module, hist, items), atol=1e-6)
    rows_h = module.rows_of(hist.items)
    assert stats.rows == len(hist) and stats.history_entries == len(hist.items)
    assert stats.missing_history == int((rows_h == 0).sum()) > 0
    assert stats.missing_items == int((module.rows_of(items) == 0).sum()) > 0


def test_groups_are_exact_even_when_hashes_collide(monkeypatch):
    """The item-hash grouping checks every row against its group's first row: a forced collision
    (every hash equal) still gives one group per distinct history."""
    from features import history

    hist = Histories.from_lists([[1, 2], [3], [1, 2], [], [2, 1], [3], []])
    first, group = hist.groups()
    assert group.tolist() == group[[0, 1, 0, 3, 4, 1, 3]].tolist() and len(first) == 4
    monkeypatch.setattr(history, "_GOLDEN", np.uint64(0))
    monkeypatch.setattr(history.np.random, "default_rng", lambda seed: _ZeroRng())
    first, group = hist.groups()  # every non-empty history hashes to 0 now
    lists = hist.to_lists()
    for r, g in enumerate(group):
        assert lists[first[g]] == lists[r]
    assert len({tuple(x) for x in lists}) <= len(first)


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "by-items"])
def test_every_item_known_equals_per_row(keyed):
    """A table with every id of the log: no history slot is unknown, so rows take the path that counts
    known items from the lengths (no NaN marks); still equal to the per-row path."""
    import polars as pl

    log = _log(seed=1)
    hist = histories_before(
        positive_engagements(log, pl.col("click")), log["user_id"].to_numpy(), log["ts"].to_numpy(), 30
    )
    if not keyed:
        hist = Histories(hist.lengths, hist.items, hist.truncated)
    rng = np.random.default_rng(1)
    table = EmbeddingTable(np.arange(1, 1000), rng.normal(size=(999, 8)).astype(np.float32), {})
    module = MatchFeatures(table, top_k=4, decay=0.7, bins=6)
    items = log["item_id"].to_numpy()
    got, stats = compute_match_features(module, hist, items, batch_size=1100)
    np.testing.assert_allclose(got, _per_row(module, hist, items), atol=1e-6)
    assert stats.missing_history == 0 and stats.missing_items == 0


class _ZeroRng:
    def integers(self, lo, hi, size):
        return np.zeros(size, dtype=np.int64) - 1  # multipliers * 2 + 1 == -1 -> hashes collide a lot


def test_keys_and_ends_follow_take_and_slice():
    hist = Histories.from_lists([[1], [2], [1]])
    hist.key, hist.end = np.array([7, 8, 7]), np.array([3, 5, 3])
    assert hist.take(np.array([2, 0])).key.tolist() == [7, 7]
    assert hist.slice(1, 3).key.tolist() == [8, 7]
    assert hist.take(np.array([2, 0])).end.tolist() == [3, 3]
    assert hist.slice(1, 3).end.tolist() == [5, 3]
    assert hist.take(np.array([2, 0])).groups()[1].tolist() == [0, 0]


def _check_windows(windows, hist, rows_of):
    """Every row's window in the sequence holds its history (newest first), lies inside its piece's
    stretch, and every row sits in exactly one piece of at most ROWS_PER_PIECE rows."""
    from features.match_windows import ROWS_PER_PIECE

    assert sorted(windows.order.tolist()) == list(range(len(hist)))
    counts = np.diff(windows.piece_start)
    assert counts.max() <= ROWS_PER_PIECE and counts.min() > 0
    piece = np.repeat(np.arange(len(counts)), counts)[np.argsort(windows.order)]
    start = windows.end - windows.length
    assert (start >= windows.lo[piece]).all()
    assert (windows.end <= windows.lo[piece] + windows.span[piece]).all()
    for r, items in enumerate(hist.to_lists()):
        assert (
            windows.seq[start[r] : windows.end[r]][::-1].tolist()
            == rows_of(np.array(items, np.int64)).tolist()
        )


def test_windows_hold_every_history():
    """Windows of positions (a user's successive histories overlap; users without a positive yet share
    their end with the user before) and windows of groups both lay every history out exactly."""
    import polars as pl

    from features.match_windows import windows_of_groups, windows_of_positions

    log = _log(seed=2, users=30, events=1500)
    hist = histories_before(
        positive_engagements(log, pl.col("click")), log["user_id"].to_numpy(), log["ts"].to_numpy(), 20
    )
    assert (hist.lengths == 0).any() and len(np.unique(hist.end)) < len(hist) / 2
    rows_of = MatchFeatures(_table()).rows_of
    _check_windows(windows_of_positions(hist, rows_of, block=4), hist, rows_of)
    part = hist.slice(333, 1111)  # a batch cuts users' runs of rows
    _check_windows(windows_of_positions(part, rows_of), part, rows_of)
    first, group = hist.groups()
    windows = windows_of_groups(hist.items, hist.offsets[first], hist.lengths[first], group, rows_of)
    _check_windows(windows, hist, rows_of)
    with pytest.raises(ValueError, match="do not say where they lie"):
        windows_of_positions(Histories(hist.lengths, hist.items, 0), rows_of)


def test_positions_on_two_threads_and_small_chunks_equal_per_row():
    """The positions path with chunks of a few dozen rows on two threads: rows come back in their
    places, equal to the per-row path."""
    import polars as pl

    from features.match_windows import windows_of_positions
    from features.train import torch_threads

    log = _log(seed=4)
    hist = histories_before(
        positive_engagements(log, pl.col("click")), log["user_id"].to_numpy(), log["ts"].to_numpy(), 25
    )
    items = log["item_id"].to_numpy()
    module = MatchFeatures(_table(), top_k=5, decay=0.85, bins=7)
    with torch_threads(2):
        got = module.scored_windows(windows_of_positions(hist, module.rows_of), items, chunk_rows=50)
    np.testing.assert_allclose(got.numpy(), _per_row(module, hist, items), atol=1e-6)


def test_grouped_on_two_threads_and_small_chunks_equals_per_row():
    """Chunks split at every class and every few rows, worked on two threads with their own buffers:
    the rows come back in their places, equal to the per-row path; groups of many candidates (over 16)
    and empty histories included."""
    from features.train import torch_threads

    rng = np.random.default_rng(3)
    lists = [[]] + [rng.integers(1, 1000, rng.integers(1, 30)).tolist() for _ in range(60)]
    hist = Histories.from_lists(lists)
    group = np.concatenate([np.repeat(np.arange(20), 40), rng.integers(0, len(lists), 2000)])
    rng.shuffle(group)
    items = rng.integers(1, 1000, len(group))
    module = MatchFeatures(_table(), top_k=4, decay=0.9, bins=6)
    with torch_threads(2):
        got = module.grouped(hist, group, items, chunk_rows=64).numpy()
    np.testing.assert_allclose(got, _per_row(module, hist.take(group), items), atol=1e-6)


def test_bf16_features_are_close_to_fp32_and_the_paths_agree():
    """precision='bf16' rounds vectors and similarities to bfloat16: the similarity statistics stay
    within bf16's ~3 digits of fp32, the per-row path rounds the same way, and a bad name is refused."""
    import polars as pl

    log = _log(seed=1)
    hist = histories_before(
        positive_engagements(log, pl.col("click")), log["user_id"].to_numpy(), log["ts"].to_numpy(), 12
    )
    items = log["item_id"].to_numpy()
    exact, _ = compute_match_features(MatchFeatures(_table(), top_k=3), hist, items)
    low_module = MatchFeatures(_table(), top_k=3, precision="bf16")
    low, _ = compute_match_features(low_module, hist, items)
    similarity = slice(0, 4)  # max, mean, top-k mean, recency mean
    assert 0 < np.abs(low - exact)[:, similarity].max() < 2e-2
    bins = slice(4, 12)  # a similarity next to a bin edge may cross it: rare, not never
    assert np.abs(low[:, bins] - exact[:, bins]).mean() < 1e-2
    assert (low[:, 12:] == exact[:, 12:]).all()  # history length, empty history, missing item
    np.testing.assert_allclose(
        _per_row(low_module, hist, items)[:, similarity], low[:, similarity], atol=5e-3
    )
    with pytest.raises(ValueError, match="precision must be one of"):
        MatchFeatures(_table(), precision="fp8")
