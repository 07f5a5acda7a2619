"""Speed of the ranking features on a dataset: histories for every impression, MatchFeatures rows/s by
batch size and torch thread count, and seconds to train one ranking variant x seed.

    python -m experiments.benchmarks.match_features --data runs/demo/data \
        --source student=runs/demo/student [--variants baseline +match] [--out runs/benchmarks]

Prints a markdown table and writes it to OUT/match_features.md. The machine is shared and noisy:
compare numbers measured in one run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    from features.experiment import RankingRun
    from features.match import compute_match_features
    from features.train import RankingConfig, torch_threads

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--source", required=True, help="name=embedding folder")
    p.add_argument("--rows", type=int, default=200_000, help="impressions timed for match features")
    p.add_argument("--variants", nargs="*", default=["baseline", "+match"])
    p.add_argument("--out", default="runs/benchmarks")
    args = p.parse_args()
    name, folder = args.source.split("=", 1)
    cfg = RankingConfig()
    run, init_s = _timed(
        lambda: RankingRun(args.data, {name: folder}, cfg, features_dir=None, progress=False)
    )
    n = len(run.imps)
    rows = [
        "| measurement | value |",
        "|---|---|",
        f"| impressions | {n:,} |",
        f"| load + histories + context features, s | {init_s:.1f} |",
        f"| mean history length | {run.imps.hist.lengths.mean():.1f} |",
    ]
    module = run.sources[name].match_module(cfg.top_k, cfg.decay, cfg.bins)
    sub = np.linspace(0, n - 1, min(args.rows, n)).astype(np.int64)  # spread over time: histories grow
    hist, items = run.imps.hist.take(sub), run.imps.item_id[sub]
    for threads in (1, 2):
        for batch in (4096, 16384, 65536):
            with torch_threads(threads):
                _, secs = _timed(lambda b=batch: compute_match_features(module, hist, items, batch_size=b))
            rows.append(
                f"| MatchFeatures rows/s, batch {batch}, {threads} thread(s) | {len(sub) / secs:,.0f} |"
            )
    _, secs = _timed(lambda: run.match_values(name))
    rows.append(
        f"| match features of all {n:,} impressions (RankingRun, {cfg.threads} thread), s | {secs:.1f} |"
    )
    for variant in args.variants:
        _, secs = _timed(lambda v=variant: run.train(run.variant(v), seed=0))
        rows.append(f"| train + score `{variant}` x 1 seed (match features precomputed), s | {secs:.1f} |")
    md = "\n".join(rows)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "match_features.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
