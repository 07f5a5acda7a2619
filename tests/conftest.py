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
