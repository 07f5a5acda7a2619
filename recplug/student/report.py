"""Markdown tables of student metric rows: one line per (variant, split), one column per metric."""

from __future__ import annotations

from recplug.metrics.intervals import MetricRow

COLUMNS = (
    "coengagement i2i recall@10",
    "coengagement i2i recall@50",
    "content i2i recall@10",
    "content i2i recall@50",
    "q2i recall@10",
    "q2i recall@50",
    "q2i AUC",
    "category NMI",
)


def student_table(rows: list[MetricRow], columns: tuple[str, ...] = COLUMNS) -> str:
    keys = list(dict.fromkeys((r["variant"], r["split"]) for r in rows))
    by = {(r["variant"], r["split"], r["metric"]): r for r in rows}
    lines = ["| variant | split | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for v, s in keys:
        cells = []
        for c in columns:
            r = by.get((v, s, c))
            cells.append("" if r is None else f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
        if any(cells):
            lines.append(f"| {v} | {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
