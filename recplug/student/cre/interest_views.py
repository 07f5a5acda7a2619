"""Interest views: which of a user's earlier positives form the history of a sequence-to-item query.

Two axes (method section 3): single-peak (the items nearest the target, engaged strongly) vs multi-peak
(the user's spread of interests), and content-aware (by the student's own embeddings) vs
collaboration-aware (by behaviour: agreement of engagement labels, teacher/behaviour embeddings).

- `recent`: the most recent positives (the vanilla history).
- `single_content`: highest cosine to the target in the student's space, plus a bonus for strong
  engagement (more labels fired).
- `single_collab`: highest behaviour agreement with the target: Jaccard of the label sets, ties broken
  by cosine in the collaborative space.
- `multi_content`: spread: greedy farthest-point selection in the student's space, from the most recent.
- `multi_collab`: interest proportions kept: the pool is clustered in the collaborative space and each
  cluster gets slots in proportion to its size (largest remainder), filled most recent first.

All work on a batch at once: pool (B, P) store rows, -1 padded; they return (B, L) rows, -1 padded,
most recent first.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

ENGAGEMENT_BONUS = 0.1
COLLAB_TIE_WEIGHT = 0.1


def _popcount(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    return sum(((x >> b) & 1) for b in range(16))


def top_by_score(pool: np.ndarray, score: np.ndarray, length: int) -> np.ndarray:
    """The `length` valid pool entries with the highest score, returned in pool (recency) order."""
    score = np.where(pool >= 0, score, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")[:, :length]
    keep = np.take_along_axis(score, order, axis=1) > -np.inf
    order = np.sort(np.where(keep, order, pool.shape[1]), axis=1)  # back to recency order, pads last
    padded = np.concatenate([pool, np.full((len(pool), 1), -1)], axis=1)
    return np.take_along_axis(padded, order, axis=1)


def _cosine_to_target(pool: np.ndarray, targets: np.ndarray, emb: np.ndarray) -> np.ndarray:
    return (emb[np.maximum(pool, 0)] * emb[targets][:, None, :]).sum(-1)


def recent(pool: np.ndarray, length: int) -> np.ndarray:
    return top_by_score(pool, -np.arange(pool.shape[1])[None, :].repeat(len(pool), 0), length)


def single_content(pool, pool_bits, targets, emb, length, n_labels) -> np.ndarray:
    strength = _popcount(pool_bits) / max(n_labels, 1)
    return top_by_score(pool, _cosine_to_target(pool, targets, emb) + ENGAGEMENT_BONUS * strength, length)


def single_collab(pool, pool_bits, target_bits, targets, collab, length) -> np.ndarray:
    inter = _popcount(pool_bits & target_bits[:, None])
    union = np.maximum(_popcount(pool_bits | target_bits[:, None]), 1)
    score = inter / union
    if collab is not None:  # behaviour agreement first; closeness in the behaviour space breaks ties
        score = score + COLLAB_TIE_WEIGHT * _cosine_to_target(pool, targets, collab)
    return top_by_score(pool, score - 1e-6 * np.arange(pool.shape[1])[None, :], length)


def multi_content(pool: np.ndarray, emb: np.ndarray, length: int) -> np.ndarray:
    """Greedy farthest-point selection: start from the most recent, then the item least similar to
    everything chosen so far."""
    valid = torch.as_tensor(pool >= 0)
    x = F.normalize(torch.as_tensor(emb[np.maximum(pool, 0)]), dim=-1)
    sims = x @ x.transpose(1, 2)  # (B, P, P)
    chosen = torch.zeros_like(valid)
    first = valid.float().argmax(1)
    chosen[torch.arange(len(pool)), first] = valid.any(1)
    closest = sims[torch.arange(len(pool)), first].clone()  # max similarity to the chosen set
    for _ in range(length - 1):
        cand = closest.masked_fill(chosen | ~valid, float("inf"))
        nxt = cand.argmin(1)
        ok = torch.isfinite(cand.min(1).values)
        chosen[torch.arange(len(pool))[ok], nxt[ok]] = True
        closest = torch.maximum(closest, sims[torch.arange(len(pool)), nxt])
    score = np.where(chosen.numpy(), 1.0, -np.inf)
    return top_by_score(pool, score, length)


def batched_kmeans(x: torch.Tensor, valid: torch.Tensor, k: int, iters: int = 8) -> torch.Tensor:
    """(B, P) cluster of each pool entry: spherical k-means per row, farthest-point initialised so the
    result is deterministic."""
    B, P, _ = x.shape
    x = F.normalize(x, dim=-1)
    idx = torch.zeros(B, k, dtype=torch.long)
    idx[:, 0] = valid.float().argmax(1)
    closest = (x @ x[torch.arange(B), idx[:, 0]].unsqueeze(-1)).squeeze(-1)
    for j in range(1, k):
        cand = closest.masked_fill(~valid, float("inf"))
        idx[:, j] = cand.argmin(1)
        closest = torch.maximum(closest, (x @ x[torch.arange(B), idx[:, j]].unsqueeze(-1)).squeeze(-1))
    cent = x[torch.arange(B)[:, None], idx]  # (B, k, d)
    for _ in range(iters):
        assign = (x @ cent.transpose(1, 2)).argmax(-1)  # (B, P)
        onehot = F.one_hot(assign, k).float() * valid[..., None]
        summed = onehot.transpose(1, 2) @ x  # (B, k, d)
        empty = onehot.sum(1) == 0
        cent = torch.where(empty[..., None], cent, F.normalize(summed, dim=-1))
    return (x @ cent.transpose(1, 2)).argmax(-1)


def proportional_quota(counts: np.ndarray, length: int) -> np.ndarray:
    """(B, k) slots per cluster, proportional to the cluster sizes, summing to min(length, total)."""
    total = counts.sum(1, keepdims=True)
    slots = np.minimum(total, length)
    exact = counts * slots / np.maximum(total, 1)
    quota = np.floor(exact).astype(np.int64)
    left = (slots[:, 0] - quota.sum(1)).astype(np.int64)
    order = np.argsort(-(exact - quota), axis=1, kind="stable")
    bonus = np.arange(counts.shape[1])[None, :] < left[:, None]
    np.put_along_axis(quota, order, np.take_along_axis(quota, order, axis=1) + bonus, axis=1)
    return quota


def multi_collab(pool: np.ndarray, collab: np.ndarray, length: int, clusters: int) -> np.ndarray:
    valid = pool >= 0
    k = max(1, min(clusters, pool.shape[1]))
    assign = batched_kmeans(torch.as_tensor(collab[np.maximum(pool, 0)]), torch.as_tensor(valid), k).numpy()
    onehot = (assign[..., None] == np.arange(k)) & valid[..., None]  # (B, P, k)
    quota = proportional_quota(onehot.sum(1), length)
    rank_in_cluster = np.cumsum(onehot, axis=1) - 1  # recency rank of each entry inside its cluster
    rank = np.take_along_axis(rank_in_cluster, assign[..., None], axis=2)[..., 0]
    take = valid & (rank < np.take_along_axis(quota, assign, axis=1))
    return top_by_score(pool, np.where(take, 1.0, -np.inf), length)


def select_history(
    view: str,
    pool: np.ndarray,
    pool_bits: np.ndarray,
    targets: np.ndarray,
    target_bits: np.ndarray,
    *,
    length: int,
    content: np.ndarray,
    collab: np.ndarray | None,
    clusters: int = 3,
    n_labels: int = 3,
) -> np.ndarray:
    """(B, length) history rows for one view. `content` is the student's item embedding table (rows
    = store rows); `collab` a behaviour embedding table (a teacher's, where it covers the item) or None
    (then the collaborative views fall back to content for the clustering)."""
    if view == "recent":
        return recent(pool, length)
    if view == "single_content":
        return single_content(pool, pool_bits, targets, content, length, n_labels)
    if view == "single_collab":
        return single_collab(pool, pool_bits, target_bits, targets, collab, length)
    if view == "multi_content":
        return multi_content(pool, content, length)
    if view == "multi_collab":
        return multi_collab(pool, collab if collab is not None else content, length, clusters)
    raise ValueError(f"unknown history view '{view}'")
