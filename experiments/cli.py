"""The `recplug` console command. It lives in the top layer so no lower layer imports upward."""

from __future__ import annotations

import argparse
import sys

from experiments.commands import data, demo, run, student, teachers

GROUPS = (data, teachers, student, run, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recplug",
        description="recplug: distil ID teachers into an omni-modal item encoder and measure the gain offline.",
    )
    parser.add_argument("--traceback", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; every failure is one line on stderr (see experiments/error_policy.py)."""
    from experiments.error_policy import INTERRUPTED, describe

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("recplug: interrupted", file=sys.stderr)
        return INTERRUPTED
    except SystemExit as e:  # a sub-command's usage error (`raise SystemExit("--set expects ...")`)
        if not isinstance(e.code, str):
            raise
        print(f"recplug: error: {e.code}", file=sys.stderr)
        return 2
    except BaseException as e:  # BaseException: a polars panic is one (pyo3's PanicException)
        if args.traceback:
            raise
        print(f"recplug: error: {describe(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
