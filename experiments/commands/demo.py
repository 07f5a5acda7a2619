"""`recplug demo`: the main job on the built-in world. Each stage is skipped when its output exists
for the same config (see experiments/cache.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.cache import is_done, mark_done
from experiments.commands.common import timed


def run_demo(out: Path, preset: str = "demo", seed: int = 0) -> None:
    from recplug.data.describe import describe_to
    from recplug.data.validate import validate_dataset
    from recplug.data.world import World

    data_dir = out / "data"
    world = World.from_preset(preset, seed=seed)
    stage = {"stage": "data", "preset": preset, "seed": seed, "world": world.config.model_dump(mode="json")}
    if is_done(data_dir, stage):
        print(f"[data] {data_dir} is up to date: skipped")
    else:
        with timed("data: generate"):
            world.generate(data_dir)
        with timed("data: validate"):
            validate_dataset(data_dir)
        mark_done(data_dir, stage)
    with timed("data: describe"):
        _, md = describe_to(data_dir, out / "describe")
    print(md)
    print(f"[demo] outputs in {out}")


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="run the whole pipeline on the built-in synthetic world")
    d.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    d.add_argument("--preset", default="demo", help="world preset (default: demo; 'tiny' for a quick look)")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=lambda a: run_demo(Path(a.out), a.preset, a.seed))
