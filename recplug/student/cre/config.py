"""The CRE stage's config: which teacher files, which losses with which weights, which history views,
and the phases (sequence-to-item first, then ID-to-item with the auxiliary task)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recplug.data.config_file import load_config_file

HISTORY_VIEWS = ("recent", "single_content", "multi_content", "single_collab", "multi_collab")
SOURCES = ("seq2item", "id2item", "aux_i2i", "seq_user")


class TeacherFile(BaseModel):
    """One frozen teacher: an embedding folder (or file) keyed by item_id, and optionally user states."""

    model_config = ConfigDict(extra="forbid")
    name: str
    path: str = Field(description="folder with embeddings.parquet (and metadata.json), or the parquet file")
    user_states: bool = Field(
        False, description="also distil the folder's user_states.parquet into the sequence encoder"
    )


class AlignSpec(BaseModel):
    """How projected student embeddings meet a teacher's: InfoNCE over in-batch teacher vectors, plus
    optional cosine regression and a relational term (match the in-batch similarity matrices)."""

    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.07, gt=0)
    cosine_weight: float = Field(0.0, ge=0)
    relational_weight: float = Field(0.5, ge=0)
    head_hidden: int = Field(256, ge=0, description="hidden width of each projection head (0: linear)")


class PhaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    steps: int = Field(ge=0)
    weights: dict[str, float] = Field(description=f"source -> sampling weight; sources: {SOURCES}")
    lr: float = Field(2e-4, gt=0)

    @model_validator(mode="after")
    def _known(self) -> PhaseSpec:
        unknown = [s for s in self.weights if s not in SOURCES]
        if unknown:
            raise ValueError(f"phase '{self.name}': unknown source(s) {unknown}; known: {list(SOURCES)}")
        return self


class CREConfig(BaseModel):
    """How CRE distils the teachers into the student: the teacher files, the phases and their source
    weights, batch sizes, alignment terms, the history length and interest views, the sequence
    encoder, which perception encoders stay frozen. Each field's description is its documentation."""

    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    teachers: list[TeacherFile] = Field(default_factory=list)
    history_len: int = Field(10, ge=1, description="history items in a sequence-to-item query")
    history_pool: int = Field(50, ge=1, description="recent positives the interest views choose from")
    min_history: int = Field(2, ge=1, description="samples with fewer earlier positives are skipped")
    views: list[str] = Field(default_factory=lambda: list(HISTORY_VIEWS))
    interest_clusters: int = Field(3, ge=1, description="k of the multi-peak views' per-user clustering")
    sequence_encoder: Literal["mean", "transformer"] = Field(
        "mean",
        description="mean pooling, or a small transformer that starts as mean pooling; on the demo "
        "world a short CRE trains the item space well but overfits a transformer on top (0.373 vs 0.455 "
        "user-sequence Recall@25), so mean is the default",
    )
    sequence_layers: int = Field(1, ge=1)
    align: AlignSpec = Field(default_factory=AlignSpec)
    seq_temperature: float = Field(0.07, gt=0)
    aux_temperature: float = Field(0.1, gt=0)
    batch_size: int = Field(48, ge=4, description="items per id2item / aux step")
    seq_batch_size: int = Field(24, ge=2, description="users per seq2item step")
    refresh_every: int = Field(50, ge=1, description="steps between refreshes of the item-embedding cache")
    phases: list[PhaseSpec] = Field(
        default_factory=lambda: [
            PhaseSpec(name="seq", steps=100, weights={"seq2item": 1.0, "seq_user": 0.3, "aux_i2i": 0.3}),
            PhaseSpec(name="id", steps=100, weights={"id2item": 1.0, "aux_i2i": 0.5, "seq2item": 0.5}),
        ]
    )
    freeze: list[str] = Field(
        default_factory=lambda: ["vision", "audio"],
        description="student sub-modules kept frozen in CRE (the perception encoders: CRE re-weights "
        "what they see, and skipping their backward pass halves a step's cost)",
    )
    max_text_tokens: int = Field(48, ge=8)
    field_dropout: float = Field(0.2, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    checkpoint_every: int = Field(100, ge=1)
    log_every: int = Field(10, ge=1)
    embed_batch: int = Field(256, ge=1)

    @model_validator(mode="after")
    def _check(self) -> CREConfig:
        bad = [v for v in self.views if v not in HISTORY_VIEWS]
        if bad:
            raise ValueError(f"views: unknown history view(s) {bad}; known: {list(HISTORY_VIEWS)}")
        if not self.views:
            raise ValueError("views: at least one history view is needed (e.g. 'recent')")
        names = [t.name for t in self.teachers]
        if len(set(names)) != len(names):
            raise ValueError(f"teachers: names must be unique, got {names}")
        if self.history_pool < self.history_len:
            raise ValueError("history_pool must be >= history_len")
        return self


def load_cre_config(path: str | Path | None = None, **overrides) -> CREConfig:
    return load_config_file(CREConfig, path, overrides, "cre")
