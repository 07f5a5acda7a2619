"""Run a pipeline config end to end: each stage cached by config hash and resumable, then the report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from experiments.commands.common import peak_rss_mib, timed
from experiments.pipeline.config import PipelineConfig
from experiments.pipeline.lt_stage import lt_stage
from experiments.pipeline.report import integrity_section, write_report
from experiments.pipeline.stages import (
    Paths,
    cre_stage,
    data_stage,
    ranking_stage,
    student_stage,
    teachers_stage,
)
from recplug.data.io import atomic_write_text


def run_pipeline(cfg: PipelineConfig) -> Path:
    """Returns the path of report.md."""
    from recplug.data.describe import describe_to
    from recplug.student.report import student_table
    from teachers.evaluate import metrics_table

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
    with timed("data: describe"):
        _, describe_md = describe_to(data_dir, paths.root / "describe")
    sections = {"Data": describe_md.replace("](popularity.png)", "](describe/popularity.png)")}
    rows = []
    if cfg.teachers.enabled:
        t_rows = stage("teachers", teachers_stage, cfg, paths, data_dir, data_key)
        rows += t_rows
        sections["Teachers against baselines (next positive after the cut-off)"] = (
            metrics_table(t_rows)
            + "\n\nPaired differences, teacher minus baseline, same users:\n\n"
            + metrics_table(t_rows, paired=True)
        )
    s_rows, student_key = stage("student", student_stage, cfg, paths, data_dir, data_key)
    rows += s_rows
    sections["Student after each content stage"] = student_table(s_rows)
    if cfg.cre.enabled:
        rows += stage("cre", cre_stage, cfg, paths, data_dir, student_key)
    if cfg.ranking.enabled:
        rows += stage("ranking", ranking_stage, cfg, paths, data_dir)
        if cfg.lt.enabled:
            rows += stage("lt", lt_stage, cfg, paths, data_dir)
    notes = {"seconds_per_stage": seconds, "peak_memory_mib": round(peak_rss_mib())}
    lt, summary = {}, {}
    lt_summary = paths.lt / "metrics.json"
    if lt_summary.is_file():
        lt = json.loads(lt_summary.read_text())
        sim = {k: v for k, v in lt.get("simulator", {}).items() if k != "daily_active_share"}
        notes["lt"] = {"simulator": sim, "proxy_undefined": lt.get("proxy_undefined", [])}
    ranking_summary = paths.ranking / "metrics.json"
    if ranking_summary.is_file():
        summary = json.loads(ranking_summary.read_text())
        notes["ranking"] = {
            k: summary.get(k) for k in ("undefined", "splits", "leakage", "fit_on", "intervals")
        }
    student = json.loads((paths.student / "metrics.json").read_text())
    notes["student"] = {k: student.get(k) for k in ("holdout", "evaluation")}
    sections["Evaluation integrity: what was held out, how intervals are made"] = integrity_section(
        student, summary, lt.get("simulator", {})
    )
    report = write_report(paths.root, cfg.name, rows, notes, sections)
    print(f"[run] report: {report} (and report.json, plots/)")
    return report
