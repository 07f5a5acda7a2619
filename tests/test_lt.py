"""The LT simulator and the log proxy on the tiny world: the oracle keeps users longer than random and
popularity, runs are reproducible, the simulation reuses the logs' exact end state, and bad input is
named."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from experiments.lt import (
    lt_rows,
    lt_start,
    popularity_scorer,
    random_scorer,
    simulate_lt,
    true_affinity_scorer,
)
from experiments.lt.log_proxy import average_ranks, lt_proxy
from experiments.lt.plot import plot_lt_curves
from experiments.lt.start import prepend, replay_return_state
from features.history import Histories
from recplug.data.world import logs as world_logs

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def start(tiny_world, tiny_dir):
    return lt_start(tiny_world, tiny_dir)


@pytest.fixture(scope="module")
def runs(tiny_world, tiny_dir, start):
    scorers = {
        "oracle": true_affinity_scorer(tiny_world),
        "popularity": popularity_scorer(tiny_dir),
        "random": random_scorer(0),
    }
    return {
        name: simulate_lt(tiny_world, start, s, days=7, seeds=SEEDS, variant=name, progress=False)
        for name, s in scorers.items()
    }


def _row(rows, variant, metric, split="all"):
    (row,) = [r for r in rows if (r["variant"], r["metric"], r["split"]) == (variant, metric, split)]
    return row


def test_oracle_keeps_users_longer_than_random_and_popularity(runs):
    rows = lt_rows(runs, baseline="random", horizons=(7,))
    oracle, rand = _row(rows, "oracle", "lt7"), _row(rows, "random", "lt7")
    assert oracle["ci_low"] > rand["ci_high"]
    assert _row(rows, "oracle", "lt7_diff")["ci_low"] > 0
    assert _row(rows, "popularity", "lt7_diff")["ci_low"] > 0
    vs_pop = lt_rows(runs, baseline="popularity", horizons=(7,))
    assert _row(vs_pop, "oracle", "lt7_diff")["ci_low"] > 0
    assert not [r for r in rows if r["variant"] == "random" and r["metric"].endswith("_diff")]
    # the oracle also serves more satisfying impressions every day
    assert (runs["oracle"].satisfaction > runs["random"].satisfaction).all()


def test_same_seed_same_result_and_only_the_ranking_matters(tiny_world, start, runs):
    oracle = true_affinity_scorer(tiny_world)
    again = simulate_lt(tiny_world, start, oracle, days=7, seeds=SEEDS, progress=False)
    np.testing.assert_array_equal(again.active, runs["oracle"].active)
    # a monotone transform ranks alike: common random numbers give the very same users and outcomes
    scaled = simulate_lt(
        tiny_world, start, lambda *a: 3 * oracle(*a) - 1, days=7, seeds=SEEDS, progress=False
    )
    np.testing.assert_array_equal(scaled.active, runs["oracle"].active)
    np.testing.assert_allclose(scaled.satisfaction, runs["oracle"].satisfaction)
    # variants share each seed's day-0 draws; different seeds do not
    assert (runs["random"].active[:, 0] == runs["oracle"].active[:, 0]).all()
    assert (runs["oracle"].active[0] != runs["oracle"].active[1]).any()


def test_a_user_sample_draws_only_its_sessions_and_keeps_common_random_numbers(tiny_world, start, runs):
    """`users`: a day draws candidates and labels for the sampled users' sessions only (its cost is the
    sample's), every variant of a seed still faces the same draws, and who returns on day 0 is the
    full simulation's (return draws are per user, whoever is simulated)."""
    from experiments.lt.simulator import Simulator

    ids = np.arange(1, tiny_world.config.n_users + 1)[::4]
    day = Simulator(tiny_world, start, ids - 1, 50).draw_day(start.state.copy(), 0, start.day)
    assert len(day.cand) == len(day.positive) == day.n_sess[ids - 1].sum() < day.n_sess.sum()
    oracle = true_affinity_scorer(tiny_world)
    sample = lambda scorer: simulate_lt(  # noqa: E731
        tiny_world, start, scorer, days=7, seeds=SEEDS, users=ids, progress=False
    )
    a, b = sample(oracle), sample(lambda *x: 3 * oracle(*x) - 1)
    np.testing.assert_array_equal(a.active, b.active)
    np.testing.assert_allclose(a.satisfaction, b.satisfaction)
    np.testing.assert_array_equal(a.active[:, 0], runs["oracle"].active[:, 0][:, ids - 1])
    assert a.active[:, 1:].any()


def test_replayed_return_state_is_the_generators(tiny_world, tiny_ds, monkeypatch):
    states = []

    class Recording(world_logs.ReturnModel):
        def update(self, *args):
            states.append(super().update(*args))
            return states[-1]

    monkeypatch.setattr(world_logs, "ReturnModel", Recording)
    for _ in world_logs.simulate_logs(tiny_world.latents):
        pass
    replayed = replay_return_state(tiny_world, tiny_ds, tiny_world.config.n_days)
    np.testing.assert_allclose(replayed, states[-1], rtol=0, atol=1e-12)


def test_start_histories_hold_latest_positives_first(tiny_ds, start):
    pos = tiny_ds.positives().filter(pl.col("user_id") == 1).sort("ts", descending=True)
    hist = start.histories.take(np.array([0]))
    assert hist.lengths[0] == min(pos.height, 50)
    np.testing.assert_array_equal(hist.items, pos["item_id"].to_numpy()[:50])


def test_prepend_puts_new_items_first_and_caps():
    hist = Histories(np.array([2, 0, 3]), np.array([10, 11, 30, 31, 32]))
    out = prepend(hist, rows=np.array([2, 1]), lengths=np.array([2, 1]), items=np.array([7, 8, 9]), cap=4)
    assert out.lengths.tolist() == [2, 1, 4]
    assert out.items.tolist() == [10, 11, 9, 7, 8, 30, 31]
    assert out.truncated == 1


def test_bad_scorer_and_unpaired_variants_are_named(tiny_world, start, runs):
    with pytest.raises(ValueError, match="scorer returned shape"):
        simulate_lt(tiny_world, start, lambda u, i, h, t: np.zeros(3), days=1, seeds=(0,), progress=False)
    other = simulate_lt(tiny_world, start, random_scorer(1), days=7, seeds=(5,), variant="r1", progress=False)
    with pytest.raises(ValueError, match="different seeds"):
        lt_rows({"random": runs["random"], "r1": other}, baseline="random")
    with pytest.raises(ValueError, match="LT14 needs 14"):
        other.lt(14)


def test_lt_curve_plot_is_written(runs, tmp_path):
    path = plot_lt_curves(runs, tmp_path / "lt.png", n_boot=20)
    assert path.stat().st_size > 1000


def _test_impressions(tiny_ds, scorer):
    test = tiny_ds.interactions.filter(pl.col("ts") >= tiny_ds.meta.splits.valid_end)
    cols = [test[c].to_numpy() for c in ("user_id", "item_id", "ts")]
    return test.select("user_id", "item_id", "ts").with_columns(score=scorer(cols[0], cols[1], None, cols[2]))


def test_log_proxy_rows_have_finite_intervals(tiny_world, tiny_ds):
    rows = lt_proxy(
        _test_impressions(tiny_ds, true_affinity_scorer(tiny_world)), tiny_ds, "oracle", n_boot=50
    )
    metrics = {r["metric"] for r in rows}
    assert {"spearman_pos_score_future2d", "spearman_auc_past2d", "future2d_top20_auc"} <= metrics
    assert all(r["experiment"] == "lt_proxy" and r["n"] > 10 for r in rows)
    assert all(np.isfinite([r["mean"], r["ci_low"], r["ci_high"]]).all() for r in rows)
    assert all(r["ci_low"] <= r["mean"] <= r["ci_high"] for r in rows if "spearman" in r["metric"])


def test_log_proxy_uses_every_window_and_warns_when_the_horizon_is_cut(tiny_world, tiny_ds):
    """Every window whose horizon fits gives one unit per active user: with a 1-day horizon the tiny
    world's 3-day test period gives two windows, so more units than the first window's users; a horizon
    longer than the test period is cut, with a warning."""
    frame = _test_impressions(tiny_ds, true_affinity_scorer(tiny_world))
    warnings: list[str] = []
    rows = lt_proxy(frame, tiny_ds, "oracle", horizon=1, n_boot=20, warnings=warnings)
    n = next(r["n"] for r in rows if r["metric"] == "spearman_pos_score_future1d")
    s = tiny_ds.meta.splits
    first_day = frame.filter(pl.col("ts") < s.valid_end + 86400)["user_id"].n_unique()
    assert n > first_day and warnings == []
    lt_proxy(frame, tiny_ds, "oracle", horizon=30, n_boot=20, warnings=warnings)
    assert warnings and "exceed the test period" in warnings[0]


def test_log_proxy_names_missing_score_and_unlogged_rows(tiny_world, tiny_ds):
    frame = _test_impressions(tiny_ds, random_scorer(0))
    with pytest.raises(ValueError, match="'score'"):
        lt_proxy(frame.drop("score"), tiny_ds)
    with pytest.raises(ValueError, match="not in .*interactions"):
        lt_proxy(frame.with_columns(pl.col("item_id") + 10_000), tiny_ds)


def test_average_ranks_share_ties():
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
