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
import warnings

from winnow import __version__
from winnow.errors import InputWarning, WinnowError

# Subcommand modules, in --help order.
COMMANDS = ["cmd_index", "cmd_search", "cmd_encode", "cmd_eval", "cmd_compare", "cmd_experiment",
            "cmd_demo", "cmd_train", "cmd_serve"]
_DEBUG_HELP = "print the full traceback on errors"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winnow",
        description="Winnow is a dense/sparse index engine with integrated reranking.",
        epilog="Exit status: 0 on success, 1 on an error (one line 'error: ...'; --debug prints "
               "the traceback), 2 on a usage error such as an unknown option or a bad value.",
    )
    parser.add_argument("--version", action="version", version=f"winnow {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"winnow.cli.{name}").register(sub)
    _add_debug_to_subcommands(parser)
    return parser


def _add_debug_to_subcommands(parser: argparse.ArgumentParser) -> None:
    """Accept ``--debug`` after any subcommand too (``winnow index build ... --debug``).

    The default is SUPPRESS: a subparser copies every attribute it sets onto the top-level
    namespace, so a default of False there would undo ``winnow --debug index ...``.
    """
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for subparser in action.choices.values():
            if "--debug" not in subparser._option_string_actions:
                subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                       help=_DEBUG_HELP)
            _add_debug_to_subcommands(subparser)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():  # restored on return: main() also runs in-process (tests)
            warnings.simplefilter("always", InputWarning)  # each run reports its own input
            warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (WinnowError, ValueError, IndexError, FileNotFoundError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one stderr line, like errors: ``warning: ...`` (with the category, unless
    it is Winnow's own InputWarning)."""
    label = "" if issubclass(category, InputWarning) else f"{category.__name__}: "
    print(f"warning: {label}{message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
