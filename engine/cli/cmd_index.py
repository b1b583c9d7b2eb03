"""``winnow index build <type> ...`` and ``winnow index info DIR``."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from winnow.cli import sharding
from winnow.cli.common import add_input_policy, add_overwrite, add_threads, check_index_output, open_corpus, positive_int

INDEX_TYPES = {
    "bm25": "BM25 inverted index (Lucene-exact scoring, block-max pruning)",
    "flat": "exact dense search over float32 vectors",
    "pq": "product quantization (8-bit ADC or 4-bit fast-scan), optional OPQ",
    "ivf": "inverted file with flat (float32) lists",
    "ivfpq": "inverted file with PQ lists (8-bit ADC or 4-bit fast-scan)",
    "hnsw": "HNSW graph (float32, float16 or SQ8 vectors), searched with --ef",
    "cur": "CUR (ANNCUR) k-NN index for a pairwise scorer (cross-encoder, MaxSim)",
    "impact": "impact index of precomputed term weights (SPLADE, uniCOIL; quantized, block-max pruning)",
}
# Whole sentences for each dense type's --help (the short INDEX_TYPES entries are list items).
DENSE_DESCRIPTIONS = {
    "flat": "Build a Flat index: exact dense search over float32 vectors.",
    "pq": "Build a PQ index: product quantization with 8-bit ADC or 4-bit fast-scan codes, "
          "optionally after a learned OPQ rotation.",
    "ivf": "Build an IVF index: an inverted file whose lists hold float32 vectors.",
    "ivfpq": "Build an IVF-PQ index: an inverted file whose lists hold PQ codes (8-bit ADC or "
             "4-bit fast-scan).",
    "hnsw": "Build an HNSW index: a hierarchical navigable small-world graph over the vectors, "
            "stored as float32, float16 or SQ8 (8 bits per dimension); `winnow search --ef` sets "
            "how widely a search explores it. The vectors are added block by block, so float16 "
            "chunks are never all held as float32.",
}


def register(sub) -> None:
    p = sub.add_parser("index", help="build and inspect indexes",
                       description="Build indexes and inspect index directories.")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION")
    isub.required = True

    build = isub.add_parser("build", help="build an index from a corpus",
                            description="Build an index of one TYPE (listed below). "
                            "`winnow index build TYPE --help` shows the options of that type.")
    tsub = build.add_subparsers(dest="index_type", metavar="TYPE")
    tsub.required = True

    bm25 = tsub.add_parser("bm25", help=INDEX_TYPES["bm25"],
                           description="Build a BM25 index. --input takes a corpus file (MS MARCO "
                           "collection.tsv, BEIR corpus.jsonl, TREC SGML; .gz fine) or a dataset directory.")
    bm25.add_argument("--input", required=True, help="corpus file or dataset directory")
    bm25.add_argument("--output", required=True, help="index directory to write (must not exist, or be an "
                      "index and --overwrite be given)")
    add_overwrite(bm25)
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
    bm25.add_argument("--batch-size", type=positive_int, default=8192, help="documents per batch (default 8192)")
    bm25.add_argument("--store", choices=["text"], default=None,
                      help="text: also keep each document's title and text, zstd-compressed, in the index "
                      "(for `winnow serve`, Results.with_text(), index.doc(docno) and text rerankers)")
    add_threads(bm25)
    add_input_policy(bm25)
    sharding.add_build_options(bm25)
    bm25.set_defaults(func=run_build_bm25)

    for kind in ("flat", "pq", "ivf", "ivfpq", "hnsw"):
        _add_dense_parser(tsub, kind)

    from winnow.cli.cmd_repconc import add_repconc_parser  # RepCONC (issue 5): its own module

    add_repconc_parser(tsub)
    from winnow.cli.cmd_tokens import add_tokens_parser  # late interaction (token store)

    add_tokens_parser(tsub)
    _add_cur_parser(tsub)
    from winnow.cli.cmd_impact import add_impact_parser  # learned sparse (issue 14): its own module

    add_impact_parser(tsub, INDEX_TYPES["impact"])

    info = isub.add_parser("info", help="print an index's meta.json summary",
                           description="Print the format, parameters and statistics of an index.")
    info.add_argument("path", help="index directory")
    info.add_argument("--json", action="store_true", help="print meta.json as JSON")
    info.set_defaults(func=run_info)

    verify = isub.add_parser("verify", help="check an index completely (meta, sizes, checksums, structure)",
                             description="Check an index like Lucene's CheckIndex: meta.json and its "
                             "checksum, every file's size and checksum, then a load with the structural "
                             "checks. Prints one line, OK or the error; exits 0 or 1.")
    verify.add_argument("path", help="index directory")
    verify.set_defaults(func=run_verify)


def run_build_bm25(args: argparse.Namespace) -> int:
    from winnow.index import BM25Index

    check_index_output(args.output, args.overwrite, args.input)
    if sharding.check_build_args(args):
        return sharding.run_build_bm25(args)
    docs, report = open_corpus(args.input, args.skip_bad_lines)
    if args.pretokenized:
        if args.store:
            raise ValueError("--store text needs documents as text; it cannot go with --pretokenized")
        docs = ((docno, text.split()) for docno, text in docs)
    elif args.store:  # the same documents with title and text apart
        from winnow import datasets

        docs = datasets.load(args.input).documents(skip_bad_lines=args.skip_bad_lines, report=report)
    start = time.perf_counter()
    index = BM25Index.build(docs, k1=args.k1, b=args.b, scoring=args.scoring, analyzer=args.analyzer,
                            pretokenized=args.pretokenized, threads=args.threads,
                            batch_size=args.batch_size, memory_budget_mb=args.memory_budget_mb,
                            store=args.store)
    built = time.perf_counter() - start
    index.save(args.output, overwrite=args.overwrite)
    stats = index.stats()
    rate = stats["n_docs"] / built if built > 0 else float("inf")
    print(f"indexed {stats['n_docs']:,} documents ({stats['n_empty_docs']:,} without terms) "
          f"in {built:.1f} s ({rate:,.0f} docs/s); {stats['n_terms']:,} terms, "
          f"{stats['index_bytes'] / 1e6:.1f} MB -> {args.output}", file=sys.stderr)
    if report.total_skipped:
        print(f"skipped bad lines: {report.summary()}", file=sys.stderr)
    return 0


def _add_dense_parser(tsub, kind: str) -> None:
    p = tsub.add_parser(kind, help=INDEX_TYPES[kind],
                        description=DENSE_DESCRIPTIONS[kind] + " The vectors come from `winnow "
                        "encode` or a directory with corpus.npy and corpus_ids.txt.")
    p.add_argument("--vectors", required=True, help="vectors directory")
    p.add_argument("--output", required=True, help="index directory to write (must not exist, or be an "
                   "index and --overwrite be given)")
    add_overwrite(p)
    p.add_argument("--metric", choices=["ip", "l2"], default="ip", help="inner product (default) or L2")
    add_model(p)
    if kind == "hnsw":
        _add_hnsw_options(p)
        return
    if kind in ("pq", "ivfpq"):
        p.add_argument("--M", type=positive_int, required=True, help="sub-quantizers (must divide the dimension)")
        p.add_argument("--nbits", type=int, choices=[4, 8], default=8,
                       help="bits per sub-quantizer: 8 (ADC) or 4 (fast-scan); default 8")
        p.add_argument("--opq", action="store_true", help="learn an OPQ rotation before PQ")
    if kind in ("ivf", "ivfpq"):
        p.add_argument("--nlist", type=positive_int, required=True, help="number of inverted lists")
    if kind in ("flat", "ivf"):
        p.add_argument("--payload", choices=["float32", "float16", "sq8"], default="float32",
                       help="stored vectors: float32 (default), float16 or sq8 (8-bit scalar quantization)")
    if kind == "ivfpq":
        p.add_argument("--no-residual", action="store_true",
                       help="encode vectors, not residuals (for codebooks learned elsewhere)")
    if kind != "flat":
        p.add_argument("--refine", action="store_true", help="keep float32 vectors to re-score candidates")
        p.add_argument("--train-size", type=positive_int, default=200_000, help="training sample (default 200000)")
        p.add_argument("--niter", type=positive_int, default=20, help="k-means iterations (default 20)")
        p.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    add_threads(p)
    if kind in sharding.SHARDABLE:
        sharding.add_build_options(p)
    p.set_defaults(func=run_build_dense, dense_kind=kind)


def run_build_dense(args: argparse.Namespace) -> int:
    """Flat and PQ from vectors read whole (float32); IVF and HNSW stream (cli/build_streamed.py)."""
    import numpy as np

    from winnow.index.flat import FlatIndex
    from winnow.index.pq_index import PQIndex
    from winnow.vectors import load_vectors

    check_index_output(args.output, args.overwrite, args.vectors)
    model = query_model(args)  # before the vectors are read: a bad --model fails at once
    if sharding.check_build_args(args):
        return sharding.run_build_dense(args, model)
    if args.dense_kind in ("ivf", "ivfpq"):
        from winnow.cli.build_streamed import run_build_ivf

        return run_build_ivf(args, model)
    start = time.perf_counter()
    vectors, docnos = load_vectors(args.vectors)
    n, d = vectors.shape
    if args.dense_kind == "flat":
        index = FlatIndex(d, args.metric, model, payload=args.payload)
    else:
        index = PQIndex(d, args.M, args.nbits, args.metric, opq=args.opq, refine=args.refine, model=model)
        rng = np.random.default_rng(args.seed)
        sample = vectors if n <= args.train_size else vectors[np.sort(rng.choice(n, args.train_size, replace=False))]
        index.train(sample, niter=args.niter, seed=args.seed, threads=args.threads)
    index.add(vectors)
    index.set_docnos(docnos)
    index.save(args.output, overwrite=args.overwrite)
    print(f"indexed {n:,} vectors of dim {d} in {time.perf_counter() - start:.1f} s; "
          f"{index.nbytes / 1e6:.1f} MB -> {args.output}", file=sys.stderr)
    return 0


def _add_hnsw_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--M", type=positive_int, default=16,
                   help="graph links per node (default 16; more links: a larger index, higher recall)")
    p.add_argument("--ef-construction", type=positive_int, default=100,
                   help="candidate list size while inserting (default 100; larger builds slower and "
                   "a better graph)")
    p.add_argument("--payload", choices=["float32", "float16", "sq8"], default="float32",
                   help="how each vector is stored: float32 (default), float16, or sq8 (8-bit "
                   "per-dimension scalar quantization, a quarter of float32, with per-dimension "
                   "ranges from a sample of --train-size vectors)")
    p.add_argument("--refine", action="store_true",
                   help="also keep the float32 vectors to re-score the best candidates exactly "
                   "(for the float16 and sq8 payloads)")
    p.add_argument("--batch-size", type=positive_int, default=65536,
                   help="vectors per add call, the unit of progress and of float32 memory (default "
                   "65536); with one thread the graph does not depend on it")
    p.add_argument("--train-size", type=positive_int, default=200_000,
                   help="sq8: vectors sampled to set the ranges (default 200000; all when fewer)")
    p.add_argument("--seed", type=int, default=100, help="seed of the node levels and of the sq8 "
                   "sample (default 100)")
    add_threads(p)
    sharding.add_build_options(p)
    from winnow.cli.build_streamed import run_build_hnsw

    p.set_defaults(func=run_build_hnsw, dense_kind="hnsw")


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="NAME_OR_PATH", default=None,
                   help="query encoder to record in the index, so that `winnow search --queries` can "
                   "encode query texts: sentence-transformers/all-MiniLM-L6-v2 (the packaged model, "
                   "recorded by that name) or a local model directory (default: the model named in "
                   "the vectors directory's meta.json)")


def query_model(args: argparse.Namespace) -> str | None:
    """The portable reference of the query encoder to record: ``--model`` (checked to exist
    now) or the model that ``meta.json`` of the vectors directory names (the packaged model by
    its name whichever environment encoded the vectors; see winnow.model_names)."""
    from winnow.model_names import model_reference, resolve_model_path

    if args.model is not None:
        path = resolve_model_path(args.model)
        if not path.is_dir():
            raise ValueError(f"--model {args.model}: no such model directory (give a local model "
                             "directory or sentence-transformers/all-MiniLM-L6-v2, the packaged model)")
        return model_reference(path)
    meta_path = Path(args.vectors) / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{meta_path}: unreadable JSON ({exc})") from None
    recorded = meta.get("model_path") or meta.get("model") if isinstance(meta, dict) else None
    return model_reference(recorded) if isinstance(recorded, str) else None


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
    store = meta.get("store")
    if isinstance(store, dict):  # the document store (--store text)
        size = sum(v for n, v in meta["files"].items() if n.startswith("store_"))
        print(f"store              {store.get('kind')} ({store.get('codec')}, {store.get('n_blocks')} blocks, "
              f"{size / 1e6:.1f} MB)")
    total = sum(meta["files"].values())
    print(f"files              {len(meta['files'])} ({total / 1e6:.1f} MB)")
    return 0


def _add_cur_parser(tsub) -> None:
    p = tsub.add_parser("cur", help=INDEX_TYPES["cur"],
                        description="Build a CUR index: score anchor queries against every document "
                        "with an expensive pairwise scorer (anchor queries x documents calls, in "
                        "resumable chunks), factorise, and store k_i-dimensional item embeddings in a "
                        "dense index. SPEC: cross-encoder:MODEL_DIR (a local sentence-transformers "
                        "CrossEncoder; documents from --input) or maxsim:TOKEN_STORE_DIR[@QUERY_MODEL_DIR].")
    p.add_argument("--input", required=True, help="corpus file or dataset directory (defines the item ids)")
    p.add_argument("--scorer", required=True, help="scorer SPEC (see above)")
    p.add_argument("--anchor-queries", required=True,
                   help="queries file or dataset directory (training queries), or sample:N for N "
                   "pseudo-queries sampled from the corpus")
    p.add_argument("--n-anchor-items", type=positive_int, default=200, help="anchor items k_i (default 200)")
    p.add_argument("--output", required=True, help="index directory to write (must not exist, or be an "
                   "index and --overwrite be given)")
    add_overwrite(p)
    p.add_argument("--dense", choices=["flat", "ivf"], default="flat", help="item-embedding index (default flat)")
    p.add_argument("--nlist", type=positive_int, default=None, help="IVF lists (default sqrt(n)); searches "
                   "probe floor(sqrt(nlist)) of them unless told otherwise (the ANNCUR code's rule)")
    p.add_argument("--budget", type=positive_int, default=None, help="default scorer calls per query (default k_i + 100)")
    p.add_argument("--work-dir", default=None, help="chunk directory for resuming (default OUTPUT.chunks)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run_build_cur)


def run_build_cur(args: argparse.Namespace) -> int:
    from winnow.datasets import load as load_dataset
    from winnow.index.cur import CURIndex, sample_pseudo_queries
    from winnow.rerank.scorers import scorer_from_spec

    check_index_output(args.output, args.overwrite, args.input)
    docs, report = open_corpus(args.input, False)
    docs = list(docs)
    docnos, texts = [d for d, _ in docs], [t for _, t in docs]
    spec = args.scorer if "@" in args.scorer or not args.scorer.startswith("cross-encoder:") \
        else f"{args.scorer}@{Path(args.input).resolve()}"
    scorer = scorer_from_spec(spec)
    if scorer.n_docs != len(docnos):
        raise ValueError(f"scorer covers {scorer.n_docs} documents, --input has {len(docnos)}")
    if args.anchor_queries.startswith("sample:"):
        queries = sample_pseudo_queries(texts, int(args.anchor_queries[7:]), seed=args.seed)
    else:
        queries = list(load_dataset(args.anchor_queries).queries().values())
    work = args.work_dir or f"{args.output.rstrip('/')}.chunks"
    start = time.perf_counter()
    index = CURIndex.build(scorer, queries, n_anchor_items=args.n_anchor_items, seed=args.seed,
                           dense=args.dense, nlist=args.nlist, work_dir=work, docnos=docnos, budget=args.budget)
    index.save(args.output, overwrite=args.overwrite)
    cost = index.build_cost
    print(f"CUR index: {len(queries):,} anchor queries x {len(docnos):,} documents = "
          f"{cost['scorer_calls']:,} scorer calls ({cost.get('resumed_chunks', 0)} chunks resumed) in "
          f"{time.perf_counter() - start:.1f} s; k_i = {index.k_i} -> {args.output}", file=sys.stderr)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from winnow.errors import IndexFormatError
    from winnow.index import verify

    try:
        meta = verify(args.path)
    except IndexFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = sum(meta["files"].values())
    note = "" if "meta_checksum" in meta else " (meta.json has no checksum: saved by an older winnow; re-save it)"
    print(f"OK {args.path}: {meta['format']}, {len(meta['files'])} files, {total:,} bytes verified{note}")
    return 0
