"""``winnow compare``: compare runs against a baseline with paired significance tests."""
from __future__ import annotations

import argparse
import json
import textwrap
import math
import os
import sys
from pathlib import Path
from typing import Dict, List, Sequence

from winnow.cli.cmd_eval import add_qrels_metrics_args, format_table, format_value, measure_labels

TESTS = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {value}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare runs with a baseline (paired t-test, Wilcoxon, Holm correction)",
        description=textwrap.fill(
            "Evaluate several TREC runs on the same qrels and test each against the first run "
            "(the baseline) per metric: two-sided paired t-test and two-sided Wilcoxon "
            "signed-rank test over the qrels queries (a query a run does not answer scores 0). "
            "p-values are Holm-corrected across the compared runs, separately for each metric "
            "and test. A run's mean gets '+' (significantly better than the baseline) or '-' "
            "(significantly worse) by the test chosen with --test at level --alpha."
        ),
        epilog=(
            "examples:\n"
            "  winnow compare bm25.run dense.run hybrid.run --qrels qrels/test.tsv\n"
            "  winnow compare bm25.run.gz rerank.run.gz --qrels qrels.dl19-passage.txt "
            "--rel 2 --test wilcoxon --alpha 0.01"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("baseline", metavar="RUN_A", help="baseline TREC run (gzip accepted)")
    parser.add_argument("runs", nargs="+", metavar="RUN_B", help="runs compared with the baseline")
    add_qrels_metrics_args(parser)
    parser.add_argument(
        "--test", choices=sorted(TESTS), default="t",
        help="test that decides the +/- markers: t (paired t-test, default) or wilcoxon; "
             "both p-values are always reported",
    )
    parser.add_argument("--alpha", type=_alpha, default=0.05, help="significance level (default: %(default)s)")
    parser.set_defaults(func=run)


def run_labels(paths: Sequence[str]) -> List[str]:
    """Short names for the runs: the file name without .gz/.run/.txt/.trec/.tsv; the parent
    folder is prefixed when names collide, ``#2``, ``#3`` ... when a run is given twice."""
    def short(p: str) -> str:
        name = Path(p).name
        for suffix in (".gz", ".run", ".txt", ".trec", ".tsv"):
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
        return name

    labels = [short(p) for p in paths]
    if len(set(labels)) != len(labels):  # same file names in different folders
        labels = [f"{Path(p).parent.name}/{lab}" for p, lab in zip(paths, labels)]
    seen: Dict[str, int] = {}
    for i, lab in enumerate(labels):  # the same run given twice
        seen[lab] = seen.get(lab, 0) + 1
        if seen[lab] > 1:
            labels[i] = f"{lab}#{seen[lab]}"
    return labels


def compare(run_paths: Sequence[str], qrels, metrics: Sequence[str], rel=None,
            test: str = "t", alpha: float = 0.05) -> dict:
    """Evaluate runs and test each against the first; the result the CLI prints.

    Returns a dict: ``queries``, ``measures`` ({name: effective measure}), ``runs`` (a list,
    baseline first, of {"run", "label", "metrics": {name: mean}}), and ``tests``
    ({name: [one dict per non-baseline run with delta, p_t, p_wilcoxon, their Holm-adjusted
    values, t and W statistics, and marker]}).
    """
    import numpy as np

    from winnow.evaluation import evaluate, load_qrels, load_run, resolve_metrics
    from winnow.significance import holm, paired_t_test, wilcoxon_test

    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {', '.join(sorted(TESTS))}")
    measures = resolve_metrics(metrics, rel)
    names = list(measures)
    qrels_d = load_qrels(qrels)
    qids = list(qrels_d)
    results = []
    for path in run_paths:
        agg, per_q = evaluate(load_run(path), qrels_d, names, rel=rel, per_query=True)
        results.append((agg, per_q))
    labels = run_labels([os.fspath(p) for p in run_paths])

    tests: Dict[str, list] = {}
    for name in names:
        base = np.array([results[0][1][name][q] for q in qids])
        rows = []
        for i in range(1, len(results)):
            other = np.array([results[i][1][name][q] for q in qids])
            t = paired_t_test(other, base)
            w = wilcoxon_test(other, base)
            rows.append({
                "run": os.fspath(run_paths[i]), "label": labels[i],
                "delta": float(np.mean(other) - np.mean(base)),
                "t": t.statistic, "p_t": t.pvalue, "W": w.statistic, "p_wilcoxon": w.pvalue,
            })
        adj_t = holm([r["p_t"] for r in rows])
        adj_w = holm([r["p_wilcoxon"] for r in rows])
        for r, pt, pw in zip(rows, adj_t, adj_w):
            r["p_t_holm"] = float(pt)
            r["p_wilcoxon_holm"] = float(pw)
            decisive = r["p_t_holm"] if test == "t" else r["p_wilcoxon_holm"]
            marker = ""
            if not math.isnan(decisive) and decisive <= alpha and r["delta"] != 0:
                marker = "+" if r["delta"] > 0 else "-"
            r["marker"] = marker
        tests[name] = rows

    return {
        "qrels": os.fspath(qrels) if isinstance(qrels, (str, os.PathLike)) else None,
        "queries": len(qids),
        "rel": rel,
        "test": test,
        "alpha": alpha,
        "correction": "holm",
        "measures": dict(zip(names, measure_labels(measures))),
        "runs": [
            {"run": os.fspath(p), "label": lab, "metrics": agg}
            for p, lab, (agg, _) in zip(run_paths, labels, results)
        ],
        "tests": tests,
    }


def _nan_to_none(obj):
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


def run(args: argparse.Namespace) -> int:
    paths = [args.baseline, *args.runs]
    out = compare(paths, args.qrels, args.metrics, rel=args.rel, test=args.test, alpha=args.alpha)
    if args.json:
        json.dump(_nan_to_none(out), sys.stdout, indent=2)  # nan -> null: strict JSON
        sys.stdout.write("\n")
        return 0

    names = list(out["measures"])
    labels = list(out["measures"].values())
    n_cmp = len(paths) - 1
    print(f"qrels: {args.qrels} ({out['queries']} queries; a query a run does not answer scores 0)")
    print(f"baseline: {out['runs'][0]['label']}")
    print()
    rows = []
    for i, r in enumerate(out["runs"]):
        row = [r["label"] + (" (baseline)" if i == 0 else "")]
        for name in names:
            cell = format_value(r["metrics"][name])
            if i > 0:
                cell += out["tests"][name][i - 1]["marker"] or " "
            else:
                cell += " "
            row.append(cell)
        rows.append(row)
    print(format_table(["run", *labels], rows))
    print()
    test_name = TESTS[args.test]
    print(
        f"+/-: significantly better/worse than the baseline ({test_name}, two-sided, "
        f"Holm-corrected over {n_cmp} run{'s' if n_cmp != 1 else ''}, alpha {args.alpha:g})"
    )
    print()
    detail = []
    for name, label in zip(names, labels):
        for r in out["tests"][name]:
            detail.append([
                r["label"], label, f"{r['delta']:+.4f}",
                format_value(r["p_t"]), format_value(r["p_t_holm"]),
                format_value(r["p_wilcoxon"]), format_value(r["p_wilcoxon_holm"]),
                r["marker"],
            ])
    print(format_table(
        ["run", "metric", "delta", "p(t)", "p(t) Holm", "p(W)", "p(W) Holm", "sig"], detail))
    print("p(t): paired t-test; p(W): Wilcoxon signed-rank test; both two-sided, per query "
          "over the qrels queries; n/a: undefined (e.g. identical per-query values)")
    return 0
