"""The CRE ablation: content-only student; + sequence-to-item (the `seq` phase); + ID-to-item (the `id`
phase without sequence sources); + both (the full CRE, seq then id); and sequence-to-item with each
interest view switched off in turn. Within a phase a switched-off source's weight goes to the sources
left, so a variant trains as many steps as the phases it keeps. Each variant is cached like any
pipeline stage."""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from pathlib import Path

from experiments.timing import timed
from recplug.data.artifacts import atomic_write_text, is_fresh, stamp
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


def _only(cfg: CREConfig, phase: str, drop: set[str] = frozenset()) -> CREConfig:
    """The config with just one of its phases, and some sources switched off in it."""
    p = next((p for p in cfg.phases if p.name == phase), None)
    if p is None:
        raise ValueError(
            f"the CRE ablation needs a phase named '{phase}'; phases: {[p.name for p in cfg.phases]}"
        )
    weights = {k: v for k, v in p.weights.items() if k not in drop}
    return cfg.model_copy(
        update={"phases": [PhaseSpec(name=p.name, steps=p.steps, weights=weights, lr=p.lr)]}
    )


def ablation_configs(cfg: CREConfig, views: bool = True) -> dict[str, CREConfig]:
    """Variant name -> config. '+ seq2item' is the `seq` phase alone, '+ id2item' the `id` phase
    without sequence-to-item, '+ both (CRE)' is `cfg` itself (seq, then id). The interest views only
    act in sequence-to-item, so each is switched off in the `seq` phase and compared with '+ seq2item'
    (same phase, same steps)."""
    seq = _only(cfg, "seq")
    out = {
        "+ seq2item": seq,
        "+ id2item": _only(cfg, "id", {"seq2item", "seq_user"}),
        "+ both (CRE)": cfg,
    }
    if views:
        for v in INTEREST_VIEWS:
            if v in cfg.views and len(cfg.views) > 1:
                out[f"+ seq2item without {v}"] = seq.model_copy(
                    update={"views": [x for x in cfg.views if x != v]}
                )
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
    run=None,
    reuse: Sequence[Path] = (),
    workers: int = 1,
) -> list[MetricRow]:
    """Rows of the content-only student and of every variant not in `done` (variants trained
    elsewhere, e.g. the pipeline's main CRE run, whose rows the caller already has). `run` is the
    student's prepared run (`prepare_student`), shared by every variant; built on first need.
    `reuse`: CRE run folders of this student (the main run); a variant whose first phases equal a
    finished run's (there or in an earlier variant) loads them instead of training them again.
    `workers` > 1: the variants train that many at a time, this process and spawned ones, one torch
    thread each (see `_train_in_processes`)."""
    from recplug.student.cre.train import content_only_rows, prepare_student

    prepared = [run]

    def shared():
        if prepared[0] is None:
            prepared[0] = prepare_student(student_dir, data_dir)
        return prepared[0]

    rows: list[MetricRow] = []
    base = out / "content_only"
    stage = {
        "stage": "cre-content-only",
        "teachers": cfg.model_dump(mode="json")["teachers"],
        "data": data_stage,
    }
    if is_fresh(base, stage):
        rows += json.loads((base / "metrics.json").read_text())["rows"]
    else:
        base.mkdir(parents=True, exist_ok=True)
        with timed("cre: content-only evaluation"):
            r = content_only_rows(data_dir, student_dir, cfg, run=shared())
        atomic_write_text(base / "metrics.json", json.dumps({"rows": r}, default=float))
        stamp(base, stage)
        rows += r
    shared_runs = list(reuse)
    todo = []
    for name, vcfg in ablation_configs(cfg, views).items():
        if name in (done or {}):
            continue
        folder = out / slug(name)
        shared_runs.append(folder)
        stage = {"stage": "cre", "config": vcfg.model_dump(mode="json"), "data": data_stage}
        if is_fresh(folder, stage):
            print(f"[cre] {name}: {folder} is up to date: skipped")
            rows += json.loads((folder / "metrics.json").read_text())["rows"]
            continue
        todo.append((name, vcfg, folder, stage, [f for f in shared_runs if f != folder]))
    if workers > 1 and len(todo) > 1:
        results = _train_in_processes(data_dir, student_dir, todo, workers, shared())
    else:
        results = (
            _train_variant(data_dir, student_dir, name, vcfg, folder, reuse, progress, shared())
            for name, vcfg, folder, _, reuse in todo
        )
    for (_, _, folder, stage, _), variant_rows in zip(todo, results, strict=True):
        rows += variant_rows
        stamp(folder, stage)
    return rows


def _train_variant(data_dir, student_dir, name, vcfg, folder, reuse, progress, run) -> list[MetricRow]:
    from recplug.student.cre.train import train_cre

    with timed(f"cre: {name}"):
        rows = train_cre(
            data_dir, student_dir, folder, vcfg, progress=progress, variant=name, run=run, reuse=reuse
        )["rows"]
    gc.collect()  # a finished variant's trainer, module and item tensors hold each other in cycles
    return rows


def _train_in_processes(data_dir, student_dir, todo, workers: int, run) -> list[list[MetricRow]]:
    """Each variant's rows, in order, trained `workers` at a time, this process among them
    (`experiments.workers.here_and_in_processes`), one torch thread each: the variants are
    independent trainings of a small model, which use a second thread poorly (on 2 cores two
    variants at once finish 1.4x sooner than one after the other on two threads). This process
    trains with its prepared student `run`; each spawned one prepares its own once. A variant can
    reuse phases only of runs finished before it starts."""
    from experiments.workers import forget, here_and_in_processes, per_process

    per_process(_student_key(data_dir, student_dir), lambda: run)
    try:
        jobs = [(data_dir, student_dir, name, vcfg, folder, reuse) for name, vcfg, folder, _, reuse in todo]
        return here_and_in_processes(_train_variant_here, jobs, workers)
    finally:
        forget()


def _student_key(data_dir, student_dir) -> tuple:
    return ("student", str(student_dir), str(data_dir))


def _train_variant_here(data_dir, student_dir, name, vcfg, folder, reuse) -> list[MetricRow]:
    from experiments.workers import per_process
    from recplug.student.cre.train import prepare_student

    run = per_process(_student_key(data_dir, student_dir), lambda: prepare_student(student_dir, data_dir))
    return _train_variant(data_dir, student_dir, name, vcfg, folder, reuse, False, run)


def ablation_table(rows: list[MetricRow]) -> str:
    from recplug.metrics.tables import metric_table

    return metric_table(rows, COLUMNS) + "\n\n" + REFERENCE
