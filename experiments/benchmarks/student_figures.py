"""The student's figures table on a dataset: TF-IDF baseline, a text-only student, the omni student
after stages I / II / III, and an all-in-one training of the same total steps.

    python -m experiments.benchmarks.student_figures --data runs/demo/data --out runs/student_figures

Three student trainings per seed run one after another (about 4 minutes each on the demo world on 2
cores; `--seeds 0 1` for the spread over training seeds). Writes figures.md (the table, then
progressive minus all-in-one per seed, below the machine) and figures.json (machine and report.json
rows) under --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.benchmarks.machine import report
from recplug.student.report import student_table
from recplug.student.sources import default_sources
from recplug.student.train import train_student
from recplug.student.train_config import StudentConfig, load_student_config
from recplug.student.views import View


def text_only_sources():
    """The default sources with every view restricted to text (patterns needing media dropped)."""
    out = []
    for spec in default_sources():
        views = {
            k: View(
                modalities=("text",),
                fields=v.fields or ("title", "description", "tags"),
                instruction=v.instruction,
            )
            for k, v in spec.views.items()
        }
        patterns = [(q, t) for q, t in spec.patterns if q != t or q == "omni"]
        patterns = [
            (q, t) for q, t in patterns if not (spec.builder == "item_views" and q in ("image", "audio"))
        ]
        if patterns:
            out.append(spec.model_copy(update={"views": views, "patterns": patterns}))
    return out


SUMMARY = ("content i2i recall@50", "q2i recall@10", "q2i recall@50", "q2i AUC", "category NMI")


def runs_for(base: StudentConfig) -> dict[str, StudentConfig]:
    total = sum(s.steps for s in base.stages)
    return {
        "omni progressive": base,
        "omni all-in-one": base.model_copy(
            update={"stages": [base.stages[0].model_copy(update={"name": "all", "steps": total})]}
        ),
        "text-only progressive": base.model_copy(
            update={
                "sources": text_only_sources(),
                "item_view": View(modalities=("text",), instruction="item"),
            }
        ),
    }


BASELINES = ("tfidf baseline", "chance")


def renamed(name: str, r: dict, seed_tag: str) -> dict | None:
    """The rows a run contributes: the progressive run's stages, the others' final student; variants
    named after the run (and the seed when there are several). Baselines are taken apart, once."""
    v = r["variant"]
    if name == "omni progressive" and v.startswith("stage"):
        return {**r, "variant": f"{name}: {v}{seed_tag}"}
    if name != "omni progressive" and v == "student":
        return {**r, "variant": f"{name}{seed_tag}"}
    return None


def difference_table(rows: list[dict], seeds: list[int]) -> str:
    """Progressive (stage III) minus all-in-one, per seed and metric (warm split / all)."""
    by = {(r["variant"], r["metric"], r["split"]): r["mean"] for r in rows}
    lines = ["| seed | " + " | ".join(SUMMARY) + " |", "|---|" + "---|" * len(SUMMARY)]
    for seed in seeds:
        tag = f" (seed {seed})" if len(seeds) > 1 else ""
        cells = []
        for m in SUMMARY:
            split = "all" if m in ("q2i AUC", "category NMI") else "warm"
            a = by.get((f"omni progressive: stage III{tag}", m, split))
            b = by.get((f"omni all-in-one{tag}", m, split))
            cells.append(f"{a - b:+.3f}" if a is not None and b is not None else "")
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="runs/student_figures")
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="training seeds (each runs all variants)"
    )
    args = p.parse_args()
    out = Path(args.out)
    rows = []
    for seed in args.seeds:
        tag = f" (seed {seed})" if len(args.seeds) > 1 else ""
        for name, cfg in runs_for(load_student_config(seed=seed)).items():
            folder = out / f"{name.replace(' ', '_')}{f'_seed{seed}' if tag else ''}"
            trained = train_student(args.data, folder, cfg, progress=False)
            if seed == args.seeds[0] and name == "omni progressive":  # no training in them: once
                rows += [r for r in trained["rows"] if r["variant"] in BASELINES]
            rows += [x for r in trained["rows"] if (x := renamed(name, r, tag)) is not None]
    md = student_table(rows)
    md += "\n\nProgressive (stage III) minus all-in-one of the same total steps:\n\n"
    md += difference_table(rows, args.seeds)
    report(out, "figures", md, rows)


if __name__ == "__main__":
    main()
