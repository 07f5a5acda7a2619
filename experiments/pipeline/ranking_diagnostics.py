"""The ranking stage's diagnostics in report.md: warnings, the smallest difference each comparison could
detect, each match feature's univariate AUC, and the rankers' learning curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.pipeline.report import save_figure  # noqa: E402
from experiments.pipeline.results import Section  # noqa: E402
from features.diagnostics import minimum_detectable  # noqa: E402
from recplug.metrics.intervals import DIFF, MetricRow  # noqa: E402


def diagnostics_section(rows: list[MetricRow], summary: dict) -> Section:
    lines = []
    for w in summary.get("warnings", []):
        lines.append(f"- **Warning**: {w}")
    fit, pre = summary.get("fit_impressions"), summary.get("pre_test_impressions")
    if fit is not None and pre:
        lines.append(
            f"- The ranker is fitted on {fit:,} impressions ({fit / pre:.0%} of the {pre:,} before the test "
            f"period) and selects its epoch on {summary.get('select_impressions', 0):,} later ones "
            f"(fit_on '{summary.get('fit_on')}')."
        )
    for source, folds in (summary.get("folds") or {}).items():
        cuts = ", ".join(
            f"{f['cutoff_ts']} (fit {f['fit_rows']:,}, select {f['select_rows']:,}, test {f['test_rows']:,})"
            for f in folds
        )
        lines.append(f"- Forward chaining, source '{source}': tables cut off at {cuts}.")
    diffs = [r for r in rows if r["metric"].endswith(DIFF) and r["split"] == "all"]
    if diffs:
        lines += [
            "",
            "Smallest difference each comparison could detect (80% power, 5% level: 2.8 SE, SE from the interval):",
            "",
            "| variant | metric | n | difference [95% CI] | detectable |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['variant']} | {r['metric']} | {r['n']:,} | {r['mean']:+.4f} [{r['ci_low']:+.4f}, "
            f"{r['ci_high']:+.4f}] | {minimum_detectable(r):.4f} |"
            for r in diffs
        ]
    uni = summary.get("univariate_auc") or {}
    if uni:
        names = list(dict.fromkeys(n.split("_", 1)[1] for feats in uni.values() for n in feats))
        lines += [
            "",
            "Univariate test AUC of each match feature (0.5: no signal on its own):",
            "",
            "| source | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for source, feats in uni.items():
            by = {n.split("_", 1)[1]: v for n, v in feats.items()}
            lines.append(
                f"| {source} | "
                + " | ".join("" if by.get(n) is None else f"{by[n]:.3f}" for n in names)
                + " |"
            )
    return Section("Ranking diagnostics", text="\n".join(lines))


def plot_learning_curves(curves: dict[str, dict[str, list[dict]]], path: Path) -> Path | None:
    """Selection-window AUC per epoch (LightGBM: per 10 rounds), one panel per ranker, one line per
    variant (seed 0), the kept epoch starred."""
    rankers = [k for k, c in curves.items() if any(r.get("valid_auc") for runs in c.values() for r in runs)]
    if not rankers:
        return None
    fig, axes = plt.subplots(1, len(rankers), figsize=(6 * len(rankers), 4), squeeze=False)
    for ax, ranker in zip(axes[0], rankers, strict=True):
        for variant, runs in curves[ranker].items():
            r = runs[0]
            if r.get("valid_auc"):
                line = ax.plot(range(len(r["valid_auc"])), r["valid_auc"], marker="o", label=variant)[0]
                if 0 <= r.get("best_epoch", -1) < len(r["valid_auc"]):
                    best = r["best_epoch"]
                    ax.plot([best], [r["valid_auc"][best]], "*", ms=14, color=line.get_color())
        ax.set_title(ranker)
        ax.set_xlabel("epoch" if ranker == "dlrm" else "boosting rounds / 10")
        ax.set_ylabel("selection-window AUC (seed 0)")
        ax.legend(fontsize=8)
    return save_figure(fig, path)
