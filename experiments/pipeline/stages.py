"""The pipeline's stages. Each takes the run config, the run folder's paths and the cache key of the
stages it reads from; each is skipped when its folder carries the stamp of the same key (see
experiments/cache.py) and resumes from its own checkpoints when it was interrupted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from experiments.cache import is_done, mark_done
from experiments.commands.common import timed
from experiments.pipeline.config import PipelineConfig
from recplug.metrics.intervals import MetricRow

CRE_VARIANT = "+ both (CRE)"


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    def teacher(self, kind: str) -> Path:
        return self.root / "teachers" / kind

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def cre(self) -> Path:
        return self.root / "cre"

    @property
    def ranking(self) -> Path:
        return self.root / "ranking"

    def ranking_model(self, slug: str, seed: int) -> Path:
        return self.ranking / slug / f"seed{seed}" / "model.safetensors"

    def ranking_scores(self, slug: str, seed: int) -> Path:
        return self.ranking / slug / f"seed{seed}" / "test_scores.npy"

    @property
    def lt(self) -> Path:
        return self.root / "lt"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def final_student(self) -> Path:
        """The student whose outputs feed the ranking: after CRE when CRE ran."""
        return self.cre if (self.cre / "embeddings.parquet").is_file() else self.student


def _cached(folder: Path, key: dict, label: str, work) -> list[MetricRow]:
    """Rows of a stage: from its metrics.json when up to date, else by running `work()`."""
    if is_done(folder, key):
        print(f"[{label}] {folder} is up to date: skipped")
        return json.loads((folder / "metrics.json").read_text())["rows"]
    with timed(label):
        rows = work()
    mark_done(folder, key)
    return rows


def data_stage(cfg: PipelineConfig, paths: Paths) -> tuple[Path, dict]:
    """The dataset folder and its cache key."""
    d = cfg.data
    if d.path:
        from recplug.data.validate import validate_dataset

        folder = Path(d.path)
        validate_dataset(folder)
        return folder, {"stage": "data", "path": str(folder.resolve()), "mtime": _mtimes(folder)}
    folder = paths.data
    if d.generate:
        from recplug.data.world import World

        world = World.from_preset(d.generate, seed=d.seed, **d.world)
        key = {
            "stage": "data",
            "preset": d.generate,
            "seed": d.seed,
            "world": world.config.model_dump(mode="json"),
        }
        make = lambda: world.generate(folder, progress=cfg.progress)  # noqa: E731
    else:
        from recplug.data.importers import import_movielens

        src = Path(d.movielens)
        key = {
            "stage": "data",
            "movielens": str(src.resolve()),
            "positive_min": d.positive_min,
            "mtime": _mtimes(src),
        }
        make = lambda: import_movielens(src, folder, positive_min=d.positive_min)  # noqa: E731
    if is_done(folder, key):
        print(f"[data] {folder} is up to date: skipped")
    else:
        from recplug.data.validate import validate_dataset

        with timed("data"):
            make()
            validate_dataset(folder)
        mark_done(folder, key)
    return folder, key


def _mtimes(folder: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in sorted(Path(folder).glob("*")) if p.is_file()}


def teachers_stage(cfg: PipelineConfig, paths: Paths, data_dir: Path, data_key: dict) -> list[MetricRow]:
    from teachers.config import load_config
    from teachers.train import train_teacher

    rows = []
    for kind in ("id", "seq"):
        tcfg = load_config(None, kind=kind, **getattr(cfg.teachers, kind))
        folder = paths.teacher(kind)
        key = {"stage": "teacher", "kind": kind, "config": tcfg.model_dump(mode="json"), "data": data_key}
        got = _cached(
            folder,
            key,
            f"teachers: {kind}",
            lambda: train_teacher(data_dir, folder, tcfg, progress=cfg.progress).metrics,  # noqa: B023
        )
        # the baselines are the same for both teachers (same queries): keep them once
        rows += [
            r
            for r in got
            if r["variant"] == f"{kind}_teacher" or (kind == "id" and not r["variant"].endswith("_teacher"))
        ]
    return rows


def student_stage(
    cfg: PipelineConfig, paths: Paths, data_dir: Path, data_key: dict
) -> tuple[list[MetricRow], dict]:
    from recplug.student.config import load_student_config
    from recplug.student.train import train_student

    scfg = load_student_config(None, **cfg.student.config)
    key = {"stage": "student", "config": scfg.model_dump(mode="json"), "data": data_key}
    rows = _cached(
        paths.student,
        key,
        "student: stages I-III",
        lambda: train_student(data_dir, paths.student, scfg, progress=cfg.progress)["rows"],
    )
    return rows, key


def cre_config(cfg: PipelineConfig, paths: Paths):
    from recplug.student.cre.config import load_cre_config

    teachers = [
        {"name": "id", "path": str(paths.teacher("id"))},
        {"name": "seq", "path": str(paths.teacher("seq")), "user_states": True},
    ]
    return load_cre_config(None, **({"teachers": teachers} | cfg.cre.config))


def cre_stage(cfg: PipelineConfig, paths: Paths, data_dir: Path, student_key: dict) -> list[MetricRow]:
    """The CRE student (the pipeline's final student) and, when asked, the ablation variants."""
    from experiments.cre_ablation import run_ablation
    from recplug.student.cre.train import train_cre

    ccfg = cre_config(cfg, paths)
    key = {"stage": "cre", "config": ccfg.model_dump(mode="json"), "student": student_key}
    rows = _cached(
        paths.cre,
        key,
        "cre",
        lambda: train_cre(
            data_dir, paths.student, paths.cre, ccfg, progress=cfg.progress, variant=CRE_VARIANT
        )["rows"],
    )
    if cfg.cre.ablation:
        rows += run_ablation(
            data_dir,
            paths.student,
            paths.cre / "ablation",
            ccfg,
            student_key,
            views=cfg.cre.ablation_views,
            progress=cfg.progress,
            done={CRE_VARIANT: rows},
        )
    return rows


def ranking_sources(cfg: PipelineConfig, paths: Paths) -> dict[str, str]:
    """Named embedding folders for the ranking variants; the first is what '+match' / '+sid' use."""
    sources = {"student": str(paths.final_student), "content": str(paths.student)}
    if cfg.teachers.enabled:
        sources["id"] = str(paths.teacher("id"))
    return sources


def ranking_stage(cfg: PipelineConfig, paths: Paths, data_dir: Path) -> list[MetricRow]:
    from features.experiment import run_ranking
    from features.train import RankingConfig

    with timed("ranking"):
        return run_ranking(
            data_dir,
            ranking_sources(cfg, paths),
            variants=cfg.ranking.variants,
            seeds=cfg.ranking.seeds,
            out_dir=paths.ranking,
            cfg=RankingConfig(**cfg.ranking.config),
            features_dir=paths.root / "features",
            progress=cfg.progress,
        )
