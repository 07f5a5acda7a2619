"""Dynamic hard negative mining: per source, score the pairs with the current model, choose the
similarity threshold that best separates positives from negatives (max F1); negatives at or above it
are likely false negatives and are dropped; the highest-scoring negatives below it are the hard
negatives. A faiss index over the target embeddings finds the candidates."""

from __future__ import annotations

import faiss
import numpy as np


def f1_optimal_threshold(pos_scores: np.ndarray, neg_scores: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of 'score >= threshold means positive'."""
    scores = np.concatenate([pos_scores, neg_scores])
    labels = np.concatenate([np.ones(len(pos_scores)), np.zeros(len(neg_scores))])
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    precision = tp / (tp + fp)
    recall = tp / max(len(pos_scores), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    # only cut between distinct scores
    last_of_run = np.append(s[1:] != s[:-1], True)
    f1 = np.where(last_of_run, f1, -1)
    best = int(np.argmax(f1))
    return float(s[best]), float(f1[best])


def known_positive_candidates(
    rows: np.ndarray, positive_rows: np.ndarray, groups: np.ndarray | None, self_rows: np.ndarray | None
) -> np.ndarray:
    """(n, k) bool: candidate `rows[i, j]` is a known positive of query i: its own target, the target of
    any other pair of the same query (`groups[i]`: pairs sharing a query share a group), or the query
    item itself (`self_rows`, for item-to-item sources). None of these may become a negative."""
    known = rows == positive_rows[:, None]
    if groups is not None:
        n_rows = int(max(rows.max(initial=0), positive_rows.max(initial=0))) + 1
        keys = np.unique(groups.astype(np.int64) * n_rows + positive_rows)
        known |= np.isin(groups.astype(np.int64)[:, None] * n_rows + rows, keys)
    if self_rows is not None:
        known |= rows == self_rows[:, None]
    return known


def mine_hard_negatives(
    query_emb: np.ndarray,
    target_emb: np.ndarray,
    positive_rows: np.ndarray,
    per_query: int,
    candidates: int,
    groups: np.ndarray | None = None,
    self_rows: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """Hard negatives (target rows, -1 padded) for each query.

    `target_emb` holds every candidate target (row r = target r); `positive_rows[i]` is query i's
    positive; `groups` / `self_rows` name the other known positives (see known_positive_candidates).
    The threshold comes from positive scores vs the scores of the retrieved non-positives."""
    target_emb = np.ascontiguousarray(target_emb, dtype=np.float32)
    index = faiss.IndexFlatIP(target_emb.shape[1])
    index.add(target_emb)
    k = min(candidates + 1, len(target_emb))
    sims, rows = index.search(np.ascontiguousarray(query_emb, dtype=np.float32), k)
    pos_scores = (query_emb * target_emb[positive_rows]).sum(1)
    is_pos = known_positive_candidates(rows, positive_rows, groups, self_rows)
    threshold, f1 = f1_optimal_threshold(pos_scores, sims[~is_pos])
    usable = ~is_pos & (sims < threshold)
    out = np.full((len(query_emb), per_query), -1, dtype=np.int64)
    dropped = int((~is_pos & (sims >= threshold)).sum())
    for j in range(per_query):  # the j-th highest usable neighbour of every query (vectorised over queries)
        first = np.where(usable.any(1), usable.argmax(1), -1)
        has = first >= 0
        out[has, j] = rows[has, first[has]]
        usable[has, first[has]] = False
    known = int((is_pos & (rows != positive_rows[:, None])).sum())
    return out, {
        "threshold": threshold,
        "f1": f1,
        "dropped_false_negatives": dropped,
        "known_positives": known,
    }
