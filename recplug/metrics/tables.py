"""Markdown tables of metric rows: one line per (variant, split), one column per metric, each cell
`mean [ci_low, ci_high]`. Every table in recplug's reports is one of these."""

from __future__ import annotations

from collections.abc import Sequence

from recplug.metrics.intervals import DIFF, MetricRow


def cell(r: MetricRow | None, digits: int = 3) -> str:
    """`mean [low, high]`; a paired difference (`*_diff`) is signed."""
    if r is None:
        return ""
    f = f"{{:+.{digits}f}}" if r["metric"].endswith(DIFF) else f"{{:.{digits}f}}"
    return f"{f.format(r['mean'])} [{f.format(r['ci_low'])}, {f.format(r['ci_high'])}]"


def metric_table(rows: Sequence[MetricRow], columns: Sequence[str], digits: int = 3) -> str:
    """One line per (variant, split) that has a value in some column; one column per metric."""
    keys = list(dict.fromkeys((r["variant"], r["split"]) for r in rows))
    by = {(r["variant"], r["split"], r["metric"]): r for r in rows}
    lines = ["| variant | split | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for v, s in keys:
        cells = [cell(by.get((v, s, c)), digits) for c in columns]
        if any(cells):
            lines.append(f"| {v} | {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
