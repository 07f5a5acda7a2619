"""Metrics shared by every layer (teachers, student, features, experiments): ranking metrics and
confidence intervals. Like recplug.data, this is the bottom layer and imports nothing above it."""

from recplug.metrics.intervals import MetricRow, bootstrap_ci, metric_row
from recplug.metrics.ranking import full_catalog_ranks, ndcg_at_k, ranks_from_scores, recall_at_k

__all__ = [
    "MetricRow",
    "bootstrap_ci",
    "full_catalog_ranks",
    "metric_row",
    "ndcg_at_k",
    "ranks_from_scores",
    "recall_at_k",
]
