"""Content-aware progressive training of the student, stage by stage, each stage a Lightning `fit`
that continues from the last stage's weights and resumes from its own last checkpoint.

Stage sources: 'all', an explicit list, or 'closest' (the sources nearest the validation sets by
adaptive balancing, computed once with the stage-I model). Stages with `hard_negatives` refresh mined
hard negatives every `mining.refresh_every` steps.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import lightning as L
import numpy as np
import polars as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from recplug.data import Dataset, load_dataset
from recplug.data.embeddings import write_embeddings, write_metadata
from recplug.data.io import atomic_write_text, write_parquet
from recplug.data.world import GroundTruth, ground_truth_of
from recplug.metrics.intervals import MetricRow
from recplug.student.balancing import balance_weights
from recplug.student.baselines import TfidfBaseline
from recplug.student.config import StageSpec, StudentConfig
from recplug.student.configuration import OmniConfig
from recplug.student.embed import embed_entries, embed_items
from recplug.student.evaluate import EvalPairs, build_eval_pairs, evaluate_embeddings
from recplug.student.holdout import StudentHoldout
from recplug.student.items import ItemStore, load_items, with_rendered_media
from recplug.student.lightning import ContentModule, SourceStepData
from recplug.student.mining import mine_hard_negatives
from recplug.student.modeling import OmniEncoder
from recplug.student.probes import attribute_probe_rows, probe_chance_rows, q2i_by_query_words_rows
from recplug.student.semantic_ids import reconstruction_error, residual_kmeans
from recplug.student.sources import PairSet, build_pairs, coengagement_pairs
from recplug.student.tokenizer import load_tokenizer, train_tokenizer
from recplug.student.views import View

log = logging.getLogger(__name__)
# Lightning's advertising tip and its own pytree deprecation are noise in a CLI run
logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
QUERY_VIEW = View(modalities=("text",), fields=(), instruction="search query")


@dataclass
class StudentRun:
    """Everything a stage needs, built once per run."""

    cfg: StudentConfig
    out: Path
    store: ItemStore
    tokenizer: object
    pairsets: list[PairSet]
    eval_pairs: EvalPairs
    held_queries: pl.DataFrame | None
    ds: Dataset  # the full dataset (held-out queries included)
    holdout: StudentHoldout
    validation: tuple[np.ndarray, list[str]]  # balancing's validation sets: item rows, query texts

    @property
    def cutoff(self) -> int:
        """Nothing at or after this ts trains (the train period's end)."""
        return self.holdout.cutoff

    @cached_property
    def truth(self) -> GroundTruth | None:
        """The world's ground truth when the data is a generated world (evaluation only)."""
        return ground_truth_of(self.ds.root)

    def world_rows(self, emb: np.ndarray, query_emb: np.ndarray | None, variant: str) -> list[MetricRow]:
        """What only a generated world can say (none on real data): attribute probes of the item
        embeddings (row = store row), and q2i split by whether the query names media attributes only."""
        if self.truth is None:
            return []
        rows = attribute_probe_rows(emb, self.store.item_ids, self.truth, variant)
        texts, targets = self.eval_pairs.queries
        if query_emb is not None and len(targets):
            warm = ~self.eval_pairs.cold_rows[targets]
            rows += q2i_by_query_words_rows(query_emb, emb, texts, targets, warm, variant)
        return rows


def prepare(data_dir: str | Path, out: Path, cfg: StudentConfig) -> StudentRun:
    ds = load_dataset(data_dir)
    model_cfg = OmniConfig(**cfg.model)
    store = load_items(
        dataset_items(ds), ds.root, model_cfg.image_size, model_cfg.audio_window, cfg.on_bad_media
    )
    holdout = StudentHoldout.build(
        ds,
        store,
        seed=cfg.seed,
        valid_fraction=cfg.valid_fraction,
        query_valid=cfg.valid_holdout,
        query_test=cfg.holdout,
        category_holdout=cfg.category_holdout,
        transductive=cfg.transductive,
    )
    if cfg.tokenizer:
        tokenizer = load_tokenizer(cfg.tokenizer)
    elif (out / "tokenizer").is_dir():
        tokenizer = load_tokenizer(out / "tokenizer")
    else:
        tokenizer = train_tokenizer(training_corpus(ds, holdout), cfg.vocab_size)
        if global_rank() == 0:
            tokenizer.save_pretrained(str(out / "tokenizer"))
    rng = np.random.default_rng([cfg.seed, 3])
    train_ds = type(ds)(ds.root, ds.meta, ds.items, ds.interactions, holdout.queries["train"])
    pairsets = []
    for spec in cfg.sources:
        try:
            p = build_pairs(
                spec,
                train_ds,
                store,
                rng,
                until=holdout.valid_start,
                trainable=holdout.trainable,
                label_trainable=holdout.label_trainable,
            )
        except ValueError as e:
            log.warning("source '%s' skipped: %s", spec.name, e)
            continue
        if len(p) < cfg.batch_size:
            log.warning(
                "source '%s' skipped: %d pairs, fewer than batch_size %d", spec.name, len(p), cfg.batch_size
            )
            continue
        pairsets.append(p)
    if not pairsets:
        raise ValueError(
            f"{data_dir}: no training source has enough pairs (need >= batch_size={cfg.batch_size})"
        )
    trained = training_pair_keys(pairsets)
    return StudentRun(
        cfg,
        out,
        store,
        tokenizer,
        pairsets,
        build_eval_pairs(ds, store, holdout.queries["test"], holdout.category_held, trained, cfg.seed),
        holdout.queries["test"],
        ds,
        holdout,
        validation_sets(ds, store, holdout, trained),
    )


def training_corpus(ds: Dataset, holdout: StudentHoldout) -> list[str]:
    """The tokenizer's corpus: text of trainable items, training queries and trainable category labels
    (no held-out query or brand-new item contributes a word)."""
    items = ds.items.filter(pl.col("item_id").is_in(pl.Series(holdout.item_ids[holdout.trainable]).implode()))
    corpus = [t for f in ds.meta.text_fields if f in items.columns for t in items[f].drop_nulls().to_list()]
    if holdout.queries["train"] is not None:
        corpus += holdout.queries["train"]["query"].to_list()
    if "category" in items.columns:
        corpus += items["category"].drop_nulls().to_list()
    return corpus + ["item", "search query", "category"]


def training_pair_keys(pairsets: list[PairSet]) -> set[tuple[int, int]]:
    """(query row, target row) of every item-to-item training pair, both directions."""
    out: set[tuple[int, int]] = set()
    for p in pairsets:
        if p.query_rows is not None and p.target_rows is not None and p.spec.builder == "coengagement":
            out.update(zip(p.query_rows.tolist(), p.target_rows.tolist(), strict=True))
            out.update(zip(p.target_rows.tolist(), p.query_rows.tolist(), strict=True))
    return out


def validation_sets(
    ds: Dataset, store, holdout: StudentHoldout, trained: set[tuple[int, int]]
) -> tuple[np.ndarray, list[str]]:
    """What balancing compares the sources with: the query rows of co-engagement pairs in the
    validation window (before the cut-off, not training pairs) and the validation query texts."""
    co = coengagement_pairs(ds, store, until=holdout.cutoff, since=holdout.valid_start)
    q, t = store.rows(co["a"].to_numpy()), store.rows(co["b"].to_numpy())
    keep = np.array(
        [a >= 0 and b >= 0 and (a, b) not in trained for a, b in zip(q.tolist(), t.tolist(), strict=True)],
        dtype=bool,
    )
    vq = holdout.queries["valid"]
    return q[keep] if len(keep) else np.zeros(0, np.int64), [] if vq is None else vq["query"].to_list()


def dataset_items(ds) -> pl.DataFrame:
    """The items frame, with media rendered on demand when the dataset is a generated world that
    stores none (`media: on_demand`, the `large` preset)."""
    if ds.meta.media == "on_demand" and "image" not in ds.items.columns:
        from recplug.data.world import World

        return with_rendered_media(ds.items, World.from_dataset(ds.root).render_media)
    return ds.items


def global_rank() -> int:
    """This process's rank: 0 alone, or under Lightning's DDP launcher (which sets LOCAL_RANK) and torchrun."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))


def new_encoder(run: StudentRun) -> OmniEncoder:
    torch.manual_seed(run.cfg.seed)
    enc = OmniEncoder(OmniConfig(vocab_size=len(run.tokenizer), **run.cfg.model))
    if run.cfg.text_pretrained:
        if not Path(run.cfg.text_pretrained).is_dir():
            raise ValueError(f"text_pretrained: folder {run.cfg.text_pretrained} does not exist")
        enc.load_text_pretrained(run.cfg.text_pretrained)
    return enc


def evaluate_student(
    run: StudentRun, encoder: OmniEncoder, variant: str
) -> tuple[list[MetricRow], np.ndarray]:
    emb = embed_items(
        encoder,
        run.store,
        run.tokenizer,
        run.cfg.item_view,
        batch=run.cfg.embed_batch,
        max_text_tokens=run.cfg.max_text_tokens,
    )
    q = g = None
    if len(run.eval_pairs.queries[0]):
        q, g = (
            embed_entries(
                encoder, run.store, run.tokenizer, QUERY_VIEW, texts=texts, batch=run.cfg.embed_batch
            )
            for texts in (run.eval_pairs.queries[0], run.eval_pairs.graded[0])
        )
    rows = evaluate_embeddings(emb, q, g, run.eval_pairs, run.store, variant, seed=run.cfg.seed)
    return rows + run.world_rows(emb, q, variant), emb


def tfidf_rows(run: StudentRun) -> list[MetricRow]:
    """The same metrics for a TF-IDF text baseline: what the student has to beat."""
    tf = TfidfBaseline(run.store)
    ep = run.eval_pairs
    queries = tf.embed_texts(ep.queries[0]) if len(ep.queries[0]) else None
    graded = tf.embed_texts(ep.graded[0]) if len(ep.queries[0]) else None
    rows = evaluate_embeddings(tf.items, queries, graded, ep, run.store, "tfidf baseline", seed=run.cfg.seed)
    chance = probe_chance_rows(run.store.item_ids, run.truth) if run.truth else []
    return rows + run.world_rows(tf.items, queries, "tfidf baseline") + chance


def source_sample_embeddings(run: StudentRun, encoder: OmniEncoder, n: int) -> list[np.ndarray]:
    """Query-side embeddings of a sample of every source (its first pattern's query view)."""
    out = []
    for i, p in enumerate(run.pairsets):
        idx = np.random.default_rng([run.cfg.seed, 41, i]).choice(len(p), min(n, len(p)), replace=False)
        view = p.spec.views[p.spec.patterns[0][0]]
        if p.query_rows is not None:
            out.append(embed_entries(encoder, run.store, run.tokenizer, view, rows=p.query_rows[idx]))
        else:
            out.append(
                embed_entries(encoder, run.store, run.tokenizer, view, texts=[p.query_texts[j] for j in idx])
            )
    return out


def compute_balance(run: StudentRun, encoder: OmniEncoder) -> dict | None:
    """Balancing weights from the validation sets (validation-window co-engagement items, validation
    queries): never the test period's pairs or queries. None (the sources' own weights) when the data
    has no validation set."""
    b = run.cfg.balancing
    rows, texts = run.validation
    val = []
    if len(rows):
        val.append(embed_entries(encoder, run.store, run.tokenizer, run.cfg.item_view, rows=rows[: b.sample]))
    if texts:
        val.append(embed_entries(encoder, run.store, run.tokenizer, QUERY_VIEW, texts=texts[: b.sample]))
    if not val:
        log.warning("balancing skipped: no validation pairs or queries; the sources' own weights are used")
        return None
    src = source_sample_embeddings(run, encoder, b.sample)
    weights, sim = balance_weights(src, val, b.clusters, b.sinkhorn_epsilon, b.temperature, run.cfg.seed)
    return {
        "sources": [p.spec.name for p in run.pairsets],
        "weights": weights.tolist(),
        "similarity": sim.tolist(),
        "validation": {"coengagement_items": int(min(len(rows), b.sample)), "queries": min(len(texts), b.sample)},
    }


class HardNegativeRefresh(Callback):
    """Every `refresh_every` steps: embed, find the F1-optimal threshold per source, set hard negatives."""

    def __init__(self, run: StudentRun, every: int):
        self.run, self.every = run, every
        self.history: list[dict] = []

    def refresh(self, module: ContentModule, step: int) -> None:
        m = self.run.cfg.mining
        items = embed_items(
            module.encoder,
            self.run.store,
            self.run.tokenizer,
            self.run.cfg.item_view,
            batch=self.run.cfg.embed_batch,
        )
        for s, p in enumerate(module.pairsets):
            if p.spec.loss != "infonce" or p.target_rows is None:
                continue
            view = p.spec.views[p.spec.patterns[0][0]]
            if p.query_rows is not None:
                q = embed_entries(module.encoder, self.run.store, self.run.tokenizer, view, rows=p.query_rows)
            else:
                q = embed_entries(
                    module.encoder, self.run.store, self.run.tokenizer, view, texts=p.query_texts
                )
            hard, info = mine_hard_negatives(
                q, items, p.target_rows, m.per_query, m.candidates, p.query_groups, p.query_rows
            )
            module.hard_negatives[s] = hard
            self.history.append({"step": step, "source": p.spec.name, **info})
        module.encoder.train()

    def on_train_start(self, trainer, module) -> None:
        self.refresh(module, trainer.global_step)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every == 0 and trainer.global_step < trainer.max_steps:
            self.refresh(module, trainer.global_step)


def stage_weights(run: StudentRun, stage: StageSpec, balance: dict | None) -> np.ndarray:
    names = [p.spec.name for p in run.pairsets]
    base = np.array(balance["weights"]) if balance else np.array([p.spec.weight for p in run.pairsets])
    if stage.sources == "all":
        keep = np.ones(len(names), dtype=bool)
    elif stage.sources == "closest":
        keep = np.zeros(len(names), dtype=bool)
        keep[np.argsort(-base)[: stage.closest_k]] = True
    else:
        keep = np.isin(names, stage.sources)
    w = np.where(keep, base, 0.0)
    if w.sum() <= 0:
        raise ValueError(f"stage '{stage.name}': no source with positive weight among {names}")
    return w / w.sum()


def fit_resumable(
    module: L.LightningModule,
    data: L.LightningDataModule,
    folder: Path,
    *,
    steps: int,
    devices: int,
    checkpoint_every: int,
    log_every: int,
    callbacks: list[Callback],
    progress: bool,
    stop_at_step: int | None = None,
) -> L.Trainer:
    """One Lightning fit in `folder` (checkpoints, CSV + TensorBoard logs) that resumes from the
    folder's last checkpoint: shared by the content stages and the CRE phases."""
    callbacks = [
        ModelCheckpoint(
            dirpath=folder / "checkpoints", every_n_train_steps=checkpoint_every, save_last=True, save_top_k=0
        ),
        *callbacks,
    ]
    if stop_at_step is not None:
        callbacks.append(_StopAt(stop_at_step))
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="auto",
        devices=devices,
        # some parameters sit out some steps (e.g. the audio encoder when a source's views have no audio)
        strategy="ddp_find_unused_parameters_true" if devices > 1 else "auto",
        logger=[CSVLogger(folder, name="logs"), TensorBoardLogger(folder, name="tb")],
        callbacks=callbacks,
        enable_progress_bar=progress,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        log_every_n_steps=log_every,
        deterministic=False,
        default_root_dir=folder,
    )
    last = folder / "checkpoints" / "last.ckpt"
    # the model arrives in eval mode after an evaluation, balancing or from_pretrained, and Lightning
    # keeps the mode it finds: without this, stage II trained with no dropout
    module.train()
    trainer.fit(
        module,
        datamodule=data,
        ckpt_path=last if last.is_file() else None,
        weights_only=True,  # our own checkpoint, still never unpickled beyond tensors and plain state
    )
    return trainer


def run_stage(
    run: StudentRun,
    encoder: OmniEncoder,
    stage: StageSpec,
    weights: np.ndarray,
    progress: bool,
    stop_at_step: int | None = None,
) -> dict:
    cfg = run.cfg
    folder = run.out / "stages" / stage.name
    module = ContentModule(
        encoder,
        run.store,
        run.tokenizer,
        run.pairsets,
        lr=stage.lr,
        weight_decay=cfg.weight_decay,
        field_dropout=cfg.field_dropout,
        text_dropout=cfg.text_dropout,
        max_text_tokens=cfg.max_text_tokens,
        modality_loss_weight=cfg.modality_loss_weight,
        seed=cfg.seed,
    )
    miner = HardNegativeRefresh(run, cfg.mining.refresh_every) if stage.hard_negatives else None
    trainer = fit_resumable(
        module,
        SourceStepData([len(p) for p in run.pairsets], weights, cfg.batch_size, cfg.seed, stage.steps),
        folder,
        steps=stage.steps,
        devices=cfg.devices,
        checkpoint_every=cfg.checkpoint_every,
        log_every=cfg.log_every,
        callbacks=[miner] if miner else [],
        progress=progress,
        stop_at_step=stop_at_step,
    )
    if stop_at_step is not None and trainer.global_step < stage.steps:
        raise InterruptedError(f"stage {stage.name} stopped at step {trainer.global_step} as asked")
    if trainer.is_global_zero:
        encoder.save_pretrained(folder / "model")
    return {
        "steps": trainer.global_step,
        "world_size": trainer.world_size,
        "counters": module.counters,
        "mining": miner.history if miner else [],
        "temperatures": {
            p.spec.name: float(module.temperature(i).detach()) for i, p in enumerate(run.pairsets)
        },
    }


class _StopAt(Callback):
    """Simulates a kill after `step` steps (tests): Lightning stops; the last checkpoint stays."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def train_student(
    data_dir: str | Path,
    out: str | Path,
    cfg: StudentConfig,
    progress: bool = True,
    stop_at_step: int | None = None,
) -> dict:
    """All stages, then export. Returns {"rows": metric rows per stage, "sources", "stages", "items"}
    on the main process ({} on the other DDP ranks, which only train)."""
    out = Path(out)
    main = global_rank() == 0
    out.mkdir(parents=True, exist_ok=True)
    if main:
        start_or_resume(
            out, "config.json", cfg.model_dump_json(indent=2), ["stages", "balancing.json", "tokenizer"]
        )
    run = prepare(data_dir, out, cfg)
    encoder = new_encoder(run)
    balance = json.loads((out / "balancing.json").read_text()) if (out / "balancing.json").is_file() else None
    all_rows, stage_info = [], {}
    for i, stage in enumerate(cfg.stages):
        folder = out / "stages" / stage.name
        done = folder / "model" / "config.json"
        if done.is_file():
            encoder = OmniEncoder.from_pretrained(str(folder / "model"))
        else:
            if stage.sources == "closest" and balance is None and cfg.balancing.enabled:
                balance = compute_balance(run, encoder)  # deterministic: every rank gets the same
                if main and balance is not None:
                    atomic_write_text(out / "balancing.json", json.dumps(balance, indent=2))
            weights = stage_weights(run, stage, balance)
            stage_info[stage.name] = {
                "weights": dict(zip([p.spec.name for p in run.pairsets], weights.tolist(), strict=True))
            }
            stage_info[stage.name] |= run_stage(
                run, encoder, stage, weights, progress, stop_at_step if i == 0 else None
            )
        if main:
            all_rows += evaluate_student(run, encoder, f"stage {stage.name}")[0]
    if not main:
        return {}
    rows_final, emb = evaluate_student(run, encoder, "student")
    export_student(run, encoder, emb)
    rows_final += tfidf_rows(run)
    report = {
        "rows": all_rows + rows_final,
        "sources": [p.spec.name for p in run.pairsets],
        "stages": stage_info,
        "items": run.store.report,
        "holdout": run.holdout.summary() | {"validation_coengagement_pairs": len(run.validation[0])},
        "evaluation": run.eval_pairs.report,
    }
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2, default=float))
    return report


def start_or_resume(out: Path, config_file: str, config_json: str, state: list[str]) -> None:
    """Write the run's config; when the folder holds a run of another config, remove its stage state
    first (finished stages and checkpoints of that config must not be resumed into this one)."""
    path = out / config_file
    if path.is_file() and path.read_text() != config_json:
        log.warning("%s: the config changed since the last run here: its stages start afresh", out)
        for name in state:
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    atomic_write_text(path, config_json)


def export_student(
    run: StudentRun, encoder: OmniEncoder, emb: np.ndarray, kind: str = "student", extra: dict | None = None
) -> None:
    out = run.out
    encoder.save_pretrained(out / "model")
    write_embeddings(out / "embeddings.parquet", run.store.item_ids, emb)
    codes, books = residual_kmeans(emb, levels=3, codes=64, seed=run.cfg.seed)
    write_parquet(
        pl.DataFrame(
            {"item_id": run.store.item_ids, **{f"sid_{i}": codes[:, i] for i in range(codes.shape[1])}}
        ),
        out / "semantic_ids.parquet",
    )
    write_metadata(
        out,
        {
            "kind": kind,
            "data_cutoff_ts": run.cutoff,
            "dim": int(emb.shape[1]),
            "matryoshka_dims": list(encoder.config.matryoshka_dims),
            "similarity": "cosine (vectors are L2-normalised; a prefix of d dims, re-normalised, is a d-dim embedding)",
            "n_items": int(len(emb)),
            "semantic_ids": {
                "levels": int(codes.shape[1]),
                "codes_per_level": int(books[0].shape[0]),
                "mean_reconstruction_error": reconstruction_error(emb, codes, books),
            },
            "item_report": run.store.report,
            **(extra or {}),
        },
    )
    shutil.copytree(out / "tokenizer", out / "model" / "tokenizer", dirs_exist_ok=True) if (
        out / "tokenizer"
    ).is_dir() else None
