"""Contrastive losses of content training: InfoNCE (Matryoshka-summed), COSENT for graded pairs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recplug.student.modeling import matryoshka


def info_nce(
    queries: torch.Tensor,
    targets: torch.Tensor,
    temperature: torch.Tensor,
    extra_negatives: torch.Tensor | None = None,
    same_target: torch.Tensor | None = None,
) -> torch.Tensor:
    """Query i's positive is target i; other in-batch targets (and `extra_negatives`, e.g. mined hard
    negatives) are negatives. `same_target[i, j]` True masks target j for query i (a duplicate of its
    positive is not a negative)."""
    cands = targets if extra_negatives is None else torch.cat([targets, extra_negatives])
    logits = queries @ cands.T / temperature
    if same_target is not None:
        pad = logits.shape[1] - same_target.shape[1]
        mask = F.pad(same_target, (0, pad), value=False)
        mask = mask & ~torch.eye(*mask.shape, dtype=torch.bool, device=mask.device)
        logits = logits.masked_fill(mask, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(queries), device=queries.device))


def matryoshka_info_nce(
    queries, targets, temperature, dims, extra_negatives=None, same_target=None
) -> torch.Tensor:
    """InfoNCE summed over the Matryoshka prefixes, so every prefix is trained as an embedding."""
    return sum(
        info_nce(
            matryoshka(queries, d),
            matryoshka(targets, d),
            temperature,
            None if extra_negatives is None else matryoshka(extra_negatives, d),
            same_target,
        )
        for d in dims
    )


def cosent(
    queries: torch.Tensor, targets: torch.Tensor, scores: torch.Tensor, scale: float = 20.0
) -> torch.Tensor:
    """CoSENT: for every two pairs with score_i > score_j, penalise cos_j > cos_i (log-sum-exp form)."""
    cos = (queries * targets).sum(-1) * scale
    diff = cos[None, :] - cos[:, None]  # [i, j] = cos_j - cos_i
    valid = scores[:, None] > scores[None, :]
    if not valid.any():
        return cos.sum() * 0.0
    return torch.logsumexp(torch.cat([torch.zeros(1, device=cos.device), diff[valid]]), dim=0)
