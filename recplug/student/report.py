"""The student's metric table: one line per (variant, split), one column per metric."""

from __future__ import annotations

from recplug.metrics.intervals import MetricRow
from recplug.metrics.tables import metric_table

COLUMNS = (
    "coengagement i2i recall@10",
    "coengagement i2i recall@50",
    "content i2i recall@10",
    "content i2i recall@50",
    "q2i recall@10",
    "q2i recall@50",
    "q2i AUC",
    "category NMI",
    "q2i, media-word queries, recall@50",
    "image attribute probe",
    "audio attribute probe",
)


def student_table(rows: list[MetricRow], columns: tuple[str, ...] = COLUMNS) -> str:
    return metric_table(rows, columns)
