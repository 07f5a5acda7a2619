"""features/: leak-free histories, match features (values, masking, sharding, freezing), semantic ids,
the ranking experiment, and the classification metrics it reports."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import polars as pl
import pytest
import torch

from features.experiment import RankingRun, run_ranking
from features.experiment_rows import ranking_rows
from features.history import Histories, histories_before, positive_engagements
from features.impressions import Impressions
from features.match import MatchFeatures, compute_match_features
from features.train import RankingConfig
from features.variant import Variant
from recplug.data import read_meta
from recplug.data.embeddings import EmbeddingTable, write_embeddings
from recplug.data.errors import DatasetError
from recplug.metrics.classification import (
    MetricUndefined,
    auc,
    bootstrap_metric,
    gauc,
    group_auc,
    logloss,
    paired_bootstrap,
    weighted_auc,
)

# --- histories ------------------------------------------------------------------------------------


def test_events_before_a_time_match_counting_them_one_by_one():
    """`EventIndex.span_before` against a direct count: ties are the future, unknown keys have no
    events, times before and after the log (the LT simulator's queries) included."""
    from features.events import EventIndex

    rng = np.random.default_rng(0)
    keys, ts = rng.integers(1, 40, 3000) * 3, rng.integers(-50, 500, 3000)
    index = EventIndex(keys, ts, payload=np.arange(3000))
    qk, qt = rng.integers(0, 130, 4000), rng.integers(-80, 700, 4000)
    start, end = index.span_before(qk, qt)
    expected = ((keys[None, :] == qk[:, None]) & (ts[None, :] < qt[:, None])).sum(1)
    assert (end - start).tolist() == expected.tolist()
    for i in rng.choice(4000, 50):  # the span holds exactly those events
        assert (
            sorted(index.payload[start[i] : end[i]])
            == np.flatnonzero((keys == qk[i]) & (ts < qt[i])).tolist()
        )
    assert EventIndex(np.zeros(0), np.zeros(0)).count_before(np.array([1]), np.array([5])).tolist() == [0]


def test_histories_are_newest_first_capped_and_exclude_the_same_second():
    log = pl.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2],
            "item_id": [10, 11, 12, 13, 20],
            "ts": [100, 200, 300, 400, 150],
            "click": [1.0, 0.0, 1.0, 1.0, 1.0],
        }
    )
    eng = positive_engagements(log, pl.col("click") >= 1)
    hist = histories_before(
        eng, np.array([1, 1, 1, 2, 3]), np.array([400, 401, 100, 151, 999]), max_history=2
    )
    # at 400 the click at 400 is not yet history; at 401 it is, and the oldest of three is cut
    assert hist.to_lists() == [[12, 10], [13, 12], [], [20], []]
    assert hist.truncated == 1


def test_future_engagements_do_not_change_match_features(tiny_ds, true_source):
    _, table = true_source
    module = MatchFeatures(table)
    inter, rule = tiny_ds.interactions, tiny_ds.meta.positive_rule
    test = inter.filter(pl.col("ts") >= tiny_ds.meta.splits.valid_end)
    row = test.row(len(test) // 2, named=True)
    user, ts = row["user_id"], row["ts"]
    far_item = int(np.argmin(table.vectors @ table.vectors[row["item_id"] - 1]) + 1)  # least similar

    def features(extra_ts: list[int]) -> np.ndarray:
        planted = pl.DataFrame(
            {"user_id": user, "item_id": far_item, "ts": extra_ts, rule.column: rule.min},
            schema_overrides={
                "user_id": pl.Int64,
                "item_id": pl.Int64,
                "ts": pl.Int64,
                rule.column: pl.Float32,
            },
        )
        log = pl.concat([inter.select("user_id", "item_id", "ts", rule.column), planted])
        hist = histories_before(positive_engagements(log, rule.expr()), np.array([user]), np.array([ts]))
        return compute_match_features(module, hist, np.array([row["item_id"]]))[0][0]

    before = features([])
    assert np.array_equal(features([ts, ts + 1, ts + 86400]), before)  # at or after the impression
    after = features([ts - 1])
    assert not np.allclose(after, before)
    assert (
        after[module.feature_names.index("log1p_history")]
        > before[module.feature_names.index("log1p_history")]
    )


# --- match features -------------------------------------------------------------------------------


def _reference(
    table: EmbeddingTable, rows: list[list[int]], cands: list[int], top_k, decay, bins
) -> np.ndarray:
    """Direct per-row computation of MatchFeatures' definition."""
    unit = {int(i): v / np.linalg.norm(v) for i, v in zip(table.ids, table.vectors, strict=True)}
    out = []
    for hist, cand in zip(rows, cands, strict=True):
        known = [(p, i) for p, i in enumerate(hist) if i in unit]
        sims = [(p, float(unit[i] @ unit[cand])) for p, i in known] if cand in unit else []
        s = np.array([x for _, x in sims])
        w = np.array([decay**p for p, _ in sims])
        if len(s):
            stats = [s.max(), s.mean(), np.sort(s)[::-1][:top_k].mean(), (w * s).sum() / w.sum()]
            hist_bins = np.bincount(
                np.minimum(((s + 1) / 2 * bins).astype(int), bins - 1), minlength=bins
            ) / len(s)
        else:
            stats, hist_bins = [0.0] * 4, np.zeros(bins)
        out.append([*stats, *hist_bins, np.log1p(len(known)), float(not known), float(cand not in unit)])
    return np.array(out)


def test_match_features_equal_a_direct_computation():
    angles = np.deg2rad([0, 30, 60, 90, 120, 180, 45])
    vectors = (np.stack([np.cos(angles), np.sin(angles)], 1) * np.arange(1, 8)[:, None]).astype(np.float32)
    table = EmbeddingTable(np.arange(1, 8), vectors, {})  # not unit length: the module normalises
    rows = [[2, 3, 4, 5, 6, 7, 1], [4, 99, 2], [], [99], [1, 2], [3, 3, 6]]
    cands = [1, 2, 3, 4, 99, 7]  # row 1 has an unknown history item, row 4 an unknown candidate
    module = MatchFeatures(table, top_k=3, decay=0.5, bins=4)
    inp = module.input(Histories.from_lists(rows), np.array(cands))
    got = module(inp.features).numpy()
    assert (inp.missing_history, inp.missing_items) == (2, 1)
    assert got.shape == (len(rows), len(module.feature_names))
    np.testing.assert_allclose(got, _reference(table, rows, cands, 3, 0.5, 4), atol=1e-5)
    empty = got[2]
    assert empty[module.feature_names.index("empty_history")] == 1 and not empty[:4].any()
    # the simulator's path: rows sharing a history (a session's candidates) look it up once
    group = np.array([0, 1, 2, 3, 4, 5, 0, 0, 1])
    more = np.array([*cands, 5, 99, 6])
    grouped = module.grouped(Histories.from_lists(rows), group, more).numpy()
    expected = _reference(table, [rows[g] for g in group], more.tolist(), 3, 0.5, 4)
    np.testing.assert_allclose(grouped, expected, atol=1e-5)


def test_match_features_stay_frozen_inside_a_trained_model(true_source):
    _, table = true_source
    match = MatchFeatures(table)
    head = torch.nn.Linear(len(match.feature_names), 1)
    opt = torch.optim.Adam([*head.parameters(), *match.parameters()], lr=0.1)
    rng = np.random.default_rng(0)
    hist = Histories(np.full(32, 5), rng.integers(1, 1001, 160))
    inp = match.input(hist, rng.integers(1, 1001, 32))
    before = match.ec.embeddings["match_table"].weight.clone()
    head_before = head.weight.detach().clone()
    for _ in range(3):
        loss = head(match(inp.features)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(match.ec.embeddings["match_table"].weight, before)
    assert not torch.equal(head.weight, head_before)


def _sharded_worker(rank: int, store: str, out: str, sharding_type: str) -> None:
    import torch.distributed as dist

    from features.sharding import shard_model

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        table, hist, items = _sharding_case()
        module = MatchFeatures(table)
        model = shard_model(module, sharding_type=sharding_type)
        half = np.arange(rank * len(items) // 2, (rank + 1) * len(items) // 2)
        got = model(module.input(hist.take(half), items[half]).features)
        np.save(f"{out}/rank{rank}.npy", got.numpy())
    finally:
        dist.destroy_process_group()


def _sharding_case():
    rng = np.random.default_rng(0)
    table = EmbeddingTable(np.arange(1, 301), rng.normal(size=(300, 16)).astype(np.float32), {})
    lengths = rng.integers(0, 12, 64)
    return table, Histories(lengths, rng.integers(1, 320, lengths.sum())), rng.integers(1, 320, 64)


def test_sharded_match_features_equal_unsharded(tmp_path):
    import torch.multiprocessing as mp

    store = tempfile.mktemp(prefix="recplug-test-pg-")
    mp.spawn(_sharded_worker, args=(store, str(tmp_path), "row_wise"), nprocs=2)
    table, hist, items = _sharding_case()
    module = MatchFeatures(table)
    expected = module(module.input(hist, items).features).numpy()
    got = np.concatenate([np.load(tmp_path / f"rank{r}.npy") for r in range(2)])
    np.testing.assert_allclose(got, expected, atol=1e-6)


# --- metrics --------------------------------------------------------------------------------------


def test_auc_counts_ties_as_half_and_names_an_undefined_split():
    assert auc(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.9, 0.1])) == pytest.approx(3.5 / 4)
    with pytest.raises(MetricUndefined, match="AUC undefined: test split 'cold' has 0 positives"):
        auc(np.zeros(4), np.arange(4.0), "test split 'cold'")
    # integer weights are the same as repeating rows
    y, s, w = np.array([1, 0, 1, 0, 0]), np.array([0.3, 0.2, 0.8, 0.9, 0.3]), np.array([2, 1, 0, 3, 1])
    rep = np.repeat(np.arange(5), w)
    assert weighted_auc(y, s, w[None])[0] == pytest.approx(auc(y[rep], s[rep]))


def test_gauc_weights_users_by_impressions_and_skips_one_class_users():
    users = np.array([1, 1, 2, 2, 2, 3, 3])
    labels = np.array([1, 0, 1, 0, 0, 1, 1])
    scores = np.array([0.9, 0.1, 0.2, 0.5, 0.1, 0.3, 0.4])
    assert gauc(labels, scores, users) == pytest.approx((2 * 1.0 + 3 * 0.5) / 5)
    assert group_auc(labels, scores, users).skipped == 1
    assert logloss(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)


def test_paired_bootstrap_is_exact_for_identical_models_and_sees_a_real_gain():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 200, 5000)
    labels = (rng.random(5000) < 0.3).astype(float)
    base = rng.random(5000)
    same = paired_bootstrap("auc", labels, users, [base], [base], n_boot=100)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    better = base + 0.3 * labels
    for metric in ("auc", "gauc"):
        diff = paired_bootstrap(metric, labels, users, [base, base], [better, better], n_boot=100)
        assert diff.low > 0 and diff.low <= diff.value <= diff.high
    ll = bootstrap_metric("logloss", labels, users, [np.clip(base, 0.01, 0.99)], n_boot=100)
    assert ll.low <= ll.value <= ll.high


def test_ranking_rows_report_an_undefined_split_and_keep_the_others():
    rng = np.random.default_rng(0)
    n = 400
    cold = np.arange(n) < 50
    labels = np.where(cold, 0.0, rng.random(n) < 0.3).astype(np.float32)
    imps = Impressions(
        user_id=rng.integers(0, 40, n),
        item_id=np.arange(n),
        ts=np.arange(n),
        label=labels,
        period=np.full(n, 2, np.int8),
        cold=cold,
        hist=Histories(np.zeros(n, np.int64), np.zeros(0, np.int64)),
    )
    base = rng.random(n).astype(np.float32)
    rows, undefined = ranking_rows(imps, {"baseline": [base], "+match": [base + 0.2 * labels]}, n_boot=50)
    # one label value on a split: no metric at all (a logloss of all-negative rows is no result)
    assert "test split 'cold': every one of its 50 rows has label 0: no metric reported" in undefined
    have = {(r["variant"], r["metric"], r["split"]) for r in rows}
    assert ("+match", "auc_diff", "all") in have and ("+match", "logloss_diff", "all") in have
    assert not any(s == "cold" for _, m, s in have)


# --- sources, variants and the ranking experiment -------------------------------------------------


def test_sources_from_another_dataset_and_missing_semantic_ids_are_refused(tiny_dir, tmp_path, true_source):
    _, table = true_source
    write_embeddings(tmp_path / "other" / "embeddings.parquet", table.ids + 10**6, table.vectors)
    with pytest.raises(DatasetError, match="covers 0 of the 1000 items"):
        RankingRun(tiny_dir, {"other": tmp_path / "other"}, progress=False)
    write_embeddings(tmp_path / "plain" / "embeddings.parquet", table.ids, table.vectors)
    with pytest.raises(ValueError, match="semantic_ids.parquet"):
        run_ranking(tiny_dir, {"plain": tmp_path / "plain"}, ["+sid"], seeds=[0], out_dir=tmp_path / "r")
    # a table fitted on the training period leaks into a ranker fitted there, not into one fitted later
    (tmp_path / "plain" / "metadata.json").write_text(
        json.dumps({"kind": "id", "dim": table.dim, "data_cutoff_ts": read_meta(tiny_dir).splits.train_end})
    )
    plain = Variant.parse("+match", "plain")
    for fit_on, leaks in (("train", True), ("valid", False)):
        run = RankingRun(
            tiny_dir, {"plain": tmp_path / "plain"}, RankingConfig(fit_on=fit_on), progress=False
        )
        assert bool(run.leakage(plain)) == leaks
    with pytest.raises(ValueError, match="bad ranking variant"):
        Variant.parse("+matchsid")
    assert Variant.parse("+match:id+sid", "student") == Variant("+match:id+sid", ("id",), ("student",))


def test_true_match_features_beat_the_baseline_and_the_scorer_reproduces_the_run(
    tiny_dir, tmp_path, true_source
):
    folder, _ = true_source
    cfg = RankingConfig(n_boot=100)
    out = tmp_path / "ranking"
    variants = ["baseline", "+match", "+match+sid"]
    result = run_ranking(
        tiny_dir, {"true": folder}, variants, seeds=[0], out_dir=out, cfg=cfg, progress=False
    )
    rows, layout = result.rows, result.layout
    get = {(r["variant"], r["metric"], r["split"]): r for r in rows}
    assert get[("baseline", "auc", "all")]["mean"] > 0.6
    gain = get[("+match", "auc_diff", "all")]
    assert gain["ci_low"] > 0, gain  # true collaborative vectors must help, beyond noise
    seed_metrics = json.loads(layout.metrics("match", 0).read_text())
    assert seed_metrics["leakage"] == [] and seed_metrics["fit_on"] == "valid"
    assert seed_metrics["sources"]["true"]["missing_items"] == 0
    assert seed_metrics["test"]["all"]["auc"] > 0.6
    summary = json.loads(layout.summary.read_text())
    assert summary == json.loads(json.dumps(result.summary))
    assert summary["splits"]["cold"]["impressions"] > 0 and summary["undefined"] == []
    # the scorer (features computed on the fly) gives the run's own test scores
    run = RankingRun(tiny_dir, {"true": folder}, cfg, features_dir=tmp_path / "features", progress=False)
    variant = run.variant("+match+sid")
    model, pipeline = run.load_model(variant, layout.model(variant.slug, 0))
    test = run.imps.rows("test")
    scorer = run.scorer(model, pipeline)
    got = scorer(run.imps.user_id[test], run.imps.item_id[test], run.imps.hist.take(test), run.imps.ts[test])
    np.testing.assert_allclose(got, np.load(layout.scores(variant.slug, 0)), atol=1e-5)


def test_forward_chaining_takes_each_rows_features_from_a_table_cut_off_before_it(
    tiny_dir, tmp_path, true_source
):
    """Two tables of one source with different cut-offs: every impression's features come from the
    latest table cut off at or before it, the ranker fits only on rows after the first cut-off, and
    no fit row's features come from a table that saw it."""
    from recplug.data import load_dataset
    from recplug.data.embeddings import write_metadata

    folder, table = true_source
    ds = load_dataset(tiny_dir)
    s = ds.meta.splits
    early, late = tmp_path / "early", tmp_path / "late"
    cut = int(s.start + 0.4 * (s.train_end - s.start))
    for f, cutoff, scale in ((early, cut, 1.0), (late, s.valid_end, -1.0)):
        write_embeddings(f / "embeddings.parquet", table.ids, scale * table.vectors)
        write_metadata(f, {"kind": "test", "dim": table.dim, "data_cutoff_ts": cutoff})
    cfg = RankingConfig(fit_on="forward", n_boot=20)
    run = RankingRun(tiny_dir, {"true": [late, early]}, cfg, progress=False)
    assert run.first_cutoff == cut and [t.cutoff for t in run.tables["true"]] == [cut, s.valid_end]
    assert (run.imps.ts[run.fit_rows] >= cut).all() and (run.imps.ts[run.select_rows] < s.valid_end).all()
    index = run.table_index("true")
    test = run.imps.rows("test")
    assert (index[test] == 1).all() and (index[run.fit_rows] == 0).all()
    values, info = run.match_values("true")
    single = RankingRun(tiny_dir, {"true": early}, cfg.model_copy(update={"fit_on": "valid"}), progress=False)
    flipped = RankingRun(tiny_dir, {"true": late}, cfg.model_copy(update={"fit_on": "valid"}), progress=False)
    np.testing.assert_array_equal(values[run.fit_rows], single.match_values("true")[0][run.fit_rows])
    np.testing.assert_array_equal(values[test], flipped.match_values("true")[0][test])
    assert [f["cutoff_ts"] for f in info["folds"]] == [cut, s.valid_end]
    assert run.leakage(run.variant("+match:true")) == []
    with pytest.raises(ValueError, match="codebooks differ"):
        run.leakage(run.variant("+sid:true"))


def test_the_weight_decay_grid_is_chosen_on_the_selection_window(tiny_dir, true_source):
    """With `weight_decay_grid`, each value is fitted and the one whose best selection-window AUC is
    highest is kept (the same choice single fits would make); the test period plays no part."""
    folder, _ = true_source
    base = RankingConfig(epochs=2, n_boot=20)
    run = RankingRun(
        tiny_dir, {"true": folder}, base.model_copy(update={"weight_decay_grid": [0.0, 0.05]}), progress=False
    )
    variant = run.variant("+match")
    _, _, info, _ = run.train(variant, seed=0)
    singles = {}
    for wd in (0.0, 0.05):
        run.cfg = base.model_copy(update={"weight_decay": wd})
        singles[wd] = max(run.train(variant, seed=0)[2].valid_auc)
    assert info.weight_decay == max(singles, key=singles.get)
    assert max(info.valid_auc) == max(singles.values())
