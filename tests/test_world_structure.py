"""The world has the structure it claims (docs/world.md), so later claims can be tested against it."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from recplug.data import time_split
from recplug.data.world import World
from recplug.data.world.checks import content_onehot, modality_probe, neighbour_recall
from recplug.data.world.config import DAY, START_TS
from recplug.data.world.vocab import ATTRIBUTES, attribute_index


def _digest(folder) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


def test_same_seed_same_bytes_different_seed_different_data(tmp_path, tiny_dir):
    again = World.from_preset("tiny", seed=0).generate(tmp_path / "again", progress=False)
    other = World.from_preset("tiny", seed=1).generate(tmp_path / "other", progress=False)
    assert _digest(again) == _digest(tiny_dir)
    a, b = _digest(again), _digest(other)
    assert all(a[f] != b[f] for f in ("items.parquet", "interactions.parquet", "queries.parquet"))


def test_media_renders_the_same_in_any_batch(tiny_world, tiny_ds):
    ids = np.array([7, 3, 250])
    alone = tiny_world.render_media(ids)
    stored = tiny_ds.items.filter(pl.col("item_id").is_in(ids)).sort(
        pl.col("item_id").replace({7: 0, 3: 1, 250: 2})
    )
    assert alone["image"].to_list() == stored["image"].to_list()
    assert alone["audio"].to_list() == stored["audio"].to_list()


def test_engagement_rises_with_true_affinity(tiny_world, tiny_ds):
    inter = tiny_ds.interactions
    day = ((inter["ts"].to_numpy() - START_TS) // DAY).astype(float)
    aff = tiny_world.ground_truth().affinity(inter["user_id"].to_numpy(), inter["item_id"].to_numpy(), day)
    quintile = np.digitize(aff, np.quantile(aff, [0.2, 0.4, 0.6, 0.8]))
    click = inter["click"].to_numpy()
    rates = np.array([click[quintile == q].mean() for q in range(5)])
    assert np.all(np.diff(rates) > 0), rates
    assert rates[-1] > 4 * rates[0], rates


def test_true_affinity_beats_popularity_in_auc(tiny_world, tiny_ds):
    test = time_split(tiny_ds).test
    day = (test["ts"].to_numpy() - START_TS) / DAY
    aff = tiny_world.ground_truth().affinity(test["user_id"].to_numpy(), test["item_id"].to_numpy(), day)
    pop = tiny_world.latents.items.popularity[test["item_id"].to_numpy() - 1]
    y = test["click"].to_numpy() > 0

    def auc(s):
        r = np.argsort(np.argsort(s)) + 1
        return (r[y].sum() - y.sum() * (y.sum() + 1) / 2) / (y.sum() * (~y).sum())

    assert auc(aff) > auc(pop) + 0.05


def test_co_engaged_items_share_the_attributes_that_drive_behaviour(tiny_ds):
    clicks = tiny_ds.positives().select("user_id", "item_id").unique()
    pairs = clicks.join(clicks, on="user_id").filter(pl.col("item_id") < pl.col("item_id_right"))
    pairs = pairs.sample(min(len(pairs), 20000), seed=0)
    rng = np.random.default_rng(0)
    n_items = tiny_ds.items.height
    random_pairs = rng.integers(1, n_items + 1, size=(len(pairs), 2))
    attrs = World.from_preset("tiny", seed=0).latents.items.attrs
    for name in ("colour", "tempo", "topic"):  # the strongest attribute of each modality
        j = attribute_index(name)
        co = (
            attrs[pairs["item_id"].to_numpy() - 1, j] == attrs[pairs["item_id_right"].to_numpy() - 1, j]
        ).mean()
        chance = (attrs[random_pairs[:, 0] - 1, j] == attrs[random_pairs[:, 1] - 1, j]).mean()
        assert co > 1.15 * chance, (name, co, chance)


def test_cold_items_exist_in_the_test_period(tiny_ds):
    split = time_split(tiny_ds)
    assert len(split.cold_items) > 0
    on_cold = split.test.filter(pl.col("item_id").is_in(split.cold_items.implode()))
    assert on_cold.height > 0
    assert split.train.filter(pl.col("item_id").is_in(split.cold_items.implode())).height == 0
    assert split.valid.filter(pl.col("item_id").is_in(split.cold_items.implode())).height == 0


def test_each_attribute_is_recoverable_from_its_own_modality_only():
    world = World.from_preset("tiny", seed=0, n_items=1500)
    probe = modality_probe(world.items_frame(progress=False), world.ground_truth())
    for row in probe.iter_rows(named=True):
        if row["probe_modality"] == row["attribute_modality"]:
            assert row["accuracy"] > row["chance"] + 0.4, row
        else:
            assert row["accuracy"] < row["chance"] + 0.08, row
    assert len(probe) == len(ATTRIBUTES) * 3


def test_content_explains_behaviour_only_in_part(tiny_world):
    truth = tiny_world.ground_truth()
    rng = np.random.default_rng(0)
    content = neighbour_recall(content_onehot(truth), truth, k=20)
    behaviour = neighbour_recall(truth.item_vectors, truth, k=20)
    chance = neighbour_recall(rng.normal(size=truth.item_vectors.shape), truth, k=20)
    assert behaviour == 1.0
    assert chance + 0.1 < content < behaviour - 0.2, (chance, content)


def test_queries_mention_image_and_audio_words_and_are_graded(tiny_ds):
    q = tiny_ds.queries
    media_words = {w for a in ATTRIBUTES if a.modality != "text" for ws in a.words for w in ws}
    words = set(q["query"].str.split(" ").explode().to_list())
    assert len(words & media_words) > 20
    assert q["score"].min() > 0 and q["score"].max() == 1.0 and q["score"].n_unique() > 2


def test_satisfied_users_return_more_often(tiny_ds):
    """The logged world follows its return model: a day's satisfaction raises the chance of tomorrow."""
    inter = tiny_ds.interactions.with_columns(day=(pl.col("ts") - START_TS) // DAY)
    daily = inter.group_by("user_id", "day").agg(
        sat=(0.2 * pl.col("click") + 0.5 * pl.col("finish") + pl.col("like")).mean()
    )
    nxt = daily.select("user_id", (pl.col("day") - 1).alias("day")).with_columns(returned=pl.lit(True))
    joined = daily.join(nxt, on=["user_id", "day"], how="left").with_columns(
        pl.col("returned").fill_null(False)
    )
    joined = joined.filter(pl.col("day") < joined["day"].max())
    hi = joined.filter(pl.col("sat") >= pl.col("sat").quantile(0.75))["returned"].mean()
    lo = joined.filter(pl.col("sat") <= pl.col("sat").quantile(0.25))["returned"].mean()
    assert hi > lo + 0.05, (hi, lo)


def test_return_model_probability_rises_with_satisfaction(tiny_world):
    model = tiny_world.ground_truth().return_model
    state = model.initial_state()
    low, high = model.p_return(state - 0.05), model.p_return(state + 0.1)
    assert np.all(high > low)
