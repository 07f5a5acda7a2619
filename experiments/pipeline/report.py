"""The run's report: `report.json` (every stage's rows, {experiment, variant, metric, split, mean,
ci_low, ci_high, n}) and `report.md` (the tables a reviewer reads, and the plots in `plots/`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.cre_ablation import COLUMNS as CRE_COLUMNS  # noqa: E402
from experiments.cre_ablation import REFERENCE as CRE_REFERENCE  # noqa: E402
from recplug.data.io import atomic_write_text  # noqa: E402
from recplug.metrics.intervals import MetricRow  # noqa: E402
from recplug.metrics.tables import metric_table  # noqa: E402

RANKING_COLUMNS = ("auc", "gauc", "logloss")
RANKING_DIFF_COLUMNS = ("auc_diff", "gauc_diff", "logloss_diff")
LT_COLUMNS = ("lt7", "lt14", "lt7_diff", "lt14_diff")
STAGE_METRICS = (
    ("coengagement i2i recall@50", "warm"),
    ("content i2i recall@50", "warm"),
    ("q2i recall@50", "warm"),
)
RANKING_REFERENCE = (
    "Reference (SAIL-Embedding report, Douyin scale, online): match features +0.08 to +0.1 point AUC."
)


def _of(rows: Sequence[MetricRow], experiment: str) -> list[MetricRow]:
    return [r for r in rows if r["experiment"] == experiment]


def plot_differences(rows: Sequence[MetricRow], metric: str, path: Path, title: str) -> Path | None:
    """Each variant's paired difference to the baseline with its 95% interval, one panel per split."""
    diff = [r for r in rows if r["metric"] == metric]
    if not diff:
        return None
    splits = list(dict.fromkeys(r["split"] for r in diff))
    fig, axes = plt.subplots(
        1, len(splits), figsize=(5 * len(splits), 0.5 + 0.45 * len(diff) / len(splits)), squeeze=False
    )
    for ax, split in zip(axes[0], splits, strict=True):
        rs = [r for r in diff if r["split"] == split]
        y = range(len(rs))
        mean = [r["mean"] for r in rs]
        err = [[r["mean"] - r["ci_low"] for r in rs], [r["ci_high"] - r["mean"] for r in rs]]
        ax.errorbar(mean, list(y), xerr=err, fmt="o", capsize=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(list(y), [r["variant"] for r in rs])
        ax.set_title(f"{title} ({split})")
        ax.set_xlabel(f"{metric} (95% CI)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_by_stage(rows: Sequence[MetricRow], path: Path) -> Path | None:
    """Retrieval metrics after each content stage and after CRE, with 95% intervals."""
    variants = list(dict.fromkeys(r["variant"] for r in rows if r["variant"].startswith("stage ")))
    variants += [
        v
        for v in dict.fromkeys(r["variant"] for r in rows if r["experiment"] == "cre")
        if v.startswith("+ both")
    ]
    if not variants:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    by = {(r["variant"], r["metric"], r["split"]): r for r in rows}
    for metric, split in STAGE_METRICS:
        pts = [(i, by[(v, metric, split)]) for i, v in enumerate(variants) if (v, metric, split) in by]
        if pts:
            ax.errorbar(
                [i for i, _ in pts],
                [r["mean"] for _, r in pts],
                yerr=[[r["mean"] - r["ci_low"] for _, r in pts], [r["ci_high"] - r["mean"] for _, r in pts]],
                marker="o",
                capsize=3,
                label=f"{metric} ({split})",
            )
    ax.set_xticks(range(len(variants)), variants, rotation=15)
    ax.set_ylabel("recall (95% CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(root: Path, name: str, rows: list[MetricRow], notes: dict, sections: dict[str, str]) -> Path:
    """report.json and report.md in the run folder; `sections` are extra markdown blocks by title."""
    plots = root / "plots"
    made = {
        "AUC difference to the baseline": plot_differences(
            _of(rows, "ranking"), "auc_diff", plots / "auc_diff.png", "AUC - baseline"
        ),
        "GAUC difference to the baseline": plot_differences(
            _of(rows, "ranking"), "gauc_diff", plots / "gauc_diff.png", "GAUC - baseline"
        ),
        "Retrieval by training stage": plot_by_stage(
            _of(rows, "student") + _of(rows, "cre"), plots / "retrieval_by_stage.png"
        ),
    }
    if (plots / "lt_curves.png").is_file():
        made["LT: cumulative active days per user"] = plots / "lt_curves.png"
    atomic_write_text(
        root / "report.json", json.dumps({"run": name, "rows": rows, "notes": notes}, indent=2, default=float)
    )
    md = [
        f"# recplug run: {name}",
        "",
        "Every figure is `mean [95% CI low, high]`; intervals are bootstrap over users (or items, queries) unless a section says otherwise.",
        "",
    ]
    for title, body in sections.items():
        md += [f"## {title}", "", body, ""]
    tables = [
        (
            "Ranking: AUC, GAUC, logloss (mean over seeds)",
            _of(rows, "ranking"),
            RANKING_COLUMNS,
            RANKING_REFERENCE,
        ),
        (
            "Ranking: paired difference to the baseline (same users, same seeds)",
            _of(rows, "ranking"),
            RANKING_DIFF_COLUMNS,
            "",
        ),
        ("CRE ablation", _of(rows, "cre"), CRE_COLUMNS, CRE_REFERENCE),
        (
            "LT on the world's simulator (active days per user; CI over users, pooled over simulation seeds)",
            _of(rows, "lt"),
            LT_COLUMNS,
            "",
        ),
    ]
    for title, rs, cols, ref in tables:
        if rs:
            md += [f"## {title}", "", metric_table(rs, cols), ""] + ([ref, ""] if ref else [])
    proxy = _of(rows, "lt_proxy")
    if proxy:
        # correlations and the top-minus-bottom gap; the per-quintile means stay in report.json
        cols = tuple(
            m for m in dict.fromkeys(r["metric"] for r in proxy) if m.startswith("spearman") or "minus" in m
        )
        md += [
            "## LT log proxy (correlational, not causal: see experiments/lt/log_proxy.py)",
            "",
            metric_table(proxy, cols),
            "",
        ]
    for title, path in made.items():
        if path is not None:
            md += [f"## {title}", "", f"![{title}]({path.relative_to(root)})", ""]
    if notes:
        md += ["## Notes", "", "```json", json.dumps(notes, indent=2, default=str), "```", ""]
    atomic_write_text(root / "report.md", "\n".join(md))
    return root / "report.md"
