"""The LT stage: on a generated world, simulate days after the logs with each ranking variant and the
reference rankers, over several simulation seeds (seed k ranks with the model of ranking seed k); on any
data, the log-based proxy from the variants' test scores (ranking seed 0)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from experiments.pipeline.config import PipelineConfig
from experiments.pipeline.results import Section, StageResult
from experiments.pipeline.stages import Paths, ranking_config, ranking_sources
from experiments.timing import timed
from recplug.data.artifacts import digest, is_fresh, stamp
from recplug.data.io import atomic_write_text
from recplug.metrics.intervals import MetricRow


def _models(paths: Paths, variants: list[str], seeds: list[int]) -> dict[str, list[Path]]:
    """Each variant's ranking model of every LT seed: simulation seed k runs the model of ranking seed k."""
    from features.variant import Variant

    out = {}
    for v in variants:
        out[v] = [paths.ranking.model(Variant.parse(v, "student").slug, seed) for seed in seeds]
        missing = [f for f in out[v] if not f.is_file()]
        if missing:
            raise ValueError(
                f"lt: variant '{v}' has no trained model at {missing[0]}; run the ranking stage first"
            )
    return out


def lt_stage(cfg: PipelineConfig, paths: Paths, data_dir: Path, folds: Sequence[Paths] = ()) -> StageResult:
    """LT of the ranking variants; with forward-chaining `folds`, the scorers read the latest tables (cut
    off at the test period's start), as the test scores did."""
    models = _models(paths, cfg.lt.variants, cfg.lt.seeds)
    key = {
        "stage": "lt",
        "lt": cfg.lt.model_dump(mode="json"),
        "ranking": cfg.ranking.model_dump(mode="json"),
        "models": {v: [digest(f) for f in fs] for v, fs in models.items()},
    }
    if is_fresh(paths.lt, key):
        print(f"[lt] {paths.lt} is up to date: skipped")
        saved = json.loads((paths.lt / "metrics.json").read_text())
    else:
        saved = _simulate_and_proxy(cfg, paths, data_dir, models, folds)
        stamp(paths.lt, key)
    return _result(saved, paths)


def _simulate_and_proxy(
    cfg: PipelineConfig, paths: Paths, data_dir: Path, models: dict, folds: Sequence[Paths]
) -> dict:
    from features.experiment import RankingRun

    run = RankingRun(
        data_dir,
        ranking_sources(cfg, paths, folds),
        ranking_config(cfg),
        paths.root / "features",
        cfg.progress,
    )
    scorers = {v: [run.scorer(*run.load_model(run.variant(v), f)) for f in fs] for v, fs in models.items()}
    for per_seed in scorers.values():
        for scorer in per_seed:
            scorer.threads = cfg.lt.scorer_threads
    rows: list[MetricRow] = []
    info: dict = {}
    with timed("lt: simulator"):
        sim_rows, info["simulator"] = simulate(cfg, paths, data_dir, scorers)
        rows += sim_rows
    if cfg.lt.proxy:
        with timed("lt: log proxy"):
            p_rows, info["proxy_undefined"] = proxy_rows(cfg, paths, run)
            rows += p_rows
    saved = {"rows": rows, **info}
    atomic_write_text(paths.lt / "metrics.json", json.dumps(saved, indent=2, default=float))
    return json.loads(json.dumps(saved, default=float))


def _result(saved: dict, paths: Paths) -> StageResult:
    """The stage's result from its report (fresh or its own metrics.json when cached)."""
    from experiments.lt.result import COLUMNS

    rows = saved["rows"]
    sim = {k: v for k, v in saved.get("simulator", {}).items() if k != "daily_active_share"}
    sections = [
        Section(
            "LT on the world's simulator (active days per user; CI over users and seeds)",
            [r for r in rows if r["experiment"] == "lt"],
            COLUMNS,
        )
    ]
    proxy = [r for r in rows if r["experiment"] == "lt_proxy"]
    if proxy:
        # correlations and the top-minus-bottom gap; the per-quintile means stay in report.json
        cols = tuple(
            m for m in dict.fromkeys(r["metric"] for r in proxy) if m.startswith("spearman") or "minus" in m
        )
        sections.append(
            Section(
                "LT log proxy (correlational, not causal: see experiments/lt/log_proxy.py)",
                proxy,
                cols,
                text="\n".join(f"- **Warning**: {w}" for w in saved.get("proxy_undefined", [])),
            )
        )
    curves = paths.plots / "lt_curves.png"
    return StageResult(
        "lt",
        rows,
        sections,
        plots={"LT: cumulative active days per user": curves} if sections[0].rows else {},
        notes={"simulator": sim, "proxy_undefined": saved.get("proxy_undefined", [])},
    )


def simulate(
    cfg: PipelineConfig, paths: Paths, data_dir: Path, scorers: dict
) -> tuple[list[MetricRow], dict]:
    """LT7 / LT14 rows per variant and reference, with paired differences to 'baseline'; the LT curves
    plot. Empty when the dataset is not a generated world (no simulator exists for real logs)."""
    from experiments.lt import lt_rows, lt_start, simulate_lt
    from experiments.lt.plot import plot_lt_curves
    from experiments.lt.scorers import reference_scorers
    from recplug.data.world import World

    try:
        world = World.from_dataset(data_dir)
    except ValueError:
        return [], {"skipped": "not a generated world: the simulator needs the world's true model"}
    refs = reference_scorers(world, data_dir, cfg.lt.references)
    all_scorers = {f"{name} (reference)": scorer for name, scorer in refs.items()} | scorers
    start = lt_start(world, data_dir)
    results, seconds = {}, {}
    for name, scorer in all_scorers.items():
        res = simulate_lt(
            world, start, scorer, days=cfg.lt.days, seeds=cfg.lt.seeds, variant=name, progress=cfg.progress
        )
        results[name], seconds[name] = res, res.seconds
    horizons = tuple(h for h in cfg.lt.horizons if h <= cfg.lt.days)
    widening: list[dict] = []
    rows = lt_rows(
        results, baseline="baseline" if "baseline" in results else None, horizons=horizons, widening=widening
    )
    plot_lt_curves(results, paths.plots / "lt_curves.png")
    daily = {name: r.daily_active().mean(0).tolist() for name, r in results.items()}
    return rows, {
        "seconds": seconds,
        "daily_active_share": daily,
        "start_day": start.day,
        "models": "simulation seed k ranks with the model of ranking seed k",
        "intervals": "two-level bootstrap: users, then seeds (paired across variants)",
        "interval_widening": widening,
    }


def proxy_rows(cfg: PipelineConfig, paths: Paths, run) -> tuple[list[MetricRow], list[str]]:
    """The log proxy for each simulated variant, from its seed-0 test scores; and messages: for variants
    where the logs cannot define it (too few units), why, and when its horizon had to be cut."""
    from experiments.lt.log_proxy import lt_proxy

    test = run.imps.rows("test")
    rows, undefined, warnings = [], [], []
    for v in cfg.lt.variants:
        scores = np.load(paths.ranking.scores(run.variant(v).slug, 0), allow_pickle=False)
        frame = pl.DataFrame(
            {
                "user_id": run.imps.user_id[test],
                "item_id": run.imps.item_id[test],
                "ts": run.imps.ts[test],
                "score": scores,
            }
        )
        if run.imps.sampled is not None:  # sampled negatives are in no log: their labels come along
            frame = frame.with_columns(positive=run.imps.label[test] > 0)
        try:
            rows += lt_proxy(
                frame,
                run.ds,
                variant=v,
                horizon=cfg.lt.proxy_horizon,
                window_days=cfg.lt.proxy_window_days,
                warnings=warnings,
            )
        except ValueError as e:
            undefined.append(f"{v}: LT proxy undefined: {e}")
            print(f"[lt] {v}: LT proxy undefined: {e}")
    return rows, undefined + sorted(set(warnings))
