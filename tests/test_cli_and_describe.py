"""The `recplug` command: every group has --help, data commands work end to end, errors are clear."""

from __future__ import annotations

import json

import pytest

from experiments.cli import main
from recplug.data.world import preset


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["data"],
        ["data", "generate"],
        ["data", "validate"],
        ["data", "describe"],
        ["data", "import", "movielens"],
        ["data", "import", "table"],
        ["demo"],
        ["run"],
        ["student", "train"],
        ["student", "ablate"],
    ],
)
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    assert "usage: recplug" in capsys.readouterr().out


def test_generate_validate_describe(tmp_path, capsys):
    out = tmp_path / "w"
    assert (
        main(
            [
                "data",
                "generate",
                "--preset",
                "tiny",
                "--out",
                str(out),
                "--quiet",
                "--set",
                "n_users=60",
                "--set",
                "n_days=8",
            ]
        )
        == 0
    )
    assert main(["data", "validate", str(out)]) == 0
    assert main(["data", "describe", str(out)]) == 0
    text = capsys.readouterr().out
    stats = json.loads((out / "describe" / "describe.json").read_text())
    assert f"| users | {stats['users']:,} |" in text and 40 < stats["users"] <= 60
    assert stats["items"] == preset("tiny").n_items and stats["modality_coverage"]["image"] == 1.0
    assert (out / "describe" / "popularity.png").stat().st_size > 1000
    assert set(stats["periods"]) == {"train", "valid", "test"}


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["data", "validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recplug: error:") and "dataset.json: missing" in err
    with pytest.raises(ValueError, match="unknown world preset 'huge'"):
        from recplug.data.world import preset

        preset("huge")
