"""`recplug teachers train/eval` from the command line."""

from __future__ import annotations

import json

from experiments.cli import main


def test_train_then_eval_from_the_cli(tiny_dir, tmp_path, capsys):
    out = tmp_path / "id"
    (tmp_path / "cfg.yaml").write_text("kind: id\nmax_steps: 6\nembedding_dim: 16\noutput_dim: 16\n")
    assert (
        main(
            [
                "teachers",
                "train",
                "--data",
                str(tiny_dir),
                "--out",
                str(out),
                "--config",
                str(tmp_path / "cfg.yaml"),
                "--set",
                "bootstrap=50",
                "--quiet",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert (
        "| id_teacher |" in text
        and "| cooccurrence |" in text
        and "| id_teacher - cooccurrence |" in text
        and "recall@50_diff" in text
    )
    assert json.loads((out / "metadata.json").read_text())["dim"] == 16
    assert main(["teachers", "eval", "--teacher", str(out), "--data", str(tiny_dir)]) == 0
    assert "| id_teacher |" in capsys.readouterr().out


def test_cli_config_errors_are_clear(tiny_dir, tmp_path, capsys):
    code = main(
        [
            "teachers",
            "train",
            "--kind",
            "id",
            "--data",
            str(tiny_dir),
            "--out",
            str(tmp_path / "x"),
            "--set",
            "embedding_dim=-1",
        ]
    )
    assert code == 2
    assert "key 'embedding_dim'" in capsys.readouterr().err
