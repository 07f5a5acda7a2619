"""Full-catalog ranks: the one rank rule every recall/NDCG figure in recplug goes through."""

from __future__ import annotations

import numpy as np
import torch

from recplug.metrics import full_catalog_ranks, ranks_from_scores, recall_at_k


def test_ties_take_the_middle_of_their_group():
    scores = torch.tensor([[0.9, 0.5, 0.5, 0.5, 0.1], [0.0, 0.0, 0.0, 0.0, 0.0]])
    ranks = ranks_from_scores(scores, torch.tensor([2, 4]))
    # row 0: one higher, two others tied -> 1 + 1 + 2/2; row 1: an all-tied row -> the middle, 3
    assert ranks.tolist() == [3.0, 3.0]


def test_a_degenerate_scorer_does_not_find_its_targets():
    """An all-zero query (e.g. TF-IDF with no known word) used to rank every target first."""
    rng = np.random.default_rng(0)
    catalog = torch.as_tensor(rng.normal(size=(1000, 8)), dtype=torch.float32)
    queries = torch.zeros(200, 8)
    targets = torch.as_tensor(rng.integers(0, 1000, 200))
    ranks = full_catalog_ranks(queries, catalog, targets)
    assert recall_at_k(ranks, 10).mean() == 0.0
    assert np.allclose(ranks, 500.5)


def test_exclusions_leave_the_target_and_drop_the_rest():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6]])
    ranks = ranks_from_scores(scores, torch.tensor([2]), [torch.tensor([0, 2])])
    assert ranks.tolist() == [2.0]


def test_cluster_bootstrap_resamples_whole_clusters_as_the_loop_did():
    """`bootstrap_statistic` with clusters: each draw is the picked clusters' units, cluster after
    cluster (the vectorised gather equals concatenating them one by one, for the same generator)."""
    from recplug.metrics.intervals import bootstrap_statistic

    rng = np.random.default_rng(1)
    clusters = rng.integers(0, 40, 300)  # uneven sizes, some labels never used
    x = rng.normal(size=300)
    seen = []
    bootstrap_statistic(lambda i: seen.append(i) or float(x[i].mean()), 300, 20, seed=3, clusters=clusters)
    ref = np.random.default_rng(3)
    _, idx = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(idx == c) for c in range(idx.max() + 1)]
    np.testing.assert_array_equal(seen[0], np.arange(300))
    for drawn in seen[1:]:
        picked = ref.integers(0, len(members), len(members))
        np.testing.assert_array_equal(drawn, np.concatenate([members[c] for c in picked]))
