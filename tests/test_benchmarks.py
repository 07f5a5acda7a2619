"""Every benchmark's output goes through experiments.benchmarks.machine.report: the machine is printed
above the table and stored beside the results, so figures from two machines are never compared blind."""

from __future__ import annotations

import json

from experiments.benchmarks.machine import report

MACHINE_KEYS = {"cpu", "cores", "usable_cores", "torch_threads", "torch", "cuda", "python", "when"}


def test_report_writes_table_and_json_with_the_machine(tmp_path, capsys):
    results = {"rows": [{"variant": "fused", "samples_per_s": 1.5}]}
    report(tmp_path / "out", "bench", "| a |\n|---|\n| 1 |", results)
    md = (tmp_path / "out" / "bench.md").read_text()
    data = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert md.startswith("Machine: ") and "torch threads" in md and "| 1 |" in md
    assert MACHINE_KEYS <= set(data["machine"]) and data["results"] == results
    printed = capsys.readouterr().out
    assert printed.startswith(md.rstrip("\n")) and "bench.json" in printed


def test_teacher_baselines_benchmark_times_every_path_on_the_same_events(tiny_dir, tmp_path, monkeypatch):
    """The co-occurrence benchmark runs end to end; its torch reference path ranks as recplug's does
    (Recall@50 within 1 point: they differ only where float32 summation order splits a tie)."""
    import sys

    from experiments.benchmarks import teacher_baselines

    out = tmp_path / "bench"
    argv = ["teacher_baselines", "--data", str(tiny_dir), "--events", "300", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    teacher_baselines.main()
    results = json.loads((out / "teacher_baselines.json").read_text())["results"]
    assert set(results["seconds"]) == {"embeddings", "most popular", "co-occurrence", "co-occurrence (torch)"}
    assert results["events"] == 300 and results["equal_ranks"] > 0.95
    new50, old50 = results["recall"]["50"]
    assert abs(new50 - old50) <= 0.01  # a float32 tie split may move a rank across 50
