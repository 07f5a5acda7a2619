"""A resumable Lightning fit, shared by the content stages and the CRE phases: checkpoints in the run
folder, CSV + TensorBoard logs, resume from the folder's last checkpoint; and the folder state that
decides whether a run continues or starts afresh."""

from __future__ import annotations

import logging
import pickle
import shutil
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from recplug.data.errors import BadFileError
from recplug.data.io import atomic_write_text
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
    last = resume_checkpoint(folder)  # first: a damaged checkpoint is refused before any work
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
            f"unpickled ({one_line(e, 80)}); {RESTART}",
            file=str(last),
        ) from None
    return trainer


RESTART = "delete it to restart this stage from its first step"


def resume_checkpoint(folder: Path) -> Path | None:
    """The folder's last Lightning checkpoint when there is one, checked whole (an empty, truncated or
    damaged file is refused by name rather than failing deep inside Lightning); None to start afresh."""
    last = folder / "checkpoints" / "last.ckpt"
    if not last.exists():
        return None
    try:
        return check_torch_zip(last, "Lightning checkpoint")
    except BadFileError as e:
        raise BadFileError(f"{e}; {RESTART}", file=str(last)) from None


class StopAt(Callback):
    """Simulates a kill after `step` steps (tests): Lightning stops; the last checkpoint stays."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


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
