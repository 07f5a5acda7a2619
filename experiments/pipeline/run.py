"""Run a pipeline config end to end: each stage cached by config hash and resumable, then the report."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from experiments.pipeline.config import PipelineConfig
from experiments.pipeline.lt_stage import lt_stage
from experiments.pipeline.report import integrity_section, write_report
from experiments.pipeline.results import Section, StageResult
from experiments.pipeline.stages import (
    CRE_VARIANT,
    Paths,
    check_ranking_labels,
    cre_stage,
    data_stage,
    fold_stages,
    ranking_stage,
    student_stage,
    teachers_stage,
)
from experiments.timing import peak_rss_mib, timed
from recplug.data.artifacts import atomic_write_text, work_done

TIMINGS = "timings.json"


def start_fresh(paths: Paths, stages: Sequence[str]) -> None:
    """Remove what the named stages wrote, so they run again from scratch (their own checkpoints too)."""
    for name in stages:
        for folder in paths.outputs(name):
            if folder.exists():
                print(f"[run] --fresh {name}: removing {folder}")
                shutil.rmtree(folder)


class StageTimes:
    """Seconds and peak memory of each stage, kept in the run folder (timings.json): a stage that only
    reused its outputs (it did no keyed work) keeps the figures of the run that did the work."""

    def __init__(self, root: Path):
        self.path = root / TIMINGS
        saved = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.seconds: dict[str, float] = dict(saved.get("seconds_per_stage", {}))
        self.peaks: dict[str, int] = dict(saved.get("peak_memory_mib_per_stage", {}))

    def run(self, name: str, fn, *args):
        t0, work = time.perf_counter(), work_done()
        out = fn(*args)
        if work_done() > work or name not in self.seconds:
            self.seconds[name] = round(time.perf_counter() - t0, 1)
            self.peaks[name] = round(peak_rss_mib())  # the process's peak so far: this stage's or before
        return out

    def notes(self) -> dict:
        notes = {
            "seconds_per_stage": self.seconds,
            "peak_memory_mib": max(self.peaks.values(), default=round(peak_rss_mib())),
            "peak_memory_mib_per_stage": self.peaks,
        }
        atomic_write_text(self.path, json.dumps(notes, indent=2))
        return notes


def run_pipeline(cfg: PipelineConfig, fresh: Sequence[str] = ()) -> Path:
    """Returns the path of report.md. `fresh`: stages to run again from scratch."""
    from recplug.data.describe import describe_to

    paths = Paths(cfg.folder)
    start_fresh(paths, fresh)
    paths.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        paths.root / "config.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    )
    times = StageTimes(paths.root)
    stage = times.run

    data_dir, data_key = stage("data", data_stage, cfg, paths)
    check_ranking_labels(cfg, data_dir)
    with timed("data: describe"):
        _, describe_md = describe_to(data_dir, paths.root / "describe")
    results = [
        StageResult(
            "data",
            sections=[
                Section("Data", text=describe_md.replace("](popularity.png)", "](describe/popularity.png)"))
            ],
        )
    ]
    if cfg.teachers.enabled:
        results.append(stage("teachers", teachers_stage, cfg, paths, data_dir, data_key))
    student, student_key = stage("student", student_stage, cfg, paths, data_dir, data_key)
    results.append(student)
    if cfg.cre.enabled:
        results.append(stage("cre", cre_stage, cfg, paths, data_dir, student_key))
    ranking = lt = StageResult("none")
    if cfg.ranking.enabled:
        folds = []
        if cfg.ranking.protocol == "forward":
            folds = stage("folds", fold_stages, cfg, paths, data_dir, data_key)
        ranking = stage("ranking", ranking_stage, cfg, paths, data_dir, folds)
        results.append(ranking)
        if cfg.lt.enabled:
            lt = stage("lt", lt_stage, cfg, paths, data_dir, folds)
            results.append(lt)
    results.append(
        StageResult("integrity", sections=[integrity_section(student.notes, ranking.notes, lt.notes)])
    )
    notes = times.notes()
    notes |= {res.stage: res.notes for res in results if res.notes}
    stage_variants = student.notes["stage_variants"] + ([CRE_VARIANT] if cfg.cre.enabled else [])
    report = write_report(paths.root, cfg.name, results, notes, stage_variants)
    print(f"[run] report: {report} (and report.json, plots/)")
    return report
