"""Evaluation integrity: nothing trained sees the test period (or, for the embedding stages, anything after
the training period), every choice is made on validation data, cold items are unseen by every trained
model, and intervals hold the training seeds' variance."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest
from conftest import SMALL_MODEL

from recplug.data import load_dataset, time_split
from recplug.data.io import write_parquet
from recplug.student.holdout import query_split


def perturb_after(src, dst, since: int, seed: int = 0, drop: float = 0.3) -> None:
    """A copy of dataset `src` in `dst` where every interaction at or after `since` has its labels
    changed (positives become negatives and back) and a share of them is dropped, and every test
    query (by the student's query split) points at other items with other scores."""
    shutil.copytree(src, dst)
    ds = load_dataset(dst)
    rng = np.random.default_rng(seed)
    inter = ds.interactions
    after = (inter["ts"] >= since).to_numpy()
    keep = ~after | (rng.random(len(inter)) >= drop)
    flipped = inter.with_columns(
        [
            pl.when(pl.Series(after))
            .then(1.0 - pl.col(c))
            .otherwise(pl.col(c))
            .cast(inter.schema[c])
            .alias(c)
            for c in ds.meta.label_columns
            if c in inter.columns
        ]
    ).filter(pl.Series(keep))
    write_parquet(flipped, dst / "interactions.parquet")
    q = ds.queries
    cfg = small_config()
    test = (query_split(q["query"], cfg.seed, cfg.valid_holdout, cfg.holdout) == "test").to_numpy()
    items = ds.items["item_id"].to_numpy()
    q = q.with_columns(
        item_id=pl.when(pl.Series(test))
        .then(pl.Series(rng.choice(items, len(q))))
        .otherwise(pl.col("item_id")),
        score=pl.when(pl.Series(test)).then(pl.lit(0.5, dtype=pl.Float32)).otherwise(pl.col("score")),
    )
    write_parquet(q, dst / "queries.parquet")
    assert (pl.read_parquet(dst / "interactions.parquet").height < inter.height) and test.any()


def small_config():
    from recplug.student.train_config import load_student_config

    return load_student_config(
        None,
        model=SMALL_MODEL,
        preset="scratch",
        batch_size=32,
        vocab_size=1000,
        checkpoint_every=50,
        stages=[
            {"name": "I", "steps": 20, "lr": 1e-3},
            {"name": "II", "steps": 10, "sources": "closest", "lr": 5e-4},
            {"name": "III", "steps": 10, "sources": "closest", "hard_negatives": True, "lr": 3e-4},
        ],
        mining={"refresh_every": 5, "sample": 100},
        balancing={"sample": 64, "clusters": 4},
    )


def embedding_stages(data_dir, out) -> dict[str, np.ndarray]:
    """Train both teachers, the student (stages I-III: balancing, closest sources, mining) and CRE on
    `data_dir`; their exported item embeddings by name, and the student's balancing (the choice of
    stages II-III) under "balancing"."""
    from recplug.data.embeddings import read_embeddings
    from recplug.student.cre.config import load_cre_config
    from recplug.student.cre.train import train_cre
    from recplug.student.train import train_student
    from teachers.config import load_config
    from teachers.train import train_teacher

    for kind in ("id", "seq"):
        train_teacher(data_dir, out / kind, load_config(None, kind=kind, epochs=1), progress=False)
    train_student(data_dir, out / "student", small_config(), progress=False)
    cre = load_cre_config(
        None,
        teachers=[
            {"name": "id", "path": str(out / "id")},
            {"name": "seq", "path": str(out / "seq"), "user_states": True},
        ],
        batch_size=32,
        seq_batch_size=12,
        phases=[
            {"name": "seq", "steps": 10, "weights": {"seq2item": 1.0, "seq_user": 0.3, "aux_i2i": 0.3}},
            {"name": "id", "steps": 10, "weights": {"id2item": 1.0, "aux_i2i": 0.5, "seq2item": 0.5}},
        ],
    )
    train_cre(data_dir, out / "student", out / "cre", cre, progress=False)
    got = {"balancing": (json.loads((out / "student" / "balancing.json").read_text()), None)}
    for name in ("id", "seq", "student", "cre"):
        table = read_embeddings(out / name / "embeddings.parquet")
        got[name] = (table.ids, table.vectors)
    return got


@pytest.fixture(scope="module")
def clean_run(tiny_dir, tmp_path_factory):
    """(run folder, embeddings) of the embedding stages on the unperturbed tiny world."""
    out = tmp_path_factory.mktemp("clean")
    return out, embedding_stages(tiny_dir, out)


@pytest.mark.slow
@pytest.mark.parametrize("boundary", ["valid_end", "train_end"])
def test_embeddings_do_not_move_when_the_future_changes(tiny_dir, tiny_ds, tmp_path, clean_run, boundary):
    """Every label flipped and 30% of the interactions dropped from `boundary` on, test queries
    rewritten: the teachers', the student's (whose balancing, source choice and mining ran) and the
    CRE student's embeddings are bit-identical to the unperturbed run's."""
    data = tmp_path / "data"
    perturb_after(tiny_dir, data, getattr(tiny_ds.meta.splits, boundary))
    perturbed = embedding_stages(data, tmp_path / "run")
    assert perturbed["balancing"] == clean_run[1]["balancing"], (
        f"balancing moved when data after {boundary} changed"
    )
    for name, (ids, vectors) in clean_run[1].items():
        if name == "balancing":
            continue
        p_ids, p_vectors = perturbed[name]
        assert np.array_equal(ids, p_ids), name
        assert np.array_equal(vectors, p_vectors), (
            f"{name} embeddings moved when data after {boundary} changed"
        )


def test_cold_items_appear_in_no_training_pair_of_any_source(tiny_dir, tiny_ds, tmp_path, clean_run):
    """Inductive by default: the test period's cold items (and every item created at or after the cut-off)
    are in no student source, no CRE sample, pool, teacher row or auxiliary pair."""
    from recplug.student.cre.config import load_cre_config
    from recplug.student.cre.teachers import load_teacher_targets
    from recplug.student.cre.train import cre_data
    from recplug.student.run import StudentRun

    run = StudentRun.setup(tiny_dir, tmp_path, small_config())
    cold_rows = np.flatnonzero(np.isin(run.store.item_ids, time_split(tiny_ds).cold_items.to_numpy()))
    created = tiny_ds.items.filter(pl.col("created_ts") >= tiny_ds.meta.splits.train_end)["item_id"]
    new_rows = run.store.rows(created.to_numpy())
    assert len(cold_rows) > 10 and set(cold_rows) <= set(new_rows)
    assert not run.holdout.trainable[new_rows].any()
    for p in run.pairsets:
        used = set()
        for side in (p.query_rows, p.target_rows):
            if side is not None:
                used |= set(side.tolist())
        assert not used & set(new_rows.tolist()), p.spec.name
    assert not set(run.holdout.queries["train"]["item_id"].to_list()) & set(created.to_list())
    teachers_dir = clean_run[0]
    cfg = load_cre_config(None, teachers=[{"name": "id", "path": str(teachers_dir / "id")}])
    data, _ = cre_data(run.ds, run, [load_teacher_targets(t, run.store) for t in cfg.teachers], cfg)
    cre_rows = set(data.samples.targets.tolist()) | set(data.samples.pool[data.samples.pool >= 0].tolist())
    cre_rows |= set(data.user_pools[data.user_pools >= 0].tolist()) | set(data.id_rows.tolist())
    cre_rows |= set(data.aux_pairs[0].tolist()) | set(data.aux_pairs[1].tolist())
    assert not cre_rows & set(new_rows.tolist())


def test_transductive_is_an_explicit_choice(tiny_dir, tmp_path):
    from recplug.student.run import StudentRun

    inductive = StudentRun.setup(tiny_dir, tmp_path / "i", small_config())
    cfg = small_config().model_copy(update={"transductive": True})
    transductive = StudentRun.setup(tiny_dir, tmp_path / "t", cfg)
    assert inductive.holdout.summary()["mode"] == "inductive"
    assert transductive.holdout.trainable.all() and not inductive.holdout.trainable.all()
    views = lambda r: len(next(p for p in r.pairsets if p.spec.builder == "item_views"))  # noqa: E731
    assert views(transductive) > views(inductive)


def test_evaluation_is_out_of_sample(tiny_dir, tmp_path):
    """Test co-engagement pairs exclude training pairs (counted); category metrics use items whose label
    never trained; balancing's validation sets come before the cut-off and are not training pairs; test
    queries never train and their words are not in the tokenizer unless training text has them."""
    from recplug.student.run import StudentRun, training_pair_keys

    run = StudentRun.setup(tiny_dir, tmp_path, small_config())
    ep = run.eval_pairs
    trained = training_pair_keys(run.pairsets)
    assert not {(a, b) for a, b in zip(*(x.tolist() for x in ep.coengagement), strict=True)} & trained
    assert ep.report["coengagement_test_pairs_excluded_as_training_pairs"] > 0
    labelled = next(p for p in run.pairsets if p.spec.builder == "item_category").query_rows
    assert not ep.category_rows[labelled].any()
    assert ep.category_rows[ep.content[0]].all() and ep.category_rows[ep.content[1]].all()
    rows, texts = run.validation
    assert len(rows) > 0 and texts
    test_texts = set(run.holdout.queries["test"]["query"].to_list())
    assert not test_texts & set(texts)
    assert not test_texts & set(run.holdout.queries["train"]["query"].to_list())


def test_query_split_is_stable_under_rewritten_queries():
    texts = pl.Series(
        ["red box", "blue hum", "green hum", "red box", "slow drum"] * 20 + [f"q{i}" for i in range(500)]
    )
    before = query_split(texts, 0, 0.1, 0.1)
    rewritten = pl.concat([texts, pl.Series(["a brand new query", "another one"])])
    after = query_split(rewritten, 0, 0.1, 0.1)
    assert after[: len(texts)].to_list() == before.to_list()
    assert 0.05 < (before == "test").mean() < 0.2 and 0.05 < (before == "valid").mean() < 0.2
    assert (before.filter(texts == "red box").n_unique()) == 1


def test_seed_variance_widens_the_ranking_intervals():
    """Two-level bootstrap: with seeds that disagree, the difference's interval is wider than users
    alone; with identical seeds it is the same."""
    from features.experiment_rows import ranking_rows
    from features.history import Histories
    from features.impressions import Impressions

    rng = np.random.default_rng(0)
    n = 4000
    labels = rng.random(n) < 0.3
    users = rng.integers(0, 400, n)
    base = rng.random(n)
    imps = Impressions(
        user_id=users,
        item_id=np.arange(n),
        ts=np.arange(n),
        label=labels.astype(np.float32),
        period=np.full(n, 2, np.int8),
        cold=np.zeros(n, dtype=bool),
        hist=Histories(np.zeros(n, np.int64), np.zeros(0, np.int64)),
    )
    good = [base + s * labels for s in (0.05, 0.6, 0.2)]  # training seeds that disagree a lot
    widening: list[dict] = []
    rows, _ = ranking_rows(imps, {"baseline": [base] * 3, "+match": good}, n_boot=200, widening=widening)
    w = next(x for x in widening if x["metric"] == "auc_diff" and x["split"] == "all")
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(w["ci_users_and_seeds"]) > 2 * width(w["ci_users_only"])
    same: list[dict] = []
    ranking_rows(imps, {"baseline": [base] * 3, "+match": [good[0]] * 3}, n_boot=200, widening=same)
    s = next(x for x in same if x["metric"] == "auc_diff" and x["split"] == "all")
    assert np.allclose(s["ci_users_and_seeds"], s["ci_users_only"])


def test_two_level_bootstrap_holds_the_seed_spread():
    from recplug.metrics.intervals import two_level_bootstrap

    rng = np.random.default_rng(0)
    users = rng.normal(0, 1, 2000)
    (m, lo, hi), (ulo, uhi) = two_level_bootstrap(np.stack([users + 0.5, users - 0.5, users]), 400)
    assert lo < m < hi and (hi - lo) > 3 * (uhi - ulo)
    (_, lo1, hi1), (ulo1, uhi1) = two_level_bootstrap(np.stack([users, users]), 400)
    assert np.isclose(hi1 - lo1, uhi1 - ulo1, rtol=0.2)


@pytest.mark.slow
def test_fold_embeddings_do_not_move_when_the_ranker_fit_labels_change(tiny_dir, tiny_ds, tmp_path):
    """Forward chaining: a fold's embeddings (cut off at c) give the features of the ranker's rows at or
    after c. Flipping every label from c on (and dropping 30% of those rows) leaves them identical."""
    from recplug.data.cutoff import dataset_cut_at

    s = tiny_ds.meta.splits
    cut = int(s.start + 0.4 * (s.train_end - s.start))
    perturb_after(tiny_dir, tmp_path / "perturbed", cut)
    runs = []
    for name, src in (("clean", tiny_dir), ("perturbed", tmp_path / "perturbed")):
        view = dataset_cut_at(src, tmp_path / name / "view", train_end=cut, valid_end=s.train_end)
        runs.append(embedding_stages(view, tmp_path / name / "run"))
    for name, (ids, vectors) in runs[0].items():
        if name != "balancing":
            assert np.array_equal(ids, runs[1][name][0]) and np.array_equal(vectors, runs[1][name][1]), name
    assert runs[0]["balancing"] == runs[1]["balancing"]
