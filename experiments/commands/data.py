"""`recplug data ...`: generate, validate, describe and import datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.timing import timed


def _generate(args: argparse.Namespace) -> None:
    from recplug.data.world import World

    overrides = dict(kv.split("=", 1) for kv in args.set or [])
    world = World.from_preset(args.preset, seed=args.seed, **overrides)
    with timed(f"generate {args.preset}"):
        world.generate(args.out, progress=not args.quiet)
    print(f"wrote {args.out}")


def _validate(args: argparse.Namespace) -> None:
    from recplug.data.io import load_dataset
    from recplug.data.labels import label_balance
    from recplug.data.limits import describe_cut, raw_items, text_over_limit
    from recplug.data.validate import validate_dataset

    meta = validate_dataset(args.dir, check_media=not args.skip_media)
    print(f"{args.dir}: valid ({meta.name}; modalities {', '.join(meta.modalities)})")
    ds = load_dataset(args.dir, lazy=True)
    limit = meta.size_limits.text_chars
    notes = [
        label_balance(ds.interactions, meta).note(meta),
        describe_cut(text_over_limit(raw_items(args.dir), limit), limit),
    ]
    for note in filter(None, notes):
        print(f"note: {note}")


def _describe(args: argparse.Namespace) -> None:
    from recplug.data.describe import describe_to

    out = Path(args.out) if args.out else Path(args.dir) / "describe"
    _, md = describe_to(args.dir, out)
    print(md)
    print(f"wrote {out}/describe.md, describe.json, popularity.png")


def _import_movielens(args: argparse.Namespace) -> None:
    from recplug.data.importers import import_movielens

    with timed("import movielens"):
        positive_min = _number(str(args.positive_min), "--positive-min")
        import_movielens(
            args.src, args.out, positive_min=positive_min, name=args.name, implicit=args.implicit
        )
    print(f"wrote {args.out}")


def _import_table(args: argparse.Namespace) -> None:
    from recplug.data.importers import import_table
    from recplug.data.meta import PositiveRule

    mapping = _pairs(args.map, "--map", "TARGET=SOURCE (e.g. user_id=uid)")
    items_mapping = _pairs(args.items_map, "--items-map", "TARGET=SOURCE (e.g. item_id=article_id)")
    weights = {}
    for kind, w in _pairs(args.event_weight, "--event-weight", "TYPE=WEIGHT (e.g. purchase=1)").items():
        weights[kind] = _number(w, f"--event-weight {kind}={w}: the weight")
    positive = None
    if args.positive:
        col, _, value = args.positive.partition(">=")
        if not value or not col.strip():
            raise ValueError(f"--positive expects COLUMN>=VALUE (e.g. rating>=4), got '{args.positive}'")
        positive = PositiveRule(
            column=col.strip(), min=_number(value, f"--positive {args.positive}: the value")
        )
    import_table(
        args.interactions,
        args.out,
        items=args.items,
        queries=args.queries,
        mapping=mapping,
        items_mapping=items_mapping,
        positive=positive,
        name=args.name,
        implicit=args.implicit,
        event_weights=weights or None,
        context=[c for arg in args.context or [] for c in arg.split(",") if c],
        basket=args.basket,
        sep=args.sep,
        header=False if args.no_header else None,
    )
    print(f"wrote {args.out}")


def _pairs(values: list[str] | None, option: str, expected: str) -> dict[str, str]:
    out = {}
    for kv in values or []:
        key, _, value = kv.partition("=")
        if not key.strip() or not value.strip():
            raise ValueError(f"{option} expects {expected}, got '{kv}'")
        if key in out:
            raise ValueError(f"{option} maps '{key}' twice ('{key}={out[key]}' and '{kv}')")
        out[key] = value
    return out


def _number(text: str, what: str) -> float:
    """A finite number from an option's text, or a ValueError naming the option."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, got '{text}'") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got '{text}'")
    return value


def _implicit(args: argparse.Namespace) -> None:
    from recplug.data.positives_only import positives_only

    positives_only(args.src, args.out, label=args.label, day_level=args.day_level)
    print(f"wrote {args.out}")


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="datasets: generate the synthetic world, validate, describe, import")
    cmds = data.add_subparsers(dest="data_command", required=True)

    g = cmds.add_parser("generate", help="generate the synthetic omni-modal world")
    g.add_argument("--preset", default="demo", help="tiny | demo | large (default: demo)")
    g.add_argument("--out", required=True, help="dataset folder to write")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a WorldConfig field (repeatable)"
    )
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.set_defaults(func=_generate)

    v = cmds.add_parser("validate", help="check a dataset folder against the data contract")
    v.add_argument("dir")
    v.add_argument("--skip-media", action="store_true", help="do not decode every image and audio clip")
    v.set_defaults(func=_validate)

    d = cmds.add_parser("describe", help="counts, coverage, label rates, cold items, popularity plot")
    d.add_argument("dir")
    d.add_argument("--out", help="where to write describe.md/json and popularity.png (default: DIR/describe)")
    d.set_defaults(func=_describe)

    im = cmds.add_parser(
        "implicit", help="the implicit view of a dataset: its positives only, one event each"
    )
    im.add_argument("src", help="a dataset folder")
    im.add_argument("--out", required=True)
    im.add_argument(
        "--label", default="play", help="the implicit label: play, purchase or weight (default play)"
    )
    im.add_argument(
        "--day-level", action="store_true", help="floor every ts to its day (a user's day is a basket)"
    )
    im.set_defaults(func=_implicit)

    imp = cmds.add_parser("import", help="import other data into a dataset folder")
    kinds = imp.add_subparsers(dest="import_kind", required=True)
    ml = kinds.add_parser("movielens", help="MovieLens (ml-latest-small, ml-25m, ml-1m, ml-100k layouts)")
    ml.add_argument("src", help="the unpacked MovieLens folder")
    ml.add_argument("--out", required=True)
    ml.add_argument(
        "--positive-min", type=float, default=4.0, help="rating at or above which a rating is positive"
    )
    ml.add_argument("--name")
    ml.add_argument(
        "--implicit",
        action="store_true",
        help="every rating a 'play' event with no negatives (an implicit log)",
    )
    ml.set_defaults(func=_import_movielens)

    t = kinds.add_parser("table", help="any CSV/TSV/parquet log with a column mapping")
    t.add_argument("--interactions", required=True, help="interaction log file")
    t.add_argument("--items", help="item table file (default: the ids seen in the log)")
    t.add_argument("--queries", help="query table file")
    t.add_argument("--out", required=True)
    t.add_argument(
        "--map",
        action="append",
        metavar="TARGET=SOURCE",
        help="contract column = source column (repeatable; text fields may join several: tags=colour+section; "
        "header-less files name their columns 1, 2, ...: user_id=1)",
    )
    t.add_argument(
        "--items-map",
        action="append",
        metavar="TARGET=SOURCE",
        help="a mapping for the items file only, where its names differ from the log's (e.g. item_id=id)",
    )
    t.add_argument(
        "--sep",
        help="field separator of text files: tab, comma, semicolon, pipe, whitespace or a literal like '::' "
        "(default: guessed from the first line)",
    )
    t.add_argument(
        "--no-header",
        action="store_true",
        help="the text files have no header line (default: guessed; a first line of numbers only is data)",
    )
    t.add_argument("--positive", help="positive rule COLUMN>=VALUE (default: first label column >= 1)")
    t.add_argument(
        "--implicit",
        metavar="LABEL",
        help="every row is one event of this label (purchase, play, click...): a log without negatives",
    )
    t.add_argument(
        "--event-weight",
        action="append",
        metavar="TYPE=WEIGHT",
        help="implicit event types (the column mapped with --map event=SOURCE) into the 'weight' label (repeatable)",
    )
    t.add_argument(
        "--context",
        action="append",
        metavar="COL[,COL]",
        help="extra log columns kept as ranking context features",
    )
    t.add_argument(
        "--basket",
        choices=["auto", "none", "session"],
        default="auto",
        help="'session': a session's events share its first ts (one basket); 'auto': day-level dates make "
        "a user's day one basket (default)",
    )
    t.add_argument("--name")
    t.set_defaults(func=_import_table)
