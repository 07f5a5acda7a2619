"""The student's figures table on a dataset: TF-IDF baseline, a text-only student, the omni student
after stages I / II / III, and an all-in-one training of the same total steps.

    python -m experiments.benchmarks.student_figures --data runs/demo/data --out runs/student_figures

Three student trainings run one after another (about 4 minutes each on the demo world on 2 cores).
Writes figures.md and figures.json (report.json rows) under --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recplug.student.config import load_student_config
from recplug.student.report import student_table
from recplug.student.sources import default_sources
from recplug.student.train import train_student
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="runs/student_figures")
    args = p.parse_args()
    out = Path(args.out)
    base = load_student_config()
    total = sum(s.steps for s in base.stages)
    runs = {
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
    rows = []
    for name, cfg in runs.items():
        report = train_student(args.data, out / name.replace(" ", "_"), cfg, progress=False)
        for r in report["rows"]:
            keep = (
                r["variant"].startswith("stage") if name == "omni progressive" else r["variant"] == "student"
            )
            if r["variant"] == "tfidf baseline" and name == "omni progressive":
                keep = True
            if keep:
                rows.append(
                    {
                        **r,
                        "variant": f"{name}: {r['variant']}"
                        if r["variant"].startswith("stage")
                        else (name if r["variant"] == "student" else r["variant"]),
                    }
                )
    md = student_table(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures.md").write_text(md + "\n")
    (out / "figures.json").write_text(json.dumps(rows, indent=2))
    print(md)


if __name__ == "__main__":
    main()
