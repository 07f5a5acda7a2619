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


class _ZeroRng:
    def integers(self, lo, hi, size):
        return np.zeros(size, dtype=np.int64) - 1  # multipliers * 2 + 1 == -1 -> hashes collide a lot


def test_keys_follow_take_and_slice():
    hist = Histories.from_lists([[1], [2], [1]])
    hist.key = np.array([7, 8, 7])
    assert hist.take(np.array([2, 0])).key.tolist() == [7, 7]
    assert hist.slice(1, 3).key.tolist() == [8, 7]
    assert hist.take(np.array([2, 0])).groups()[1].tolist() == [0, 0]


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
