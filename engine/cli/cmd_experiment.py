"""``winnow experiment``: run a config-driven retrieval experiment (see winnow.experiment)."""
from __future__ import annotations

import argparse
import sys
import textwrap

from winnow.cli.common import nonnegative_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "experiment",
        help="run pipelines from a TOML config: tables, runs, significance, plots, caching",
        description=textwrap.fill(
            "Build (or reuse) the indexes a TOML config declares, run every pipeline on every "
            "split (reusing cached runs), evaluate with ir_measures metrics, test each pipeline "
            "against the baseline (paired t-test, Holm-corrected) and write table.md/.csv/.json, "
            "runs/<pipeline>.<split>.run, plots/*.png and experiment.log to the output directory."),
        epilog=(
            "examples:\n"
            "  winnow experiment configs/cranfield.toml\n"
            "  winnow experiment configs/msmarco-passage.toml --set dataset.root=/data/msmarco-passage\n"
            "  winnow experiment configs/scifact.toml --set evaluation.k=100 --output /tmp/scifact\n"
            "  winnow experiment configs/msmarco-passage.toml --only bm25,bm25_tuned"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", metavar="CONFIG.toml", help="experiment configuration (TOML)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value: dotted key, TOML scalar value "
                             "(e.g. evaluation.k=100, indexes.bm25.k1=1.2, dataset.root=/data/x); repeatable")
    parser.add_argument("--output", metavar="DIR", default=None,
                        help="results directory (default: output.dir); a re-run replaces its tables and "
                        "runs/*.run atomically, and never a file there that is not a run")
    parser.add_argument("--threads", type=nonnegative_int, default=None, metavar="N",
                        help="threads for indexing and search (default: the config's, else 1; 0 = all cores)")
    parser.add_argument("--only", metavar="NAME[,NAME...]", default=None,
                        help="run only these pipelines (comma-separated; the baseline falls back to the first)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr (the log file keeps them)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from winnow.experiment import run_experiment

    from winnow.experiment_report import markdown

    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    report = run_experiment(args.config, args.overrides, output=args.output, threads=args.threads, only=only,
                            log=None if args.quiet else sys.stderr)
    print(markdown(report))
    return 0
