"""Retrieval metrics of the student, all out of sample: i2i Recall@k on test-period co-engagement pairs
that were not training pairs and on same-category pairs of items whose label never trained (warm and
cold separately), q2i Recall@k and AUC on test queries, NMI of clusters vs those held-out categories,
Kendall tau of similarity vs graded relevance, bijective alignment of queries and targets. 95% bootstrap
CIs."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import polars as pl
import torch

from recplug.data import Dataset, time_split
from recplug.metrics import full_catalog_ranks, metric_row, recall_at_k
from recplug.metrics.intervals import MetricRow, make_row, statistic_row
from recplug.student.items import ItemStore
from recplug.student.sources import coengagement_pairs

KS = (1, 10, 50, 100)


@dataclass
class EvalPairs:
    """Held-out evaluation pairs, all as rows of the ItemStore (queries as texts)."""

    coengagement: tuple[np.ndarray, np.ndarray]  # (query rows, target rows) in the test period
    content: tuple[np.ndarray, np.ndarray]  # same-category pairs among items whose label never trained
    queries: tuple[list[str], np.ndarray]  # held-out (query text, relevant item row)
    graded: tuple[list[str], np.ndarray, np.ndarray]  # held-out (query, item row, score)
    cold_rows: np.ndarray  # bool per store row
    category_rows: np.ndarray  # bool per store row: category label never trained (NMI is scored on these)
    report: dict  # what was held out or excluded, for metrics.json


def build_eval_pairs(
    ds: Dataset,
    store: ItemStore,
    held_queries: pl.DataFrame | None,
    category_rows: np.ndarray | None = None,
    training_pairs: set[tuple[int, int]] | None = None,
    seed: int = 0,
    max_pairs: int = 2000,
) -> EvalPairs:
    """Test-period co-engagement pairs (less those that were training pairs, counted), same-category
    pairs among `category_rows` (default: every item), and the held-out queries."""
    rng = np.random.default_rng([seed, 31])
    s = ds.meta.splits
    co = coengagement_pairs(ds, store, until=s.end + 1, since=s.valid_end)
    qa, ta = store.rows(co["a"].to_numpy()), store.rows(co["b"].to_numpy())
    keep = (qa >= 0) & (ta >= 0)
    in_training = np.array(
        [(a, b) in (training_pairs or ()) for a, b in zip(qa.tolist(), ta.tolist(), strict=True)], dtype=bool
    )
    report = {
        "coengagement_test_pairs": int(keep.sum()),
        "coengagement_test_pairs_excluded_as_training_pairs": int((keep & in_training).sum()),
    }
    keep &= ~in_training
    qa, ta = qa[keep], ta[keep]
    if len(qa) > max_pairs:
        pick = rng.choice(len(qa), max_pairs, replace=False)
        qa, ta = qa[pick], ta[pick]
    if category_rows is None:
        category_rows = np.ones(len(store.item_ids), dtype=bool)
    cats = np.array([c or "" for c in store.category], dtype=object)
    has_cat = np.flatnonzero((cats != "") & category_rows)
    cq = (
        rng.choice(has_cat, min(max_pairs, len(has_cat)), replace=False)
        if len(has_cat)
        else np.zeros(0, dtype=np.int64)
    )
    ct = []
    for r in cq:  # one random other held-out item of the same category per query (<= max_pairs queries)
        same = has_cat[cats[has_cat] == cats[r]]
        same = same[same != r]
        ct.append(rng.choice(same) if len(same) else -1)
    ct = np.array(ct, dtype=np.int64)
    cq, ct = cq[ct >= 0], ct[ct >= 0]
    report["category_items_never_trained"] = len(has_cat)
    qtexts, qrows, gtexts, grows, gscores = (
        [],
        np.zeros(0, dtype=np.int64),
        [],
        np.zeros(0, dtype=np.int64),
        np.zeros(0),
    )
    if held_queries is not None and len(held_queries):
        rows = store.rows(held_queries["item_id"].to_numpy())
        ok = rows >= 0
        hq = held_queries.filter(pl.Series(ok))
        rows = rows[ok]
        score = hq["score"].to_numpy() if "score" in hq.columns else np.ones(len(hq))
        top = score >= score.max()
        qtexts, qrows = [t for t, k in zip(hq["query"].to_list(), top, strict=True) if k], rows[top]
        gtexts, grows, gscores = hq["query"].to_list(), rows, score
    report["test_query_rows"] = len(gtexts)
    cold = np.isin(store.item_ids, time_split(ds).cold_items.to_numpy())
    return EvalPairs(
        (qa, ta), (cq, ct), (qtexts, qrows), (gtexts, grows, gscores), cold, category_rows, report
    )


def recall_rows(
    name: str, variant: str, ranks: np.ndarray, split: str, n_boot: int, ks=KS, experiment: str = "student"
) -> list[MetricRow]:
    return [
        metric_row(experiment, variant, f"{name} recall@{k}", split, recall_at_k(ranks, k), n_boot)
        for k in ks
    ]


def catalog_ranks(
    queries: np.ndarray, items: np.ndarray, targets: np.ndarray, exclude_self: np.ndarray | None = None
) -> np.ndarray:
    excl = [torch.as_tensor([r]) for r in exclude_self] if exclude_self is not None else None
    return full_catalog_ranks(
        torch.as_tensor(queries), torch.as_tensor(items), torch.as_tensor(targets), excl
    )


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall tau-b over all pairs (O(n^2) memory; n is a few thousand at most)."""
    return kendall_tau_of(x, y)(np.arange(len(x)))


def kendall_tau_of(x: np.ndarray, y: np.ndarray):
    """`indices -> Kendall tau-b of (x[indices], y[indices])`, for a bootstrap: the pair signs of the
    n units are computed once, and a resample (units drawn with repetition) is its count vector c:
    concordance c'Dc over sqrt(c'Xc c'Yc), X and Y the untied pairs (a unit drawn twice makes a tied
    pair, counted in neither). Sums of integers, so equal to sorting out each resample's pairs."""
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    concordance, untied_x, untied_y = sx * sy, np.abs(sx), np.abs(sy)

    def tau(indices: np.ndarray) -> float:
        if len(indices) < 2:
            return float("nan")
        c = np.bincount(indices, minlength=len(x)).astype(np.float64)
        denom = np.sqrt((c @ untied_x @ c) * (c @ untied_y @ c))
        return float((c @ concordance @ c) / denom) if denom else float("nan")

    return tau


def nmi(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Normalised mutual information (arithmetic mean normalisation)."""
    _, t = np.unique(labels_true, return_inverse=True)
    _, p = np.unique(labels_pred, return_inverse=True)
    joint = np.zeros((t.max() + 1, p.max() + 1))
    np.add.at(joint, (t, p), 1)
    joint /= joint.sum()
    pt, pp = joint.sum(1), joint.sum(0)
    nz = joint > 0
    mi = (joint[nz] * np.log(joint[nz] / (pt[:, None] * pp[None, :])[nz])).sum()
    h = lambda q: -(q[q > 0] * np.log(q[q > 0])).sum()  # noqa: E731
    return float(2 * mi / (h(pt) + h(pp))) if h(pt) + h(pp) > 0 else float("nan")


NMI_SEEDS = 5
T_975 = {4: 2.776}  # Student t quantile for the NMI seed interval (df = seeds - 1)
KENDALL_MAX = 1000  # graded pairs used for Kendall tau (an O(n^2) statistic, bootstrapped)
AUC_NEGATIVES = 100  # random items each graded query-item pair is compared against (q2i AUC)


def _row(variant: str, metric: str, value: float, low: float, high: float, n: int) -> MetricRow:
    return make_row("student", variant, metric, "all", (value, low, high), n)


def evaluate_embeddings(
    item_emb: np.ndarray,
    query_emb: np.ndarray | None,
    graded_emb: np.ndarray | None,
    pairs: EvalPairs,
    store: ItemStore,
    variant: str,
    n_boot: int = 500,
    seed: int = 0,
) -> list[MetricRow]:
    """All student metrics for item embeddings (row = store row) and embeddings of the held-out
    queries (`query_emb` for pairs.queries, `graded_emb` for pairs.graded)."""
    rows: list[MetricRow] = []
    for name, (q, t) in (("coengagement i2i", pairs.coengagement), ("content i2i", pairs.content)):
        if len(q) == 0:
            continue
        ranks = catalog_ranks(item_emb[q], item_emb, t, exclude_self=q)
        cold = pairs.cold_rows[t]
        rows += recall_rows(name, variant, ranks[~cold], "warm", n_boot)
        if cold.any():
            rows += recall_rows(name, variant, ranks[cold], "cold", n_boot)
    if query_emb is not None and len(pairs.queries[1]):
        ranks = catalog_ranks(query_emb, item_emb, pairs.queries[1])
        cold = pairs.cold_rows[pairs.queries[1]]
        rows += recall_rows("q2i", variant, ranks[~cold], "warm", n_boot)
        if cold.any():
            rows += recall_rows("q2i", variant, ranks[cold], "cold", n_boot)
        # bijective alignment: q's nearest item is its target and the target's nearest query is q
        sims = query_emb @ item_emb[pairs.queries[1]].T
        bij = (sims.argmax(1) == np.arange(len(sims))) & (sims.argmax(0) == np.arange(len(sims)))
        rows.append(
            metric_row("student", variant, "q2i bijective alignment", "all", bij.astype(float), n_boot)
        )
    if graded_emb is not None and len(pairs.graded[1]):
        _, g_rows, g_score = pairs.graded
        pos_sim = (graded_emb * item_emb[g_rows]).sum(1)
        # per query: its relevant item against AUC_NEGATIVES random items scored by the same query
        # (comparing across queries would measure how similarity scales differ between queries)
        negs = np.random.default_rng([seed, 37]).integers(0, len(item_emb), (len(g_rows), AUC_NEGATIVES))
        neg_sim = np.concatenate(  # in chunks: (pairs, negatives, dim) at once is large on big catalogs
            [
                np.einsum("qd,qnd->qn", graded_emb[lo : lo + 1024], item_emb[negs[lo : lo + 1024]])
                for lo in range(0, len(negs), 1024)
            ]
        )
        auc = (pos_sim[:, None] > neg_sim).mean(1) + 0.5 * (pos_sim[:, None] == neg_sim).mean(1)
        rows.append(metric_row("student", variant, "q2i AUC", "all", auc, n_boot))
        sub = np.random.default_rng([seed, 43]).permutation(len(g_score))[:KENDALL_MAX]  # O(n^2) statistic
        tau = kendall_tau_of(pos_sim[sub], g_score[sub])
        rows.append(statistic_row("student", variant, "q2i kendall tau", "all", tau, len(sub), seed=seed))
    cats = np.array([c or "" for c in store.category], dtype=object)
    labelled = (cats != "") & pairs.category_rows  # labels no source trained on
    if labelled.sum() > 10:
        k = len(set(cats[labelled]))
        x = np.ascontiguousarray(item_emb[labelled], dtype=np.float32)
        labels = cats[labelled].astype(str)
        # the clustering is the noisy part of NMI (a bootstrap of NMI is biased by duplicates): spread
        # over k-means seeds, mean with a t-interval
        values = []
        for s in range(NMI_SEEDS):
            km = faiss.Kmeans(x.shape[1], k, niter=20, seed=seed + s, spherical=True)
            km.train(x)
            values.append(nmi(labels, km.index.search(x, 1)[1][:, 0]))
        v = float(np.mean(values))
        half = T_975[NMI_SEEDS - 1] * float(np.std(values, ddof=1)) / np.sqrt(NMI_SEEDS)
        lo, hi = v - half, v + half
        rows.append(_row(variant, "category NMI", v, lo, hi, len(labels)))
    return rows
