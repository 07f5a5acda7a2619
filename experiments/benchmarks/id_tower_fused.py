"""ID-tower training throughput: TorchRec's fused path vs plain PyTorch, on a table of >= 1M rows.

    python -m experiments.benchmarks.id_tower_fused [--rows 1000000] [--steps 30] [--batch 1024]

- fused:   DistributedModelParallel (planner, fbgemm TBE kernels, row-wise Adagrad applied in the
           backward pass) driven by TrainPipelineSparseDist: recplug's training path.
- unfused: the same IDTower as a plain nn.Module (nn.EmbeddingBag tables, dense gradients) with
           torch.optim.Adagrad over every parameter: what a straightforward PyTorch port does.

Each variant runs in its own process (clean peak memory); both see identical synthetic batches
(Zipf-distributed ids, 20-item histories). Prints samples/s, peak RSS and the ratio measured in this run:
the machine is shared, so compare the ratio, not absolute numbers across runs.
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

HISTORY = 20


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
            for _ in range(warmup):
                pipeline.progress(it)
            t0 = time.perf_counter()
            for _ in range(steps):
                pipeline.progress(it)
            elapsed = time.perf_counter() - t0
        else:
            model = IDObjective(IDTower(rows, rows, 32, 64, 128, 64), log_q, cfg.temperature)
            optimizer = torch.optim.Adagrad(model.parameters(), lr=cfg.sparse_lr)

            def step(b):
                optimizer.zero_grad()
                loss, _ = model(b)
                loss.backward()
                optimizer.step()

            for b in batches[:warmup]:
                step(b)
            t0 = time.perf_counter()
            for b in batches[warmup:]:
                step(b)
            elapsed = time.perf_counter() - t0
    return {
        "variant": variant,
        "rows": rows,
        "samples_per_s": steps * batch / elapsed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--variant", choices=["fused", "unfused"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:  # child process
        print(json.dumps(run_variant(args.variant, args.rows, args.steps, args.batch, args.warmup)))
        return
    results = {}
    for variant in ("fused", "unfused"):
        cmd = [
            sys.executable,
            "-m",
            "experiments.benchmarks.id_tower_fused",
            "--variant",
            variant,
            "--rows",
            str(args.rows),
            "--steps",
            str(args.steps),
            "--batch",
            str(args.batch),
            "--warmup",
            str(args.warmup),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
    f, u = results["fused"], results["unfused"]
    print("| variant | table rows | samples/s | peak RSS (MiB) |\n|---|---|---|---|")
    for r in (f, u):
        print(f"| {r['variant']} | {r['rows']:,} | {r['samples_per_s']:,.0f} | {r['peak_rss_mib']:,.0f} |")
    print(f"\nfused / unfused throughput: {f['samples_per_s'] / u['samples_per_s']:.1f}x")


if __name__ == "__main__":
    main()
