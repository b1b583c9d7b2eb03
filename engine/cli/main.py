"""The ``winnow`` command: argparse subcommands, heavy imports inside each subcommand.

Each subcommand lives in ``winnow.cli.cmd_<name>`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (``args -> int`` exit code). Exit codes: 0 success,
1 for a Winnow error (one line ``error: ...``; ``--debug`` prints the traceback), 2 usage.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from winnow import __version__
from winnow.errors import WinnowError

# Subcommand modules, in --help order.
COMMANDS = ["cmd_index", "cmd_search", "cmd_encode", "cmd_eval", "cmd_compare", "cmd_experiment",
            "cmd_demo", "cmd_train"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winnow",
        description="Winnow: dense/sparse index engine with integrated reranking.",
    )
    parser.add_argument("--version", action="version", version=f"winnow {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"winnow.cli.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not written yet must not break the rest
            if exc.name != f"winnow.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (WinnowError, ValueError, IndexError, FileNotFoundError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
