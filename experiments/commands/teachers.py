"""`recplug teachers ...`: train and evaluate the TorchRec ID and sequence teachers.

Sharded across processes with torchrun (gloo on CPU, nccl on GPUs), the same command:
    torchrun --standalone --nproc_per_node N -m experiments.cli teachers train --kind id --data D --out O
"""

from __future__ import annotations

import argparse
import json

from experiments.timing import timed
from recplug.data.config_file import parse_yaml


def _overrides(pairs: list[str] | None) -> dict:
    out = {}
    for kv in pairs or []:
        if "=" not in kv:
            raise SystemExit(f"--set expects KEY=VALUE (e.g. epochs=2), got '{kv}'")
        key, value = kv.split("=", 1)
        out[key] = parse_yaml(value, f"--set {kv}")
    return out


def _train(args: argparse.Namespace) -> None:
    from teachers.config import load_config
    from teachers.evaluate import metrics_markdown
    from teachers.train import train_teacher

    cfg = load_config(args.config, **({"kind": args.kind} if args.kind else {}), **_overrides(args.set))
    with timed(f"teachers: train {cfg.kind}"):
        result = train_teacher(args.data, args.out, cfg, resume=not args.no_resume, progress=not args.quiet)
    if result is not None:
        if result.metrics:
            print(metrics_markdown(result.metrics))
        print(
            f"wrote {result.out} (embeddings.parquet, user_states.parquet, metadata.json, model.safetensors)"
        )


def _eval(args: argparse.Namespace) -> None:
    from teachers.evaluate import metrics_markdown
    from teachers.saved import evaluate_saved

    rows, skipped = evaluate_saved(args.teacher, args.data)
    print(metrics_markdown(rows))
    print(f"skipped: {json.dumps(skipped)}")


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("teachers", help="train and evaluate the TorchRec ID / sequence teachers")
    cmds = t.add_subparsers(dest="teachers_command", required=True)
    tr = cmds.add_parser("train", help="train a teacher, evaluate it against baselines, export embeddings")
    tr.add_argument(
        "--kind", choices=["id", "seq"], help="id: two-tower; seq: causal transformer (default: config's)"
    )
    tr.add_argument("--data", required=True, help="dataset folder")
    tr.add_argument("--out", required=True, help="teacher output folder (checkpoints, embeddings, metrics)")
    tr.add_argument("--config", help="YAML file of TeacherConfig keys")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    tr.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --out")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_train)
    ev = cmds.add_parser("eval", help="evaluate a trained teacher folder on a dataset, with baselines")
    ev.add_argument("--teacher", required=True, help="a folder written by `teachers train`")
    ev.add_argument("--data", required=True, help="dataset folder")
    ev.set_defaults(func=_eval)
