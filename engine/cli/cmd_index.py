"""``winnow index build <type> ...`` and ``winnow index info DIR``."""
from __future__ import annotations

import argparse
import json
import sys
import time

from winnow.cli.common import add_input_policy, add_threads, open_corpus

INDEX_TYPES = {"bm25": "BM25 inverted index (Lucene-exact scoring, block-max pruning)"}


def register(sub) -> None:
    p = sub.add_parser("index", help="build and inspect indexes",
                       description="Build indexes and inspect index directories.")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION")
    isub.required = True

    build = isub.add_parser("build", help="build an index from a corpus",
                            description="Build an index. Types: " +
                            "; ".join(f"{k}: {v}" for k, v in INDEX_TYPES.items()))
    tsub = build.add_subparsers(dest="index_type", metavar="TYPE")
    tsub.required = True

    bm25 = tsub.add_parser("bm25", help=INDEX_TYPES["bm25"],
                           description="Build a BM25 index. --input takes a corpus file (MS MARCO "
                           "collection.tsv, BEIR corpus.jsonl, TREC SGML; .gz fine) or a dataset directory.")
    bm25.add_argument("--input", required=True, help="corpus file or dataset directory")
    bm25.add_argument("--output", required=True, help="index directory to write (replaced atomically)")
    bm25.add_argument("--k1", type=float, default=0.9, help="BM25 k1 (default 0.9, Anserini's)")
    bm25.add_argument("--b", type=float, default=0.4, help="BM25 b (default 0.4, Anserini's)")
    bm25.add_argument("--scoring", choices=["lucene", "accurate", "robertson"], default="lucene",
                      help="lucene: Lucene 8+ BM25 with 1-byte lengths (default); accurate: exact "
                      "lengths; robertson: classic BM25")
    bm25.add_argument("--analyzer", choices=["english", "plain"], default="english",
                      help="english: Lucene EnglishAnalyzer (default); plain: lowercase + split")
    bm25.add_argument("--pretokenized", action="store_true",
                      help="documents are already tokenized: split on whitespace, no analysis")
    bm25.add_argument("--memory-budget-mb", type=float, default=2048,
                      help="in-memory postings before a segment is written to disk (default 2048)")
    bm25.add_argument("--batch-size", type=int, default=8192, help="documents per batch (default 8192)")
    add_threads(bm25)
    add_input_policy(bm25)
    bm25.set_defaults(func=run_build_bm25)

    info = isub.add_parser("info", help="print an index's meta.json summary",
                           description="Print the format, parameters and statistics of an index.")
    info.add_argument("path", help="index directory")
    info.add_argument("--json", action="store_true", help="print meta.json as JSON")
    info.set_defaults(func=run_info)


def run_build_bm25(args: argparse.Namespace) -> int:
    from winnow.index import BM25Index

    docs, report = open_corpus(args.input, args.skip_bad_lines)
    if args.pretokenized:
        docs = ((docno, text.split()) for docno, text in docs)
    start = time.perf_counter()
    index = BM25Index.build(docs, k1=args.k1, b=args.b, scoring=args.scoring, analyzer=args.analyzer,
                            pretokenized=args.pretokenized, threads=args.threads,
                            batch_size=args.batch_size, memory_budget_mb=args.memory_budget_mb)
    built = time.perf_counter() - start
    index.save(args.output)
    stats = index.stats()
    rate = stats["n_docs"] / built if built > 0 else float("inf")
    print(f"indexed {stats['n_docs']:,} documents ({stats['n_empty_docs']:,} without terms) "
          f"in {built:.1f} s ({rate:,.0f} docs/s); {stats['n_terms']:,} terms, "
          f"{stats['index_bytes'] / 1e6:.1f} MB -> {args.output}", file=sys.stderr)
    if report.total_skipped:
        print(f"skipped bad lines: {report.summary()}", file=sys.stderr)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from winnow.index import inspect

    meta = inspect(args.path)
    if args.json:
        print(json.dumps(meta, indent=2, sort_keys=True))
        return 0
    major, minor = meta["format_version"]
    print(f"format             {meta['format']} {major}.{minor} (written by winnow {meta.get('winnow_version', '?')})")
    for key, value in meta.get("params", {}).items():
        print(f"{key:<18} {value}")
    for key, value in meta.get("stats", {}).items():
        print(f"{key:<18} {value:,}" if isinstance(value, int) else f"{key:<18} {value}")
    total = sum(meta["files"].values())
    print(f"files              {len(meta['files'])} ({total / 1e6:.1f} MB)")
    return 0
