"""The pipeline config: one YAML file describes a whole run. Each stage holds the keys of its own
component's config (TeacherConfig, StudentConfig, CREConfig, RankingConfig), validated with messages
that name the bad key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recplug.data.config_file import ConfigError, load_config_file, validate_config


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataStage(_Stage):
    """Exactly one of: generate a world preset, import MovieLens from a local folder, or use a folder."""

    generate: str | None = Field(None, description="world preset: tiny, demo or large")
    world: dict[str, Any] = Field(default_factory=dict, description="WorldConfig overrides")
    seed: int = 0
    movielens: str | None = Field(None, description="local MovieLens folder (ml-latest-small, ml-1m, ...)")
    positive_min: float = Field(4.0, description="MovieLens: rating >= this is a positive")
    implicit: bool = Field(False, description="MovieLens: every rating a 'play' event, no negatives")
    path: str | None = Field(None, description="an existing dataset folder (the data contract)")

    @model_validator(mode="after")
    def _one(self) -> DataStage:
        given = [k for k in ("generate", "movielens", "path") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"data: give exactly one of generate / movielens / path (got {given or 'none'})")
        return self


class TeachersStage(_Stage):
    enabled: bool = True
    id: dict[str, Any] = Field(default_factory=dict, description="TeacherConfig keys for the ID tower")
    seq: dict[str, Any] = Field(default_factory=dict, description="TeacherConfig keys for the sequence tower")


class StudentStage(_Stage):
    config: dict[str, Any] = Field(default_factory=dict, description="StudentConfig keys")


class CREStage(_Stage):
    enabled: bool = True
    config: dict[str, Any] = Field(
        default_factory=dict, description="CREConfig keys (teachers are filled in)"
    )
    ablation: bool = Field(True, description="train the ablation variants too")
    ablation_views: bool = Field(True, description="include the interest-view-off variants")
    ablation_workers: int = Field(
        2,
        ge=1,
        description="ablation variants trained at once, each in its own process with one torch thread "
        "(on 2 cores, 2 finish the demo's variants 1.4x sooner than one at a time on two threads; "
        "each process holds its own copy of the student, about 1.5 GiB on the demo)",
    )


class RankingStage(_Stage):
    enabled: bool = True
    variants: list[str] = Field(
        default_factory=lambda: ["baseline", "+match", "+sid", "+match+sid", "+match:content", "+match:id"],
        description="'+match' / '+sid' use the final student; ':content' the content-only student, "
        "':id' the ID teacher (warm items only)",
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    config: dict[str, Any] = Field(default_factory=dict, description="RankingConfig keys")
    protocol: Literal["valid", "forward"] = Field(
        "valid",
        description="'valid': the ranker is fitted on the validation period, features from the run's "
        "tables (cut off at train_end); 'forward': forward chaining, the embedding stages run again "
        "cut off at each of `fold_cutoffs` and at the test period's start, the ranker is fitted on every "
        "pre-test row from the first cut-off on, each row's features from the latest tables cut off "
        "before it (match features only: semantic-id codebooks differ between folds)",
    )
    fold_cutoffs: list[float] = Field(
        default_factory=lambda: [0.3],
        description="forward: extra cut-offs before train_end, as quantiles of the interactions' ts",
    )

    @model_validator(mode="after")
    def _forward(self) -> RankingStage:
        if self.protocol == "forward":
            if any(not 0 < q < 1 for q in self.fold_cutoffs):
                raise ValueError(f"ranking.fold_cutoffs must lie in (0, 1), got {self.fold_cutoffs}")
            sid = [v for v in self.variants if "+sid" in v]
            if sid:
                raise ValueError(
                    f"ranking.protocol 'forward' takes match features only; drop the semantic-id variants {sid}"
                )
        return self


class LTStage(_Stage):
    enabled: bool = True
    days: int = Field(14, ge=1)
    horizons: list[int] = Field(default_factory=lambda: [7, 14])
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    variants: list[str] = Field(
        default_factory=lambda: ["baseline", "+match", "+match:content"],
        description="ranking variants simulated (simulation seed k uses the model of ranking seed k); "
        "'+match' against '+match:content' isolates what CRE adds",
    )
    references: list[Literal["random", "popularity", "oracle"]] = Field(
        default_factory=lambda: ["random", "oracle"], description="reference rankers simulated beside them"
    )
    workers: int = Field(
        2,
        ge=1,
        description="processes simulating (ranker, seed) runs side by side, this one among them, one torch "
        "thread each (on 2 cores 2 finish the demo's LT about 1.5x sooner than 1); same figures either way",
    )
    scorer_threads: int = Field(
        2,
        ge=1,
        description="with workers: 1, torch threads of the ranking scorers while simulating (2 is 1.5x faster "
        "than 1 on an idle 2-core CPU)",
    )
    users: int | None = Field(
        None,
        ge=2,
        description="simulate only this many users, a uniform sample (the same for every ranker and seed), "
        "named in the report: a cut for large worlds; None simulates all",
    )
    users_seed: int = Field(0, description="seed of the `users` sample")
    proxy: bool = Field(True, description="also the log-based proxy (the only LT figure on real logs)")
    proxy_window_days: int = Field(1, ge=1, description="proxy: users active in the test period's first days")
    proxy_horizon: int = Field(7, ge=1, description="proxy: active days counted over this many days after")


class PipelineConfig(_Stage):
    name: str
    out: str | None = Field(None, description="run folder (default: runs/<name>)")
    data: DataStage
    teachers: TeachersStage = Field(default_factory=TeachersStage)
    student: StudentStage = Field(default_factory=StudentStage)
    cre: CREStage = Field(default_factory=CREStage)
    ranking: RankingStage = Field(default_factory=RankingStage)
    lt: LTStage = Field(default_factory=LTStage)
    progress: bool = True

    @property
    def folder(self) -> Path:
        return Path(self.out or f"runs/{self.name}")

    @model_validator(mode="after")
    def _needs(self) -> PipelineConfig:
        if self.cre.enabled and not self.teachers.enabled:
            raise ValueError("cre.enabled needs teachers.enabled (CRE distils the teachers)")
        uses_teacher = any(":id" in v for v in self.ranking.variants)
        if self.ranking.enabled and uses_teacher and not self.teachers.enabled:
            raise ValueError("ranking.variants name the ID teacher (':id') but teachers.enabled is false")
        if self.lt.enabled and self.ranking.enabled:
            missing = [v for v in self.lt.variants if v not in self.ranking.variants]
            if missing:
                raise ValueError(
                    f"lt.variants {missing} are not among ranking.variants {self.ranking.variants}"
                )
            unseeded = [s for s in self.lt.seeds if s not in self.ranking.seeds]
            if unseeded:
                raise ValueError(
                    f"lt.seeds {unseeded} are not among ranking.seeds {self.ranking.seeds} "
                    "(simulation seed k ranks with the model of ranking seed k)"
                )
        return self


def world_config(cfg: PipelineConfig):
    """The generated world's config (None when the data is not generated); errors keyed under `data`."""
    from recplug.data.world.config import PRESETS, WorldConfig

    d = cfg.data
    if not d.generate:
        return None
    if d.generate not in PRESETS:
        problem = f"unknown world preset '{d.generate}'; choose one of {sorted(PRESETS)}"
        raise ConfigError([("generate", problem)], None, "data")
    try:
        return validate_config(WorldConfig, PRESETS[d.generate].model_dump() | d.world, None, "world")
    except ConfigError as e:
        raise e.under("world", None, "data") from None


def teacher_config(cfg: PipelineConfig, kind: str):
    from teachers.config import load_config

    return load_config(None, kind=kind, **getattr(cfg.teachers, kind))


def student_config(cfg: PipelineConfig):
    from recplug.student.train_config import load_student_config

    return load_student_config(None, **cfg.student.config)


def cre_config(cfg: PipelineConfig, teacher_folders: dict[str, str]):
    """CRE's config: the run's two teachers (their folders), then the config's keys."""
    from recplug.student.cre.config import load_cre_config

    teachers = [
        {"name": "id", "path": teacher_folders["id"]},
        {"name": "seq", "path": teacher_folders["seq"], "user_states": True},
    ]
    return load_cre_config(None, **({"teachers": teachers} | cfg.cre.config))


def ranking_config(cfg: PipelineConfig):
    """The ranking experiment's config; forward chaining fits on every row from the first cut-off."""
    from features.train import RankingConfig

    forward = {"fit_on": "forward"} if cfg.ranking.protocol == "forward" else {}
    return validate_config(RankingConfig, forward | cfg.ranking.config, None, "ranking")


def check_sections(cfg: PipelineConfig, path: str | Path | None) -> None:
    """Every section's component config, built before the first stage runs: a bad key deep in the
    ranking section stops the run at once, not after an hour of training."""
    placeholder = {"id": "teachers/id", "seq": "teachers/seq"}
    sections = {
        "data": lambda: world_config(cfg),
        "teachers.id": lambda: teacher_config(cfg, "id"),
        "teachers.seq": lambda: teacher_config(cfg, "seq"),
        "student.config": lambda: student_config(cfg),
        "cre.config": lambda: cre_config(cfg, placeholder),
        "ranking.config": lambda: ranking_config(cfg),
    }
    for prefix, build in sections.items():
        try:
            build()
        except ConfigError as e:
            raise e.under(prefix, path, "pipeline") from None
        except ValueError as e:
            raise ValueError(f"{path}: {prefix}: {e}") from None


def load_pipeline_config(path: str | Path, **overrides) -> PipelineConfig:
    """The file, `overrides` by dotted key (`data.generate=tiny`, `student.config.stages.0.steps=5`),
    the whole config validated, every section included."""
    cfg = load_config_file(PipelineConfig, path, overrides, "pipeline")
    check_sections(cfg, path)
    return cfg
