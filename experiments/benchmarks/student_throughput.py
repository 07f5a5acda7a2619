"""Student throughput on a dataset, per preset (scratch, and pretrained when its weights are installed),
in one run: items/s when embedding at batch 1, 64 and 512, training steps/s, and peak memory after each.

    python -m experiments.benchmarks.student_throughput --data runs/demo/data [--model runs/demo/student]
        [--presets scratch pretrained] [--out runs/benchmarks] [--json out.json]

Prints the machine and the table; writes OUT/student_throughput.md and .json (machine + figures per
preset); --json also copies that JSON to the path given (where earlier versions wrote it). Without
--model a freshly initialised encoder of each preset is used (speed does not depend on the weights).
The machine is shared: compare numbers measured in one run (peak RSS only grows: the pretrained
column's includes the scratch one's).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from experiments.benchmarks.machine import report


def measure(preset: str, args) -> dict[str, float]:
    from recplug.student.embed import embed_entries
    from recplug.student.lightning import ContentModule
    from recplug.student.run import StudentRun
    from recplug.student.saved import load_encoder
    from recplug.student.train import new_encoder
    from recplug.student.train_config import load_student_config
    from recplug.student.views import View

    cfg = load_student_config(preset=preset)
    run = StudentRun.setup(args.data, Path(tempfile.mkdtemp()), cfg)
    enc = load_encoder(Path(args.model) / "model") if args.model else new_encoder(run)
    out: dict[str, float] = {}
    n = min(args.items, len(run.store.item_ids))
    for batch in (1, 64, 512):
        count = min(n, 128) if batch == 1 else n
        t0 = time.perf_counter()
        embed_entries(
            enc, run.store, run.tokenizer, View(instruction="item"), rows=np.arange(count), batch=batch
        )
        out[f"embed items/s, batch {batch}"] = count / (time.perf_counter() - t0)
    module = ContentModule(
        enc.train(),
        run.store,
        run.tokenizer,
        run.pairsets,
        lr=1e-4,
        weight_decay=0.0,
        field_dropout=cfg.field_dropout,
        text_dropout=cfg.text_dropout,
        max_text_tokens=cfg.max_text_tokens,
        modality_loss_weight=cfg.modality_loss_weight,
        seed=0,
    )
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    t0 = time.perf_counter()
    for step in range(args.steps):
        s = step % len(run.pairsets)
        idx = np.random.default_rng(step).choice(len(run.pairsets[s]), cfg.batch_size, replace=False)
        loss, _ = module.source_loss(s, idx, np.random.default_rng(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    out[f"training steps/s (batch {cfg.batch_size})"] = args.steps / (time.perf_counter() - t0)
    out["parameters (M), trainable"] = sum(p.numel() for p in enc.parameters() if p.requires_grad) / 1e6
    out["peak RSS (MiB), cumulative"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    from recplug.student.presets import installed_text_folder

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", help="a trained student folder (optional; one preset then)")
    p.add_argument("--items", type=int, default=1024, help="items embedded per batch size")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--presets", nargs="+", default=["scratch", "pretrained"])
    p.add_argument("--out", default="runs/benchmarks")
    p.add_argument("--json", help="also copy OUT/student_throughput.json here")
    args = p.parse_args()
    presets = [x for x in args.presets if x != "pretrained" or installed_text_folder() is not None]
    if len(presets) < len(args.presets):
        print("(pretrained preset skipped: its weights are not installed; make pretrained)")
    results = {preset: measure(preset, args) for preset in presets}
    lines = [f"Student throughput on {args.data}", ""]
    lines += ["| measurement | " + " | ".join(presets) + " |", "|---|" + "---|" * len(presets)]
    for name in next(iter(results.values())):
        lines.append(f"| {name} | " + " | ".join(f"{results[pr][name]:,.2f}" for pr in presets) + " |")
    report(args.out, "student_throughput", "\n".join(lines), results)
    if args.json:
        shutil.copyfile(Path(args.out) / "student_throughput.json", args.json)


if __name__ == "__main__":
    main()
