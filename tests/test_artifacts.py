"""recplug/data/artifacts.py: outputs are written whole or not at all, a full disk or a read-only
folder is one line, a folder's work counts only once its stamp is written, and a truncated checkpoint
makes its stage start over instead of failing every rerun."""

from __future__ import annotations

import errno
import os

import numpy as np
import polars as pl
import pytest
import torch

from recplug.data import artifacts
from recplug.data.artifacts import (
    ArtifactError,
    atomic_folder,
    atomic_write_text,
    claim,
    digest,
    fingerprint,
    is_fresh,
    stamp,
)


def _fail_with(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize(
    "code", [errno.ENOSPC, errno.EROFS, errno.EACCES], ids=["disk-full", "read-only", "denied"]
)
def test_a_failed_write_is_one_line_and_leaves_the_old_file_whole(tmp_path, monkeypatch, code):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    monkeypatch.setattr(artifacts.os, "replace", _fail_with(code))
    with pytest.raises(ArtifactError) as e:
        atomic_write_text(path, "new " * 1000)
    assert "\n" not in str(e.value) and str(path) in str(e.value) and "cannot write" in str(e.value)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left


def test_the_cli_reports_a_full_disk_in_one_line(tmp_path, monkeypatch, capsys):
    from experiments.cli import main

    monkeypatch.setattr(artifacts.os, "replace", _fail_with(errno.ENOSPC))
    assert main(["data", "generate", "--preset", "tiny", "--out", str(tmp_path / "w"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no space left on the device" in err, err
    assert not list((tmp_path / "w").glob("*.parquet")) if (tmp_path / "w").exists() else True


def test_a_folder_is_replaced_only_when_complete(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(model) as tmp:
        (tmp / "config.json").write_text("new")
        raise RuntimeError("killed while writing the weights")
    assert (model / "config.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    with atomic_folder(model) as tmp:
        (tmp / "config.json").write_text("new")
        (tmp / "model.safetensors").write_bytes(b"w")
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_work_counts_only_once_stamped_for_the_same_key(tmp_path):
    key = {"stage": "student", "steps": 10}
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")  # outputs alone do not make a stage complete
    assert not is_fresh(tmp_path, key)
    stamp(tmp_path, key, info={"steps": 10})
    assert is_fresh(tmp_path, key) and not is_fresh(tmp_path, key | {"steps": 11})
    (tmp_path / artifacts.STAMP).write_text("{trunc")  # an unreadable stamp is no stamp
    assert not is_fresh(tmp_path, key)


def test_claim_clears_the_state_of_another_config(tmp_path):
    (tmp_path / "stages").mkdir()
    assert claim(tmp_path, {"a": 1}, ["stages"])  # unowned: adopted as it is
    assert claim(tmp_path, {"a": 1}, ["stages"]) and (tmp_path / "stages").is_dir()
    assert not claim(tmp_path, {"a": 2}, ["stages"]) and not (tmp_path / "stages").exists()


def test_one_hash_for_descriptions_and_contents(tmp_path):
    assert fingerprint({"b": 1, "a": [1, 2]}) == fingerprint({"a": [1, 2], "b": 1})
    a = np.arange(6, dtype=np.int64)
    assert digest(a) == digest(a.copy()) != digest(a.astype(np.int32)) != digest(a.reshape(2, 3))
    f = tmp_path / "x.parquet"
    pl.DataFrame({"a": a}).write_parquet(f)
    assert digest(f) == digest(f.read_bytes())


def test_a_truncated_checkpoint_restarts_its_stage(tmp_path, capsys):
    from recplug.student.fit import usable_checkpoint

    good = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1000)}, "global_step": 5}, good)
    assert usable_checkpoint(good) == good
    good.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # an older in-place write, cut short
    assert usable_checkpoint(good) is None
    assert not good.exists() and (tmp_path / "last.ckpt.corrupt").is_file()
    assert "restarts from its start" in capsys.readouterr().out


def test_a_student_with_a_truncated_checkpoint_finishes_as_an_uninterrupted_one(tiny_dir, tmp_path):
    from conftest import small_student_config

    from recplug.student.train import train_student

    cfg = small_student_config(stages=[{"name": "I", "steps": 12, "lr": 1e-3}], checkpoint_every=5)
    train_student(tiny_dir, tmp_path / "straight", cfg, progress=False)
    with pytest.raises(InterruptedError):
        train_student(tiny_dir, tmp_path / "cut", cfg, progress=False, stop_at_step=8)
    ckpt = tmp_path / "cut" / "stages" / "I" / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    train_student(tiny_dir, tmp_path / "cut", cfg, progress=False)
    a, b = (pl.read_parquet(tmp_path / r / "embeddings.parquet") for r in ("straight", "cut"))
    assert a.equals(b)
