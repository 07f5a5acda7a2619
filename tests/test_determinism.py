"""Row order that must not depend on polars' hashing (issue #14: two runs with the same config give
identical report rows). polars leaves a join's row order unspecified without `maintain_order`, and a
group_by's or a tie's order to its hasher, so these tests hold the code to that contract: joins
without `maintain_order` return their rows shuffled, and the results must not change."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import polars as pl
import pytest

from experiments.lt.log_proxy import active_days, lt_proxy
from experiments.lt.scorers import true_affinity_scorer
from features.context import MAX_LEVELS, ContextFeatures
from recplug.data import ValidationFailed, load_dataset, validate_dataset
from recplug.data.describe import describe_dataset
from recplug.data.world.queries import make_queries


@pytest.fixture
def unordered_joins(monkeypatch):
    """Every join without `maintain_order` (eager ones go through `LazyFrame.join`) shuffles its rows:
    what polars may do on another run, thread count or version, done here every time."""
    real = pl.LazyFrame.join

    def join(self, *args, maintain_order=None, **kwargs):
        out = real(self, *args, maintain_order=maintain_order, **kwargs)
        if maintain_order not in (None, "none"):
            return out
        shuffle = pl.int_range(pl.len()).shuffle(seed=1).alias("_shuffle")
        return out.with_columns(shuffle).sort("_shuffle").drop("_shuffle")

    return lambda: monkeypatch.setattr(pl.LazyFrame, "join", join)


def _test_impressions(world, ds) -> pl.DataFrame:
    test = ds.interactions.filter(pl.col("ts") >= ds.meta.splits.valid_end)
    cols = [test[c].to_numpy() for c in ("user_id", "item_id", "ts")]
    score = true_affinity_scorer(world)(cols[0], cols[1], None, cols[2])
    return test.select("user_id", "item_id", "ts").with_columns(score=score)


def test_active_days_come_in_the_users_order(tiny_ds, unordered_joins):
    """The known case: `active_days` is read by position against the caller's users."""
    s = tiny_ds.meta.splits
    users = pl.Series(
        "user_id", np.random.default_rng(0).permutation(tiny_ds.interactions["user_id"].unique())
    )
    expected = active_days(tiny_ds, users, s.valid_end, 2)
    unordered_joins()
    got = active_days(tiny_ds, users, s.valid_end, 2)
    assert expected.sum() > 0
    np.testing.assert_array_equal(got, expected)


def test_log_proxy_rows_do_not_depend_on_join_order(tiny_world, tiny_ds, unordered_joins):
    frame = _test_impressions(tiny_world, tiny_ds)
    expected = lt_proxy(frame, tiny_ds, "oracle", horizon=1, n_boot=20)
    unordered_joins()
    got = lt_proxy(frame, tiny_ds, "oracle", horizon=1, n_boot=20)
    assert json.dumps(got) == json.dumps(expected)


def test_world_queries_do_not_depend_on_join_order(tiny_world, unordered_joins):
    """queries.parquet's rows (hence its bytes) come out the same on every generation."""
    expected = make_queries(tiny_world.latents)
    unordered_joins()
    got = make_queries(tiny_world.latents)
    assert got.equals(expected)


def test_validation_names_the_first_unknown_items_in_file_order(tiny_dir, tmp_path, unordered_joins):
    folder = tmp_path / "data"
    shutil.copytree(tiny_dir, folder)
    path = folder / "interactions.parquet"
    bad = [5, 50, 100, 150, 200, 250, 300]
    inter = pl.read_parquet(path).with_row_index("_row")
    inter = inter.with_columns(
        item_id=pl.when(pl.col("_row").is_in(bad)).then(10**9 + pl.col("_row")).otherwise("item_id")
    )
    inter.drop("_row").write_parquet(path)
    unordered_joins()
    with pytest.raises(ValidationFailed) as err:
        validate_dataset(folder, check_media=False)
    named = next(line for line in str(err.value).splitlines() if "not in items.parquet" in line)
    assert [int(r) for r in re.findall(r"row (\d+)", named)] == bad[:5], named


def test_context_levels_break_count_ties_by_value():
    """20 levels as frequent as each other: the 16 kept are the smallest, not the hasher's pick."""
    values = [f"v{i:02d}" for i in range(MAX_LEVELS + 4)]
    column = np.random.default_rng(0).permutation(np.repeat(values, 30))
    frame = pl.DataFrame(
        {"user_id": 1, "item_id": 1, "ts": np.arange(len(column)), "label": 1, "colour": column}
    )
    context = ContextFeatures(frame, pl.col("label") > 0, columns={"colour": "categorical"})
    assert context.levels["colour"] == values[:MAX_LEVELS]


def test_describe_lists_periods_in_time_order(tiny_dir):
    """describe.json's periods come train, valid, test (a group_by alone gives the hasher's order)."""
    assert list(describe_dataset(load_dataset(tiny_dir, lazy=True))["periods"]) == ["train", "valid", "test"]
