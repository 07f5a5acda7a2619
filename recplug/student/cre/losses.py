"""Alignment of the student with a frozen teacher (method section 3, ours): InfoNCE of the projected
student embedding against the in-batch teacher embeddings, optional cosine regression, and a relational
term matching the in-batch similarity matrices."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """Student space -> one teacher's space. One head per teacher table keeps teachers from pulling the
    shared embedding towards each other's arbitrary bases."""

    def __init__(self, dim: int, teacher_dim: int, hidden: int = 256):
        super().__init__()
        self.net = (
            nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, teacher_dim))
            if hidden
            else nn.Linear(dim, teacher_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


def relational_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared gap between the off-diagonal in-batch cosine matrices. Applied to the student's own
    (unprojected) embedding, it shapes the space that retrieval uses, not only the head's output."""
    s = F.normalize(student, dim=-1)
    t = F.normalize(teacher, dim=-1)
    off = ~torch.eye(len(s), dtype=torch.bool, device=s.device)
    return F.mse_loss((s @ s.T)[off], (t @ t.T)[off])


def align_loss(
    projected: torch.Tensor,
    teacher: torch.Tensor,
    temperature: float,
    *,
    student: torch.Tensor | None = None,
    cosine_weight: float = 0.0,
    relational_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """`projected` (n, t) head outputs, `teacher` (n, t) frozen targets (L2-normalised); rows are
    distinct items or users, so every other row is a negative."""
    logits = projected @ teacher.T / temperature
    nce = F.cross_entropy(logits, torch.arange(len(projected), device=projected.device))
    loss, parts = nce, {"nce": float(nce.detach())}
    if cosine_weight:
        cos = (1 - (projected * teacher).sum(-1)).mean()
        loss = loss + cosine_weight * cos
        parts["cosine"] = float(cos.detach())
    if relational_weight and student is not None and len(student) > 1:
        rel = relational_loss(student, teacher)
        loss = loss + relational_weight * rel
        parts["relational"] = float(rel.detach())
    return loss, parts
