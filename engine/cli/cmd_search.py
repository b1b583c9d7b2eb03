"""``winnow search --index DIR (--queries Q | --query-vectors FILE) --k K --output RUN``."""
from __future__ import annotations

import argparse
import sys
import time

from winnow.cli.common import add_overwrite, add_threads, load_queries, positive_int

HNSW_FORMAT = "winnow.hnsw"  # the index format --ef applies to
IMPACT_FORMAT = "winnow.impact"  # the index format --weighted-queries applies to


def register(sub) -> None:
    p = sub.add_parser("search", help="search an index and write a TREC run",
                       description="Search an index with a queries file (qid<TAB>text, BEIR "
                       "queries.jsonl, TREC topics) or a dataset directory, or search a dense index "
                       "with precomputed query vectors; write a TREC run (qid Q0 docno rank score tag).")
    p.add_argument("--index", required=True, help="index directory")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--queries", help="queries file or dataset directory (dense indexes encode "
                        "the texts with the model recorded at build time)")
    source.add_argument("--query-vectors", metavar="FILE",
                        help="dense indexes: precomputed query vectors, an .npy file (nq, d) or a "
                        "directory written by `winnow encode --queries` (or holding queries.npy and "
                        "query_ids.txt)")
    source.add_argument("--weighted-queries", metavar="FILE",
                        help="impact indexes: weighted queries, a JsonVectorCollection-like file "
                        "({\"id\": ..., \"vector\": {term: weight}} per line; .jsonl, .gz fine, or a "
                        "directory of them); weights are finite and >= 0, used as given")
    p.add_argument("--query-ids", metavar="FILE",
                   help="with --query-vectors: query ids, one per line in row order (default: the ids "
                   "file beside the vectors, e.g. query_ids.txt beside queries.npy)")
    p.add_argument("--split", help="with a dataset directory: only the queries judged in this split")
    p.add_argument("--k", type=positive_int, default=1000, help="hits per query (default 1000)")
    p.add_argument("--output", required=True, help="TREC run file to write ('-' for stdout); written "
                   "atomically, and an existing run file is replaced only with --overwrite")
    add_overwrite(p, "run file")
    p.add_argument("--tag", default="winnow", help="run tag in the last column (default winnow)")
    p.add_argument("--mmap", action="store_true", help="memory-map the index instead of reading it")
    p.add_argument("--nprobe", type=positive_int, default=None,
                   help="IVF indexes: inverted lists scanned per query (default 1)")
    p.add_argument("--ef", type=positive_int, default=None,
                   help="HNSW indexes: size of the candidate list kept during search (default 64); "
                   "a larger ef finds more of the true neighbours, more slowly")
    p.add_argument("--algorithm", choices=["maxscore", "windowed", "exhaustive"], default="maxscore",
                   help="BM25 and impact query algorithm: maxscore (document-at-a-time Block-Max MaxScore, default), windowed (bulk MaxScore over document windows) or exhaustive; identical results")
    p.add_argument("--score-format", choices=["exact", "anserini"], default="exact",
                   help="exact: float32 scores (default); anserini: rounded to 1e-4 with ties "
                   "perturbed as Anserini/pyserini write them")
    add_threads(p)
    from winnow.cli.sharding import add_search_options

    add_search_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from winnow.index import load
    from winnow.readers import check_run_output

    if args.output != "-":
        check_run_output(args.output, args.overwrite)  # before loading or searching anything
    if args.query_ids is not None and args.query_vectors is None:
        raise ValueError("--query-ids goes with --query-vectors")
    if args.weighted_queries is not None:
        if args.split is not None:
            raise ValueError("--split goes with a dataset directory given to --queries, not --weighted-queries")
        from winnow.index.impact_input import read_json_vectors

        queries = {qid: dict(zip(terms, weights.tolist()))
                   for qid, terms, weights in read_json_vectors(args.weighted_queries, what="query")}
        if not queries:
            raise ValueError(f"{args.weighted_queries}: no queries")
    elif args.query_vectors is not None:
        if args.split is not None:
            raise ValueError("--split selects queries of a dataset directory given to --queries; with "
                             "--query-vectors every row is searched (winnow eval ignores unjudged queries)")
        from winnow.query_vectors import load_query_vectors

        vectors, qids = load_query_vectors(args.query_vectors, args.query_ids)
    else:
        queries = load_queries(args.queries, args.split)
        if not queries:
            raise ValueError(f"{args.queries}: no queries" + (f" in split {args.split}" if args.split else ""))
    from winnow.cli.sharding import open_searcher

    searcher = open_searcher(args)  # --ray: a RaySearcher over the shards
    index = searcher if searcher is not None else load(args.index, mmap=args.mmap)
    try:
        if args.weighted_queries is not None and getattr(index, "FORMAT", None) != IMPACT_FORMAT:
            raise ValueError(f"--weighted-queries needs an impact index; {args.index} is {type(index).__name__}")
        kwargs = _search_options(args, index)
        start = time.perf_counter()
        if args.query_vectors is not None:
            results = _search_vectors(index, args, vectors, qids, kwargs)
            queries = qids
        else:
            results = index.search(queries, k=args.k, **kwargs)
        elapsed = time.perf_counter() - start
    finally:
        if searcher is not None:
            searcher.close()
    results.to_trec(sys.stdout if args.output == "-" else args.output, tag=args.tag,
                    score_format=args.score_format, overwrite=args.overwrite)
    print(f"{len(queries):,} queries in {elapsed:.2f} s ({len(queries) / max(elapsed, 1e-9):,.0f} q/s)"
          + ("" if args.output == "-" else f" -> {args.output}"), file=sys.stderr)
    return 0


def _search_options(args: argparse.Namespace, index) -> dict:
    """Keyword arguments of ``index.search``; an option the index has no use for is an error."""
    kwargs = {"threads": args.threads}
    if getattr(index, "params", {}).get("scoring") is not None or getattr(index, "FORMAT", None) == IMPACT_FORMAT:
        kwargs["algorithm"] = args.algorithm
    if args.nprobe is not None:
        if not hasattr(index, "nlist"):
            raise ValueError(f"--nprobe applies to IVF indexes; {args.index} is {type(index).__name__}")
        kwargs["nprobe"] = args.nprobe
    if args.ef is not None:  # a sharded index: the format of its shards
        if getattr(index, "shard_format", getattr(index, "FORMAT", None)) != HNSW_FORMAT:
            raise ValueError(f"--ef applies to HNSW indexes; {args.index} is {type(index).__name__}")
        kwargs["ef"] = args.ef
    return kwargs


def _search_vectors(index, args: argparse.Namespace, vectors, qids: list[str], kwargs: dict):
    """Results of precomputed query vectors (nq, d) float32 against a dense index."""
    from winnow.index.dense_base import DenseIndex
    from winnow.results import Results

    sharded = getattr(index, "shard_format", "winnow.bm25") != "winnow.bm25"  # dense shards
    if not (isinstance(index, DenseIndex) or sharded):
        raise ValueError(f"--query-vectors needs a dense index; {args.index} is {type(index).__name__}")
    if vectors.shape[1] != index.d:
        raise ValueError(f"{args.query_vectors}: query vectors have {vectors.shape[1]} dimensions, "
                         f"index {args.index} has {index.d}")
    if not hasattr(index, "search_vectors"):  # a RaySearcher: Results with the hits' docnos
        res = index.search(vectors, k=args.k, **kwargs)
        return Results(qids, res.ids, res.scores, res.docnos)
    scores, ids = index.search_vectors(vectors, k=args.k, **kwargs)
    return Results(qids, ids, scores, index.docnos)
