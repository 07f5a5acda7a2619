"""Train a teacher with TorchRec's sharded engine: DistributedModelParallel (planner-chosen sharding),
fbgemm's fused optimizer for the tables, a dense optimizer for the rest, and TrainPipelineSparseDist.
The same function runs as one process or as one rank of `torchrun`.

Checkpoints every `checkpoint_every` steps; a run resumes from the last one and, because each step's
batch is a pure function of (seed, step), finishes exactly as an uninterrupted run would.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torchrec.distributed import DistributedModelParallel
from torchrec.distributed.embedding import EmbeddingCollectionSharder
from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist
from torchrec.optim import RowWiseAdagrad
from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizerWrapper
from torchrec.optim.optimizers import in_backward_optimizer_filter
from tqdm.auto import tqdm

from recplug.data import load_dataset
from recplug.data.artifacts import atomic_write_text, fingerprint
from recplug.metrics.intervals import MetricRow
from teachers.checkpoint import full_model_state, load_checkpoint, read_info, save_checkpoint
from teachers.config import TeacherConfig
from teachers.data import TeacherData
from teachers.dist import DistEnv, process_group
from teachers.evaluate import evaluate_teacher, metrics_markdown
from teachers.export import export_teacher
from teachers.kinds import KINDS, TeacherKind

SPARSE_OPTIMIZERS = {
    "rowwise_adagrad": RowWiseAdagrad,
    "adagrad": torch.optim.Adagrad,
    "sgd": torch.optim.SGD,
}
LOG_FILE = "train_log.csv"


class NonFiniteLoss(RuntimeError):
    pass


class Interrupted(RuntimeError):
    """Raised by `stop_at_step` (tests use it to simulate a kill)."""


@dataclass
class TeacherResult:
    out: Path
    steps: int
    final_loss: float
    metrics: list[MetricRow]
    metadata: dict


def build_sharded(kind: TeacherKind, env: DistEnv) -> tuple[DistributedModelParallel, CombinedOptimizer, str]:
    """The kind's objective module (tables on the meta device until sharded), sharded."""
    torch.manual_seed(kind.cfg.seed)
    return shard(kind.objective(kind.build(device=torch.device("meta"))), kind.cfg, env)


def shard(
    model: torch.nn.Module, cfg: TeacherConfig, env: DistEnv
) -> tuple[DistributedModelParallel, CombinedOptimizer, str]:
    """Tables sharded by TorchRec's planner with fbgemm's fused optimizer; Adam for the dense rest."""
    tables = [p for n, p in model.named_parameters() if ".ebc." in f".{n}" or ".ec." in f".{n}"]
    apply_optimizer_in_backward(SPARSE_OPTIMIZERS[cfg.sparse_optimizer], tables, {"lr": cfg.sparse_lr})
    sharders = [EmbeddingBagCollectionSharder(), EmbeddingCollectionSharder()]
    planner = EmbeddingShardingPlanner(
        topology=Topology(world_size=env.world_size, compute_device=env.device.type)
    )
    plan = planner.collective_plan(model, sharders, dist.GroupMember.WORLD)
    dmp = DistributedModelParallel(model, device=env.device, plan=plan, sharders=sharders)
    dense = KeyedOptimizerWrapper(
        dict(in_backward_optimizer_filter(dmp.named_parameters())),
        lambda ps: torch.optim.Adam(ps, lr=cfg.dense_lr),
    )
    return dmp, CombinedOptimizer([dmp.fused_optimizer, dense]), str(plan)


def _fingerprint(kind: TeacherKind) -> dict:
    return {"config_hash": fingerprint(kind.cfg.model_dump(mode="json")), "data": kind.data.fingerprint}


def _resume(ckpt: Path, kind: TeacherKind, dmp, optimizer) -> int:
    info = read_info(ckpt)
    if info is None:
        return 0
    expected = _fingerprint(kind)
    if info.get("config_hash") != expected["config_hash"] or info.get("data") != expected["data"]:
        raise ValueError(
            f"{ckpt}: checkpoint was written for another config or dataset "
            f"(config {info.get('config_hash')} vs {expected['config_hash']}, data {info.get('data')} vs {expected['data']}); "
            "use a new --out folder, or start it over (`recplug teachers train --no-resume`, "
            "`recplug run CONFIG --fresh teachers`)"
        )
    for _, opt in optimizer.optimizers:  # Adam's state is lazy: create it, then overwrite it in place
        if isinstance(opt, KeyedOptimizerWrapper):
            opt.init_state()
    load_checkpoint(ckpt, dmp, optimizer)
    torch.set_rng_state(torch.tensor(info["torch_rng"], dtype=torch.uint8))
    return int(info["step"])


def _log_writer(out: Path, step: int, is_main: bool):
    """Append to the CSV log, dropping rows past `step` (written after the checkpoint a resume uses)."""
    if not is_main:
        return None
    path = out / LOG_FILE
    rows = []
    if path.is_file() and step > 0:
        with path.open() as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    f = path.open("w", newline="")
    writer = csv.DictWriter(f, fieldnames=["step", "loss", "examples_per_s"])
    writer.writeheader()
    writer.writerows(rows)
    return f, writer


def train_teacher(
    data_dir: str | Path,
    out: str | Path,
    cfg: TeacherConfig,
    *,
    resume: bool = True,
    stop_at_step: int | None = None,
    progress: bool = True,
    evaluate: bool = True,
) -> TeacherResult | None:
    """Train, checkpoint, evaluate and export. Returns the result on rank 0, None on other ranks."""
    out = Path(out)
    with process_group() as env:
        ds = load_dataset(data_dir)
        data = TeacherData.from_dataset(ds, cfg)
        kind = KINDS[cfg.kind](data, cfg)
        dmp, optimizer, plan = build_sharded(kind, env)
        ckpt = out / "checkpoint"
        step = _resume(ckpt, kind, dmp, optimizer) if resume else 0
        total = kind.total_steps()
        if env.is_main:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / "sharding_plan.txt", plan)
        log = _log_writer(out, step, env.is_main)
        pipeline = TrainPipelineSparseDist(dmp, optimizer, env.device, execute_all_batches=True)
        batches = iter(kind.batches(step, total, env.rank, env.world_size))
        bar = tqdm(
            total=total,
            initial=step,
            desc=f"train {cfg.kind} teacher",
            unit="step",
            disable=not (progress and env.is_main),
        )
        dmp.train()
        loss_value, t0, seen = math.nan, time.perf_counter(), 0
        try:
            while step < total:
                loss = pipeline.progress(batches)
                step += 1
                loss_value = float(loss)
                if not math.isfinite(loss_value):
                    raise NonFiniteLoss(
                        f"{cfg.kind} teacher: loss is {loss_value} at step {step}; stopping. The last good checkpoint is "
                        f"{ckpt} (step {read_info(ckpt)['step'] if read_info(ckpt) else 0}); lower sparse_lr/dense_lr or "
                        "raise temperature"
                    )
                seen += cfg.batch_size
                bar.update(1)
                if step % cfg.log_every == 0 or step == total:
                    rate = seen / (time.perf_counter() - t0)
                    bar.set_postfix(loss=f"{loss_value:.4f}", ex_s=f"{rate:,.0f}")
                    if log:
                        log[1].writerow(
                            {"step": step, "loss": f"{loss_value:.6f}", "examples_per_s": f"{rate:.1f}"}
                        )
                        log[0].flush()
                if step % cfg.checkpoint_every == 0 or step == total:
                    info = {
                        **_fingerprint(kind),
                        "step": step,
                        "loss": loss_value,
                        "torch_rng": torch.get_rng_state().tolist(),
                    }
                    save_checkpoint(ckpt, dmp, optimizer, info)
                if step == stop_at_step and step < total:
                    raise Interrupted(f"stopped at step {step} as asked")
        finally:
            bar.close()
            if log:
                log[0].close()

        state = full_model_state(dmp)
        if not env.is_main:
            return None
        model = kind.build()
        model.load_state_dict({k.removeprefix("tower."): v for k, v in state.items()})
        model.eval()
        metrics: list[MetricRow] = []
        extra: dict = {
            "steps": step,
            "final_loss": loss_value,
            "world_size": env.world_size,
            # counted, not dropped: such examples train on the user id alone (id) / are not windows (seq)
            "training_examples": kind.n_examples(),
            "positives_without_prior_history": int((data.hist_end == data.hist_start).sum()),
        }
        if evaluate:
            metrics, skipped = evaluate_model(ds, kind, model)
            extra |= {"metrics": metrics, "eval_skipped": skipped}
            atomic_write_text(out / "metrics.md", metrics_markdown(metrics) + "\n")
            atomic_write_text(
                out / "metrics.json", json.dumps({"rows": metrics, "skipped": skipped}, indent=2)
            )
        metadata = export_teacher(out, kind, model, extra)
        return TeacherResult(out, step, loss_value, metrics, metadata)


def evaluate_model(
    ds, kind: TeacherKind, model: torch.nn.Module, baselines: bool = True
) -> tuple[list[MetricRow], dict]:
    """Next-positive-item metrics in the period right after the cut-off (validation for a train_end
    cut-off, test for valid_end)."""
    cfg, data = kind.cfg, kind.data
    s = ds.meta.splits
    until, split = (s.valid_end, "valid") if cfg.cutoff == "train_end" else (s.end + 1, "test")
    ev = data.eval_set(ds, until, cfg.history_len)
    if len(ev) == 0:
        raise ValueError(f"no evaluable users in the {split} period (skipped: {ev.skipped})")
    with torch.no_grad():
        queries = kind.query_embeddings(model, ev.user_rows, ev.hist_lengths, ev.hist_values)
        items = kind.item_embeddings(model, np.arange(1, data.items.size))
    rows = evaluate_teacher(
        data, ev, queries, items, f"{cfg.kind}_teacher", cfg.eval_ks, cfg.bootstrap, split, baselines
    )
    return rows, ev.skipped
