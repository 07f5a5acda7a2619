"""World-only student metrics: attribute probes per modality and q2i split by the query's words."""

from __future__ import annotations

import numpy as np

from recplug.data.world.checks import content_onehot
from recplug.data.world.vocab import ATTRIBUTES
from recplug.student.probes import (
    attribute_probe_rows,
    names_text_attribute,
    probe_chance_rows,
    q2i_by_query_words_rows,
)


def _by_metric(rows):
    return {r["metric"]: r for r in rows}


def test_probes_see_what_an_embedding_holds_and_nothing_else(tiny_world):
    truth = tiny_world.ground_truth()
    ids = truth.item_ids
    onehot = content_onehot(truth)
    image_cols = sum(len(a.values) for a in ATTRIBUTES if a.modality == "image")  # image attributes first
    assert [a.modality for a in ATTRIBUTES[:3]] == ["image"] * 3
    image_only = onehot[:, :image_cols] + 0.01 * np.random.default_rng(0).normal(size=(len(ids), image_cols))
    rows = _by_metric(attribute_probe_rows(image_only, ids, truth, "image only"))
    chance = _by_metric(probe_chance_rows(ids, truth))
    assert rows["image attribute probe"]["ci_low"] > 0.95
    for m in ("audio", "text"):  # the embedding holds none of it: the probe stays near chance
        assert abs(rows[f"{m} attribute probe"]["mean"] - chance[f"{m} attribute probe"]["mean"]) < 0.08


def test_queries_are_split_by_the_words_they_use(tiny_world):
    assert names_text_attribute(["red slow", "hotel warm", "Round Jacket again"]).tolist() == [
        False,
        True,
        True,
    ]
    rng = np.random.default_rng(0)
    items = rng.normal(size=(50, 8))
    texts = ["red slow", "hotel warm", "round deep", "casual striped"]
    targets = np.array([0, 1, 2, 3])
    queries = items[targets].copy()
    queries[2:] = -items[[2, 3]]  # the last two queries point away from their targets
    rows = _by_metric(
        q2i_by_query_words_rows(queries, items, texts, targets, np.ones(4, bool), "v", n_boot=10)
    )
    assert rows["q2i, media-word queries, recall@10"]["mean"] == 0.5
    assert rows["q2i, text-word queries, recall@10"]["mean"] == 0.5
    assert rows["q2i, media-word queries, recall@10"]["n"] == 2


def test_kendall_tau_is_tau_b_and_a_resample_is_its_count_vector():
    """The bootstrap's Kendall tau reads a resample as unit counts (pair signs computed once): it
    equals scipy's tau-b of the resampled values, ties and units drawn twice included."""
    from scipy.stats import kendalltau

    from recplug.student.evaluate import kendall_tau, kendall_tau_of

    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    x[:20], y[20:40] = x[0], np.round(y[20:40])  # ties in both
    assert abs(kendall_tau(x, y) - kendalltau(x, y).statistic) < 1e-12
    tau = kendall_tau_of(x, y)
    for _ in range(5):
        ix = rng.integers(0, 300, 300)
        assert abs(tau(ix) - kendalltau(x[ix], y[ix]).statistic) < 1e-12
