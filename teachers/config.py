"""Teacher configuration: one typed config for both kinds, loaded from YAML, errors name the bad key."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recplug.data.config_file import apply_overrides, read_config_file, validate_config


class TeacherConfig(BaseModel):
    """A teacher's kind, sizes, optimisers, epochs, cut-off and checkpointing. Each field's
    description is its documentation; unknown keys are errors naming the key."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["id", "seq"] = "id"
    seed: int = 0
    cutoff: Literal["train_end", "valid_end"] = Field(
        "train_end", description="the teacher sees only interactions before this split boundary"
    )

    embedding_dim: int = Field(64, ge=4, le=4096)
    output_dim: int = Field(64, ge=4, le=4096)
    max_items: int = Field(50_000_000, ge=1, description="refuse item tables larger than this (rows)")
    history_len: int = Field(
        50, ge=1, description="recent positives in the user bag (id) / sequence length (seq)"
    )
    tower_hidden: int = Field(128, ge=4)

    # sequence tower
    n_layers: int = Field(2, ge=1)
    n_heads: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    window_stride: int = Field(5, ge=1, description="positives between consecutive training windows (seq)")
    random_negatives: int = Field(256, ge=0, description="uniform negatives shared by the batch (seq)")

    # optimisation
    batch_size: int = Field(512, ge=2)
    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, ge=1)
    sparse_lr: float = Field(0.05, gt=0)
    dense_lr: float = Field(2e-3, gt=0)
    sparse_optimizer: Literal["rowwise_adagrad", "adagrad", "sgd"] = "rowwise_adagrad"
    temperature: float = Field(0.07, gt=0)
    logq_correction: bool = True

    checkpoint_every: int = Field(200, ge=1)
    log_every: int = Field(50, ge=1)

    # evaluation
    eval_ks: tuple[int, ...] = (10, 50)
    bootstrap: int = Field(500, ge=10)

    @model_validator(mode="after")
    def _check(self) -> TeacherConfig:
        if self.kind == "seq" and self.embedding_dim % self.n_heads:
            raise ValueError(
                f"embedding_dim ({self.embedding_dim}) must be divisible by n_heads ({self.n_heads})"
            )
        if self.kind == "seq" and self.output_dim != self.embedding_dim:
            raise ValueError(
                f"seq teacher ties input and output item embeddings: output_dim ({self.output_dim}) "
                f"must equal embedding_dim ({self.embedding_dim})"
            )
        return self


# defaults that differ by kind (measured on the demo world: see the README's teacher table)
KIND_DEFAULTS: dict[str, dict] = {
    "id": {},
    "seq": {"batch_size": 128, "epochs": 2.0, "temperature": 0.1, "window_stride": 10},
}


def load_config(path: str | Path | None = None, **overrides) -> TeacherConfig:
    """Read a YAML config (if given), apply overrides over the kind's defaults; errors name the key
    and the file."""
    raw = apply_overrides(read_config_file(path), overrides, model=TeacherConfig)
    return validate_config(
        TeacherConfig, {**KIND_DEFAULTS.get(raw.get("kind", "id"), {}), **raw}, path, "teacher"
    )
