"""ID-tower training throughput: TorchRec's fused path vs two plain-PyTorch ports, on tables of >= 1M rows.

    python -m experiments.benchmarks.id_tower_fused [--rows 1000000] [--steps 30] [--batch 1024]
        [--out runs/benchmarks]

- plain sparse: the same IDTower as a plain nn.Module whose nn.EmbeddingBag tables give sparse
                gradients (sparse=True), torch.optim.SparseAdam on the tables and Adam on the MLPs:
                the port a user who knows PyTorch's sparse path would write.
- plain dense:  the same module with dense table gradients and torch.optim.Adagrad over every
                parameter: what a straightforward port does (every step touches every row).
- fused:        DistributedModelParallel (planner, fbgemm TBE kernels, row-wise Adagrad applied in the
                backward pass, Adam on the MLPs) driven by TrainPipelineSparseDist: recplug's training path.

Each variant runs in its own process (clean peak memory); all see identical synthetic batches (Zipf-
distributed ids, 20-item histories) and the same warm-up and timed steps. samples/s is the batch over
the median step time (a neighbour's burst on the shared machine moves the mean, stored in the JSON too,
far more). Prints the machine, samples/s, peak RSS and the speed-up of fused over each plain port
measured in this run (compare the ratios, not absolute numbers across runs); writes
OUT/id_tower_fused.md and .json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from experiments.benchmarks.machine import report

HISTORY = 20
VARIANTS = {  # name -> optimizer, in the order of the table
    "plain sparse": "SparseAdam (tables) + Adam (MLPs)",
    "plain dense": "Adagrad (all, dense gradients)",
    "fused": "fused row-wise Adagrad (tables) + Adam (MLPs)",
}


def synthetic_batches(rows: int, batch: int, n: int, seed: int = 0):
    from teachers.batch import TeacherBatch, make_kjt
    from teachers.models.id_tower import FEATURES

    rng = np.random.default_rng(seed)
    for _ in range(n):
        zipf = lambda size: np.minimum(rng.zipf(1.2, size), rows - 1)  # noqa: E731
        users, items = zipf(batch), zipf(batch)
        lengths = rng.integers(1, HISTORY + 1, batch)
        ones = np.ones(batch, dtype=np.int64)
        kjt = make_kjt(
            {
                "user_id": (ones, users),
                "hist_items": (lengths, zipf(int(lengths.sum()))),
                "item_id": (ones, items),
                "item_category": (ones, items % 32),
            },
            FEATURES,
        )
        yield TeacherBatch(kjt, {"items": torch.as_tensor(items)})


def plain_optimizers(model: torch.nn.Module, variant: str, cfg) -> list[torch.optim.Optimizer]:
    """The plain ports' optimizers; `plain sparse` also switches the tables to sparse gradients."""
    if variant == "plain dense":
        return [torch.optim.Adagrad(model.parameters(), lr=cfg.sparse_lr)]
    bags = list(model.tower.ebc.embedding_bags.values())
    for bag in bags:  # the same nn.EmbeddingBag modules, as if built with sparse=True
        bag.sparse = True
    tables = {id(b.weight) for b in bags}
    return [
        torch.optim.SparseAdam([b.weight for b in bags], lr=cfg.sparse_lr),
        torch.optim.Adam([p for p in model.parameters() if id(p) not in tables], lr=cfg.dense_lr),
    ]


def timed(step, items) -> list[float]:
    """Seconds of each step (the caller drops the warm-up ones)."""
    seconds = []
    for x in items:
        t0 = time.perf_counter()
        step(x)
        seconds.append(time.perf_counter() - t0)
    return seconds


def run_variant(variant: str, rows: int, steps: int, batch: int, warmup: int) -> dict:
    from teachers.config import TeacherConfig
    from teachers.dist import process_group
    from teachers.kinds import IDObjective
    from teachers.models import IDTower

    torch.manual_seed(0)
    cfg = TeacherConfig(kind="id", embedding_dim=64, output_dim=64, batch_size=batch)
    log_q = torch.zeros(rows)
    batches = list(synthetic_batches(rows, batch, warmup + steps))
    with process_group() as env:
        if variant == "fused":
            from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

            from teachers.train import shard

            model = IDObjective(
                IDTower(rows, rows, 32, 64, 128, 64, device=torch.device("meta")), log_q, cfg.temperature
            )
            dmp, optimizer, _ = shard(model, cfg, env)
            pipeline = TrainPipelineSparseDist(dmp, optimizer, env.device)
            it = iter(batches)
            seconds = timed(lambda _: pipeline.progress(it), range(warmup + steps))
        else:
            model = IDObjective(IDTower(rows, rows, 32, 64, 128, 64), log_q, cfg.temperature)
            optimizers = plain_optimizers(model, variant, cfg)

            def step(b):
                for o in optimizers:
                    o.zero_grad()
                loss, _ = model(b)
                loss.backward()
                for o in optimizers:
                    o.step()

            seconds = timed(step, batches)
    return {
        "variant": variant,
        "optimizer": VARIANTS[variant],
        "rows": rows,
        "samples_per_s": batch / float(np.median(seconds[warmup:])),
        "samples_per_s_mean": steps * batch / sum(seconds[warmup:]),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--out", default="runs/benchmarks")
    p.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = p.parse_args()
    sizes = ["--rows", str(args.rows), "--steps", str(args.steps), "--batch", str(args.batch)]
    sizes += ["--warmup", str(args.warmup)]
    if args.variant:  # child process
        print(json.dumps(run_variant(args.variant, args.rows, args.steps, args.batch, args.warmup)))
        return
    results = {}
    for variant in VARIANTS:
        cmd = [sys.executable, "-m", "experiments.benchmarks.id_tower_fused", "--variant", variant, *sizes]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
    fused = results["fused"]["samples_per_s"]
    speedups = {f"fused / {v}": fused / results[v]["samples_per_s"] for v in VARIANTS if v != "fused"}
    md = "\n".join(
        [
            f"ID tower, batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up",
            "",
            "| variant | optimizer | table rows | samples/s (median step) | peak RSS (MiB) |",
            "|---|---|---|---|---|",
            *(
                f"| {r['variant']} | {r['optimizer']} | {r['rows']:,} | {r['samples_per_s']:,.0f} "
                f"| {r['peak_rss_mib']:,.0f} |"
                for r in results.values()
            ),
            "",
            *(f"{name} throughput: {x:.1f}x" for name, x in speedups.items()),
        ]
    )
    report(
        args.out,
        "id_tower_fused",
        md,
        {
            "args": {k: v for k, v in vars(args).items() if k != "variant"},
            "rows": list(results.values()),
            "speedups": speedups,
        },
    )


if __name__ == "__main__":
    main()
