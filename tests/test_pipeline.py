"""`recplug run`: the whole pipeline on the tiny world, end to end, cached on a second run; config
errors name the key."""

from __future__ import annotations

import json
import math

import pytest

from experiments.cli import main
from experiments.commands.run import CONFIGS
from experiments.pipeline.config import load_pipeline_config

ROW_KEYS = {"experiment", "variant", "metric", "split", "mean", "ci_low", "ci_high", "n"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    assert main(["run", "tiny", "--out", str(out), "--quiet"]) == 0
    return out


def test_pipeline_writes_a_valid_report(tiny_run):
    report = json.loads((tiny_run / "report.json").read_text())
    rows = report["rows"]
    assert rows and all(set(r) == ROW_KEYS for r in rows)
    assert {"teachers", "student", "cre", "ranking", "lt", "lt_proxy"} <= {r["experiment"] for r in rows}
    for r in rows:
        if math.isfinite(r["mean"]):
            assert r["ci_low"] <= r["mean"] + 1e-9 and r["mean"] <= r["ci_high"] + 1e-9, r
    ranking = {(r["variant"], r["metric"], r["split"]) for r in rows if r["experiment"] == "ranking"}
    assert ("+match", "auc_diff", "all") in ranking and ("baseline", "gauc", "cold") in ranking
    lt = {(r["variant"], r["metric"]) for r in rows if r["experiment"] == "lt"}
    assert ("baseline", "lt7") in lt and ("+match", "lt7_diff") in lt
    md = (tiny_run / "report.md").read_text()
    for title in (
        "Ranking (DLRM-DCN): paired difference",
        "Ranking diagnostics",
        "Evaluation integrity",
        "Student mode: **inductive**",
        "CRE ablation",
        "LT on the world",
        "plots/auc_diff.png",
        "plots/learning_curves.png",
    ):
        assert title in md
    for plot in ("auc_diff.png", "lt_curves.png", "retrieval_by_stage.png"):
        assert (tiny_run / "plots" / plot).stat().st_size > 1000
    assert (tiny_run / "config.yaml").is_file()


def _report(run) -> dict:
    return json.loads((run / "report.json").read_text())


def test_a_second_run_skips_every_stage(tiny_run, capsys):
    mtime = (tiny_run / "cre" / "embeddings.parquet").stat().st_mtime_ns
    before = _report(tiny_run)
    assert main(["run", "tiny", "--out", str(tiny_run), "--quiet"]) == 0
    out = capsys.readouterr().out
    for stage in ("data", "teachers: id", "teachers: seq", "student: stages I-III", "cre", "ranking", "lt"):
        assert f"[{stage}]" in out and "up to date: skipped" in out, stage
    assert (tiny_run / "cre" / "embeddings.parquet").stat().st_mtime_ns == mtime
    after = _report(tiny_run)
    assert after["rows"] == before["rows"]
    # the timings of the run that did the work, not the skip times
    for key in ("seconds_per_stage", "peak_memory_mib"):
        assert after["notes"][key] == before["notes"][key]


def test_a_ranking_folder_without_its_rows_runs_again(tiny_run, capsys):
    """A stamp alone is not trusted: without its metrics.json (deleted by hand) the ranking runs again."""
    before = _report(tiny_run)
    (tiny_run / "ranking" / "metrics.json").unlink()
    assert main(["run", "tiny", "--out", str(tiny_run), "--quiet"]) == 0
    assert "ranking is up to date" not in capsys.readouterr().out
    assert (tiny_run / "ranking" / "metrics.json").is_file()
    ranking = lambda report: [r for r in report["rows"] if r["experiment"] == "ranking"]  # noqa: E731
    assert ranking(_report(tiny_run)) == ranking(before)


def test_ranking_key_follows_its_inputs(tmp_path):
    """The ranking stage is reused only while its config, the dataset's files and every embedding
    folder it reads are those it ran on: rewriting a folder (a re-run CRE) or a config key re-runs it."""
    from experiments.pipeline.stages import ranking_key

    cfg = load_pipeline_config(CONFIGS / "tiny.yaml")
    data, cre = tmp_path / "data", tmp_path / "cre"
    for folder in (data, cre):
        folder.mkdir()
        (folder / "embeddings.parquet").write_bytes(b"1234")
    key = lambda c: ranking_key(c, data, {"student": [str(cre)]})  # noqa: E731
    before = key(cfg)
    assert key(cfg) == before
    (cre / "embeddings.parquet").write_bytes(b"12345")
    assert key(cfg) != before
    after = key(cfg)
    other = load_pipeline_config(CONFIGS / "tiny.yaml", **{"ranking.seeds": [0, 1, 2]})
    assert key(other) != after
    (data / "interactions.parquet").write_bytes(b"x")
    assert key(cfg) != after


def test_fresh_lt_runs_it_again_to_identical_rows(tiny_run, capsys):
    """Two runs of the LT stage (simulator and log proxy, bootstraps included) give identical rows:
    the first with its simulations spread over a worker process and this one, the second in this
    process alone (one scorer thread in both, as the workers have)."""
    lt_rows = lambda report: [r for r in report["rows"] if r["experiment"] in ("lt", "lt_proxy")]  # noqa: E731
    before = _report(tiny_run)
    assert before["notes"]["lt"]["simulator"]["workers"] == 2
    alone = ["--set", "lt.workers=1", "--set", "lt.scorer_threads=1"]
    assert main(["run", "tiny", "--out", str(tiny_run), "--quiet", "--fresh", "lt", *alone]) == 0
    assert "[lt] " not in capsys.readouterr().out  # not skipped
    after = _report(tiny_run)
    assert lt_rows(after) and lt_rows(after) == lt_rows(before)
    assert after["notes"]["seconds_per_stage"]["student"] == before["notes"]["seconds_per_stage"]["student"]


def test_lt_users_simulates_a_named_sample(tiny_run):
    """`lt.users` simulates a uniform sample of users, named in the report; ranking is untouched."""
    before = _report(tiny_run)
    n_users = next(
        r["n"]
        for r in before["rows"]
        if (r["experiment"], r["variant"], r["metric"], r["split"]) == ("lt", "baseline", "lt7", "all")
    )
    assert main(["run", "tiny", "--out", str(tiny_run), "--quiet", "--set", "lt.users=100"]) == 0
    after = _report(tiny_run)
    lt = {
        (r["variant"], r["metric"]): r
        for r in after["rows"]
        if r["experiment"] == "lt" and r["split"] == "all"
    }
    assert n_users > 100 and lt[("baseline", "lt7")]["n"] == 100 and lt[("+match", "lt7_diff")]["n"] == 100
    users = f"100 of {n_users}, a uniform sample (lt.users: 100, lt.users_seed: 0)"
    assert users in after["notes"]["lt"]["simulator"]["users"]
    assert f"Simulated users: {users}" in (tiny_run / "report.md").read_text()
    ranking = lambda report: [r for r in report["rows"] if r["experiment"] == "ranking"]  # noqa: E731
    assert ranking(after) == ranking(before)


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndata: {generate: tiny}\nranking: {seedz: [1]}\n")
    with pytest.raises(ValueError, match="ranking.seedz"):
        load_pipeline_config(bad)
    bad.write_text("name: x\ndata: {generate: tiny, path: somewhere}\n")
    with pytest.raises(ValueError, match="exactly one of generate / movielens / path"):
        load_pipeline_config(bad)
    bad.write_text("name: x\ndata: {generate: tiny}\nlt: {variants: [+sid+match]}\n")
    with pytest.raises(ValueError, match="not among ranking.variants"):
        load_pipeline_config(bad)
    assert main(["run", "nope"]) == 2


def test_a_spawned_worker_reports_its_own_peak_memory():
    """ru_maxrss survives exec: a worker spawned from a large process (the CRE ablation's) would report
    that process's peak as its own; the timing lines read VmHWM instead."""
    import multiprocessing

    import numpy as np

    from experiments.timing import peak_rss_mib

    big = np.ones(400 * 2**20 // 8)  # 400 MiB held by this process while the worker starts
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        worker = pool.apply(peak_rss_mib)
    assert big.sum() > 0 and peak_rss_mib() > 400
    assert worker < peak_rss_mib() - 250
