"""Run a pipeline config end to end: each stage cached by config hash and resumable, then the report."""

from __future__ import annotations

import time
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
from recplug.data.io import atomic_write_text


def run_pipeline(cfg: PipelineConfig) -> Path:
    """Returns the path of report.md."""
    from recplug.data.describe import describe_to

    paths = Paths(cfg.folder)
    paths.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        paths.root / "config.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    )
    seconds: dict[str, float] = {}

    def stage(name, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        seconds[name] = round(time.perf_counter() - t0, 1)
        return out

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
    notes = {"seconds_per_stage": seconds, "peak_memory_mib": round(peak_rss_mib())}
    notes |= {res.stage: res.notes for res in results if res.notes}
    stage_variants = student.notes["stage_variants"] + ([CRE_VARIANT] if cfg.cre.enabled else [])
    report = write_report(paths.root, cfg.name, results, notes, stage_variants)
    print(f"[run] report: {report} (and report.json, plots/)")
    return report
