"""``winnow eval``: evaluate one TREC run against qrels with ir_measures metrics."""
from __future__ import annotations

import argparse
import json
import textwrap
import math
import sys
from typing import List, Sequence

from winnow.cli.common import positive_int

DEFAULT_METRICS = ["nDCG@10", "RR@10", "AP", "R@1000"]  # == winnow.evaluation.DEFAULT_METRICS

METRICS_HELP = (
    "ir_measures metric names (default: " + " ".join(DEFAULT_METRICS) + "). Examples: nDCG@10 RR@10 AP R@100 "
    "R@1000 P@10 'RR(rel=2)@10'. Quote names with parentheses in the shell."
)
REL_HELP = (
    "minimum grade counted as relevant by binary metrics (AP, RR, R, P, ...) whose name does not "
    "set rel= itself; nDCG always uses all grades (Anserini's -l 2 convention for TREC DL: --rel 2)"
)


def add_qrels_metrics_args(parser: argparse.ArgumentParser) -> None:
    """The arguments ``eval`` and ``compare`` share."""
    group = parser.add_argument_group("evaluation")
    group.add_argument(
        "--qrels", required=True, metavar="QRELS",
        help="relevance judgements: TREC qrels 'qid 0 docno grade' or BEIR qrels tsv "
             "'query-id<TAB>corpus-id<TAB>score' (header optional); gzip accepted",
    )
    group.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), metavar="METRIC", help=METRICS_HELP)
    group.add_argument("--rel", type=positive_int, default=None, metavar="N", help=REL_HELP)
    group.add_argument("--json", action="store_true", help="print JSON instead of a table")


def format_value(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain text table: first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(header), *rows]:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def measure_labels(measures: dict) -> List[str]:
    """Column labels: the effective ir_measures name (e.g. ``AP(rel=2)`` under ``--rel 2``)."""
    return [str(m) for m in measures.values()]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a TREC run against qrels",
        description=textwrap.fill(
            "Evaluate a TREC run ('qid Q0 docno rank score tag', gzip accepted) against qrels with "
            "ir_measures metrics. Every query in the qrels counts: one the run does not answer scores "
            "0 (trec_eval -c); run queries without judgements are ignored. Ties in score are broken "
            "as trec_eval does (the rank column is ignored)."
        ),
        epilog=(
            "examples:\n"
            "  winnow eval --run bm25.run --qrels qrels/test.tsv\n"
            "  winnow eval --run dl19.run.gz --qrels qrels.dl19-passage.txt "
            "--metrics nDCG@10 AP R@1000 --rel 2\n"
            "  winnow eval --run bm25.run --qrels qrels.txt --per-query --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", required=True, metavar="RUN", help="TREC run file (gzip accepted)")
    add_qrels_metrics_args(parser)
    parser.add_argument(
        "--per-query", action="store_true",
        help="also print each query's values (one row per qrels query, then 'all')",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from winnow.evaluation import evaluate, load_qrels, load_run, resolve_metrics

    measures = resolve_metrics(args.metrics, args.rel)  # fail on a bad metric before reading files
    qrels = load_qrels(args.qrels)
    run_d = load_run(args.run)
    agg, per_q = evaluate(run_d, qrels, list(measures), rel=args.rel, per_query=True)
    answered = sum(1 for q in qrels if run_d.get(q))
    names = list(measures)
    labels = measure_labels(measures)

    if args.json:
        out = {
            "run": str(args.run),
            "qrels": str(args.qrels),
            "rel": args.rel,
            "queries": len(qrels),
            "queries_answered": answered,
            "measures": dict(zip(names, labels)),
            "metrics": agg,
        }
        if args.per_query:
            out["per_query"] = per_q
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0

    print(f"run: {args.run}")
    print(f"qrels: {args.qrels} ({len(qrels)} queries, {answered} answered by the run; unanswered score 0)")
    if args.per_query:
        rows = [[q] + [format_value(per_q[n][q]) for n in names] for q in qrels]
        rows.append(["all"] + [format_value(agg[n]) for n in names])
        print(format_table(["qid", *labels], rows))
    else:
        rows = [[label, format_value(agg[n])] for n, label in zip(names, labels)]
        print(format_table(["metric", "value"], rows))
    return 0
