"""LT of the reference rankers (true affinity, popularity, random) on a generated world, with the
simulator's wall time per variant.

    python -m experiments.benchmarks.lt_simulator --data runs/demo/data [--days 14] [--seeds 0 1 2]

Prints the machine; writes lt.md (timings and the LT table, differences against random), lt.json
(machine, timings, report rows) and lt_curves.png under --out. The machine is shared and noisy:
compare timings within one run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from experiments.benchmarks.machine import report
from experiments.lt import lt_rows, lt_start, simulate_lt
from experiments.lt.plot import plot_lt_curves
from experiments.lt.scorers import reference_scorers
from recplug.data.world import World
from recplug.metrics.tables import metric_table

COLUMNS = ("lt7", "lt7_diff", "lt14", "lt14_diff")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="runs/demo/data")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default="runs/benchmarks/lt")
    args = p.parse_args()
    world = World.from_dataset(args.data)
    t0 = time.perf_counter()
    start = lt_start(world, args.data)
    replay_s = time.perf_counter() - t0
    timings = [f"- replay of the logs (return state, histories): {replay_s:.2f} s"]
    scorers = reference_scorers(world, args.data, ("oracle", "popularity", "random"))
    results = {}
    for name, scorer in scorers.items():
        results[name] = simulate_lt(world, start, scorer, args.days, args.seeds, variant=name)
        per_run = results[name].seconds / len(args.seeds)
        timings.append(
            f"- {name}: {results[name].seconds:.1f} s ({per_run:.1f} s per seed of {args.days} days)"
        )
    rows = lt_rows(results, baseline="random")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_lt_curves(results, out / "lt_curves.png")
    md = (
        f"LT on {args.data}: {world.config.n_users} users, {args.days} days, seeds {args.seeds}; "
        "95% bootstrap over users of seed-averaged active days; diff = variant - random, paired.\n\n"
        + "\n".join(timings)
        + "\n\n"
        + metric_table(rows, COLUMNS)
    )
    seconds = {"replay": replay_s, **{name: r.seconds for name, r in results.items()}}
    report(out, "lt", md, {"args": vars(args), "seconds": seconds, "rows": rows})


if __name__ == "__main__":
    main()
