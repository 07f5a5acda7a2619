"""Generation time and peak memory of each world preset, each in a fresh process.

    python -m experiments.benchmarks.world_generation [--presets tiny demo large] [--out DIR]

Prints the machine and a markdown table (wall seconds, peak RSS MiB, rows, impressions per second) and
writes DIR/world_generation.md and .json. The machine is shared and noisy: compare presets within one run.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from experiments.benchmarks.machine import report


def measure(preset: str, out: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.cli",
            "data",
            "generate",
            "--preset",
            preset,
            "--out",
            str(out),
            "--quiet",
        ],
        check=True,
    )
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    n = pl.scan_parquet(out / "interactions.parquet").select(pl.len()).collect().item()
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 2**20
    return {
        "preset": preset,
        "wall_s": round(wall, 1),
        # ru_maxrss of children is the max over all children so far; presets run smallest first
        "peak_rss_mib": round(max(peak, before) / 1024),
        "impressions": n,
        "impressions_per_s": round(n / wall),
        "folder_mib": round(size, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", default=["tiny", "demo", "large"])
    p.add_argument("--out", default="runs/benchmarks")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            rows.append(measure(preset, Path(tmp) / preset))
            print(rows[-1], file=sys.stderr)
    table = pl.DataFrame(rows)
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    md = header + "\n".join(
        "| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in r) + " |"
        for r in table.iter_rows()
    )
    report(args.out, "world_generation", md, rows)


if __name__ == "__main__":
    main()
