"""The TorchRec teachers: they learn, they never see the future, they shard, they resume, they export."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import torch

from recplug.data import DatasetError
from recplug.data.embeddings import embedding_bag_collection, read_embeddings
from recplug.data.io import write_parquet
from teachers.config import load_config
from teachers.data import TeacherData
from teachers.train import Interrupted, NonFiniteLoss, train_teacher

FAST = {"id": {"epochs": 8, "batch_size": 128, "log_every": 5}, "seq": {"epochs": 6, "log_every": 5}}


def _metric(result, variant, metric="recall@50"):
    return next(r["mean"] for r in result.metrics if r["variant"] == variant and r["metric"] == metric)


@pytest.fixture(scope="module")
def trained(tiny_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("teachers")
    return {
        k: train_teacher(tiny_dir, out / k, load_config(kind=k, **FAST[k]), progress=False)
        for k in ("id", "seq")
    }


@pytest.mark.parametrize("kind", ["id", "seq"])
def test_teacher_beats_most_popular(trained, kind):
    r = trained[kind]
    # at the head of the list (over every event of the validation period; at Recall@50 of the tiny
    # world's 1,000 items, 5% of the catalogue, popularity alone is level with the teachers)
    assert _metric(r, f"{kind}_teacher", "recall@10") > _metric(r, "most_popular", "recall@10") + 0.01
    assert _metric(r, f"{kind}_teacher", "ndcg@10") > _metric(r, "most_popular", "ndcg@10")
    losses = pl.read_csv(r.out / "train_log.csv")["loss"]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("kind", ["id", "seq"])
def test_export_round_trip_through_an_embedding_bag_collection(trained, kind):
    from torchrec import KeyedJaggedTensor

    table = read_embeddings(trained[kind].out)
    meta = json.loads((trained[kind].out / "metadata.json").read_text())
    assert table.dim == meta["dim"] and meta["kind"] == kind and meta["data_cutoff_ts"] > 0
    ebc = embedding_bag_collection(table)
    ids = table.ids[[0, 5, 17, len(table.ids) - 1]]
    kjt = KeyedJaggedTensor.from_lengths_sync(
        keys=["item_id"],
        values=torch.as_tensor(table.rows_of(ids)),
        lengths=torch.ones(len(ids), dtype=torch.int32),
    )
    looked_up = ebc(kjt)["item_id"].numpy()
    np.testing.assert_array_equal(looked_up, table.vectors[table.rows_of(ids)])
    users = read_embeddings(trained[kind].out / "user_states.parquet", id_column="user_id")
    assert users.dim == table.dim and len(users.ids) > 100


def test_teacher_sees_nothing_after_the_cutoff(tiny_dir, tiny_ds, tmp_path):
    """Plant future positives (a heavy user clicking a rare item many times): the teacher is unchanged."""
    planted = tmp_path / "planted"
    shutil.copytree(tiny_dir, planted)
    inter = tiny_ds.interactions
    cutoff = tiny_ds.meta.splits.train_end
    future = pl.DataFrame(
        {
            "user_id": [1] * 50,
            "item_id": [2] * 50,
            "ts": [cutoff + 60 * i for i in range(50)],
            "session_id": [10**9] * 50,
            "click": [1.0] * 50,
            "finish": [1.0] * 50,
            "like": [1.0] * 50,
        }
    ).cast(inter.schema)
    write_parquet(pl.concat([inter, future]).sort("ts"), planted / "interactions.parquet")
    cfg = load_config(kind="id", max_steps=15)
    a = train_teacher(tiny_dir, tmp_path / "a", cfg, progress=False, evaluate=False)
    b = train_teacher(planted, tmp_path / "b", cfg, progress=False, evaluate=False)
    ea, eb = read_embeddings(a.out), read_embeddings(b.out)
    np.testing.assert_array_equal(ea.ids, eb.ids)
    np.testing.assert_array_equal(ea.vectors, eb.vectors)


@pytest.mark.parametrize("kind", ["id", "seq"])
def test_kill_and_resume_gives_the_uninterrupted_result(tiny_dir, tmp_path, kind):
    cfg = load_config(kind=kind, max_steps=12, checkpoint_every=5, log_every=1)
    straight = train_teacher(tiny_dir, tmp_path / "straight", cfg, progress=False, evaluate=False)
    with pytest.raises(Interrupted):
        train_teacher(tiny_dir, tmp_path / "killed", cfg, progress=False, evaluate=False, stop_at_step=8)
    assert json.loads((tmp_path / "killed" / "checkpoint" / "checkpoint.json").read_text())["step"] == 5
    resumed = train_teacher(tiny_dir, tmp_path / "killed", cfg, progress=False, evaluate=False)
    assert resumed.steps == straight.steps == 12
    assert resumed.final_loss == pytest.approx(straight.final_loss, rel=1e-5)
    np.testing.assert_allclose(
        read_embeddings(resumed.out).vectors, read_embeddings(straight.out).vectors, atol=1e-5
    )
    log = pl.read_csv(tmp_path / "killed" / "train_log.csv")
    assert log["step"].to_list() == list(range(1, 13))


def test_resume_from_another_config_is_refused(tiny_dir, tmp_path):
    train_teacher(
        tiny_dir, tmp_path / "t", load_config(kind="id", max_steps=3), progress=False, evaluate=False
    )
    with pytest.raises(ValueError, match="checkpoint was written for another config"):
        train_teacher(
            tiny_dir, tmp_path / "t", load_config(kind="id", max_steps=3, embedding_dim=32), progress=False
        )


def test_non_finite_loss_stops_with_a_message(tiny_dir, tmp_path):
    with pytest.raises(NonFiniteLoss, match="loss is nan at step 1"):
        train_teacher(
            tiny_dir, tmp_path / "t", load_config(kind="id", max_steps=3, temperature=1e-40), progress=False
        )


def test_bad_configs_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="key 'embedding_dim'"):
        load_config(kind="id", embedding_dim=0)
    with pytest.raises(ValueError, match="key 'max_items'"):
        load_config(kind="id", max_items=0)
    with pytest.raises(ValueError, match="must be divisible by n_heads"):
        load_config(kind="seq", embedding_dim=30, output_dim=30, n_heads=4)
    (tmp_path / "c.yaml").write_text("kind: id\nbatch_sise: 3\n")
    with pytest.raises(ValueError, match=r"c.yaml: invalid teacher config: key 'batch_sise': Extra inputs"):
        load_config(tmp_path / "c.yaml")


def test_table_larger_than_allowed_is_refused(tiny_dir, tmp_path):
    with pytest.raises(ValueError, match="item table would have"):
        train_teacher(tiny_dir, tmp_path / "t", load_config(kind="id", max_items=10), progress=False)


def test_dataset_without_positives_is_a_clear_error(tiny_dir, tiny_ds, tmp_path):
    folder = tmp_path / "nopos"
    shutil.copytree(tiny_dir, folder)
    write_parquet(
        tiny_ds.interactions.with_columns(pl.lit(0.0, dtype=pl.Float32).alias("click")),
        folder / "interactions.parquet",
    )
    with pytest.raises(DatasetError, match="no positive interactions"):
        train_teacher(folder, tmp_path / "t", load_config(kind="id"), progress=False)


def test_eval_counts_what_it_skips(trained):
    meta = json.loads((trained["id"].out / "metadata.json").read_text())
    skipped = meta["eval_skipped"]
    assert set(skipped) == {"events_without_history", "events_on_cold_items", "events_sampled_out"}
    assert skipped["events_on_cold_items"] > 0  # cold items exist and are reported, not silently ranked


def test_eval_scores_every_event_with_users_as_clusters(trained, tiny_ds):
    """Every positive event of the evaluation period on a warm item by a user with history is scored
    (not each user's first): n counts events, and there are more events than users."""
    rows = trained["id"].metrics
    r = next(r for r in rows if r["variant"] == "id_teacher" and r["metric"] == "recall@50")
    s = tiny_ds.meta.splits
    window = tiny_ds.interactions.filter(
        (pl.col("ts") >= s.train_end) & (pl.col("ts") < s.valid_end) & tiny_ds.meta.positive_rule.expr()
    )
    skipped = json.loads((trained["id"].out / "metadata.json").read_text())["eval_skipped"]
    assert r["n"] == window.height - sum(skipped.values())
    assert r["n"] > 2 * window["user_id"].n_unique()
    assert r["ci_low"] < r["mean"] < r["ci_high"]


def test_two_process_sharded_run_matches_single_process(tiny_dir, tmp_path):
    """The same training under DistributedModelParallel on 2 CPU processes (gloo, torchrun).
    Tolerance: each rank softmaxes over its half of the batch, so runs are not bit-identical; Recall@50
    must agree within 0.05 and the late training loss within 10% (see below)."""
    args = [
        "teachers",
        "train",
        "--kind",
        "id",
        "--data",
        str(tiny_dir),
        "--quiet",
        "--set",
        "epochs=8",
        "--set",
        "batch_size=128",
        "--set",
        "log_every=5",
    ]
    single = train_teacher(tiny_dir, tmp_path / "one", load_config(kind="id", **FAST["id"]), progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "experiments.cli",
            *args,
            "--out",
            str(tmp_path / "two"),
        ],
        check=True,
        env=env,
        timeout=600,
        capture_output=True,
    )
    meta = json.loads((tmp_path / "two" / "metadata.json").read_text())
    assert meta["world_size"] == 2
    plan = (tmp_path / "two" / "sharding_plan.txt").read_text()
    assert "rank" in plan
    two = {r["metric"]: r["mean"] for r in meta["metrics"] if r["variant"] == "id_teacher"}
    assert abs(two["recall@50"] - _metric(single, "id_teacher")) < 0.05
    # the last step's loss is one batch's: compare the mean over the last 10 logged steps (50 steps).
    # A rank's softmax has half the batch's candidates: with exchangeable negatives its sum of
    # exponentials is half the full batch's, so its loss is lower by log(2) for the same model
    tail = {k: _late_loss(tmp_path / k) for k in ("one", "two")}
    two = tail["two"] + math.log(meta["world_size"])
    assert abs(two - tail["one"]) / tail["one"] < 0.1, tail


def _late_loss(out, logged: int = 10) -> float:
    """Mean training loss over a run's last `logged` logged steps."""
    log = pl.read_csv(out / "train_log.csv")
    assert log.height > 2 * logged
    return float(log["loss"].tail(logged).mean())


def test_examples_of_a_step_are_a_pure_function_of_seed_and_step():
    """The epoch's order is drawn once and kept, yet every step's examples are what a fresh draw of
    (seed, epoch) gives: resuming at any step, going back an epoch, or two ranks see the same batches."""
    from types import SimpleNamespace

    from teachers.config import TeacherConfig
    from teachers.kinds import IDTeacher

    cfg = TeacherConfig(kind="id", batch_size=64, seed=3)
    kind = IDTeacher(SimpleNamespace(n_examples=1000), cfg)

    def fresh(step):
        epoch, pos = divmod(step, 1000 // 64)
        return np.random.default_rng([3, epoch]).permutation(1000)[pos * 64 : (pos + 1) * 64]

    for step in [0, 1, 15, 16, 40, 2, 47, 31]:  # across epochs, and back
        got = kind.examples_at(step)
        assert got.tolist() == fresh(step).tolist()
        got[:] = -1  # a caller writing into its batch does not change the next one
    halves = [kind.examples_at(5, rank, 2) for rank in (0, 1)]
    assert np.concatenate(halves).tolist() == fresh(5).tolist()


def test_cooccurrence_baseline_ranks_as_its_dense_definition(tiny_ds):
    """The sparse item-to-item product ranks every event as the definition does, computed densely:
    users x items incidence X, cosine-normalised co-occurrence D^-1/2 X X^T D^-1/2, a user's score the
    sum of their history items' rows (repeats count again)."""
    from recplug.metrics import ranks_from_scores
    from teachers.evaluate import cooccurrence_ranks

    cfg = load_config(kind="id")
    data = TeacherData.from_dataset(tiny_ds, cfg)
    ev = data.eval_set(tiny_ds, tiny_ds.meta.splits.valid_end, cfg.history_len)
    x = np.zeros((data.items.size - 1, data.users.size - 1))
    x[data.item_row - 1, data.user_row - 1] = 1.0
    inv = 1.0 / np.sqrt(np.maximum(x.sum(1), 1.0))
    c = inv[:, None] * (x @ x.T) * inv[None, :]
    h = np.zeros((len(ev), x.shape[0]))
    for i, items in enumerate(ev.history_list()):
        np.add.at(h[i], items - 1, 1.0)
    exclude = [torch.as_tensor(v - 1) for v in ev.history_list()]
    scores = torch.from_numpy(np.round(h @ c, 9).astype(np.float32))
    expected = ranks_from_scores(scores, torch.as_tensor(ev.target_rows - 1), exclude)
    assert len(ev) > 100 and (h > 1).any()  # repeated history items are in the check
    np.testing.assert_array_equal(cooccurrence_ranks(data, ev, chunk=64), expected)
