"""Full-catalog ranking metrics: the exact rank of each query's target among all candidates."""

from __future__ import annotations

import numpy as np
import torch


def ranks_from_scores(
    scores: torch.Tensor, targets: torch.Tensor, exclude: list[torch.Tensor] | None = None
) -> np.ndarray:
    """1-based rank of column `targets[i]` in row i of `scores` (b, N). `exclude[i]` lists columns not
    ranked for row i (e.g. the user's history), never the target itself.

    Ties take the middle of their group (1 + higher + equal / 2, the expected rank under random
    tie-breaking): a degenerate scorer (an all-zero query, a constant popularity count) must not put
    its targets first. Ranks are float for that reason."""
    scores = scores.clone() if exclude is not None else scores
    if exclude is not None and len(exclude):
        rows = torch.cat([torch.full((len(e),), i, dtype=torch.long) for i, e in enumerate(exclude)])
        cols = torch.cat([e.long() for e in exclude])
        keep = cols != targets[rows]
        scores[rows[keep], cols[keep]] = -torch.inf
    target_score = scores.gather(1, targets[:, None])
    higher = (scores > target_score).sum(1)
    others_equal = (scores == target_score).sum(1) - 1
    return (1.0 + higher + 0.5 * others_equal).numpy().astype(np.float64)


def full_catalog_ranks(
    queries: torch.Tensor,
    catalog: torch.Tensor,
    targets: torch.Tensor,
    exclude: list[torch.Tensor] | None = None,
    chunk: int = 1024,
) -> np.ndarray:
    """Ranks when the whole catalog is scored by dot product with each query. Exact; memory is
    O(chunk x catalog) since scores are computed in query chunks."""
    ranks = np.empty(len(queries), dtype=np.float64)
    for lo in range(0, len(queries), chunk):
        hi = min(lo + chunk, len(queries))
        ranks[lo:hi] = ranks_from_scores(
            queries[lo:hi] @ catalog.T, targets[lo:hi], exclude[lo:hi] if exclude is not None else None
        )
    return ranks


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-query hit (0/1) of a single target in the top k."""
    return (ranks <= k).astype(np.float64)


def ndcg_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-query NDCG@k for a single relevant target: 1/log2(rank+1) inside the top k."""
    return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)
