"""Shared fixtures: one tiny world per test session (generation takes about a second)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def tiny_world():
    from recplug.data.world import World

    return World.from_preset("tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, tiny_world):
    out = tmp_path_factory.mktemp("tiny") / "data"
    tiny_world.generate(out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_ds(tiny_dir):
    from recplug.data import load_dataset

    return load_dataset(tiny_dir)


# a small student, trained once per session: the student and CRE tests share it
SMALL_MODEL = {
    "hidden_size": 64,
    "matryoshka_dims": [16, 32, 64],
    "vision_hidden_size": 32,
    "audio_hidden_size": 32,
    "intermediate_size": 128,
}


def small_student_config(**kw):
    from recplug.student.train_config import load_student_config

    base = {
        "model": SMALL_MODEL,
        "batch_size": 32,
        "vocab_size": 1000,
        "checkpoint_every": 10,
        "log_every": 1,
        "stages": [{"name": "I", "steps": 150, "lr": 1e-3}],
    }
    return load_student_config(None, **{**base, **kw})


@pytest.fixture(scope="session")
def tiny_student(tiny_dir, tmp_path_factory):
    """(run folder, report) of a small student trained on the tiny world."""
    from recplug.student.train import train_student

    out = tmp_path_factory.mktemp("student")
    return out, train_student(tiny_dir, out, small_student_config(), progress=False)
