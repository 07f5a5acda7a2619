"""Shared fixtures: one tiny world per test session (generation takes about a second)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one thread each
    import torch

    torch.set_num_threads(1)


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
        "preset": "scratch",  # the suite's students are scratch ones unless a test asks for pretrained
    }
    return load_student_config(None, **{**base, **kw})


@pytest.fixture(scope="session")
def tiny_student(tiny_dir, tmp_path_factory):
    """(run folder, report) of a small student trained on the tiny world."""
    from recplug.student.train import train_student

    out = tmp_path_factory.mktemp("student")
    return out, train_student(tiny_dir, out, small_student_config(), progress=False)


@pytest.fixture(scope="session")
def true_source(tiny_world, tmp_path_factory):
    """An embedding folder holding the world's true item vectors, and semantic ids made from them."""
    import numpy as np
    import polars as pl

    from recplug.data.embeddings import EmbeddingTable, write_embeddings

    folder = tmp_path_factory.mktemp("true_source")
    truth = tiny_world.ground_truth()
    vectors = truth.item_vectors / np.linalg.norm(truth.item_vectors, axis=1, keepdims=True)
    write_embeddings(folder / "embeddings.parquet", truth.item_ids, vectors)
    half = vectors.shape[1] // 2
    pl.DataFrame(
        {
            "item_id": truth.item_ids,
            "sid_0": np.argmax(vectors[:, :half], 1),
            "sid_1": np.argmax(vectors[:, half:], 1),
        }
    ).write_parquet(folder / "semantic_ids.parquet")
    return folder, EmbeddingTable(truth.item_ids, vectors.astype(np.float32), {})
