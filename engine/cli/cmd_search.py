"""``winnow search --index DIR --queries Q --k K --output RUN``."""
from __future__ import annotations

import argparse
import sys
import time

from winnow.cli.common import add_overwrite, add_threads, load_queries, positive_int


def register(sub) -> None:
    p = sub.add_parser("search", help="search an index and write a TREC run",
                       description="Search an index with a queries file (qid<TAB>text, BEIR "
                       "queries.jsonl, TREC topics) or a dataset directory; write a TREC run "
                       "(qid Q0 docno rank score tag).")
    p.add_argument("--index", required=True, help="index directory")
    p.add_argument("--queries", required=True, help="queries file or dataset directory")
    p.add_argument("--split", help="with a dataset directory: only the queries judged in this split")
    p.add_argument("--k", type=positive_int, default=1000, help="hits per query (default 1000)")
    p.add_argument("--output", required=True, help="TREC run file to write ('-' for stdout); written "
                   "atomically, and an existing run file is replaced only with --overwrite")
    add_overwrite(p, "run file")
    p.add_argument("--tag", default="winnow", help="run tag in the last column (default winnow)")
    p.add_argument("--mmap", action="store_true", help="memory-map the index instead of reading it")
    p.add_argument("--nprobe", type=positive_int, default=None,
                   help="IVF indexes: inverted lists scanned per query (default 1)")
    p.add_argument("--algorithm", choices=["maxscore", "windowed", "exhaustive"], default="maxscore",
                   help="BM25 query algorithm: maxscore (document-at-a-time Block-Max MaxScore, default), windowed (bulk MaxScore over document windows) or exhaustive; identical results")
    p.add_argument("--score-format", choices=["exact", "anserini"], default="exact",
                   help="exact: float32 scores (default); anserini: rounded to 1e-4 with ties "
                   "perturbed as Anserini/pyserini write them")
    add_threads(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from winnow.index import load
    from winnow.readers import check_run_output

    if args.output != "-":
        check_run_output(args.output, args.overwrite)  # before loading or searching anything
    queries = load_queries(args.queries, args.split)
    if not queries:
        raise ValueError(f"{args.queries}: no queries" + (f" in split {args.split}" if args.split else ""))
    index = load(args.index, mmap=args.mmap)
    start = time.perf_counter()
    kwargs = {"threads": args.threads}
    if getattr(index, "params", {}).get("scoring") is not None:
        kwargs["algorithm"] = args.algorithm
    if args.nprobe is not None:
        if not hasattr(index, "nlist"):
            raise ValueError(f"--nprobe applies to IVF indexes; {args.index} is {type(index).__name__}")
        kwargs["nprobe"] = args.nprobe
    results = index.search(queries, k=args.k, **kwargs)
    elapsed = time.perf_counter() - start
    results.to_trec(sys.stdout if args.output == "-" else args.output, tag=args.tag,
                    score_format=args.score_format, overwrite=args.overwrite)
    print(f"{len(queries):,} queries in {elapsed:.2f} s ({len(queries) / max(elapsed, 1e-9):,.0f} q/s)"
          + ("" if args.output == "-" else f" -> {args.output}"), file=sys.stderr)
    return 0
