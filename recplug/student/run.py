"""The student's prepared run: the dataset, its items decoded once, the tokenizer, the training sources'
pairs, the validation sets that choices are made on, and the test pairs, built by `StudentRun.setup`
(the set-up a Lightning DataModule does in `setup`), once per run and shared by the content stages, CRE
and the CRE ablation's variants."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from recplug.data import Dataset, load_dataset
from recplug.data.world import GroundTruth, ground_truth_of
from recplug.student.evaluate import EvalPairs, build_eval_pairs
from recplug.student.holdout import StudentHoldout
from recplug.student.items import ItemStore, load_items, with_rendered_media
from recplug.student.model_config import OmniConfig
from recplug.student.presets import ResolvedPreset, resolve_preset
from recplug.student.sources import PairSet, build_pairs, coengagement_pairs
from recplug.student.tokenizer import load_tokenizer, train_tokenizer
from recplug.student.train_config import StudentConfig

log = logging.getLogger(__name__)


@dataclass
class StudentRun:
    """Everything a stage needs, built once per run.

    Args:
        cfg: the student's training config.
        out: the run folder (checkpoints, tokenizer, exports).
        store: every item of the dataset, decoded (rows are the embedding tables' rows).
        tokenizer: trained on training text only, or the config's own.
        pairsets: the training sources' pairs (see `recplug.student.holdout` for what may train).
        eval_pairs: held-out test pairs and queries (evaluation only, never a choice).
        ds: the whole dataset (the test period included, for evaluation).
        holdout: the splits: cut-off, validation window, trainable items, query splits.
        validation: what balancing compares the sources with: item rows and query texts.
        preset: which towers start pretrained, from which folders (`recplug.student.presets`).
    """

    cfg: StudentConfig
    out: Path
    store: ItemStore
    tokenizer: object
    pairsets: list[PairSet]
    eval_pairs: EvalPairs
    ds: Dataset
    holdout: StudentHoldout
    validation: tuple[np.ndarray, list[str]]
    preset: ResolvedPreset

    @property
    def cutoff(self) -> int:
        """Nothing at or after this ts trains (the train period's end)."""
        return self.holdout.cutoff

    @cached_property
    def truth(self) -> GroundTruth | None:
        """The world's ground truth when the data is a generated world (evaluation only)."""
        return ground_truth_of(self.ds.root)

    def moved_to(self, out: Path) -> StudentRun:
        """The same prepared run writing to another folder (CRE and its ablation variants)."""
        return replace(self, out=Path(out))

    @classmethod
    def setup(cls, data_dir: str | Path, out: Path, cfg: StudentConfig) -> StudentRun:
        """Load and prepare everything once; the tokenizer is trained (and saved in `out`) unless the
        config names one or `out` holds one already."""
        ds = load_dataset(data_dir)
        preset = resolve_preset(
            cfg.preset,
            cfg.text_pretrained,
            cfg.image_pretrained,
            cfg.audio_pretrained,
            tuple(m for m in cfg.item_view.modalities if m in ds.meta.modalities),
        )
        model_cfg = OmniConfig(**model_keys(cfg, preset))
        store = load_items(
            dataset_items(ds),
            ds.root,
            model_cfg.image_size,
            model_cfg.audio_window,
            cfg.on_bad_media,
            ds.meta.size_limits.media_bytes,
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
        if cfg.tokenizer or "text" in preset.folders:  # a text tower reads its own tokenizer's ids
            tokenizer = load_tokenizer(cfg.tokenizer or preset.folders["text"])
            if rank_zero_only.rank == 0 and not (out / "tokenizer").is_dir():
                save_tokenizer(tokenizer, out / "tokenizer")  # the run folder is self-contained
        elif (out / "tokenizer").is_dir():
            tokenizer = load_tokenizer(out / "tokenizer")
        else:
            tokenizer = train_tokenizer(training_corpus(ds, holdout), cfg.vocab_size)
            if rank_zero_only.rank == 0:
                save_tokenizer(tokenizer, out / "tokenizer")
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
                    "source '%s' skipped: %d pairs, fewer than batch_size %d",
                    spec.name,
                    len(p),
                    cfg.batch_size,
                )
                continue
            pairsets.append(p)
        if not pairsets:
            raise ValueError(
                f"{data_dir}: no training source has enough pairs (need >= batch_size={cfg.batch_size})"
            )
        trained = training_pair_keys(pairsets)
        return cls(
            cfg,
            out,
            store,
            tokenizer,
            pairsets,
            build_eval_pairs(ds, store, holdout.queries["test"], holdout.category_held, trained, cfg.seed),
            ds,
            holdout,
            validation_sets(ds, store, holdout, trained),
            preset,
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


def model_keys(cfg: StudentConfig, preset: ResolvedPreset) -> dict:
    """The student's `OmniConfig` keys: the config's own, plus each pretrained tower's architecture,
    its freezing, (images) its processor's size and normalisation unless the config sets them and (audio)
    its feature extractor's settings."""
    from recplug.student.audio_tower_input import audio_processor_config
    from recplug.student.towers import processor_settings, tower_config

    keys = dict(cfg.model)
    for kind, folder in preset.folders.items():
        keys[f"{kind}_tower"] = tower_config(folder, kind)
        keys[f"freeze_{kind}"] = getattr(cfg, f"freeze_{kind}")
        if kind == "image":
            keys = processor_settings(folder) | keys
        if kind == "audio":
            keys.setdefault("audio_processor", audio_processor_config(folder))
    if "text" in preset.folders:
        keys.setdefault("vocab_size", 8)  # the fusion's own word embeddings are unused
    return keys


def save_tokenizer(tokenizer, folder: Path) -> None:
    """`save_pretrained` into a temporary folder renamed when complete: a killed run leaves no half
    tokenizer that a rerun would load."""
    from recplug.data.artifacts import atomic_folder

    with atomic_folder(folder) as tmp:
        tokenizer.save_pretrained(str(tmp))
