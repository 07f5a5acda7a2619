"""The omni-modal student: it learns, it sees images and audio, and each mechanism does its job."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch
from conftest import small_student_config

from recplug.data.world import World
from recplug.data.world.checks import ridge_probe_accuracy
from recplug.data.world.vocab import attribute_index
from recplug.student.balancing import balance_weights
from recplug.student.embed import embed_items
from recplug.student.lightning import ContentModule
from recplug.student.mining import f1_optimal_threshold, known_positive_candidates, mine_hard_negatives
from recplug.student.run import StudentRun
from recplug.student.sampler import SourceSteps, indices_for_step, source_for_step
from recplug.student.train import new_encoder, train_student
from recplug.student.views import View

_cfg = small_student_config


def _module(run, encoder) -> ContentModule:
    """A ContentModule with no randomness in its inputs (no field dropout), for direct loss checks."""
    return ContentModule(
        encoder,
        run.store,
        run.tokenizer,
        run.pairsets,
        lr=1e-3,
        weight_decay=0,
        field_dropout=0,
        max_text_tokens=run.cfg.max_text_tokens,
        modality_loss_weight=0.2,
        seed=0,
    )


@pytest.fixture(scope="module")
def trained(tiny_student):
    return tiny_student


def _metric(report, variant, metric, split="warm"):
    return next(
        r["mean"]
        for r in report["rows"]
        if r["variant"] == variant and r["metric"] == metric and r["split"] == split
    )


def test_loss_falls_and_recall_beats_chance(tiny_dir, trained, tmp_path):
    from recplug.student.modeling import OmniEncoder

    out, report = trained
    run = StudentRun.setup(tiny_dir, tmp_path, _cfg())

    def held_loss(encoder, name):  # the same fixed batch, eval mode: before vs after training
        m = _module(run, encoder.eval())
        s = next(i for i, p in enumerate(run.pairsets) if p.spec.name == name)
        with torch.no_grad():
            return float(m.source_loss(s, np.arange(64), None)[0])

    before, after = new_encoder(run), OmniEncoder.from_pretrained(str(out / "model"))
    # the content sources learn within 150 steps; co-engagement (collaboration, weakly visible in
    # content) is not asserted here
    for name, drop in (("i2c_category", 0.3), ("q2i_search", 0.05), ("i2i_views", 0.0)):
        assert held_loss(after, name) < held_loss(before, name) - drop, name
    assert (out / "stages" / "I" / "logs").is_dir() and (out / "stages" / "I" / "tb").is_dir()
    n_items = 1000
    assert _metric(report, "student", "content i2i recall@10") > 5 * 10 / n_items
    assert _metric(report, "student", "coengagement i2i recall@100") > 100 / n_items
    # the final student is the last stage's encoder: the same rows under its own name (evaluated once)
    last = "stage " + list(report["stages"])[-1]
    strip = lambda v: sorted(  # noqa: E731
        tuple(sorted((r | {"variant": ""}).items())) for r in report["rows"] if r["variant"] == v
    )
    assert strip("student") == strip(last) and strip(last)


def test_export_files(trained):
    out, _ = trained
    emb = pl.read_parquet(out / "embeddings.parquet")
    assert emb.height == 1000 and emb["embedding"].list.len().unique().to_list() == [64]
    sid = pl.read_parquet(out / "semantic_ids.parquet")
    assert sid.columns == ["item_id", "sid_0", "sid_1", "sid_2"] and sid.height == 1000
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["matryoshka_dims"] == [16, 32, 64]


def test_the_saved_model_embeds_as_the_trained_one(tiny_dir, trained, tmp_path):
    """from_pretrained must restore everything the forward pass uses (the audio front-end's mel
    filterbank included): the exported embeddings come from the in-memory model."""
    from recplug.student.modeling import OmniEncoder

    out, _ = trained
    run = StudentRun.setup(tiny_dir, tmp_path, _cfg())
    enc = OmniEncoder.from_pretrained(str(out / "model"))
    again = embed_items(enc, run.store, run.tokenizer, run.cfg.item_view)
    saved = np.stack(pl.read_parquet(out / "embeddings.parquet")["embedding"].to_list())
    assert np.isfinite(again).all() and np.abs(again - saved).max() < 1e-4


def test_matryoshka_prefixes_are_usable_embeddings(tiny_dir, trained, tmp_path):
    from recplug.student.evaluate import evaluate_embeddings
    from recplug.student.modeling import OmniEncoder

    out, report = trained
    run = StudentRun.setup(tiny_dir, tmp_path, _cfg())
    enc = OmniEncoder.from_pretrained(str(out / "model"))
    emb = embed_items(enc, run.store, run.tokenizer)
    short = emb[:, :16] / np.linalg.norm(emb[:, :16], axis=1, keepdims=True)
    rows = evaluate_embeddings(short, None, None, run.eval_pairs, run.store, "prefix16")
    r16 = next(r["mean"] for r in rows if r["metric"] == "content i2i recall@10" and r["split"] == "warm")
    assert r16 > 5 * 10 / 1000
    assert r16 > 0.5 * _metric(report, "student", "content i2i recall@10")


def test_omni_sees_what_text_cannot(tiny_dir, trained, tmp_path):
    """An attribute shown only in the image (colour) is recoverable from the omni embedding, not from a
    text-only embedding of the same trained model; audio-only attributes at least not lost vs text."""
    from recplug.student.modeling import OmniEncoder

    run = StudentRun.setup(tiny_dir, tmp_path, _cfg())
    enc = OmniEncoder.from_pretrained(str(trained[0] / "model"))
    omni = embed_items(enc, run.store, run.tokenizer, View(instruction="item"))
    text = embed_items(enc, run.store, run.tokenizer, View(modalities=("text",), instruction="item"))
    attrs = World.from_dataset(tiny_dir).latents.items.attrs[run.store.item_ids - 1]
    for name, n_values, margin in (("colour", 6, 0.25), ("tempo", 3, -0.02)):
        y = attrs[:, attribute_index(name)]
        acc_omni = ridge_probe_accuracy(omni, y, n_values)
        acc_text = ridge_probe_accuracy(text, y, n_values)
        assert acc_omni > acc_text + margin, (name, acc_omni, acc_text)


def test_every_rank_draws_the_same_source_and_disjoint_samples():
    weights = np.array([0.5, 0.3, 0.2])
    for step in range(50):
        s = source_for_step(weights, seed=3, step=step)
        assert s == source_for_step(weights, seed=3, step=step)
        a = indices_for_step(1000, 16, 3, step, rank=0, world=2)
        b = indices_for_step(1000, 16, 3, step, rank=1, world=2)
        assert len(a) == len(b) == 16 and not set(a) & set(b)
    drawn = np.bincount([source_for_step(weights, 3, s) for s in range(3000)], minlength=3) / 3000
    np.testing.assert_allclose(drawn, weights, atol=0.03)
    steps = list(SourceSteps([100, 100, 100], lambda: weights, 8, 3, max_steps=7, start_step=lambda: 4))
    assert [x["step"] for x in steps] == [4, 5, 6]


def test_f1_threshold_on_a_known_case():
    pos = np.array([0.9, 0.8, 0.7])
    neg = np.array([0.75, 0.4, 0.3, 0.2])
    t, f1 = f1_optimal_threshold(pos, neg)
    assert t == pytest.approx(0.7) and f1 == pytest.approx(2 * 0.75 * 1.0 / 1.75)
    # three queries with positives at cosine 0.89 / 0.86 / 0.82; target 3 sits at 0.999 from query 0:
    # above the F1 threshold, so it is taken for an unlabelled positive and dropped, not used
    e = np.eye(3, dtype=np.float32)
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    targets = np.stack(
        [unit(e[0] + 0.5 * e[1]), unit(e[1] + 0.6 * e[2]), unit(e[2] + 0.7 * e[0]), unit(e[0] + 0.05 * e[2])]
    )
    hard, info = mine_hard_negatives(e, targets, np.array([0, 1, 2]), per_query=1, candidates=3)
    assert info["threshold"] == pytest.approx(float(e[2] @ targets[2]), abs=1e-5)
    assert info["dropped_false_negatives"] == 1
    assert hard[0, 0] == 2  # the best negative below the threshold
    assert hard[1, 0] == 0 and hard[2, 0] == 1


def test_a_querys_other_positives_and_the_query_item_are_never_negatives():
    """Pairs 0 and 1 share a query (group 7): each one's target is a known positive of the other; an
    item query's own row is one too. Mining never returns them, whatever their scores."""
    rows = np.array([[1, 0, 2, 3], [0, 1, 3, 2], [5, 4, 2, 1]])
    known = known_positive_candidates(rows, np.array([0, 1, 4]), np.array([7, 7, 8]), np.array([9, 9, 5]))
    assert known.tolist() == [
        [True, True, False, False],
        [True, True, False, False],
        [True, True, False, False],
    ]
    rng = np.random.default_rng(0)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    targets = unit(rng.normal(size=(40, 8)).astype(np.float32))
    pos_a = np.arange(20).reshape(10, 2)  # 10 queries with two positives each, one pair per positive
    groups = np.arange(20) // 2
    q = unit(targets[pos_a[:, 0]] + targets[pos_a[:, 1]] + 0.3 * rng.normal(size=(10, 8)))
    q = np.repeat(q, 2, axis=0).astype(np.float32)
    positives = pos_a.ravel()
    hard, info = mine_hard_negatives(q, targets, positives, per_query=5, candidates=10, groups=groups)
    for i in range(20):
        assert not set(hard[i].tolist()) & set(pos_a[groups[i]].tolist())
    assert info["known_positives"] > 0


def test_sinkhorn_weights_favour_the_source_closest_to_validation():
    rng = np.random.default_rng(0)
    centre = rng.normal(size=16)
    near = centre + 0.3 * rng.normal(size=(200, 16))
    far = -centre + 0.3 * rng.normal(size=(200, 16))
    val = centre + 0.3 * rng.normal(size=(200, 16))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    w, sim = balance_weights([unit(far), unit(near)], [unit(val)], k=4, epsilon=0.1, temperature=0.05)
    assert w[1] > 0.9 and sim[1, 0] > sim[0, 0]


def test_patterns_with_absent_modalities_contribute_no_loss(tiny_dir, tmp_path):
    run = StudentRun.setup(tiny_dir, tmp_path, _cfg())
    run.store.has_image[:] = False  # no item has an image now
    module = _module(run, new_encoder(run))
    views = next(i for i, p in enumerate(run.pairsets) if p.spec.name == "i2i_views")
    loss, logs = module.source_loss(views, np.arange(16), None)
    assert "image->omni" not in logs and "text->omni" in logs and "audio->omni" in logs
    assert torch.isfinite(loss)


def test_resume_after_a_kill_matches_an_uninterrupted_run(tiny_dir, tmp_path):
    cfg = _cfg(stages=[{"name": "I", "steps": 16, "lr": 1e-3}], checkpoint_every=5)
    train_student(tiny_dir, tmp_path / "straight", cfg, progress=False)
    with pytest.raises(InterruptedError):
        train_student(tiny_dir, tmp_path / "killed", cfg, progress=False, stop_at_step=8)
    train_student(tiny_dir, tmp_path / "killed", cfg, progress=False)
    a = pl.read_parquet(tmp_path / "straight" / "embeddings.parquet")["embedding"].to_list()
    b = pl.read_parquet(tmp_path / "killed" / "embeddings.parquet")["embedding"].to_list()
    np.testing.assert_array_equal(np.array(a), np.array(b))  # bit-identical


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="names unknown view 'pic'"):
        _cfg(
            sources=[
                {"name": "x", "builder": "coengagement", "views": {"omni": {}}, "patterns": [["pic", "omni"]]}
            ]
        )
    with pytest.raises(ValueError, match="stage 'I' names unknown source"):
        _cfg(stages=[{"name": "I", "steps": 5, "sources": ["nope"]}])
    with pytest.raises(ValueError, match="key 'sources.0.builder'"):
        _cfg(
            sources=[
                {"name": "x", "builder": "telepathy", "views": {"omni": {}}, "patterns": [["omni", "omni"]]}
            ]
        )
    missing = _cfg(preset="pretrained", text_pretrained=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="text_pretrained: folder .* does not exist"):
        new_encoder(_fake_run(missing))
    with pytest.raises(ValueError, match="model.audio_encoder: 'mp3' is not one of"):
        new_encoder(_fake_run(_cfg(model={"audio_encoder": "mp3"})))
    with pytest.raises(ValueError, match="preset 'scratch' with pretrained folders"):
        new_encoder(_fake_run(_cfg(text_pretrained=str(tmp_path))))


def _fake_run(cfg):
    """What `new_encoder` reads of a run: its config, tokenizer size and resolved preset."""
    from recplug.student.presets import resolve_preset

    preset = resolve_preset(cfg.preset, cfg.text_pretrained, cfg.image_pretrained, cfg.audio_pretrained)
    return type("R", (), {"cfg": cfg, "tokenizer": [0] * 1000, "preset": preset})()


def test_info_nce_masks_duplicates_of_the_positive():
    from recplug.student.losses import info_nce

    q = torch.nn.functional.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    hard = q[:2].clone()  # mined "negatives" that are in fact queries 0 and 1's own targets
    same = torch.eye(4, dtype=torch.bool)
    own = torch.zeros(4, 2, dtype=torch.bool)
    own[0, 0] = own[1, 1] = True
    unmasked = info_nce(q, q.clone(), torch.tensor(0.1), hard, same)
    masked = info_nce(q, q.clone(), torch.tensor(0.1), hard, torch.cat([same, own], dim=1))
    assert masked + 0.1 < unmasked, (float(masked), float(unmasked))


def test_a_run_folder_of_another_config_starts_afresh(tmp_path):
    from recplug.student.fit import start_or_resume

    (tmp_path / "stages" / "I" / "model").mkdir(parents=True)
    (tmp_path / "balancing.json").write_text("{}")
    start_or_resume(tmp_path, "config.json", {"a": 1}, ["stages", "balancing.json"])
    assert (tmp_path / "stages").is_dir()  # no earlier config: nothing to judge, nothing removed
    start_or_resume(tmp_path, "config.json", {"a": 1}, ["stages", "balancing.json"])
    assert (tmp_path / "stages").is_dir()  # same config: resume
    start_or_resume(tmp_path, "config.json", {"a": 2}, ["stages", "balancing.json"])
    assert not (tmp_path / "stages").exists() and not (tmp_path / "balancing.json").exists()


def test_a_world_that_stores_no_media_is_rendered_on_demand(tiny_dir, tmp_path):
    from recplug.data import load_dataset
    from recplug.student.items import load_items
    from recplug.student.run import dataset_items

    World.from_preset("tiny", seed=0, media="on_demand").generate(tmp_path / "w", progress=False)
    lazy = load_dataset(tmp_path / "w")
    assert "image" not in lazy.items.columns
    inline = load_dataset(tiny_dir)
    a = load_items(dataset_items(lazy), lazy.root, 32, 4000)
    b = load_items(dataset_items(inline), inline.root, 32, 4000)
    assert a.has_image.all() and a.has_audio.all()
    assert torch.equal(a.images, b.images) and torch.equal(a.audio, b.audio)


def test_absent_modalities_cost_no_encoder_and_repeats_embed_once(tiny_dir, trained, tmp_path):
    """A text-only batch never runs the image or audio encoder; in a mixed batch each row embeds as it
    does alone; `embed_entries` embeds each distinct row / text once and returns one vector per entry."""
    from recplug.student.embed import embed_entries
    from recplug.student.modeling import OmniEncoder
    from recplug.student.views import QUERY_VIEW, Encoding, Entries, encode_inputs

    run = StudentRun.setup(tiny_dir, tmp_path, _cfg())
    enc = OmniEncoder.from_pretrained(str(trained[0] / "model")).eval()
    calls = []
    enc.audio.register_forward_hook(lambda *a: calls.append("audio"))
    enc.vision.register_forward_hook(lambda *a: calls.append("vision"))
    texts = ["red song", "calm piece", "red song"]
    q = embed_entries(enc, run.store, run.tokenizer, QUERY_VIEW, texts=texts)
    assert calls == [] and q.shape == (3, enc.config.hidden_size) and np.array_equal(q[0], q[2])

    media = np.flatnonzero(run.store.has_image.numpy() & run.store.has_audio.numpy())[:4]
    mixed = [Entries(run.cfg.item_view, item_rows=media), Entries(QUERY_VIEW, texts=texts)]
    with torch.no_grad():
        inputs, _ = encode_inputs(run.store, run.tokenizer, mixed, Encoding())
        together = enc(**inputs).embedding[: len(media)]
        alone, _ = encode_inputs(run.store, run.tokenizer, mixed[:1], Encoding())
        assert torch.allclose(together, enc(**alone).embedding, atol=1e-5)

    rows = np.array([media[1], media[0], media[1], media[1]])
    once = embed_entries(enc, run.store, run.tokenizer, run.cfg.item_view, rows=media[:2])
    got = embed_entries(enc, run.store, run.tokenizer, run.cfg.item_view, rows=rows)
    assert np.allclose(got, once[[1, 0, 1, 1]], atol=1e-6)
    assert embed_entries(enc, run.store, run.tokenizer, QUERY_VIEW, texts=[]).shape == (0, q.shape[1])
