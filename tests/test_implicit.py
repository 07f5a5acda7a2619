"""Implicit logs end to end: samplers (never a future item, never the user's own positive), baskets,
string ids, ISO dates, context columns, the early stop on a log without negatives, full-catalog metrics
and the ranking experiment on sampled negatives."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features.catalog import CatalogQueries, catalog_metrics
from features.context import ContextFeatures
from features.experiment import run_ranking
from features.history import Histories
from features.impressions import load_impressions
from features.negatives import NegativeConfig, sample_negatives
from features.train import RankingConfig
from recplug.data import load_dataset
from recplug.data.embeddings import write_embeddings
from recplug.data.errors import DatasetError
from recplug.data.id_map import read_map
from recplug.data.importers import import_table
from recplug.data.labels import label_balance
from recplug.data.positives_only import positives_only

DAY = 86400


@pytest.fixture(scope="module")
def implicit_dir(tiny_dir, tmp_path_factory):
    """The tiny world's clicks only, one 'play' each, at day granularity."""
    return positives_only(
        tiny_dir, tmp_path_factory.mktemp("implicit") / "data", label="play", day_level=True
    )


# --- samplers -------------------------------------------------------------------------------------


def _toy_log(seed: int = 0, n: int = 3000):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 60, n)
    items = rng.zipf(1.5, n) % 200
    ts = np.sort(rng.integers(0, 30 * DAY, n))
    period = np.searchsorted([20 * DAY, 25 * DAY], ts, side="right")
    catalog = np.arange(200)
    available = rng.integers(0, 30 * DAY, 200)
    first = np.full(200, np.iinfo(np.int64).max)
    np.minimum.at(first, items, ts)
    available = np.minimum(available, first)  # every logged item is available by its first event
    return users, items, ts, period, catalog, available


@pytest.mark.parametrize("sampler", ["uniform", "popularity", "exposure"])
def test_samplers_never_return_a_future_item_or_the_users_positive_and_repeat_by_seed(sampler):
    users, items, ts, period, catalog, available = _toy_log()
    cfg = NegativeConfig(sampler=sampler, per_positive=3, seed=7)
    neg = sample_negatives(users, items, ts, period, catalog, available, cfg)
    assert neg.stats["negatives"] > 0.9 * 3 * len(users)
    assert (available[neg.item_id] <= neg.ts).all(), "a negative item was not available yet"
    own = set(zip(period.tolist(), users.tolist(), items.tolist(), strict=True))
    neg_period = period[neg.source]
    assert not any(
        k in own for k in zip(neg_period.tolist(), neg.user_id.tolist(), neg.item_id.tolist(), strict=True)
    )
    # one negative item at most once per (user, ts)
    keys = np.stack([neg.user_id, neg.ts, neg.item_id], 1)
    assert len(np.unique(keys, axis=0)) == len(keys)
    again = sample_negatives(users, items, ts, period, catalog, available, cfg)
    assert np.array_equal(again.item_id, neg.item_id) and np.array_equal(again.ts, neg.ts)
    other = sample_negatives(users, items, ts, period, catalog, available, cfg.model_copy(update={"seed": 8}))
    assert not np.array_equal(other.item_id[:100], neg.item_id[:100])


def test_popularity_sampler_follows_the_positives_popularity_and_uniform_does_not():
    users, items, ts, period, catalog, available = _toy_log(n=6000)
    counts = np.bincount(items, minlength=200)

    def drawn(sampler):
        neg = sample_negatives(users, items, ts, period, catalog, available, NegativeConfig(sampler=sampler))
        return np.bincount(neg.item_id, minlength=200)

    popular, uniform = drawn("popularity"), drawn("uniform")
    # negatives drawn in proportion to positives (less the users' own): far more popular than uniform ones
    assert (counts * popular).sum() / popular.sum() > 3 * (counts * uniform).sum() / uniform.sum()
    assert np.corrcoef(np.log1p(popular), np.log1p(counts))[0, 1] > 0.5


# --- importer: ids, dates, baskets, context ----------------------------------------------------------


def _write_purchases(folder, rows=None):
    log = pl.DataFrame(
        rows
        or {
            "t_dat": [
                "2018-09-20",
                "2018-09-20",
                "2018-09-21",
                "2018-09-25",
                "2018-09-26",
                "2018-10-01",
                "2018-10-02",
                "2018-10-05",
            ],
            "customer_id": ["c_a", "c_a", "c_b", "c_b", "c_c", "c_a", "c_c", "c_b"],
            "article_id": [
                "0266875001",
                "0266875002",
                "0266875001",
                "0300000001",
                "0266875002",
                "0300000001",
                "0266875001",
                "0266875002",
            ],
            "price": ["0.05", "0.03", "0.05", "0.10", "0.03", "0.10", "0.05", "0.03"],
            "channel": ["web", "web", "shop", "shop", "web", "web", "shop", "shop"],
        }
    )
    log.write_csv(folder / "log.csv")
    pl.DataFrame(
        {
            "article_id": ["0266875001", "0266875002", "0300000001", "0400000001"],
            "prod_name": ["Tee", "Top", "Dress", "Sock"],
            "colour": ["Black", "", "Red", "White"],
            "section": ["Men", "Women", "Women", "Kids"],
        }
    ).write_csv(folder / "items.csv")


MAPPING = {
    "user_id": "customer_id",
    "item_id": "article_id",
    "ts": "t_dat",
    "title": "prod_name",
    "tags": "colour+section",
}


def test_string_ids_round_trip_through_the_id_map_and_exports(tmp_path):
    _write_purchases(tmp_path)
    out = import_table(
        tmp_path / "log.csv",
        tmp_path / "ds",
        items=tmp_path / "items.csv",
        mapping=MAPPING,
        implicit="purchase",
    )
    ds = load_dataset(out)
    assert ds.meta.id_maps == ["user_id", "item_id"]
    items = read_map(out, "item_id")
    assert items["key"].to_list() == ["0266875001", "0266875002", "0300000001", "0400000001"]  # zeros kept
    # every logged (customer, article) comes back by its own keys
    users = read_map(out, "user_id")
    back = (
        ds.interactions.join(users.rename({"id": "user_id", "key": "customer_id"}), on="user_id")
        .join(items.rename({"id": "item_id", "key": "article_id"}), on="item_id")
        .sort("ts", "customer_id", "article_id")
    )
    source = pl.read_csv(tmp_path / "log.csv", infer_schema=False).sort("t_dat", "customer_id", "article_id")
    assert back["article_id"].to_list() == source["article_id"].to_list()
    assert back["customer_id"].to_list() == source["customer_id"].to_list()
    # exports carry the source keys
    write_embeddings(tmp_path / "emb.parquet", ds.items["item_id"].to_numpy(), np.eye(4), dataset=out)
    assert pl.read_parquet(tmp_path / "emb.parquet")["item_key"].to_list() == items["key"].to_list()
    # the items file: titles and tags joined from two columns (an empty one skipped)
    assert ds.items["tags"].to_list() == ["Black, Men", "Women", "Red, Women", "White, Kids"]


def _imported_purchases(tmp_path, context):
    """The purchase log imported as an implicit dataset with these context columns."""
    _write_purchases(tmp_path)
    out = import_table(
        tmp_path / "log.csv", tmp_path / "ds", mapping=MAPPING, implicit="purchase", context=context
    )
    return load_dataset(out)


def test_dates_are_day_baskets_and_context_columns_are_declared(tmp_path):
    ds = _imported_purchases(tmp_path, ["price:numeric", "channel"])
    assert ds.meta.time_granularity == "day" and ds.meta.basket == "day"
    assert ds.meta.context_columns == {"price": "numeric", "channel": "categorical"}
    assert (ds.interactions["ts"] % DAY == 0).all()
    balance = label_balance(ds.interactions, ds.meta)
    assert balance.implicit and "no logged negatives" in balance.note(ds.meta)


def test_a_bad_date_names_the_file_column_row_and_value_and_leaves_no_folder(tmp_path):
    _write_purchases(tmp_path)
    log = pl.read_csv(tmp_path / "log.csv", infer_schema=False)
    log.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("20/09/2018x"))
        .otherwise(pl.col("t_dat"))
        .alias("t_dat")
    ).write_csv(tmp_path / "log.csv")
    with pytest.raises(DatasetError, match=r"log.csv: column 'ts' row 3: '20/09/2018x' is not a time"):
        import_table(tmp_path / "log.csv", tmp_path / "ds", mapping=MAPPING, implicit="purchase")
    assert not (tmp_path / "ds").exists() and not list(tmp_path.glob(".ds.*"))


def test_event_types_become_weights_and_an_unknown_type_is_named(tmp_path):
    pl.DataFrame(
        {"user_id": [1, 1, 2], "item_id": [5, 6, 5], "ts": [10, 20, 30], "kind": ["buy", "cart", "view"]}
    ).write_csv(tmp_path / "log.csv")
    with pytest.raises(DatasetError, match=r"column 'event' row 2: 'view' is an event type with no weight"):
        import_table(
            tmp_path / "log.csv",
            tmp_path / "ds",
            mapping={"event": "kind"},
            event_weights={"buy": 1, "cart": 0.3},
        )
    out = import_table(
        tmp_path / "log.csv",
        tmp_path / "ds",
        mapping={"event": "kind"},
        event_weights={"buy": 1, "cart": 0.3, "view": 0.0},
    )
    ds = load_dataset(out)
    assert ds.interactions["weight"].to_list() == pytest.approx([1.0, 0.3, 0.0])
    assert ds.meta.positive_rule.describe() == "weight >= 0.3"


def test_basket_items_never_enter_each_others_history(tmp_path):
    # session baskets: a session's events share its first ts; day baskets: dates
    pl.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 1, 2],
            "item_id": [10, 11, 12, 13, 14, 10],
            "ts": [100, 160, 220, 5000, 5060, 100],
            "session_id": ["s1", "s1", "s1", "s2", "s2", "s9"],
        }
    ).write_csv(tmp_path / "log.csv")
    out = import_table(tmp_path / "log.csv", tmp_path / "ds", implicit="purchase", basket="session")
    ds = load_dataset(out)
    assert ds.meta.basket == "session"
    imps = load_impressions(ds)
    hist = dict(zip(imps.item_id.tolist(), imps.hist.to_lists(), strict=True))
    assert hist[11] == [] and hist[12] == []  # basket mates of 10 are not its history
    assert sorted(hist[13]) == [10, 11, 12] and sorted(hist[14]) == [10, 11, 12]


def test_day_level_baskets_of_the_world_stay_whole(implicit_dir):
    ds = load_dataset(implicit_dir)
    imps = load_impressions(ds)
    frame = pl.DataFrame({"u": imps.user_id, "t": imps.ts, "i": imps.item_id, "p": imps.period})
    # a basket (user, day) lies in one period
    assert frame.group_by("u", "t").agg(pl.col("p").n_unique()).select((pl.col("p") == 1).all()).item()
    # each row's history holds the user's plays of earlier days only: its length is the number of
    # those (capped), never counting the basket's own items
    frame = frame.with_row_index("r").with_columns(n=pl.len().over("u", "t"))
    earlier = frame.join(frame.select("u", pl.col("t").alias("t2")), on="u").filter(
        pl.col("t2") < pl.col("t")
    )
    before = earlier.group_by("r").agg(pl.len().alias("k"))
    check = frame.join(before, on="r", how="left").with_columns(pl.col("k").fill_null(0)).sort("r")
    expected = np.minimum(check["k"].to_numpy(), 50)
    assert (check["n"] > 1).sum() > 100  # there are baskets to check
    assert np.array_equal(imps.hist.lengths, expected)


# --- ranking on implicit logs ------------------------------------------------------------------------


def test_constant_time_and_rate_features_are_dropped_on_a_day_level_implicit_log(implicit_dir):
    ds = load_dataset(implicit_dir)
    imps = load_impressions(ds, negatives=NegativeConfig())
    context = ContextFeatures(ds.interactions, ds.meta.positive_rule.expr(), ds.meta.splits.valid_end)
    dropped = context.drop_uninformative(context(imps.user_id, imps.item_id, imps.ts, imps.hist.lengths))
    assert {"hour_sin", "hour_cos", "user_rate", "item_rate"} <= set(dropped)
    assert "log1p_history" in context.names and "hour_sin" not in context.names


def test_full_catalog_metrics_rank_each_basket_among_its_candidates():
    queries = CatalogQueries(
        user_id=np.array([1, 2]),
        ts=np.array([0, 0]),
        hist=Histories.from_lists([[], []]),
        positives=[np.array([3]), np.array([1, 2])],
        candidates=[np.arange(5), np.arange(5)],
        extra=None,
    )
    perfect = np.array([0, 0, 0, 1, 0, 0, 2, 1, 0, 0], dtype=np.float64)
    got = catalog_metrics(queries, perfect, [1, 2])
    assert got["recall@2"].tolist() == [1.0, 1.0] and got["ndcg@2"].tolist() == pytest.approx([1.0, 1.0])
    assert got["recall@1"].tolist() == [1.0, 0.5]
    tied = catalog_metrics(queries, np.array([0, 0, 0, 1, 0, 0, 1, 1, 0, 0.0]), [1])
    assert tied["recall@1"].tolist() == [1.0, 0.0]  # two tied at the top: each at rank 1.5
    worst = -perfect
    assert catalog_metrics(queries, worst, [2])["recall@2"].tolist() == [0.0, 0.0]


def test_a_log_without_negatives_and_no_sampler_stops_before_any_training(
    implicit_dir, true_source, tmp_path
):
    from experiments.pipeline.config import load_pipeline_config
    from experiments.pipeline.run import run_pipeline

    cfg = load_pipeline_config("experiments/configs/tiny.yaml", out=str(tmp_path / "run"))
    cfg = cfg.model_copy(
        update={"data": cfg.data.model_copy(update={"generate": None, "path": str(implicit_dir)})}
    )
    with pytest.raises(ValueError, match="no logged negatives") as err:
        run_pipeline(cfg)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run" / "teachers").exists() and not (tmp_path / "run" / "student").exists()
    # the ranking experiment itself refuses one label value too (no degenerate metric)
    with pytest.raises(ValueError, match="every ranking row has label 1"):
        run_ranking(implicit_dir, {"s": true_source[0]}, seeds=[0], out_dir=tmp_path / "r", progress=False)


def test_ranking_on_sampled_negatives_names_the_sampler_and_reports_the_full_catalog(
    implicit_dir, true_source, tmp_path
):
    folder, _ = true_source
    cfg = RankingConfig(
        epochs=2, negatives=NegativeConfig(sampler="popularity", per_positive=3), catalog_queries=60
    )
    result = run_ranking(
        implicit_dir,
        {"true": folder},
        variants=["baseline", "+match"],
        seeds=[0, 1],
        out_dir=tmp_path / "ranking",
        cfg=cfg,
        progress=False,
    )
    rows = {(r["experiment"], r["variant"], r["metric"], r["split"]): r for r in result.rows}
    assert (
        result.summary["negatives"]["sampler"] == "popularity"
        and result.summary["negatives"]["negatives"] > 0
    )
    gain = rows[("ranking", "+match", "auc_diff", "all")]
    assert gain["ci_low"] > 0, gain  # the world's true vectors separate plays from sampled negatives
    # popularity-matched negatives: the baseline's context counts alone barely beat chance
    assert rows[("ranking", "baseline", "auc", "all")]["mean"] < 0.6
    assert rows[("catalog_dlrm", "+match", "recall@50", "all")]["n"] == 60
    assert ("catalog_dlrm", "popularity (reference)", "ndcg@10", "all") in rows
    assert "hour_sin" in result.summary["context_dropped"]


def test_context_columns_become_ranker_features_and_negatives_copy_their_events_context(tmp_path):
    ds = _imported_purchases(tmp_path, ["price", "channel"])
    imps = load_impressions(ds, negatives=NegativeConfig(sampler="uniform", per_positive=1))
    assert imps.sampled.sum() > 0 and len(imps.extra) == len(imps)
    # a sampled negative carries the context of the event it was drawn for (same user, same ts)
    frame = pl.DataFrame({"u": imps.user_id, "t": imps.ts, "s": imps.sampled}).hstack(imps.extra)
    per_event = frame.group_by("u", "t").agg(pl.col("channel").n_unique())
    assert (per_event["channel"] == 1).all()
    context = ContextFeatures(ds.interactions, ds.meta.positive_rule.expr(), columns=ds.meta.context_columns)
    assert {"price", "channel=shop", "channel=web"} <= set(context.names)
    values = context(imps.user_id, imps.item_id, imps.ts, imps.hist.lengths, imps.extra)
    web = values[:, context.names.index("channel=web")]
    assert np.array_equal(web, (imps.extra["channel"] == "web").to_numpy().astype(np.float32))


def test_exposure_negatives_were_engaged_by_someone_that_day():
    users, items, ts, period, catalog, available = _toy_log(n=6000)
    neg = sample_negatives(users, items, ts, period, catalog, available, NegativeConfig(sampler="exposure"))
    shown = set(zip((ts // DAY).tolist(), items.tolist(), strict=True))
    same_day = np.mean(
        [(t // DAY, i) in shown for t, i in zip(neg.ts.tolist(), neg.item_id.tolist(), strict=True)]
    )
    uniform = neg.stats["drawn_uniformly_after_rejections"] / max(neg.stats["negatives"], 1)
    assert same_day >= 0.95 - uniform, (same_day, uniform)
