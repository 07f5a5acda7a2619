"""The CRE ablation: content-only student; + sequence-to-item; + ID-to-item; + both; and the full CRE
with each interest view switched off in turn. Every trained variant runs the same phases and steps
(a switched-off source's weight goes to the sources left), so differences come from what is switched
off, not from training longer. Each variant is cached like any pipeline stage."""

from __future__ import annotations

import json
from pathlib import Path

from experiments.cache import is_done, mark_done
from experiments.commands.common import timed
from recplug.metrics.intervals import MetricRow
from recplug.student.cre.config import HISTORY_VIEWS, CREConfig, PhaseSpec

INTEREST_VIEWS = tuple(v for v in HISTORY_VIEWS if v != "recent")
COLUMNS = (
    "true-neighbour i2i recall@50",
    "coengagement i2i recall@50",
    "user-sequence filtered recall@25",
    "user-sequence vanilla recall@25",
    "content i2i recall@50",
    "q2i recall@50",
    "id teacher kendall tau",
)
# the report's figures (internal Douyin data, other scale): for orientation, not to match
REFERENCE = (
    "Reference (SAIL-Embedding report, other data): collaborative i2i Recall@50 52.5 -> 59.7 with CRE; "
    "user-sequence Recall@25 25.5 -> 32.4; content pairs about -2 points."
)


def _without(cfg: CREConfig, sources: set[str]) -> CREConfig:
    phases = []
    for p in cfg.phases:
        w = {k: v for k, v in p.weights.items() if k not in sources}
        if not any(v > 0 for v in w.values()):
            w = {"aux_i2i": 1.0}  # keep the steps: the phase trains the auxiliary task alone
        phases.append(PhaseSpec(name=p.name, steps=p.steps, weights=w, lr=p.lr))
    return cfg.model_copy(update={"phases": phases})


def ablation_configs(cfg: CREConfig, views: bool = True) -> dict[str, CREConfig]:
    """Variant name -> config. '+ both (CRE)' is `cfg` itself."""
    out = {
        "+ seq2item": _without(cfg, {"id2item"}),
        "+ id2item": _without(cfg, {"seq2item", "seq_user"}),
        "+ both (CRE)": cfg,
    }
    if views:
        for v in INTEREST_VIEWS:
            if v in cfg.views and len(cfg.views) > 1:
                out[f"CRE without {v}"] = cfg.model_copy(update={"views": [x for x in cfg.views if x != v]})
    return out


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").replace("__", "_")


def run_ablation(
    data_dir: Path,
    student_dir: Path,
    out: Path,
    cfg: CREConfig,
    data_stage: dict,
    views: bool = True,
    progress: bool = True,
    done: dict[str, list[MetricRow]] | None = None,
) -> list[MetricRow]:
    """Rows of the content-only student and of every variant not in `done` (variants trained
    elsewhere, e.g. the pipeline's main CRE run, whose rows the caller already has)."""
    from recplug.student.cre.train import content_only_rows, train_cre

    rows: list[MetricRow] = []
    base = out / "content_only"
    stage = {
        "stage": "cre-content-only",
        "teachers": cfg.model_dump(mode="json")["teachers"],
        "data": data_stage,
    }
    if is_done(base, stage):
        rows += json.loads((base / "metrics.json").read_text())["rows"]
    else:
        base.mkdir(parents=True, exist_ok=True)
        with timed("cre: content-only evaluation"):
            r = content_only_rows(data_dir, student_dir, cfg)
        (base / "metrics.json").write_text(json.dumps({"rows": r}, default=float))
        mark_done(base, stage)
        rows += r
    for name, vcfg in ablation_configs(cfg, views).items():
        if name in (done or {}):
            continue
        folder = out / slug(name)
        stage = {"stage": "cre", "config": vcfg.model_dump(mode="json"), "data": data_stage}
        if is_done(folder, stage):
            print(f"[cre] {name}: {folder} is up to date: skipped")
            rows += json.loads((folder / "metrics.json").read_text())["rows"]
            continue
        with timed(f"cre: {name}"):
            rows += train_cre(data_dir, student_dir, folder, vcfg, progress=progress, variant=name)["rows"]
        mark_done(folder, stage)
    return rows


def ablation_table(rows: list[MetricRow]) -> str:
    from recplug.metrics.tables import metric_table

    return metric_table(rows, COLUMNS) + "\n\n" + REFERENCE
