"""Next-positive-item evaluation of a teacher against two baselines, with bootstrap intervals.

Protocol: every positive event after the cut-off (within the evaluation period) on a warm item (the
teacher knows it) by a user with history is a target; the query is the user's history before the
cut-off. All warm items are ranked (exact full-catalog ranking); the user's history items, other than
the target, are not ranked. Recall@k and NDCG@10 per event, mean with a 95% bootstrap CI that resamples
users (a user's events are not independent).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from recplug.metrics import full_catalog_ranks, metric_row, ndcg_at_k, ranks_from_scores, recall_at_k
from recplug.metrics.intervals import DIFF, MetricRow, diff_metric, versus
from recplug.metrics.tables import metric_table
from teachers.data import EvalSet, TeacherData

BASELINES = ("most_popular", "cooccurrence")


def per_event_metrics(ranks: np.ndarray, ks: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {**{f"recall@{k}": recall_at_k(ranks, k) for k in ks}, "ndcg@10": ndcg_at_k(ranks, 10)}


def retrieval_rows(
    variant: str, ranks: np.ndarray, ks: tuple[int, ...], n_boot: int, split: str, users: np.ndarray
) -> list[MetricRow]:
    """Rows of per-event metrics, intervals resampling `users` (each event's user)."""
    return [
        metric_row("teachers", variant, m, split, v, n_boot, clusters=users)
        for m, v in per_event_metrics(ranks, ks).items()
    ]


def paired_rows(
    variant: str,
    ranks: np.ndarray,
    baseline: str,
    baseline_ranks: np.ndarray,
    ks: tuple[int, ...],
    n_boot: int,
    split: str,
    users: np.ndarray,
) -> list[MetricRow]:
    """Paired difference (variant - baseline) per metric over the same events, intervals resampling
    users: tighter than comparing two separate intervals."""
    ours, theirs = per_event_metrics(ranks, ks), per_event_metrics(baseline_ranks, ks)
    return [
        metric_row(
            "teachers",
            versus(variant, baseline),
            diff_metric(m),
            split,
            ours[m] - theirs[m],
            n_boot,
            clusters=users,
        )
        for m in ours
    ]


def _targets_and_exclusions(ev: EvalSet) -> tuple[torch.Tensor, list[torch.Tensor]]:
    # catalog row r holds item row r + 1 (row 0, the unknown id, is not an item)
    targets = torch.as_tensor(ev.target_rows - 1)
    exclude = [torch.as_tensor(h - 1) for h in ev.history_list()]
    return targets, exclude


def rank_by_embeddings(queries: torch.Tensor, items: torch.Tensor, ev: EvalSet) -> np.ndarray:
    targets, exclude = _targets_and_exclusions(ev)
    return full_catalog_ranks(queries.float(), items.float(), targets, exclude)


def most_popular_ranks(data: TeacherData, ev: EvalSet, chunk: int = 1024) -> np.ndarray:
    pop = torch.as_tensor(data.item_freq[1:], dtype=torch.float32)
    targets, exclude = _targets_and_exclusions(ev)
    return np.concatenate(
        [
            ranks_from_scores(
                pop[None, :].expand(min(chunk, len(ev) - lo), -1),
                targets[lo : lo + chunk],
                exclude[lo : lo + chunk],
            )
            for lo in range(0, len(ev), chunk)
        ]
        or [np.empty(0, dtype=np.float64)]
    )


def cooccurrence_matrix(data: TeacherData) -> sparse.csr_matrix:
    """Item-to-item co-occurrence over users' positive sets before the cut-off, cosine-normalised:
    entry (i, j) counts the users with both i and j, over sqrt(deg i * deg j). Sparse: at most the sum
    of users' squared positive counts entries (55M on the large world, built in ~3 s)."""
    n_items, n_users = data.items.size - 1, data.users.size - 1
    pairs = np.unique(np.stack([data.item_row - 1, data.user_row - 1]), axis=1)
    x = sparse.csr_matrix((np.ones(pairs.shape[1]), (pairs[0], pairs[1])), shape=(n_items, n_users))
    inv_sqrt = 1.0 / np.sqrt(np.maximum(np.asarray(x.sum(axis=1)).ravel(), 1.0))
    xs = sparse.diags(inv_sqrt) @ x
    return (xs @ xs.T).tocsr()


def cooccurrence_ranks(data: TeacherData, ev: EvalSet, chunk: int = 1024) -> np.ndarray:
    """A user's score for an item is the sum of its co-occurrence with their history items (repeats
    count again): one sparse product of the histories with the item-to-item matrix per chunk of
    events. Scores are rounded at 1e-9 so that ties do not depend on the order of summation."""
    c = cooccurrence_matrix(data)
    targets, exclude = _targets_and_exclusions(ev)
    hist = ev.history_list()
    ranks = np.empty(len(ev), dtype=np.float64)
    for lo in range(0, len(ev), chunk):
        part = hist[lo : lo + chunk]
        rows = np.repeat(np.arange(len(part)), [len(v) for v in part])
        cols = np.concatenate(part) - 1  # a chunk is never empty
        h = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(part), c.shape[0]))
        scores = torch.from_numpy(np.round((h @ c).toarray(), 9).astype(np.float32))
        ranks[lo : lo + len(part)] = ranks_from_scores(
            scores, targets[lo : lo + chunk], exclude[lo : lo + chunk]
        )
    return ranks


def evaluate_teacher(
    data: TeacherData,
    ev: EvalSet,
    queries: torch.Tensor,
    items: torch.Tensor,
    variant: str,
    ks: tuple[int, ...],
    n_boot: int,
    split: str,
    baselines: bool = True,
) -> list[MetricRow]:
    """Metric rows for the teacher (queries/items are its embeddings of ev's users and all warm items)
    and, optionally, for the two baselines on the same queries."""
    ranks = rank_by_embeddings(queries, items, ev)
    rows = retrieval_rows(variant, ranks, ks, n_boot, split, ev.clusters)
    if baselines:
        for name, baseline_ranks in (
            ("most_popular", most_popular_ranks(data, ev)),
            ("cooccurrence", cooccurrence_ranks(data, ev)),
        ):
            rows += retrieval_rows(name, baseline_ranks, ks, n_boot, split, ev.clusters)
            rows += paired_rows(variant, ranks, name, baseline_ranks, ks, n_boot, split, ev.clusters)
    return rows


def metric_columns(rows: list[MetricRow]) -> tuple[str, ...]:
    """The teacher table's columns: its metrics, in the order the rows carry them."""
    return tuple(dict.fromkeys(r["metric"] for r in rows if not r["metric"].endswith(DIFF)))


def diff_columns(rows: list[MetricRow]) -> tuple[str, ...]:
    """The paired-difference table's columns (`<metric>_diff`, variant '<teacher> - <baseline>')."""
    return tuple(dict.fromkeys(r["metric"] for r in rows if r["metric"].endswith(DIFF)))


def metrics_markdown(rows: list[MetricRow]) -> str:
    """Both teacher tables (metrics, then paired differences), for the command line and metrics.md."""
    return (
        metric_table(rows, metric_columns(rows), digits=4)
        + "\n\nPaired differences, teacher minus baseline, same users:\n\n"
        + metric_table(rows, diff_columns(rows), digits=4)
    )
