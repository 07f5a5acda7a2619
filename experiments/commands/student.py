"""`recplug student ...`: train the omni-modal student (content stages), embed items, evaluate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from experiments.commands.common import timed
from experiments.commands.teachers import _overrides


def _train(args: argparse.Namespace) -> None:
    from recplug.student.config import load_student_config
    from recplug.student.report import student_table
    from recplug.student.train import train_student

    cfg = load_student_config(args.config, **_overrides(args.set))
    with timed("student: train"):
        report = train_student(args.data, args.out, cfg, progress=not args.quiet)
    if not report:  # a non-zero DDP rank: rank 0 reports
        return
    print(student_table(report["rows"]))
    print(f"wrote {args.out} (model/, embeddings.parquet, semantic_ids.parquet, metrics.json)")


def _embed(args: argparse.Namespace) -> None:
    from recplug.data import load_dataset
    from recplug.data.embeddings import write_embeddings, write_metadata
    from recplug.student.embed import embed_items
    from recplug.student.items import load_items
    from recplug.student.modeling import OmniEncoder
    from recplug.student.tokenizer import load_tokenizer

    model = Path(args.model) / "model" if (Path(args.model) / "model").is_dir() else Path(args.model)
    enc = OmniEncoder.from_pretrained(str(model))
    tok = load_tokenizer(model / "tokenizer")
    ds = load_dataset(args.data)
    store = load_items(ds.items, ds.root, enc.config.image_size, enc.config.audio_window)
    view = None  # the run's item view (e.g. text-only) when the folder is a whole run
    if (Path(args.model) / "config.json").is_file():
        from recplug.student.config import StudentConfig

        view = StudentConfig.model_validate_json((Path(args.model) / "config.json").read_text()).item_view
    with timed("student: embed"):
        emb = embed_items(enc, store, tok, view, batch=args.batch, progress=not args.quiet)
    out = Path(args.out)
    write_embeddings(out / "embeddings.parquet", store.item_ids, emb)
    write_metadata(
        out, {"kind": "student", "dim": int(emb.shape[1]), "model": str(model), "items": store.report}
    )
    print(f"wrote {out}/embeddings.parquet ({len(emb):,} items, dim {emb.shape[1]})")


def _eval(args: argparse.Namespace) -> None:
    from recplug.student.config import StudentConfig
    from recplug.student.modeling import OmniEncoder
    from recplug.student.report import student_table
    from recplug.student.train import evaluate_student, prepare

    folder = Path(args.model)
    cfg = StudentConfig.model_validate_json((folder / "config.json").read_text())
    run = prepare(args.data, folder, cfg)
    rows, _ = evaluate_student(run, OmniEncoder.from_pretrained(str(folder / "model")), "student")
    print(student_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("student", help="the omni-modal student: train, embed, evaluate")
    cmds = s.add_subparsers(dest="student_command", required=True)
    tr = cmds.add_parser("train", help="content-aware progressive training (stages from the config)")
    tr.add_argument("--data", required=True)
    tr.add_argument("--out", required=True)
    tr.add_argument("--config", help="YAML of StudentConfig keys (sources, stages, model, ...)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (YAML value)")
    tr.add_argument("--quiet", action="store_true")
    tr.set_defaults(func=_train)
    em = cmds.add_parser("embed", help="embed every item of a dataset with a trained student")
    em.add_argument("--model", required=True, help="a student run folder (or its model/ folder)")
    em.add_argument("--data", required=True)
    em.add_argument("--out", required=True)
    em.add_argument("--batch", type=int, default=256)
    em.add_argument("--quiet", action="store_true")
    em.set_defaults(func=_embed)
    ev = cmds.add_parser("eval", help="retrieval metrics of a trained student on a dataset")
    ev.add_argument("--model", required=True, help="a student run folder")
    ev.add_argument("--data", required=True)
    ev.add_argument("--json", help="also write the metric rows to this file")
    ev.set_defaults(func=_eval)
