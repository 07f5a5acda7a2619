"""The pipeline's stages. Each takes the run config, the run folder's paths and the cache key of the
stages it reads from, and returns a `StageResult` (rows, report sections, notes); each is skipped when
its folder carries the stamp of the same key (see recplug/data/artifacts.py), its result then rebuilt from
its own outputs, and resumes from its own checkpoints when it was interrupted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from experiments.pipeline import config
from experiments.pipeline.config import PipelineConfig, ranking_config
from experiments.pipeline.results import Section, StageResult
from experiments.timing import timed
from features.layout import RankingLayout
from recplug.data.artifacts import file_identity, is_fresh, stamp

CRE_VARIANT = "+ both (CRE)"
STAGES = ("data", "teachers", "student", "cre", "folds", "ranking", "lt")


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
    def ranking(self) -> RankingLayout:
        return RankingLayout(self.root / "ranking")

    @property
    def lt(self) -> Path:
        return self.root / "lt"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def outputs(self, stage: str) -> list[Path]:
        """The folders a stage writes (what `recplug run --fresh STAGE` removes)."""
        return {
            "data": [self.data],
            "teachers": [self.root / "teachers"],
            "student": [self.student],
            "cre": [self.cre],
            "folds": [self.root / "folds"],
            "ranking": [self.ranking.root, self.root / "features"],
            "lt": [self.lt],
        }[stage]

    @property
    def frozen(self) -> Path | None:
        """The frozen baseline's embeddings (a pretrained student writes them), else None."""
        from recplug.student.frozen import FOLDER

        folder = self.student / FOLDER
        return folder if (folder / "embeddings.parquet").is_file() else None

    @property
    def final_student(self) -> Path:
        """The student whose outputs feed the ranking: after CRE when CRE ran."""
        return self.cre if (self.cre / "embeddings.parquet").is_file() else self.student


def _cached(folder: Path, key: dict, label: str, work) -> dict:
    """A stage's report (its metrics.json: rows and whatever else it records): the stage's own file
    when up to date (a stamp without that file is not trusted), else by running `work()`, which writes
    it and returns the same dict."""
    if is_fresh(folder, key) and (folder / "metrics.json").is_file():
        print(f"[{label}] {folder} is up to date: skipped")
        return json.loads((folder / "metrics.json").read_text())
    with timed(label):
        report = work()
    stamp(folder, key)
    return report


def _write_rows(folder: Path, rows: list) -> dict:
    """A part-stage's report: its rows in folder/metrics.json (what `_cached` reads back)."""
    from recplug.data.io import atomic_write_text

    report = {"rows": rows}
    atomic_write_text(folder / "metrics.json", json.dumps(report, indent=2, default=float))
    return report


def data_stage(cfg: PipelineConfig, paths: Paths) -> tuple[Path, dict]:
    """The dataset folder and its cache key."""
    d = cfg.data
    if d.path:
        from recplug.data.validate import validate_dataset

        folder = Path(d.path)
        validate_dataset(folder)
        return folder, {"stage": "data", "path": str(folder.resolve()), "files": file_identity(folder)}
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
            **({"implicit": True} if d.implicit else {}),
            "files": file_identity(src),
        }
        make = lambda: import_movielens(  # noqa: E731
            src, folder, positive_min=d.positive_min, implicit=d.implicit
        )
    if is_fresh(folder, key):
        print(f"[data] {folder} is up to date: skipped")
    else:
        from recplug.data.validate import validate_dataset

        with timed("data"):
            make()
            validate_dataset(folder)
        stamp(folder, key)
    return folder, key


def teachers_stage(cfg: PipelineConfig, paths: Paths, data_dir: Path, data_key: dict) -> StageResult:
    from teachers.evaluate import diff_columns, metric_columns
    from teachers.train import train_teacher

    rows = []
    for kind in ("id", "seq"):
        tcfg = config.teacher_config(cfg, kind)
        folder = paths.teacher(kind)
        key = {"stage": "teacher", "kind": kind, "config": tcfg.model_dump(mode="json"), "data": data_key}
        got = _cached(
            folder,
            key,
            f"teachers: {kind}",
            lambda: {"rows": train_teacher(data_dir, folder, tcfg, progress=cfg.progress).metrics},  # noqa: B023
        )["rows"]
        # the baselines are the same for both teachers (same queries): keep them once
        rows += [
            r
            for r in got
            if r["variant"].startswith(f"{kind}_teacher")
            or (kind == "id" and not r["variant"].endswith("_teacher"))
        ]
    n = next((r["n"] for r in rows if r["variant"] == "id_teacher"), rows[0]["n"] if rows else 0)
    return StageResult(
        "teachers",
        rows,
        [
            Section(
                "Teachers against baselines (next positive after the cut-off)",
                rows,
                metric_columns(rows),
                text=f"Every positive event after the cut-off on a warm item by a user with history ({n:,} "
                "events; intervals resample users).",
            ),
            Section("Teachers: paired differences to each baseline (same users)", rows, diff_columns(rows)),
        ],
    )


def student_stage(
    cfg: PipelineConfig, paths: Paths, data_dir: Path, data_key: dict
) -> tuple[StageResult, dict]:
    """The content-trained student's result and its cache key (CRE's stamp includes it)."""
    from recplug.student.report import COLUMNS
    from recplug.student.train import train_student

    scfg = config.student_config(cfg)
    key = {"stage": "student", "config": scfg.model_dump(mode="json"), "data": data_key}
    report = _cached(
        paths.student,
        key,
        "student: stages I-III",
        lambda: train_student(data_dir, paths.student, scfg, progress=cfg.progress),
    )
    rows = report["rows"]
    notes = {k: report.get(k) for k in ("holdout", "evaluation", "preset", "text_truncation")}
    notes["stage_variants"] = [f"stage {st.name}" for st in scfg.stages]  # the rows' variant per stage
    cut = report.get("text_truncation") or {}
    text = f"Preset: {report.get('preset', 'scratch (before presets)')}." + (
        f" Item texts cut at {cut['max_text_tokens']} tokens (student.config.max_text_tokens): "
        f"{cut['truncated']:,} of {cut['items']:,} items."
        if cut
        else ""
    )
    return StageResult(
        "student", rows, [Section("Student after each content stage", rows, COLUMNS, text=text)], notes=notes
    ), key


def cre_config(cfg: PipelineConfig, paths: Paths):
    return config.cre_config(cfg, {kind: str(paths.teacher(kind)) for kind in ("id", "seq")})


def cre_stage(
    cfg: PipelineConfig, paths: Paths, data_dir: Path, student_key: dict, frozen: bool = True
) -> StageResult:
    """The CRE student (the pipeline's final student) and, when asked, the ablation variants and (with
    a pretrained student) the frozen baseline's CRE row; they share one prepared student run, built on
    first need."""
    from experiments.cre_ablation import COLUMNS, REFERENCE, run_ablation
    from recplug.student.cre.train import frozen_cre_rows, prepare_student, train_cre

    ccfg = cre_config(cfg, paths)
    key = {"stage": "cre", "config": ccfg.model_dump(mode="json"), "student": student_key}
    prepared = []

    def train():
        prepared.append(prepare_student(paths.student, data_dir))
        return train_cre(
            data_dir,
            paths.student,
            paths.cre,
            ccfg,
            progress=cfg.progress,
            variant=CRE_VARIANT,
            run=prepared[0],
        )

    report = _cached(paths.cre, key, "cre", train)
    rows = report["rows"]
    warnings = sorted(
        {
            f"teacher '{t.get('teacher', '?')}': {w}"
            for t in report.get("data", {}).get("teachers", [])
            for w in t.get("warnings", [])
        }
    )
    if frozen and paths.frozen is not None:
        rows += _cached(
            paths.cre / "frozen",
            key | {"part": "frozen baseline"},
            "cre: frozen baseline",
            lambda: _write_rows(
                paths.cre / "frozen",
                frozen_cre_rows(data_dir, paths.student, ccfg, run=prepared[0] if prepared else None),
            ),
        )["rows"]
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
            run=prepared[0] if prepared else None,
            reuse=[paths.cre],
            workers=cfg.cre.ablation_workers,
        )
    text = "\n".join(f"- **Warning**: {w}" for w in warnings)
    return StageResult("cre", rows, [Section("CRE ablation", rows, COLUMNS, text=text, note=REFERENCE)])


def ranking_sources(cfg: PipelineConfig, paths: Paths, folds: Sequence[Paths] = ()) -> dict[str, list[str]]:
    """Named embedding folders for the ranking variants (the first is what '+match' / '+sid' use);
    with forward-chaining `folds`, each name's folders cut off at every fold as well."""
    runs = [paths, *folds]
    sources = {
        "student": [str(p.final_student) for p in runs],
        "content": [str(p.student) for p in runs],
    }
    if paths.frozen is not None:  # the pretrained towers alone: never saw the logs
        sources["frozen"] = [str(paths.frozen)]
    if cfg.teachers.enabled:
        sources["id"] = [str(p.teacher("id")) for p in runs]
    return sources


def fold_cutoffs(cfg: PipelineConfig, data_dir: Path) -> list[tuple[int, int]]:
    """Forward chaining: (cut-off, end of its window) of every extra embedding run: the config's
    quantile cut-offs before train_end, and the test period's start (its tables serve the test rows)."""
    from recplug.data import load_dataset

    ds = load_dataset(data_dir, lazy=True)
    s = ds.meta.splits
    ts = ds.interactions.select("ts").collect()["ts"]
    cuts = sorted({int(ts.quantile(q, interpolation="nearest")) for q in cfg.ranking.fold_cutoffs})
    early = [c for c in cuts if s.start < c < s.train_end]
    if len(early) != len(cuts):
        raise ValueError(
            f"ranking.fold_cutoffs {cfg.ranking.fold_cutoffs} must fall inside the training period "
            f"(before train_end, the {(ts < s.train_end).mean():.2f} quantile)"
        )
    bounds = [*early, s.train_end]
    return [(c, nxt) for c, nxt in zip(early, bounds[1:], strict=True)] + [(s.valid_end, s.end)]


def fold_stages(cfg: PipelineConfig, paths: Paths, data_dir: Path, data_key: dict) -> list[Paths]:
    """Forward chaining: the embedding stages (teachers, student, CRE without its ablation) once per
    cut-off of `fold_cutoffs`, each on the dataset cut at it (`recplug.data.cutoff`), in
    runs/<name>/folds/<cut-off ts>/. Returns their run folders."""
    from recplug.data.cutoff import dataset_cut_at

    fold_cfg = cfg.model_copy(update={"cre": cfg.cre.model_copy(update={"ablation": False})})
    out = []
    for cut, window_end in fold_cutoffs(cfg, data_dir):
        fold = Paths(paths.root / "folds" / str(cut))
        view = dataset_cut_at(data_dir, fold.data, train_end=cut, valid_end=window_end)
        key = data_key | {"cut_at": cut}
        print(f"[folds] embedding stages cut off at ts {cut} (window to {window_end})")
        if cfg.teachers.enabled:
            teachers_stage(fold_cfg, fold, view, key)
        _, student_key = student_stage(fold_cfg, fold, view, key)
        if cfg.cre.enabled:
            cre_stage(fold_cfg, fold, view, student_key, frozen=False)  # its rows are the main run's
        out.append(fold)
    return out


def check_ranking_labels(cfg: PipelineConfig, data_dir: Path) -> None:
    """Before any training: a log with one label value only (an implicit log) needs sampled negatives
    for the ranking stage; without them, stop with one line."""
    if not cfg.ranking.enabled or ranking_config(cfg).negatives is not None:
        return
    from recplug.data import load_dataset
    from recplug.data.labels import label_balance

    ds = load_dataset(data_dir, lazy=True)
    note = label_balance(ds.interactions, ds.meta).note(ds.meta)
    if note:
        raise ValueError(
            f"{data_dir}: {note}; set them (e.g. {{sampler: popularity, per_positive: 4}}, "
            "see experiments/configs/implicit.yaml) or ranking.enabled: false"
        )


def ranking_key(cfg: PipelineConfig, data_dir: Path, sources: dict[str, list[str]]) -> dict:
    """What the ranking rows depend on: the ranking section and its resolved config, the dataset's
    files and every embedding folder it reads (by name, size and modification time: a stage that
    rewrites a folder invalidates the rows)."""
    return {
        "stage": "ranking",
        "ranking": cfg.ranking.model_dump(mode="json"),
        "config": ranking_config(cfg).model_dump(mode="json"),
        "data": file_identity(data_dir),
        "sources": {name: [file_identity(Path(f)) for f in folders] for name, folders in sources.items()},
    }


def ranking_stage(
    cfg: PipelineConfig, paths: Paths, data_dir: Path, folds: Sequence[Paths] = ()
) -> StageResult:
    from experiments.pipeline.ranking_diagnostics import diagnostics_section, plot_learning_curves
    from features.experiment import EXPERIMENTS, run_ranking
    from features.experiment_rows import DIFF_COLUMNS, METRICS, REFERENCE
    from recplug.metrics.intervals import diff_metric

    sources = ranking_sources(cfg, paths, folds)
    summary = _cached(  # run_ranking writes its summary (rows included) to ranking/metrics.json
        paths.ranking.root,
        ranking_key(cfg, data_dir, sources),
        "ranking",
        lambda: (
            run_ranking(
                data_dir,
                sources,
                variants=cfg.ranking.variants,
                seeds=cfg.ranking.seeds,
                out_dir=paths.ranking.root,
                cfg=ranking_config(cfg),
                features_dir=paths.root / "features",
                progress=cfg.progress,
            ).summary
        ),
    )
    rows = summary["rows"]
    sampled = summary.get("negatives")
    against = (
        f"AUC, GAUC and logloss are measured against **sampled negatives** ({sampled['description']}: "
        f"{sampled['negatives']:,} negatives for {sampled['positives']:,} logged positives, "
        f"{sampled['unfilled']:,} slots left unfilled): a sampled metric, read it beside the full-catalog "
        "table."
        if sampled
        else ""
    )
    sections = []
    for ranker, title in (("dlrm", "DLRM-DCN"), ("gbdt", "LightGBM on the dense features")):
        own = [r for r in rows if r["experiment"] == EXPERIMENTS[ranker]]
        if own:
            sections += [
                Section(
                    f"Ranking ({title}): AUC, GAUC, logloss (mean over seeds)",
                    own,
                    METRICS,
                    text=against,
                    note=REFERENCE,
                ),
                Section(
                    f"Ranking ({title}): paired difference to the baseline (same users, same seeds)",
                    own,
                    DIFF_COLUMNS,
                ),
            ]
        catalog = [r for r in rows if r["experiment"] == f"catalog_{ranker}"]
        if catalog:
            metrics = tuple(dict.fromkeys(r["metric"] for r in catalog if not r["metric"].endswith("_diff")))
            c = summary["catalog"]
            sections.append(
                Section(
                    f"Full catalog ({title}): Recall@k and NDCG@k of the ranker's scores (no negatives needed)",
                    catalog,
                    metrics + tuple(diff_metric(m) for m in metrics),
                    text=f"{c['queries']:,} test users' first test basket ranked among every item available "
                    f"then (mean {c['mean_candidates']:,.0f} candidates, the user's earlier items left out); "
                    "intervals: queries, then seeds; differences paired.",
                )
            )
    dropped = summary.get("context_dropped") or {}
    if dropped:
        sections.append(
            Section(
                "Ranking: context features dropped",
                text="\n".join(f"- `{name}`: {why}" for name, why in dropped.items()),
            )
        )
    return StageResult(
        "ranking",
        rows,
        [*sections, diagnostics_section(rows, summary)],
        plots={
            "Ranker learning curves": plot_learning_curves(
                summary["learning_curves"], paths.plots / "learning_curves.png"
            )
        },
        notes={
            k: summary.get(k)
            for k in (
                "negatives",
                "catalog",
                "context_dropped",
                "undefined",
                "splits",
                "leakage",
                "fit_on",
                "fit_impressions",
                "select_impressions",
                "pre_test_impressions",
                "folds",
                "intervals",
                "warnings",
                "univariate_auc",
            )
        }
        | {"interval_widening": summary["interval_widening"]},
    )
