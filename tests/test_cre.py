"""CRE: history views keep their promises on a hand-built user; distillation from a teacher file that
no recplug teacher wrote raises collaborative recall, on cold items too; bad teacher files are named."""

from __future__ import annotations

import numpy as np
import pytest

from recplug.data import load_dataset, time_split
from recplug.data.embeddings import write_embeddings, write_metadata
from recplug.data.errors import DatasetError
from recplug.student.cre.config import load_cre_config
from recplug.student.cre.interest_views import proportional_quota, select_history
from recplug.student.cre.sequences import sequence_samples

# a hand-built user: pool of 12 items, most recent first; items 0-6 are interest A, 7-11 interest B,
# alternating in time so that recency alone mixes them
POOL = np.array([[0, 7, 1, 8, 2, 9, 3, 10, 4, 11, 5, 6]])
A, B = set(range(7)), set(range(7, 12))


def _tables():
    rng = np.random.default_rng(0)
    content = np.zeros((13, 8), dtype=np.float32)
    content[:7, 0], content[7:12, 1] = 1.0, 1.0
    content[:12] += 0.05 * rng.standard_normal((12, 8))
    content[12, 0] = 1.0  # the target: interest A
    content /= np.linalg.norm(content, axis=1, keepdims=True)
    return content, content[:, [1, 0, 3, 2, 5, 4, 7, 6]].copy()  # collab space: another basis, same groups


def _select(view, length=5, bits=None, target_bits=1):
    content, collab = _tables()
    return select_history(
        view,
        POOL,
        np.full_like(POOL, 1) if bits is None else bits,
        np.array([12]),
        np.array([target_bits]),
        length=length,
        content=content,
        collab=collab,
        clusters=2,
        n_labels=3,
    )[0]


def test_recent_view_is_the_latest_items_in_order():
    assert _select("recent").tolist() == [0, 7, 1, 8, 2]


def test_single_peak_content_view_keeps_items_near_the_target():
    assert set(_select("single_content").tolist()) <= A


def test_multi_peak_content_view_spreads_over_interests():
    picked = set(_select("multi_content", length=4).tolist())
    assert picked & A and picked & B


def test_single_peak_collab_view_follows_behaviour_agreement():
    bits = np.where(np.isin(POOL, [7, 8, 9]), 0b111, 0b001)  # items 7-9 were clicked, finished and liked
    picked = _select("single_collab", length=3, bits=bits, target_bits=0b111).tolist()
    assert set(picked) == {7, 8, 9}


def test_multi_peak_collab_view_keeps_interest_proportions():
    picked = _select("multi_collab", length=6).tolist()
    # 7 of 12 items are A: 6 slots split 3.5 / 2.5 -> 4 / 2 (largest remainder, ties to the first
    # cluster), each filled with that interest's most recent items
    assert sorted(picked) == [0, 1, 2, 3, 7, 8]


def test_proportional_quota_sums_to_the_slots():
    q = proportional_quota(np.array([[7, 5], [1, 0], [0, 0]]), 6)
    assert q.tolist() == [[4, 2], [1, 0], [0, 0]]


def test_views_pad_when_the_pool_is_short():
    content, collab = _tables()
    pool = np.array([[3, -1, 9, -1]])
    for view in ("recent", "single_content", "multi_content", "single_collab", "multi_collab"):
        h = select_history(
            view,
            pool,
            np.ones_like(pool),
            np.array([12]),
            np.array([1]),
            length=3,
            content=content,
            collab=collab,
            clusters=2,
        )[0]
        assert sorted(h[h >= 0].tolist()) == [3, 9] and (h == -1).sum() == 1, view


def test_sequence_samples_never_see_the_target_or_later(tiny_ds):
    from recplug.student.items import ItemStore

    ids = tiny_ds.items["item_id"].to_numpy()
    store = ItemStore(ids, {}, [None] * len(ids), None, None, None, None)
    s = sequence_samples(
        tiny_ds, store, target_since=None, target_until=tiny_ds.meta.splits.train_end, pool=20, min_history=2
    )
    pos = tiny_ds.interactions.filter(tiny_ds.meta.positive_rule.expr()).sort("user_id", "ts")
    i = 123
    u, ts = s.user_ids[i], s.ts[i]
    before = pos.filter((pos["user_id"] == u) & (pos["ts"] < ts))["item_id"].to_numpy()[::-1][:20]
    got = ids[s.pool[i][s.pool[i] >= 0]]
    assert got.tolist() == before.tolist()
    assert (s.pool >= 0).sum(1).min() >= 2


def own_teacher_folder(tiny_dir, folder):
    """A teacher file that no recplug teacher wrote: the world's collaborative vectors of the items
    seen in training (cold items have no row, as with any ID model)."""
    from recplug.data.world import World

    ds = load_dataset(tiny_dir)
    warm = time_split(ds).train["item_id"].unique().sort().to_numpy()
    v = World.from_preset("tiny", seed=0).ground_truth().item_vectors[warm - 1]
    write_embeddings(folder / "embeddings.parquet", warm, v / np.linalg.norm(v, axis=1, keepdims=True))
    write_metadata(folder, {"kind": "my production ID model", "dim": int(v.shape[1])})
    return folder


@pytest.fixture(scope="module")
def own_teacher(tiny_dir, tmp_path_factory):
    return own_teacher_folder(tiny_dir, tmp_path_factory.mktemp("own_teacher"))


@pytest.fixture(scope="module")
def cre_report(tiny_dir, tiny_student, own_teacher, tmp_path_factory):
    from recplug.student.cre.train import content_only_rows, train_cre

    cfg = load_cre_config(None, teachers=[{"name": "own", "path": str(own_teacher)}], min_history=3)
    base = content_only_rows(tiny_dir, tiny_student[0], cfg)
    out = tmp_path_factory.mktemp("cre")
    return base, train_cre(tiny_dir, tiny_student[0], out, cfg, progress=False), out


def _mean(rows, variant, metric, split):
    return next(
        r["mean"] for r in rows if (r["variant"], r["metric"], r["split"]) == (variant, metric, split)
    )


def test_cre_raises_collaborative_recall_on_warm_and_cold_items(cre_report):
    base, report, _ = cre_report
    for split in ("warm", "cold"):  # cold items: no teacher row, the gain comes through their content
        before = _mean(base, "content-only", "true-neighbour i2i recall@50", split)
        after = _mean(report["rows"], "cre", "true-neighbour i2i recall@50", split)
        assert after > before + 0.03, (split, before, after)
    assert _mean(report["rows"], "cre", "own teacher kendall tau", "warm") > _mean(
        base, "content-only", "own teacher kendall tau", "warm"
    )


def test_cre_reports_coverage_and_skips_and_exports(cre_report):
    _, report, out = cre_report
    data = report["data"]
    assert 0.5 < data["teachers"][0]["coverage"] < 1.0  # cold items are not covered, and not zero-filled
    assert data["skipped_short_history"] > 0  # targets with fewer than min_history earlier positives
    for f in ("embeddings.parquet", "semantic_ids.parquet", "sequence_encoder.safetensors", "model"):
        assert (out / f).exists(), f
    from recplug.data.embeddings import read_embeddings

    assert read_embeddings(out).metadata["kind"] == "student_cre"


def test_bad_teacher_files_are_named(tiny_dir, tiny_student, own_teacher, tmp_path):
    from recplug.student.cre.teachers import load_teacher_targets
    from recplug.student.cre.train import load_student

    run, _ = load_student(tiny_student[0], tiny_dir, tmp_path)
    other = tmp_path / "other"
    write_embeddings(other / "embeddings.parquet", np.arange(10**6, 10**6 + 50), np.ones((50, 4)))
    from recplug.student.cre.config import TeacherFile

    with pytest.raises(ValueError, match="none of its 50 item ids matches"):
        load_teacher_targets(TeacherFile(name="x", path=str(other)), run.store)
    bad = tmp_path / "nan"
    vec = np.ones((5, 4))
    vec[2, 1] = np.nan
    write_embeddings(bad / "embeddings.parquet", np.arange(1, 6), vec)
    with pytest.raises(DatasetError, match="NaN"):
        load_teacher_targets(TeacherFile(name="x", path=str(bad)), run.store)
    write_metadata(other, {"kind": "x", "dim": 8})
    with pytest.raises(DatasetError, match="dim 4 but"):
        load_teacher_targets(TeacherFile(name="x", path=str(other)), run.store)


def test_a_run_with_the_same_first_phase_reuses_it_and_gets_the_same_student(
    tiny_dir, tiny_student, own_teacher, cre_report, tmp_path
):
    """The ablation's '+ seq2item' is the full CRE's first phase: with the full run to reuse it loads
    that phase instead of training it, and its student equals one trained alone (the shared state is
    what training that config gives)."""
    from experiments.cre_ablation import ablation_configs
    from recplug.data.embeddings import read_embeddings
    from recplug.student.cre.train import train_cre

    _, _, full = cre_report
    cfg = load_cre_config(None, teachers=[{"name": "own", "path": str(own_teacher)}], min_history=3)
    seq_only = ablation_configs(cfg, views=False)["+ seq2item"]
    reused = train_cre(tiny_dir, tiny_student[0], tmp_path / "reused", seq_only, progress=False, reuse=[full])
    assert reused["phases"]["seq"]["reused_from"] == str(full / "phases" / "seq")
    assert not (tmp_path / "reused" / "phases" / "seq").exists()  # nothing trained here
    alone = train_cre(tiny_dir, tiny_student[0], tmp_path / "alone", seq_only, progress=False)
    assert "reused_from" not in alone["phases"]["seq"]
    a, b = read_embeddings(tmp_path / "reused"), read_embeddings(tmp_path / "alone")
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5)


def test_phase_keys_name_the_inputs_and_the_phases_so_far(tmp_path):
    """A phase's state is shared only with a run of the same inputs (student weights, teacher tables),
    the same config and the same phases up to it; later phases do not matter."""
    from experiments.cre_ablation import ablation_configs
    from recplug.student.cre.train import phase_key

    cfg = load_cre_config(None, teachers=[{"name": "t", "path": "x"}])
    variants = ablation_configs(cfg)
    inputs = {"student": "a", "teachers": {"t": "b"}}
    assert phase_key(cfg, 0, inputs) == phase_key(variants["+ seq2item"], 0, inputs)
    assert phase_key(cfg, 1, inputs) != phase_key(variants["+ seq2item"], 0, inputs)
    assert phase_key(cfg, 0, inputs) != phase_key(cfg, 0, inputs | {"student": "retrained"})
    assert phase_key(cfg, 0, inputs) != phase_key(variants["+ seq2item without multi_collab"], 0, inputs)
    assert phase_key(cfg, 0, inputs) != phase_key(variants["+ id2item"], 0, inputs)


def test_frozen_perception_encoders_run_once_per_item(
    tiny_dir, tiny_student, own_teacher, tmp_path, monkeypatch
):
    """CRE freezes the image and audio encoders: their outputs are computed once per item
    (`MediaFeatures`), in eval mode, and no training step or cache refresh runs them again; the stored
    features embed items as their media do."""
    from recplug.student.audio import SpectrogramEncoder
    from recplug.student.cre.train import load_student, train_cre
    from recplug.student.embed import embed_items
    from recplug.student.media_features import MediaFeatures

    run, encoder = load_student(tiny_student[0], tiny_dir, tmp_path / "load")
    media = MediaFeatures.compute(encoder, run.store, image=True, audio=True, batch=64)
    direct = embed_items(encoder, run.store, run.tokenizer, run.cfg.item_view)
    stored = embed_items(encoder, run.store, run.tokenizer, run.cfg.item_view, media=media)
    np.testing.assert_allclose(stored, direct, atol=1e-5)

    calls = []
    forward = SpectrogramEncoder.forward
    monkeypatch.setattr(
        SpectrogramEncoder, "forward", lambda self, w: calls.append(len(w)) or forward(self, w)
    )
    cfg = load_cre_config(
        None,
        teachers=[{"name": "own", "path": str(own_teacher)}],
        min_history=3,
        embed_batch=64,
        refresh_every=2,
        phases=[{"name": "seq", "steps": 4, "weights": {"seq2item": 1.0, "aux_i2i": 0.5}}],
    )
    train_cre(tiny_dir, tiny_student[0], tmp_path / "cre", cfg, progress=False)
    with_audio = int(run.store.has_audio.sum())
    assert sum(calls) == with_audio and len(calls) == -(-with_audio // 64), calls  # one pass, in batches
