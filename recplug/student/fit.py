"""A resumable Lightning fit, shared by the content stages and the CRE phases: checkpoints in the run
folder, CSV + TensorBoard logs, resume from the folder's last checkpoint; and the folder state that
decides whether a run continues or starts afresh."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from recplug.data.artifacts import atomic_write, atomic_write_text, claim
from recplug.data.errors import BadFileError
from recplug.data.read_errors import one_line
from recplug.data.weight_files import check_torch_zip

log = logging.getLogger(__name__)


def is_main_process() -> bool:
    """Rank 0 alone writes: Lightning's own rank (from the launcher's environment)."""
    return rank_zero_only.rank == 0


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
    last = usable_checkpoint(folder / "checkpoints" / "last.ckpt")  # first: before any work
    callbacks = [
        ModelCheckpoint(
            dirpath=folder / "checkpoints", every_n_train_steps=checkpoint_every, save_last=True, save_top_k=0
        ),
        *callbacks,
    ]
    if stop_at_step is not None:
        callbacks.append(StopAt(stop_at_step))
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
        plugins=[AtomicCheckpointIO()],
    )
    # the model arrives in eval mode after an evaluation, balancing or from_pretrained, and Lightning
    # keeps the mode it finds: without this, stage II trained with no dropout
    module.train()
    try:
        trainer.fit(
            module,
            datamodule=data,
            ckpt_path=last,
            weights_only=True,  # our own checkpoint, still never unpickled beyond tensors and plain state
        )
    except pickle.UnpicklingError as e:  # only the checkpoint is unpickled (weights only)
        raise BadFileError(
            f"{last}: the Lightning checkpoint holds more than tensors and plain state, and is not "
            f"unpickled ({one_line(e, 80)}); delete it to restart this stage from its first step",
            file=str(last),
        ) from None
    return trainer


class CountersInCheckpoint:
    """A LightningModule mixin: its `counters` (what the steps counted) ride in its checkpoints, so a
    resumed fit reports the counts of the whole fit."""

    counters: dict[str, int]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["counters"] = dict(self.counters)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.counters.update(checkpoint.get("counters", {}))


class StepRefresh(Callback):
    """Recomputes something from the model at the start and every `every` steps (a cache of item
    embeddings, mined hard negatives). What it computed rides in Lightning's checkpoints, so a resumed
    fit uses what an uninterrupted one had, not a recomputation from the resumed weights."""

    def __init__(self, every: int):
        self.every = every
        self.module: L.LightningModule | None = None
        self.restored: dict | None = None

    def refresh(self, module: L.LightningModule, step: int) -> None:
        raise NotImplementedError

    def saved(self, module: L.LightningModule) -> dict:
        """What `refresh` set, as tensors and plain values (checkpoints are loaded weights-only)."""
        raise NotImplementedError

    def restore(self, module: L.LightningModule, state: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {} if self.module is None else self.saved(self.module)

    def load_state_dict(self, state_dict: dict) -> None:
        self.restored = state_dict or None

    def on_train_start(self, trainer, module) -> None:
        self.module = module
        if self.restored is not None:
            self.restore(module, self.restored)
            self.restored = None
        else:
            self.refresh(module, trainer.global_step)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every == 0 and trainer.global_step < trainer.max_steps:
            self.refresh(module, trainer.global_step)


class StopAt(Callback):
    """Simulates a kill after `step` steps (tests): Lightning stops; the last checkpoint stays."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoints through recplug's atomic write: a kill or a full disk mid-save leaves
    the previous `last.ckpt` whole (Lightning's own save writes the final name in place)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        atomic_write(Path(path), lambda tmp: torch.save(checkpoint, tmp))


def usable_checkpoint(path: Path) -> Path | None:
    """`path` when it holds a whole checkpoint (every CRC checked); an empty, truncated or damaged one
    (an older recplug's in-place write, a copy gone wrong) is moved aside with a one-line message and
    the fit restarts from the last good state, the stage's start, instead of failing every rerun."""
    if not path.exists():
        return None
    try:
        return check_torch_zip(path, "Lightning checkpoint")
    except BadFileError as e:
        aside = path.with_name(path.name + ".corrupt")
        path.replace(aside)
        message = f"{e}; moved to {aside.name}, this stage restarts from its start"
        log.warning(message)
        print(f"[resume] {message}")
        return None


def start_or_resume(out: Path, config_file: str, config: dict, state: list[str]) -> None:
    """Write the run's config; when the folder holds a run of another config, remove its stage state
    first (finished stages and checkpoints of that config must not be resumed into this one)."""
    claim(out, config, state)
    atomic_write_text(out / config_file, json.dumps(config, indent=2))
