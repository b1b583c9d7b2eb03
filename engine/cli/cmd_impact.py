"""``winnow index build impact --input FILE --output DIR [--quantize 8|none]``: an impact
index (learned sparse retrieval) from a JsonVectorCollection file or directory."""
from __future__ import annotations

import argparse
import sys
import time

from winnow.cli.common import add_overwrite, add_threads, check_index_output, positive_int


def add_impact_parser(tsub, help_text: str) -> None:
    p = tsub.add_parser("impact", help=help_text,
                        description="Build an impact index from precomputed term weights (SPLADE, uniCOIL, "
                        "DeepImpact): --input is pyserini's JsonVectorCollection, one "
                        "{\"id\", \"contents\", \"vector\": {term: weight}} object per line (.jsonl, .jsonl.gz, "
                        "or a directory of them). Weights must be finite and >= 0 (zeros are dropped). "
                        "Search it with `winnow search --weighted-queries FILE` or with text queries.")
    p.add_argument("--input", required=True, help="JsonVectorCollection file or directory")
    p.add_argument("--output", required=True, help="index directory to write (must not exist, or be an "
                   "index and --overwrite be given)")
    add_overwrite(p)
    p.add_argument("--quantize", default="8",
                   help="8 (default; or any bits 2..24): PISA's linear quantization with the collection's "
                   "largest weight, impacts 1..2^bits-1; none: the weights already are integers (Anserini)")
    p.add_argument("--analyzer", choices=["english", "plain"], default="english",
                   help="analyzer of text queries (each term weighs its count); default english")
    p.add_argument("--memory-budget-mb", type=float, default=2048,
                   help="in-memory postings before a segment is written to disk (default 2048)")
    p.add_argument("--batch-size", type=positive_int, default=8192, help="documents per batch (default 8192)")
    add_threads(p)
    p.set_defaults(func=run_build_impact)


def run_build_impact(args: argparse.Namespace) -> int:
    from winnow.index.impact import ImpactIndex
    from winnow.index.impact_input import parse_quantize

    quantize = parse_quantize(args.quantize)  # a bad value fails before any work
    check_index_output(args.output, args.overwrite, args.input)
    start = time.perf_counter()
    index = ImpactIndex.build(args.input, quantize=quantize, analyzer=args.analyzer, threads=args.threads,
                              batch_size=args.batch_size, memory_budget_mb=args.memory_budget_mb)
    built = time.perf_counter() - start
    index.save(args.output, overwrite=args.overwrite)
    stats = index.stats()
    print(f"indexed {stats['n_docs']:,} documents ({stats['n_empty_docs']:,} without terms) in {built:.1f} s; "
          f"{stats['n_terms']:,} terms, {stats['n_postings']:,} postings, impacts up to {stats['max_impact']:.0f} "
          f"(quantize {stats['quantize']}), {stats['index_bytes'] / 1e6:.1f} MB -> {args.output}", file=sys.stderr)
    return 0
