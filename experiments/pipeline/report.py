"""The run's report: `report.json` (every stage's rows, {experiment, variant, metric, split, mean,
ci_low, ci_high, n}) and `report.md` (the tables a reviewer reads, and the plots in `plots/`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.pipeline.results import Section, StageResult  # noqa: E402
from recplug.data.io import atomic_write_text  # noqa: E402
from recplug.metrics.intervals import MetricRow  # noqa: E402
from recplug.metrics.tables import metric_table  # noqa: E402

STAGE_METRICS = (
    ("coengagement i2i recall@50", "warm"),
    ("content i2i recall@50", "warm"),
    ("q2i recall@50", "warm"),
)


def save_figure(fig, path: Path) -> Path:
    """Lay out, write as PNG (110 dpi) and close a report figure."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
    return save_figure(fig, path)


def plot_by_stage(rows: Sequence[MetricRow], variants: Sequence[str], path: Path) -> Path | None:
    """Retrieval metrics of `variants` in order (each content stage, then the CRE student), with 95%
    intervals."""
    present = {r["variant"] for r in rows}
    variants = [v for v in variants if v in present]
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
    return save_figure(fig, path)


def integrity_section(student: dict, ranking: dict, lt: dict) -> Section:
    """What the run held out and how its intervals are made: the mode (inductive or transductive),
    the student's validation split, what the evaluation excluded, and how much the training seeds
    widen the ranking and LT intervals over a users-only bootstrap (from the stages' notes)."""
    h, ev = student.get("holdout") or {}, student.get("evaluation") or {}
    q = h.get("query_rows", {})
    lines = [
        f"- Student mode: **{h.get('mode', '?')}**"
        + (
            f" ({h.get('untrained_items', 0):,} items created at or after the cut-off are embedded, never trained on)"
            if h.get("mode") == "inductive"
            else " (items created after the cut-off trained too: cold-item figures are transductive)"
        ),
        f"- Every choice is made on validation data: balancing compares the sources with "
        f"{h.get('validation_coengagement_pairs', 0):,} co-engagement pairs of the training period's last "
        f"window (ts >= {h.get('validation_start_ts', '?')}, not trained on) and {q.get('valid', 0):,} "
        f"validation query rows; {q.get('test', 0):,} test query rows and the test period are used for "
        "evaluation only. The ranker selects its epoch on a time-held-out part of the validation period.",
        f"- Out of sample: {ev.get('coengagement_test_pairs_excluded_as_training_pairs', 0):,} of "
        f"{ev.get('coengagement_test_pairs', 0):,} test co-engagement pairs were training pairs and are "
        f"excluded; category metrics use the {ev.get('category_items_never_trained', 0):,} items whose "
        "label never trained; the tokenizer learnt training text only.",
    ]
    widening = (ranking.get("interval_widening") or []) + (
        (lt.get("simulator") or {}).get("interval_widening") or []
    )
    if widening:
        lines += [
            "- Intervals resample users and then training seeds (two-level bootstrap); LT simulation seed k "
            "ranks with ranking seed k. Width of each paired difference's 95% interval, users alone -> "
            "users and seeds:",
            "",
            "| variant | metric | split | users only | users and seeds |",
            "|---|---|---|---|---|",
        ]
        for w in widening:
            if w["split"] != "all":
                continue
            a, b = w["ci_users_only"], w["ci_users_and_seeds"]
            lines.append(
                f"| {w['variant']} | {w['metric']} | {w['split']} | [{a[0]:.4f}, {a[1]:.4f}] "
                f"({a[1] - a[0]:.4f}) | [{b[0]:.4f}, {b[1]:.4f}] ({b[1] - b[0]:.4f}) |"
            )
    return Section("Evaluation integrity: what was held out, how intervals are made", text="\n".join(lines))


def render_section(section: Section) -> list[str]:
    """Markdown lines of one section: its text, its table (one renderer for every table), its note."""
    md = [f"## {section.title}", ""]
    if section.text:
        md += [section.text, ""]
    if section.columns and section.rows:
        md += [metric_table(section.rows, section.columns), ""]
    if section.note:
        md += [section.note, ""]
    return md


def write_report(
    root: Path, name: str, results: Sequence[StageResult], notes: dict, stage_variants: Sequence[str] = ()
) -> Path:
    """report.json (every stage's rows, and the notes) and report.md (each stage's sections, the
    plots, the notes), from the stages' results alone. `stage_variants`: the retrieval-by-stage plot's
    variants in order."""
    plots = root / "plots"
    rows = [r for res in results for r in res.rows]
    ranking = _of(rows, "ranking")
    made = {
        "AUC difference to the baseline": plot_differences(
            ranking, "auc_diff", plots / "auc_diff.png", "AUC - baseline"
        ),
        "GAUC difference to the baseline": plot_differences(
            ranking, "gauc_diff", plots / "gauc_diff.png", "GAUC - baseline"
        ),
        "Retrieval by training stage": plot_by_stage(
            _of(rows, "student") + _of(rows, "cre"), stage_variants, plots / "retrieval_by_stage.png"
        ),
    }
    for res in results:
        made |= res.plots
    atomic_write_text(
        root / "report.json", json.dumps({"run": name, "rows": rows, "notes": notes}, indent=2, default=float)
    )
    md = [
        f"# recplug run: {name}",
        "",
        "Every figure is `mean [95% CI low, high]`; intervals are bootstrap over users (or items, queries) unless a section says otherwise.",
        "",
    ]
    for res in results:
        for section in res.sections:
            md += render_section(section)
    for title, path in made.items():
        if path is not None:
            md += [f"## {title}", "", f"![{title}]({path.relative_to(root)})", ""]
    if notes:
        md += ["## Notes", "", "```json", json.dumps(notes, indent=2, default=str), "```", ""]
    atomic_write_text(root / "report.md", "\n".join(md))
    return root / "report.md"
