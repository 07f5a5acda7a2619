"""Content-aware progressive training of the student, stage by stage, each stage a Lightning `fit`
(`recplug.student.fit`) that continues from the last stage's weights and resumes from its own last
checkpoint; then evaluation and export.

Stage sources: 'all', an explicit list, or 'closest' (the sources nearest the validation sets by
adaptive balancing, `recplug.student.stage_sources`). Stages with `hard_negatives` refresh mined hard
negatives every `mining.refresh_every` steps (`recplug.student.hard_negatives`).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from recplug.data.artifacts import atomic_folder, atomic_write_text, is_fresh, read_stamp, stamp
from recplug.metrics.intervals import MetricRow
from recplug.student.export import export_student
from recplug.student.fit import fit_resumable, is_main_process, start_or_resume
from recplug.student.frozen import FOLDER as FROZEN_FOLDER
from recplug.student.frozen import VARIANT as FROZEN_VARIANT
from recplug.student.frozen import FrozenTowers, export_frozen
from recplug.student.hard_negatives import HardNegativeRefresh
from recplug.student.lightning import ContentModule, SourceStepData
from recplug.student.model_config import OmniConfig
from recplug.student.modeling import OmniEncoder
from recplug.student.run import StudentRun, model_keys
from recplug.student.run_metrics import evaluate_student, text_truncation, tfidf_rows
from recplug.student.saved import load_encoder
from recplug.student.stage_sources import compute_balance, stage_weights
from recplug.student.train_config import StageSpec, StudentConfig

log = logging.getLogger(__name__)
# Lightning's advertising tip and its own pytree deprecation are noise in a CLI run
logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")


def new_encoder(run: StudentRun) -> OmniEncoder:
    """A fresh student: random fusion and scratch towers, pretrained towers from their folders."""
    torch.manual_seed(run.cfg.seed)
    keys = {"vocab_size": len(run.tokenizer)} | model_keys(run.cfg, run.preset)
    enc = OmniEncoder(OmniConfig(**keys))
    enc.load_towers(run.preset.folders)
    return enc


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
        with atomic_folder(folder / "model") as tmp:
            encoder.save_pretrained(tmp)
    return {
        "steps": trainer.global_step,
        "world_size": trainer.world_size,
        "counters": module.counters,
        "mining": miner.history if miner else [],
        "temperatures": {
            p.spec.name: float(module.temperature(i).detach()) for i, p in enumerate(run.pairsets)
        },
    }


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
    main = is_main_process()
    out.mkdir(parents=True, exist_ok=True)
    if main:
        start_or_resume(
            out, "config.json", cfg.model_dump(mode="json"), ["stages", "balancing.json", "tokenizer"]
        )
    run = StudentRun.setup(data_dir, out, cfg)
    encoder = new_encoder(run)
    balance = json.loads((out / "balancing.json").read_text()) if (out / "balancing.json").is_file() else None
    all_rows, stage_info, last = [], {}, None
    for i, stage in enumerate(cfg.stages):
        folder = out / "stages" / stage.name
        key = stage.model_dump(mode="json")
        if is_fresh(folder, key):  # stamped last: the model is whole
            encoder = load_encoder(folder / "model")
            stage_info[stage.name] = read_stamp(folder)["info"]
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
            if main:  # last: the stage is complete only now
                stamp(folder, key, info=stage_info[stage.name])
        if main:
            last = evaluate_student(run, encoder, f"stage {stage.name}")
            all_rows += last[0]
    if not main:
        return {}
    # the final student is the last stage's encoder: its evaluation, named again (not embedded twice)
    rows, emb = last if last is not None else evaluate_student(run, encoder, "student")
    rows_final = [MetricRow(**(r | {"variant": "student"})) for r in rows]
    export_student(run, encoder, emb)
    rows_final += tfidf_rows(run)
    if run.preset.folders:  # the pretrained towers alone, untrained: what recplug adds over them
        frozen = FrozenTowers(new_encoder(run))
        frozen_rows, frozen_emb = evaluate_student(run, frozen, FROZEN_VARIANT)
        export_frozen(run, frozen, frozen_emb, out / FROZEN_FOLDER)
        rows_final += frozen_rows
    report = {
        "rows": all_rows + rows_final,
        "sources": [p.spec.name for p in run.pairsets],
        "stages": stage_info,
        "items": run.store.report,
        "holdout": run.holdout.summary() | {"validation_coengagement_pairs": len(run.validation[0])},
        "evaluation": run.eval_pairs.report,
        "preset": run.preset.describe(),
        "text_truncation": text_truncation(run),
    }
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2, default=float))
    return report
