"""`recplug student train/embed/eval` from the command line."""

from __future__ import annotations

import json

import polars as pl

from experiments.cli import main


def test_student_train_embed_eval(tiny_dir, tmp_path, capsys):
    cfg = tmp_path / "student.yaml"
    cfg.write_text(
        "model: {hidden_size: 32, matryoshka_dims: [16, 32], vision_hidden_size: 32, audio_hidden_size: 32, intermediate_size: 64}\n"
        "preset: scratch\nbatch_size: 16\nvocab_size: 500\n"
        "stages:\n  - {name: I, steps: 4}\n  - {name: II, steps: 2, sources: closest}\n  - {name: III, steps: 2, sources: closest, hard_negatives: true}\n"
        "mining: {refresh_every: 1, sample: 100}\nbalancing: {sample: 64, clusters: 4}\n"
    )
    out = tmp_path / "student"
    assert (
        main(
            ["student", "train", "--data", str(tiny_dir), "--out", str(out), "--config", str(cfg), "--quiet"]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "| stage I | warm |" in text and "| student | warm |" in text
    balance = json.loads((out / "balancing.json").read_text())
    assert abs(sum(balance["weights"]) - 1) < 1e-6 and len(balance["sources"]) == len(balance["weights"])
    report = json.loads((out / "metrics.json").read_text())
    assert report["stages"]["III"]["mining"], "stage III refreshed its hard negatives"
    tfidf = {
        r["metric"]: r["mean"]
        for r in report["rows"]
        if r["variant"] == "tfidf baseline" and r["split"] == "warm"
    }
    # the text baseline is a real bar (twice chance) on queries that name text attributes, and blind
    # (no better than chance) on queries that name only image or audio attributes
    assert tfidf["q2i recall@50"] > 2 * 50 / 1000
    assert tfidf["q2i, text-word queries, recall@50"] > 2 * 50 / 1000
    assert tfidf["q2i, media-word queries, recall@50"] < 1.5 * 50 / 1000
    assert sum(v > 0 for v in report["stages"]["II"]["weights"].values()) == 2  # the 2 closest sources
    assert (
        main(
            [
                "student",
                "embed",
                "--model",
                str(out),
                "--data",
                str(tiny_dir),
                "--out",
                str(tmp_path / "emb"),
                "--quiet",
            ]
        )
        == 0
    )
    assert pl.read_parquet(tmp_path / "emb" / "embeddings.parquet").height == 1000
    assert main(["student", "eval", "--model", str(out), "--data", str(tiny_dir)]) == 0
    assert "| student | warm |" in capsys.readouterr().out
    # CRE from the command line, with an embedding file as the teacher (here the student's own export)
    phases = "[{name: seq, steps: 2, weights: {seq2item: 1}}, {name: id, steps: 2, weights: {id2item: 1, aux_i2i: 1}}]"
    common = ["--data", str(tiny_dir), "--from", str(out), "--teacher", f"own={tmp_path / 'emb'}"]
    common += ["--set", f"phases={phases}", "--set", "batch_size=8", "--set", "seq_batch_size=4"]
    cre = tmp_path / "cre"
    assert main(["student", "train", "--stage", "cre", "--out", str(cre), *common, "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "true-neighbour i2i recall@50" in text and '"items_covered": 1000' in text
    assert (cre / "embeddings.parquet").is_file() and (cre / "sequence_encoder.json").is_file()
    assert main(["student", "ablate", "--out", str(tmp_path / "ablation"), *common, "--no-views"]) == 0
    table = capsys.readouterr().out
    for variant in ("content-only", "+ seq2item", "+ id2item", "+ both (CRE)"):
        assert f"| {variant} | warm |" in table
    # the variants on two processes (one torch thread each, as this test worker has): the same table
    two = ["student", "ablate", "--out", str(tmp_path / "ablation2"), *common, "--no-views", "--workers", "2"]
    assert main(two) == 0
    rows_of = lambda text: [line for line in text.splitlines() if line.startswith("|")]  # noqa: E731
    assert rows_of(capsys.readouterr().out) == rows_of(table)
    assert main(["student", "train", "--stage", "cre", "--out", str(cre), "--data", str(tiny_dir)]) == 2


def test_student_trains_with_ddp_on_two_cpu_processes(tiny_dir, tmp_path):
    """Lightning DDP (gloo) across 2 CPU processes, all three stages, launched like a user would."""
    import os
    import subprocess
    import sys

    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(
        "model: {hidden_size: 32, matryoshka_dims: [16, 32], vision_hidden_size: 32, audio_hidden_size: 32, intermediate_size: 64}\n"
        "preset: scratch\nbatch_size: 16\nvocab_size: 500\ndevices: 2\n"
        "stages:\n  - {name: I, steps: 4}\n  - {name: II, steps: 2, sources: closest}\n  - {name: III, steps: 2, sources: closest, hard_negatives: true}\n"
        "mining: {refresh_every: 1, sample: 100}\nbalancing: {sample: 64, clusters: 4}\n"
    )
    out = tmp_path / "ddp"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")} | {
        "OMP_NUM_THREADS": "1"
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.cli",
            "student",
            "train",
            "--data",
            str(tiny_dir),
            "--out",
            str(out),
            "--config",
            str(cfg),
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "metrics.json").read_text())
    assert [report["stages"][s]["world_size"] for s in ("I", "II", "III")] == [2, 2, 2]
    assert pl.read_parquet(out / "embeddings.parquet").height == 1000
    assert done.stdout.count("| student | warm |") == 1  # only rank 0 reports
