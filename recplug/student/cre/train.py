"""The CRE stage: continue the content-trained student (its run folder) with the teachers' files, phase
by phase (sequence-to-item, then ID-to-item with the auxiliary task), each phase a resumable Lightning
fit; then evaluate and export like the content stages (embeddings, semantic IDs, model), plus the
sequence encoder."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_model

from recplug.data.artifacts import atomic_write, atomic_write_text, digest, is_fresh, read_stamp, stamp
from recplug.data.weight_files import load_into
from recplug.data.world import ground_truth_of
from recplug.metrics.intervals import MetricRow
from recplug.student.cre.config import SOURCES, CREConfig
from recplug.student.cre.evaluate import sequence_benchmark_rows, teacher_alignment_rows, true_neighbour_rows
from recplug.student.cre.module import ContentCache, CREData, CREModule
from recplug.student.cre.sequence_encoder import SequenceEncoder
from recplug.student.cre.sequences import final_pools, sequence_samples
from recplug.student.cre.teachers import TeacherTargets, load_teacher_targets
from recplug.student.export import export_student
from recplug.student.fit import fit_resumable, is_main_process, start_or_resume
from recplug.student.lightning import SourceStepData
from recplug.student.media_features import MediaFeatures
from recplug.student.modeling import OmniEncoder
from recplug.student.run import StudentRun
from recplug.student.run_metrics import evaluate_student
from recplug.student.saved import load_encoder, load_run_config

log = logging.getLogger(__name__)
STATE = "cre_state.safetensors"
MAX_SEQ_SAMPLES = 200_000


def prepare_student(student_dir: str | Path, data_dir: str | Path) -> StudentRun:
    """The content-trained student's prepared run (its config, tokenizer, items, pairs, evaluation
    sets): build it once and pass it to every CRE run that continues this student (the ablation's
    variants share one)."""
    student_dir = Path(student_dir)
    if not (student_dir / "config.json").is_file() or not (student_dir / "model" / "config.json").is_file():
        raise ValueError(
            f"{student_dir}: not a trained student run folder (needs config.json and model/): "
            "train one with `recplug student train` first"
        )
    return StudentRun.setup(data_dir, student_dir, load_run_config(student_dir))


def load_student(
    student_dir: str | Path, data_dir: str | Path, out: Path, run: StudentRun | None = None
) -> tuple[StudentRun, OmniEncoder]:
    """The content-trained student run re-pointed at `out`, and its encoder (a fresh copy each call)."""
    run = run if run is not None else prepare_student(student_dir, data_dir)
    return run.moved_to(out), load_encoder(Path(student_dir) / "model")


def cre_data(ds, run: StudentRun, teachers: list[TeacherTargets], cfg: CREConfig) -> tuple[CREData, dict]:
    until = ds.meta.splits.train_end
    samples = sequence_samples(
        ds,
        run.store,
        target_since=None,
        target_until=until,
        pool=cfg.history_pool,
        min_history=cfg.min_history,
        max_samples=MAX_SEQ_SAMPLES,
        seed=cfg.seed,
    )
    user_ids, pools = final_pools(ds, run.store, until, cfg.history_pool)
    has_state = np.zeros(len(user_ids), dtype=bool)
    for t in teachers:
        has_state |= t.user_rows(user_ids) >= 0
    covered = np.zeros(len(run.store.item_ids), dtype=bool)
    for t in teachers:
        covered |= t.covered
    covered &= (
        run.holdout.trainable
    )  # inductive: a teacher's row of a brand-new item never trains the student
    aux = next((p for p in run.pairsets if p.spec.builder == "coengagement"), None)
    aux_pairs = (aux.query_rows, aux.target_rows) if aux else (np.zeros(0, int), np.zeros(0, int))
    n_labels = len([c for c in ds.meta.label_columns if c in ds.interactions.columns])
    data = CREData(
        samples, user_ids[has_state], pools[has_state], np.flatnonzero(covered), aux_pairs, n_labels
    )
    report = {
        "sequence_samples": len(samples),
        "skipped_short_history": samples.skipped_short,
        # samples with fewer earlier positives than history_len: their history is shorter (masked), not padded with zeros
        "shorter_than_history_len": int(((samples.pool >= 0).sum(1) < cfg.history_len).sum()),
        "users_with_teacher_state": int(has_state.sum()),
        "teacher_items": int(covered.sum()),
        "aux_pairs": len(aux_pairs[0]),
        "teachers": [t.coverage(run.store) for t in teachers],
    }
    if samples.skipped_short:
        log.info(
            "%d targets skipped: fewer than %d earlier positives", samples.skipped_short, cfg.min_history
        )
    return data, report


def phase_weights(cfg_weights: dict[str, float], sizes: list[int], phase: str) -> np.ndarray:
    w = np.array([cfg_weights.get(s, 0.0) if n > 0 else 0.0 for s, n in zip(SOURCES, sizes, strict=True)])
    if w.sum() <= 0:
        raise ValueError(
            f"CRE phase '{phase}': no source with data and positive weight (weights {cfg_weights}, "
            f"pairs per source {dict(zip(SOURCES, sizes, strict=True))}); did you give teachers?"
        )
    return w / w.sum()


def input_identity(student_dir: Path, teachers: list[TeacherTargets]) -> dict:
    """What CRE's phases start from, by content: the student's weights and the teachers' aligned
    tables (a retrained student or a rewritten teacher file at the same path is another input)."""
    weights = sorted((Path(student_dir) / "model").glob("*.safetensors"))
    return {
        "student": digest(*weights),
        "teachers": {
            t.name: digest(t.vectors, t.covered, *([t.user_vectors] if t.user_vectors is not None else []))
            for t in teachers
        },
    }


def phase_key(cfg: CREConfig, i: int, inputs: dict) -> dict:
    """What the state after phase i depends on: the inputs, the config, the phases up to i (not the
    later ones: a run with the same first phases reaches the same state, so it can be shared)."""
    body = cfg.model_dump(mode="json")
    body["phases"] = body["phases"][: i + 1]
    return {"inputs": inputs, "cre": body}


def _finished_phase(folders: list[Path], key: dict) -> Path | None:
    return next((f for f in folders if is_fresh(f, key) and (f / STATE).is_file()), None)


def evaluate_cre(
    run: StudentRun,
    ds,
    encoder: OmniEncoder,
    seq: SequenceEncoder,
    teachers,
    variant: str,
    truth=None,
    media: MediaFeatures | None = None,
) -> tuple[list[MetricRow], np.ndarray]:
    rows, emb = evaluate_student(run, encoder, variant, media)
    rows = [MetricRow(**(r | {"experiment": "cre"})) for r in rows]
    cold = run.eval_pairs.cold_rows
    if truth is not None:
        rows += true_neighbour_rows(emb, run.store, cold, truth, variant, seed=run.cfg.seed)
    rows += sequence_benchmark_rows(ds, run.store, emb, seq, cold, variant, seed=run.cfg.seed)
    for t in teachers:
        rows += teacher_alignment_rows(emb, t, variant, seed=run.cfg.seed)
    return rows, emb


def train_cre(
    data_dir: str | Path,
    student_dir: str | Path,
    out: str | Path,
    cfg: CREConfig,
    progress: bool = True,
    variant: str = "cre",
    stop_at_step: int | None = None,
    run: StudentRun | None = None,
    reuse: Sequence[Path] = (),
) -> dict:
    """Continue the student in `student_dir` with CRE's phases; `run` is its prepared run when the
    caller has one (`prepare_student`), else it is built here. `reuse`: folders of other CRE runs of
    this student; a phase they finished with the same inputs, config and earlier phases is loaded
    instead of trained again (the ablation's '+ seq2item' is the full run's first phase)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    main = is_main_process()
    if main:
        start_or_resume(out, "cre_config.json", cfg.model_dump(mode="json"), ["phases"])
    run, encoder = load_student(student_dir, data_dir, out, run)
    if main:  # the export below needs the tokenizer beside the model
        shutil.copytree(Path(student_dir) / "tokenizer", out / "tokenizer", dirs_exist_ok=True)
    ds = run.ds
    teachers = [load_teacher_targets(t, run.store, run.ds) for t in cfg.teachers]
    data, data_report = cre_data(ds, run, teachers, cfg)
    torch.manual_seed(cfg.seed)  # the sequence encoder's and heads' first weights: the same every run
    seq = SequenceEncoder(encoder.config.hidden_size, cfg.sequence_encoder, cfg.sequence_layers)
    # one module for all phases: the heads carry over from one phase to the next
    module = CREModule(encoder, seq, run.store, run.tokenizer, run.cfg.item_view, teachers, data, cfg, 0.0)
    inputs = input_identity(Path(student_dir), teachers)
    phases = {}
    for i, phase in enumerate(cfg.phases):
        folder = out / "phases" / phase.name
        module.lr = phase.lr
        key = phase_key(cfg, i, inputs)
        done = _finished_phase([folder, *(Path(r) / "phases" / phase.name for r in reuse)], key)
        if done is not None:  # finished earlier, here or by a run that shares it: its weights, then the next
            load_into(module, done / STATE, "CRE phase state")
            phases[phase.name] = read_stamp(done)["info"] | (
                {"reused_from": str(done)} if done != folder else {}
            )
            if done != folder:
                log.info("CRE phase %s: the state of %s (same inputs and phases) reused", phase.name, done)
            continue
        if phase.steps == 0:
            continue
        weights = phase_weights(phase.weights, data.sizes(), phase.name)
        module.counters = dict.fromkeys(module.counters, 0)  # counted per phase
        trainer = fit_resumable(
            module,
            SourceStepData(
                data.sizes(), weights, max(cfg.batch_size, cfg.seq_batch_size), cfg.seed + i, phase.steps
            ),
            folder,
            steps=phase.steps,
            devices=1,
            checkpoint_every=cfg.checkpoint_every,
            log_every=cfg.log_every,
            callbacks=[ContentCache(cfg.refresh_every, cfg.embed_batch)],
            progress=progress,
            stop_at_step=stop_at_step if i == 0 else None,
        )
        if stop_at_step is not None and trainer.global_step < phase.steps:
            raise InterruptedError(f"CRE phase {phase.name} stopped at step {trainer.global_step} as asked")
        phases[phase.name] = {
            "weights": dict(zip(SOURCES, weights.tolist(), strict=True)),
            "steps": trainer.global_step,
            "views_drawn": dict(module.counters),
        }
        atomic_write(folder / STATE, lambda tmp: save_model(module, tmp))  # noqa: B023
        stamp(folder, key, info=phases[phase.name])  # last: the phase is complete only now
    seq.eval()
    rows, emb = evaluate_cre(
        run, ds, encoder, seq, teachers, variant, ground_truth_of(data_dir), module.media
    )
    export_student(run, encoder, emb, kind="student_cre", extra={"cre": data_report})
    seq.save(out)
    report = {"rows": rows, "data": data_report, "phases": phases}
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2, default=float))
    return report


def content_only_rows(
    data_dir,
    student_dir,
    teachers_cfg: CREConfig,
    variant: str = "content-only",
    run: StudentRun | None = None,
) -> list[MetricRow]:
    """The same CRE metrics for the content-trained student (mean-pooled histories): the baseline of
    the ablation."""
    run, encoder = load_student(student_dir, data_dir, Path(student_dir), run)
    ds = run.ds
    teachers = [load_teacher_targets(t, run.store, run.ds) for t in teachers_cfg.teachers]
    seq = SequenceEncoder(encoder.config.hidden_size, "mean")
    return evaluate_cre(run, ds, encoder, seq, teachers, variant, ground_truth_of(data_dir))[0]


def frozen_cre_rows(
    data_dir, student_dir, teachers_cfg: CREConfig, run: StudentRun | None = None
) -> list[MetricRow]:
    """The same CRE metrics for the pretrained towers alone (the frozen baseline, mean-pooled
    histories): what CRE has to beat besides the content-only student."""
    from recplug.student.frozen import VARIANT, FrozenTowers
    from recplug.student.train import new_encoder

    run, _ = load_student(student_dir, data_dir, Path(student_dir), run)
    if not run.preset.folders:
        return []
    frozen = FrozenTowers(new_encoder(run))
    teachers = [load_teacher_targets(t, run.store, run.ds) for t in teachers_cfg.teachers]
    seq = SequenceEncoder(frozen.config.hidden_size, "mean")
    return evaluate_cre(run, run.ds, frozen, seq, teachers, VARIANT, ground_truth_of(data_dir))[0]
