"""`recplug run CONFIG.yaml`: the whole pipeline from one config (see experiments/configs/)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from experiments.timing import timed
from recplug.data.config_file import parse_sets

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def config_path(name_or_path: str) -> Path:
    """A config file, or the name of a built-in one (demo, tiny, movielens)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    builtin = CONFIGS / f"{name_or_path}.yaml"
    if builtin.is_file():
        return builtin
    known = sorted(f.stem for f in CONFIGS.glob("*.yaml"))
    raise ValueError(f"{name_or_path}: no such config file, and not a built-in config ({known})")


def fresh_stages(value: str | None) -> list[str]:
    """`--fresh` (every stage) or `--fresh teachers,cre`."""
    from experiments.pipeline.stages import STAGES

    if value is None:
        return []
    names = list(STAGES) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ValueError(f"--fresh {value}: unknown stage(s) {unknown}; stages: {', '.join(STAGES)} (or all)")
    return names


def run(
    config: str,
    sets: list[str] | None = None,
    out: str | None = None,
    quiet: bool = False,
    fresh: str | None = None,
) -> Path:
    from experiments.pipeline.config import load_pipeline_config
    from experiments.pipeline.run import run_pipeline

    if quiet:  # every progress bar (tqdm's and Lightning's rich ones go through the config)
        os.environ["TQDM_DISABLE"] = "1"
    overrides = parse_sets(sets) | ({"out": out} if out else {}) | ({"progress": False} if quiet else {})
    cfg = load_pipeline_config(config_path(config), **overrides)
    stages = fresh_stages(fresh)
    with timed(f"run {cfg.name}"):
        report = run_pipeline(cfg, stages)
    print(report.read_text())
    return report


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "run", help="run the whole pipeline from a config: data, teachers, student, CRE, ranking, LT, report"
    )
    r.add_argument("config", help="YAML pipeline config, or a built-in name: demo, tiny, movielens")
    r.add_argument("--out", help="run folder (default: the config's out, or runs/<name>)")
    r.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a config key, dotted (e.g. lt.days=7)"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument(
        "--fresh",
        nargs="?",
        const="all",
        metavar="STAGES",
        help="run these stages again from scratch, comma-separated (data, teachers, student, cre, folds, "
        "ranking, lt); alone: every stage. Without it, finished stages are reused and interrupted ones resume",
    )
    r.set_defaults(func=lambda a: run(a.config, a.set, a.out, a.quiet, a.fresh))
