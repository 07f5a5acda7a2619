"""`recplug student ...`: train the omni-modal student (content stages), embed items, evaluate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from experiments.timing import timed
from recplug.data.config_file import parse_sets


def _teachers(specs: list[str] | None) -> list[dict] | None:
    """--teacher NAME=PATH[,users] -> TeacherFile dicts (',users': also distil its user_states.parquet)."""
    if not specs:
        return None
    out = []
    for spec in specs:
        if "=" not in spec:
            raise SystemExit(
                f"--teacher expects NAME=PATH[,users] (e.g. id=runs/x/teachers/id), got '{spec}'"
            )
        name, path = spec.split("=", 1)
        users = path.endswith(",users")
        out.append({"name": name, "path": path.removesuffix(",users"), "user_states": users})
    return out


def _cre_config(args: argparse.Namespace):
    from recplug.student.cre.config import load_cre_config

    if not args.student:
        raise ValueError("--stage cre needs --from STUDENT_RUN (a content-trained student folder)")
    return load_cre_config(args.config, teachers=_teachers(args.teacher), **parse_sets(args.set))


def _train_cre(args: argparse.Namespace) -> None:
    from experiments.cre_ablation import COLUMNS
    from recplug.student.cre.train import train_cre
    from recplug.student.report import student_table

    cfg = _cre_config(args)
    with timed("student: CRE"):
        report = train_cre(args.data, args.student, args.out, cfg, progress=not args.quiet)
    print(student_table(report["rows"], COLUMNS))
    print(json.dumps(report["data"], indent=2))
    print(
        f"wrote {args.out} (model/, sequence_encoder.*, embeddings.parquet, semantic_ids.parquet, metrics.json)"
    )


def _ablate(args: argparse.Namespace) -> None:
    from experiments.cre_ablation import ablation_table, run_ablation

    cfg = _cre_config(args)
    stage = {"data": str(Path(args.data).resolve()), "student": str(Path(args.student).resolve())}
    rows = run_ablation(
        Path(args.data),
        Path(args.student),
        Path(args.out),
        cfg,
        stage,
        not args.no_views,
        workers=args.workers,
    )
    print(ablation_table(rows))


def _train(args: argparse.Namespace) -> None:
    from recplug.student.train_config import load_student_config

    if args.stage == "cre":
        return _train_cre(args)
    from recplug.student.report import student_table
    from recplug.student.train import train_student

    cfg = load_student_config(args.config, **parse_sets(args.set))
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
    from recplug.student.run import dataset_items
    from recplug.student.saved import load_encoder, load_run_config
    from recplug.student.tokenizer import load_tokenizer

    whole_run = (Path(args.model) / "model").is_dir()
    model = Path(args.model) / "model" if whole_run else Path(args.model)
    enc = load_encoder(model)
    tok = load_tokenizer(model / "tokenizer")
    ds = load_dataset(args.data)
    store = load_items(dataset_items(ds), ds.root, enc.config.image_size, enc.config.audio_window)
    # the run's item view (e.g. text-only) when the folder is a whole run
    view = load_run_config(args.model).item_view if whole_run else None
    with timed("student: embed"):
        emb = embed_items(enc, store, tok, view, batch=args.batch, progress=not args.quiet)
    out = Path(args.out)
    write_embeddings(out / "embeddings.parquet", store.item_ids, emb, dataset=ds.root)
    write_metadata(
        out, {"kind": "student", "dim": int(emb.shape[1]), "model": str(model), "items": store.report}
    )
    print(f"wrote {out}/embeddings.parquet ({len(emb):,} items, dim {emb.shape[1]})")


def _eval(args: argparse.Namespace) -> None:
    from recplug.student.report import student_table
    from recplug.student.run import StudentRun
    from recplug.student.run_metrics import evaluate_student
    from recplug.student.saved import load_encoder, load_run_config

    folder = Path(args.model)
    cfg = load_run_config(folder)
    encoder = load_encoder(folder / "model")
    run = StudentRun.setup(args.data, folder, cfg)
    rows, _ = evaluate_student(run, encoder, "student")
    print(student_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def _cre_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="student", help="CRE: the content-trained student run folder")
    p.add_argument(
        "--teacher",
        action="append",
        metavar="NAME=PATH[,users]",
        help="CRE: a teacher embedding folder (any exporter, same file format); ',users' also distils its "
        "user states (repeatable)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("student", help="the omni-modal student: train, embed, evaluate")
    cmds = s.add_subparsers(dest="student_command", required=True)
    tr = cmds.add_parser("train", help="content-aware progressive training (stages from the config)")
    tr.add_argument("--data", required=True)
    tr.add_argument("--out", required=True)
    tr.add_argument(
        "--stage",
        choices=["content", "cre"],
        default="content",
        help="content: stages I-III from the config; cre: distil teachers into a content-trained student",
    )
    tr.add_argument("--config", help="YAML of StudentConfig keys (or CREConfig keys with --stage cre)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (YAML value)")
    _cre_arguments(tr)
    tr.add_argument("--quiet", action="store_true")
    tr.set_defaults(func=_train)
    ab = cmds.add_parser("ablate", help="the CRE ablation table: which source and which history view helps")
    ab.add_argument("--data", required=True)
    ab.add_argument("--out", required=True, help="folder for the variants (one sub-folder each)")
    ab.add_argument("--config", help="YAML of CREConfig keys")
    ab.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (YAML value)")
    ab.add_argument("--no-views", action="store_true", help="skip the interest-view variants")
    ab.add_argument(
        "--workers", type=int, default=1, help="variants trained at once, one process and torch thread each"
    )
    _cre_arguments(ab)
    ab.set_defaults(func=_ablate)
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
