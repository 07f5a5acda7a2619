"""Speed of the ranking features on a dataset: match features of EVERY impression (a user's successive
histories are scored together as windows of one sequence, so a subsample would understate the sharing
a real log has) at 1 and 2 torch threads, against the per-row path and the machine's own matmul peak;
then seconds to train one ranking variant x seed.

    python -m experiments.benchmarks.match_features --data runs/demo/data \
        --source student=runs/demo/cre [--variants baseline +match] [--out runs/benchmarks]

Prints the machine and a markdown table; writes OUT/match_features.md and .json. The machine is shared
and noisy: compare numbers measured in one run.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from experiments.benchmarks.machine import timed_call


def matmul_peak_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """The machine's fp32 GEMM rate at `threads` (best of `repeats`): the roof the features are held to."""
    from features.train import torch_threads

    a, b = torch.randn(n, n), torch.randn(n, n)
    with torch_threads(threads):
        torch.mm(a, b)
        best = min(timed_call(lambda: torch.mm(a, b))[1] for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def per_row_features(module, hist, items, batch: int = 16384) -> np.ndarray:
    """The per-row path (the module's jagged forward, each row's history gathered for it): the reference."""
    parts = []
    for lo in range(0, len(hist), batch):
        hi = min(lo + batch, len(hist))
        parts.append(module(module.input(hist.slice(lo, hi), items[lo:hi]).features).numpy())
    return np.concatenate(parts)


def main() -> None:
    from experiments.benchmarks.machine import report
    from features.experiment import RankingRun
    from features.match import compute_match_features
    from features.train import RankingConfig, torch_threads

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--source", required=True, help="name=embedding folder")
    p.add_argument("--reference-rows", type=int, default=200_000, help="rows timed on the per-row path")
    p.add_argument("--variants", nargs="*", default=["baseline", "+match"])
    p.add_argument("--out", default="runs/benchmarks")
    args = p.parse_args()
    name, folder = args.source.split("=", 1)
    cfg = RankingConfig()
    run, init_s = timed_call(
        lambda: RankingRun(args.data, {name: folder}, cfg, features_dir=None, progress=False)
    )
    imps = run.imps
    n, hist, items = len(imps), imps.hist, imps.item_id
    module = run.sources[name].match_module(cfg.top_k, cfg.decay, cfg.bins)
    dim = run.sources[name].table.dim
    first, _ = hist.groups()
    flops = 2.0 * dim * float(hist.lengths.sum())  # one dot product per (row, history item)
    results = {
        "impressions": n,
        "distinct_histories": len(first),
        "mean_history": float(hist.lengths.mean()),
        "dim": dim,
        "load_s": init_s,
    }
    rows = [
        "| measurement | value |",
        "|---|---|",
        f"| impressions | {n:,} |",
        f"| distinct histories (a user's successive ones overlap: scored as windows of one sequence) | {len(first):,} "
        f"({n / max(len(first), 1):.1f} rows each) |",
        f"| mean history length (cap {cfg.max_history}), table dim | {hist.lengths.mean():.1f}, {dim} |",
        f"| load + histories + context features, s | {init_s:.1f} |",
    ]
    values = None
    for threads in (1, 2):
        with torch_threads(threads):
            (values, _), secs = timed_call(lambda: compute_match_features(module, hist, items))
        peak = matmul_peak_gflops(threads)
        results[f"threads_{threads}"] = {
            "rows_per_s": n / secs,
            "seconds": secs,
            "useful_gflops": flops / secs / 1e9,
            "matmul_peak_gflops": peak,
        }
        rows += [
            f"| **match features, all rows, {threads} thread(s): rows/s** | **{n / secs:,.0f}** ({secs:.2f} s) |",
            f"| useful GFLOP/s ({threads} thread(s)) against this machine's fp32 matmul peak | "
            f"{flops / secs / 1e9:.1f} of {peak:.0f} ({flops / secs / 1e9 / peak:.1%}) |",
        ]
    m = min(args.reference_rows, n)
    sub = np.linspace(0, n - 1, m).astype(np.int64)  # spread over time: histories grow
    with torch_threads(2):
        ref, secs = timed_call(lambda: per_row_features(module, hist.take(sub), items[sub]))
    diff = float(np.abs(ref - values[sub]).max())
    results["per_row_2_threads"] = {"rows": m, "rows_per_s": m / secs, "max_abs_diff": diff}
    rows += [
        f"| per-row path (each row's history gathered for it; {m:,} rows spread over the log), "
        f"2 threads: rows/s | {m / secs:,.0f} |",
        f"| largest difference between the two paths | {diff:.1e} |",
    ]
    _, secs = timed_call(lambda: run.match_values(name))
    rows.append(
        f"| match features of all {n:,} impressions inside RankingRun ({cfg.threads} thread), s | {secs:.1f} |"
    )
    # the bf16 option: speed, how far its features are from fp32, and what a ranker trained on them scores
    low_module = run.sources[name].match_module(cfg.top_k, cfg.decay, cfg.bins, "bf16")
    with torch_threads(2):
        (low, _), secs = timed_call(lambda: compute_match_features(low_module, hist, items))
    sim_diff = float(np.abs(low - values)[:, :4].max())
    bin_diff = float(np.abs(low - values)[:, 4 : 4 + cfg.bins].mean())
    results["bf16_2_threads"] = {
        "rows_per_s": n / secs,
        "seconds": secs,
        "max_abs_diff_similarity_columns": sim_diff,
        "mean_abs_diff_bin_shares": bin_diff,
    }
    rows += [
        f"| **bf16 option, all rows, 2 threads: rows/s** | **{n / secs:,.0f}** ({secs:.2f} s) |",
        f"| bf16 against fp32: largest difference of max / mean / top-k / recency; mean of the bin shares' "
        f"| {sim_diff:.1e}; {bin_diff:.1e} |",
    ]
    if "+match" in args.variants:
        from recplug.metrics.classification import auc

        test = imps.rows("test")
        aucs = {}
        for precision in ("fp32", "bf16"):
            r = (
                run
                if precision == "fp32"
                else RankingRun(
                    args.data,
                    {name: folder},
                    cfg.model_copy(update={"match_precision": precision}),
                    features_dir=None,
                    progress=False,
                )
            )
            aucs[precision] = auc(imps.label[test], r.train(r.variant("+match"), seed=0)[3])
        results["test_auc_plus_match_seed0"] = aucs
        rows.append(
            f"| test AUC of `+match` (seed 0) trained and scored on fp32 / bf16 features | "
            f"{aucs['fp32']:.4f} / {aucs['bf16']:.4f} |"
        )
    for variant in args.variants:
        _, secs = timed_call(lambda v=variant: run.train(run.variant(v), seed=0))
        results[f"train_{variant}_s"] = secs
        rows.append(f"| train + score `{variant}` x 1 seed (match features precomputed), s | {secs:.1f} |")
    report(args.out, "match_features", "\n".join(rows), results)


if __name__ == "__main__":
    main()
