"""`recplug demo`: the main job, `recplug run demo` (experiments/configs/demo.yaml) on the built-in
world. Each stage is skipped when its output exists for the same config (see recplug/data/artifacts.py)."""

from __future__ import annotations

import argparse

from experiments.commands.run import run


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="run the whole pipeline on the built-in synthetic world")
    d.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    d.add_argument("--preset", default="demo", help="world preset (default: demo)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(
        func=lambda a: run("demo", [f"data.generate={a.preset}", f"data.seed={a.seed}"], a.out, a.quiet)
    )
