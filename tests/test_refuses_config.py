"""Bad configs and options are refused in one line that names the file, the key path or the option,
before any stage runs (the run folder is never created)."""

from __future__ import annotations

import pytest

from experiments.cli import main

TINY = "tiny"


def _refused(capsys, argv: list[str], *names: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("recplug: error: ") and "\n" not in err and "Traceback" not in err, err
    for name in names:
        assert name in err, (name, err)
    return err


# (id, --set overrides of the built-in tiny config, what the message must name)
PIPELINE_SETS = [
    ("unknown-top-level-key", ["nope=1"], ["'nope'"]),
    ("unknown-teacher-key", ["teachers.id.nope=1"], ["'teachers.id.nope'"]),
    ("teacher-key-bad-type", ["teachers.seq.max_steps=many"], ["'teachers.seq.max_steps'"]),
    ("unknown-student-key", ["student.config.nope=1"], ["'student.config.nope'"]),
    ("student-stage-bad-steps", ["student.config.stages.0.steps=abc"], ["'student.config.stages.0.steps'"]),
    ("student-stage-index-out-of-range", ["student.config.stages.7.steps=5"], ["stages", "'7'"]),
    ("student-stage-index-not-a-number", ["student.config.stages.x.steps=5"], ["stages", "'x'"]),
    ("cre-phase-unknown-source", ["cre.config.phases.0.weights.bogus=1"], ["'cre.config.phases.0'", "bogus"]),
    ("unknown-cre-key", ["cre.config.nope=1"], ["'cre.config.nope'"]),
    ("ranking-config-bad-type", ["ranking.config.epochs=abc"], ["'ranking.config.epochs'"]),
    ("unknown-ranking-config-key", ["ranking.config.nope=1"], ["'ranking.config.nope'"]),
    ("ranking-protocol-unknown", ["ranking.protocol=sideways"], ["'ranking.protocol'"]),
    (
        "ranking-fold-cutoff-outside",
        ["ranking.protocol=forward", "ranking.fold_cutoffs=[1.5]"],
        ["fold_cutoffs"],
    ),
    ("ranking-seeds-empty", ["ranking.seeds=[]"], ["'ranking.seeds'"]),
    ("lt-days-zero", ["lt.days=0"], ["'lt.days'"]),
    ("lt-variant-not-ranked", ["lt.variants=[baseline, +nothing]"], ["lt.variants", "+nothing"]),
    ("lt-seed-not-ranked", ["lt.seeds=[9]"], ["lt.seeds", "9"]),
    ("lt-reference-unknown", ["lt.references=[psychic]"], ["'lt.references.0'"]),
    ("data-two-sources", ["data.path=/tmp/x"], ["exactly one of generate / movielens / path"]),
    ("data-generate-is-not-a-section", ["data.generate.x=1"], ["--set data.generate.x", "'data.generate'"]),
    ("data-world-unknown-key", ["data.world.nope=1"], ["nope"]),
    ("data-unknown-preset", ["data.generate=huge"], ["huge"]),
    ("cre-without-teachers", ["teachers.enabled=false"], ["cre.enabled needs teachers.enabled"]),
    ("set-without-equals", ["lt.days"], ["--set expects KEY=VALUE", "lt.days"]),
    ("set-value-not-yaml", ["name=[1,"], ["--set name=[1,", "invalid YAML"]),
    ("set-empty-key-part", ["lt..days=3"], ["lt..days", "empty part"]),
]


@pytest.mark.parametrize("sets, names", [p[1:] for p in PIPELINE_SETS], ids=[p[0] for p in PIPELINE_SETS])
def test_pipeline_config_refused_before_any_stage(capsys, tmp_path, sets, names):
    out = tmp_path / "run"
    argv = ["run", TINY, "--out", str(out), "--quiet"]
    for s in sets:
        argv += ["--set", s]
    _refused(capsys, argv, *names)
    assert not out.exists()  # refused before the first stage: nothing was written


BAD_FILES = {
    "yaml-syntax": ("name: x\ndata: {generate: tiny\n", ["bad.yaml", "invalid YAML", "line"]),
    "yaml-tab-indent": ("name: x\ndata:\n\tgenerate: tiny\n", ["bad.yaml", "invalid YAML"]),
    "yaml-a-list": ("- name\n- data\n", ["bad.yaml", "expected a mapping", "list"]),
    "yaml-missing-name": ("data: {generate: tiny}\n", ["bad.yaml", "'name'"]),
}


@pytest.mark.parametrize("text, names", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_config_files_are_named(capsys, tmp_path, text, names):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    _refused(capsys, ["run", str(path), "--out", str(tmp_path / "run")], *names)


def test_config_file_not_text(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"name: \xff\xfe\x00x\n")
    _refused(capsys, ["run", str(path)], "bad.yaml", "not a text file")


def test_unknown_config_name(capsys):
    _refused(capsys, ["run", "no_such_config"], "no_such_config", "not a built-in config")


def test_fresh_names_unknown_stage(capsys, tmp_path):
    _refused(
        capsys, ["run", TINY, "--out", str(tmp_path / "r"), "--fresh", "teachers,training"], "'training'"
    )


def test_subcommands_take_the_same_dotted_sets(capsys, tiny_dir, tmp_path):
    """Every command reads --set the same way: dotted keys, list indices, the same refusals."""
    teacher = ["teachers", "train", "--kind", "id", "--data", str(tiny_dir), "--out", str(tmp_path / "t")]
    _refused(capsys, [*teacher, "--set", "nope=1"], "'nope'")
    _refused(capsys, [*teacher, "--set", "max_steps.x=1"], "'max_steps'")
    student = ["student", "train", "--data", str(tiny_dir), "--out", str(tmp_path / "s")]
    _refused(capsys, [*student, "--set", "stages.0.steps=abc"], "'stages.0.steps'")
    _refused(capsys, [*student, "--set", "stages.9.steps=5"], "'stages'", "'9'")
    bad = tmp_path / "student.yaml"
    bad.write_text("stages: [\n")
    _refused(capsys, [*student, "--config", str(bad)], "student.yaml", "invalid YAML")
    assert not (tmp_path / "t").exists() and not (tmp_path / "s").exists()


def test_dotted_set_reaches_into_lists():
    from recplug.data.config_file import apply_overrides

    raw = {"stages": [{"name": "I", "steps": 10}, {"name": "II", "steps": 20}]}
    out = apply_overrides(raw, {"stages.1.steps": 5, "model.hidden_size": 32})
    assert out == {
        "stages": [{"name": "I", "steps": 10}, {"name": "II", "steps": 5}],
        "model": {"hidden_size": 32},
    }
    assert raw["stages"][1]["steps"] == 20  # the input is left as it was
