"""Sampled softmax for retrieval: in-batch (and random) negatives with a log-Q correction."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sampled_softmax_loss(
    queries: torch.Tensor,
    candidates: torch.Tensor,
    positive_col: torch.Tensor,
    query_items: torch.Tensor,
    candidate_items: torch.Tensor,
    log_q: torch.Tensor | None,
    temperature: float,
    query_groups: torch.Tensor | None = None,
    candidate_groups: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of each query against all candidates, its positive at `positive_col`.

    `log_q[j]` is the log of candidate j's expected count in the sample (popular items are sampled as
    negatives more often; subtracting log_q removes that bias, Yi et al. 2019). A candidate that is the
    query's own item at another column is masked: it is not a negative. So is a candidate of the same
    group (e.g. another positive of the same user's sequence), when groups are given.
    """
    logits = queries @ candidates.T / temperature
    if log_q is not None:
        logits = logits - log_q[None, :]
    same = query_items[:, None] == candidate_items[None, :]
    if query_groups is not None and candidate_groups is not None:
        same |= query_groups[:, None] == candidate_groups[None, :]
    same[torch.arange(len(queries)), positive_col] = False
    logits = logits.masked_fill(same, float("-inf"))
    return F.cross_entropy(logits, positive_col)
