"""The LT stage: on a generated world, simulate days after the logs with each ranking variant and the
reference rankers, over several simulation seeds (seed k ranks with the model of ranking seed k); on any
data, the log-based proxy from the variants' test scores (ranking seed 0)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from tqdm.auto import tqdm

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
        # how the simulations are spread over processes and threads changes no figure
        "lt": cfg.lt.model_dump(mode="json", exclude={"workers", "scorer_threads"}),
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
    from experiments.workers import forget

    rows: list[MetricRow] = []
    info: dict = {}
    try:
        with timed("lt: simulator"):
            sim_rows, info["simulator"] = simulate(cfg, paths, data_dir, models, folds)
            rows += sim_rows
        if cfg.lt.proxy:
            with timed("lt: log proxy"):
                p_rows, info["proxy_undefined"] = proxy_rows(
                    cfg, paths, _ranking_run(cfg, paths, data_dir, folds)
                )
                rows += p_rows
    finally:
        forget()  # the ranking run and the world's start, shared by the simulations and the proxy
    saved = {"rows": rows, **info}
    atomic_write_text(paths.lt / "metrics.json", json.dumps(saved, indent=2, default=float))
    return json.loads(json.dumps(saved, default=float))


def _ranking_run(cfg: PipelineConfig, paths: Paths, data_dir: Path, folds: Sequence[Paths]):
    """The ranking stage's inputs (`RankingRun`), built once per process."""
    from experiments.workers import per_process
    from features.experiment import RankingRun

    return per_process(
        ("ranking run", str(paths.root)),
        lambda: RankingRun(
            data_dir, ranking_sources(cfg, paths, folds), ranking_config(cfg), paths.root / "features", False
        ),
    )


def _world_start(data_dir: Path):
    """(world, where users stand when the logs end), built once per process."""
    from experiments.lt import lt_start
    from experiments.workers import per_process
    from recplug.data.world import World

    def build():
        world = World.from_dataset(data_dir)
        return world, lt_start(world, data_dir)

    return per_process(("lt start", str(data_dir)), build)


def _references(cfg: PipelineConfig, data_dir: Path) -> dict:
    """The reference rankers by name (`lt.references`), built once per process."""
    from experiments.lt.scorers import reference_scorers
    from experiments.workers import per_process

    world, _ = _world_start(data_dir)
    return per_process(
        ("lt references", str(data_dir)), lambda: reference_scorers(world, data_dir, cfg.lt.references)
    )


def simulated_users(cfg: PipelineConfig, n_users: int) -> np.ndarray | None:
    """The user ids LT simulates: `lt.users` drawn uniformly without replacement (seeded by
    `lt.users_seed`, so every ranker and seed meets the same users), or None for all of them."""
    if cfg.lt.users is None or cfg.lt.users >= n_users:
        return None
    rng = np.random.default_rng(cfg.lt.users_seed)
    return np.sort(rng.choice(n_users, size=cfg.lt.users, replace=False)) + 1


def users_note(cfg: PipelineConfig, n_users: int) -> str:
    """Who LT simulated, in words for the report."""
    if simulated_users(cfg, n_users) is None:
        return f"all {n_users:,}"
    return (
        f"{cfg.lt.users:,} of {n_users:,}, a uniform sample (lt.users: {cfg.lt.users}, "
        f"lt.users_seed: {cfg.lt.users_seed}), the same for every ranker and seed"
    )


def _simulate_one(cfg, paths, data_dir, folds, name: str, model: str | None, seed: int, threads: int):
    """One simulation seed of one ranker: a reference (`model` None) or a variant's model of that
    seed. A module-level function, so that LT's worker processes can run it."""
    from experiments.lt import simulate_lt

    world, start = _world_start(data_dir)
    if model is None:
        scorer = _references(cfg, data_dir)[name]
    else:
        run = _ranking_run(cfg, paths, data_dir, folds)
        scorer = run.scorer(*run.load_model(run.variant(name), model))
        scorer.threads = threads
    label = f"{name} (reference)" if model is None else name
    users = simulated_users(cfg, world.config.n_users)
    return simulate_lt(
        world, start, scorer, days=cfg.lt.days, seeds=[seed], users=users, variant=label, progress=False
    )


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
            text=f"Simulated users: {sim['users']}." if "users" in sim else "",
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
    cfg: PipelineConfig, paths: Paths, data_dir: Path, models: dict, folds: Sequence[Paths] = ()
) -> tuple[list[MetricRow], dict]:
    """LT7 / LT14 rows per variant and reference, with paired differences to 'baseline'; the LT curves
    plot. Empty when the dataset is not a generated world (no simulator exists for real logs). Every
    (ranker, seed) is one job; with `lt.workers` > 1 they run side by side, this process among them."""
    from experiments.lt import lt_rows
    from experiments.lt.plot import plot_lt_curves
    from experiments.lt.result import LTResult
    from experiments.workers import here_and_in_processes

    try:
        world, start = _world_start(data_dir)
    except ValueError:
        return [], {"skipped": "not a generated world: the simulator needs the world's true model"}
    _references(cfg, data_dir)  # unknown names fail before any work; this process's jobs reuse them
    rankers = {name: [None] * len(cfg.lt.seeds) for name in cfg.lt.references}
    rankers |= {v: [str(f) for f in files] for v, files in models.items()}
    workers = cfg.lt.workers
    threads = 1 if workers > 1 else cfg.lt.scorer_threads
    jobs = [
        (cfg, paths, data_dir, list(folds), name, files[k], seed, threads)
        for name, files in rankers.items()
        for k, seed in enumerate(cfg.lt.seeds)
    ]
    if workers > 1:
        parts = here_and_in_processes(_simulate_one, jobs, workers)
    else:
        parts = [_simulate_one(*job) for job in tqdm(jobs, desc="LT", unit="run", disable=not cfg.progress)]
    per_ranker = len(cfg.lt.seeds)
    results = {
        part[0].variant: LTResult.of_seeds(part)
        for part in (parts[i : i + per_ranker] for i in range(0, len(parts), per_ranker))
    }
    seconds = {name: r.seconds for name, r in results.items()}
    horizons = tuple(h for h in cfg.lt.horizons if h <= cfg.lt.days)
    widening: list[dict] = []
    rows = lt_rows(
        results, baseline="baseline" if "baseline" in results else None, horizons=horizons, widening=widening
    )
    plot_lt_curves(results, paths.plots / "lt_curves.png")
    daily = {name: r.daily_active().mean(0).tolist() for name, r in results.items()}
    return rows, {
        "seconds": seconds,
        "workers": workers,
        "daily_active_share": daily,
        "start_day": start.day,
        "users": users_note(cfg, world.config.n_users),
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
