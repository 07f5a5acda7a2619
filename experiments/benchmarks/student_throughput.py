"""Student throughput on a dataset: items/s when embedding at batch 1, 64 and 512, training steps/s,
and peak memory.

    python -m experiments.benchmarks.student_throughput --data runs/demo/data [--model runs/demo/student]

Without --model a freshly initialised encoder of the default config is used (speed does not depend
on the weights). The machine is shared: compare numbers measured in one run.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from recplug.student.embed import embed_entries
    from recplug.student.lightning import ContentModule
    from recplug.student.modeling import OmniEncoder
    from recplug.student.run import StudentRun
    from recplug.student.train import new_encoder
    from recplug.student.train_config import load_student_config
    from recplug.student.views import View

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", help="a trained student folder (optional)")
    p.add_argument("--items", type=int, default=1024, help="items embedded per batch size")
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    cfg = load_student_config()
    run = StudentRun.setup(args.data, Path(tempfile.mkdtemp()), cfg)
    enc = OmniEncoder.from_pretrained(str(Path(args.model) / "model")) if args.model else new_encoder(run)
    rows = ["| measurement | value |", "|---|---|"]
    n = min(args.items, len(run.store.item_ids))
    for batch in (1, 64, 512):
        count = min(n, 128) if batch == 1 else n
        sub = np.arange(count)
        t0 = time.perf_counter()
        embed_entries(enc, run.store, run.tokenizer, View(instruction="item"), rows=sub, batch=batch)
        rows.append(f"| embed items/s, batch {batch} | {count / (time.perf_counter() - t0):,.0f} |")
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
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
    t0 = time.perf_counter()
    for step in range(args.steps):
        s = step % len(run.pairsets)
        idx = np.random.default_rng(step).choice(len(run.pairsets[s]), cfg.batch_size, replace=False)
        loss, _ = module.source_loss(s, idx, np.random.default_rng(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    rows.append(
        f"| training steps/s (batch {cfg.batch_size}, sources in turn) | {args.steps / (time.perf_counter() - t0):.2f} |"
    )
    rows.append(f"| peak RSS (MiB) | {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
