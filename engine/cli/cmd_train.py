"""``winnow train adapter|cross-encoder|colbert``: fit a Cosine Adapter relevance filter for an
index, train a cross-encoder reranker, or train a ColBERT model (PyLate layout)."""
from __future__ import annotations

import argparse
import sys
import time

from winnow.cli.common import add_overwrite, check_index_output, load_queries, positive_int

FAMILIES = ("linear", "sqrt", "quadratic", "power")


def register(sub) -> None:
    p = sub.add_parser("train", help="train models (adapter, cross-encoder, colbert)",
                       description="Train a model: adapter (the Cosine Adapter relevance filter of an "
                       "index), cross-encoder (a reranker, sentence-transformers' CrossEncoder) or colbert "
                       "(a late-interaction model saved in the PyLate layout).")
    models = p.add_subparsers(dest="model", metavar="MODEL")
    models.required = True
    a = models.add_parser("adapter", help="train a Cosine Adapter relevance filter",
                          description="Retrieve the top-K candidates of the judged queries with the "
                          "index, fit the adapter on them (a validation split held out), choose the "
                          "global threshold on the validation split and save the adapter directory.")
    a.add_argument("--index", required=True, help="index directory (dense or BM25)")
    a.add_argument("--queries", required=True, help="queries file or dataset directory")
    a.add_argument("--split", help="with a dataset directory: only the queries of this split")
    a.add_argument("--qrels", required=True, help="qrels (TREC or BEIR tsv) of the training queries")
    a.add_argument("--family", choices=FAMILIES, default="power", help="monotone map family (default power)")
    a.add_argument("--features", choices=["auto", "embedding", "query_stats"], default="auto",
                   help="network input: auto (embedding for dense indexes, query_stats for BM25)")
    a.add_argument("--score-stats", action="store_true",
                   help="also feed the candidate list's score statistics to the network")
    a.add_argument("--query-vectors", help="precomputed query vectors directory (winnow encode output or "
                   "queries.npy + query_ids.txt) instead of the index's encoder")
    a.add_argument("--k", type=positive_int, default=100, help="candidates per query (default 100)")
    target = a.add_mutually_exclusive_group()
    target.add_argument("--target-recall", type=float, help="threshold for this recall on validation (default 0.95)")
    target.add_argument("--target-precision", type=float, help="threshold for this precision on validation")
    a.add_argument("--val-fraction", type=float, default=0.2, help="held-out share of the queries (default 0.2)")
    a.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    a.add_argument("--hidden", type=positive_int, default=64, help="hidden units (default 64)")
    a.add_argument("--max-epochs", type=positive_int, default=3000, help="full-batch epochs at most (default 3000)")
    a.add_argument("--output", required=True, help="adapter directory to write (must not exist, or be an "
                   "adapter and --overwrite be given)")
    add_overwrite(a, "adapter")
    a.set_defaults(func=run)
    from winnow.cli.cmd_train_models import register_model_trainers

    register_model_trainers(models)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from winnow.evaluation import load_qrels
    from winnow.index import load
    from winnow.rerank.adapter_training import train_for_retriever

    check_index_output(args.output, args.overwrite, args.index, args.queries)
    queries = load_queries(args.queries, args.split)
    qrels = load_qrels(args.qrels)
    index = load(args.index)
    qvec = None
    if args.query_vectors:
        from winnow.vectors import load_vectors

        vecs, ids = load_vectors(args.query_vectors, which="queries")
        qvec = {q: vecs[i] for i, q in enumerate(ids)}
    target_recall = args.target_recall if args.target_recall is not None else (
        None if args.target_precision is not None else 0.95)
    start = time.perf_counter()
    adapter = train_for_retriever(index, queries, qrels, args.family, k=args.k, features=args.features,
                                  score_stats=args.score_stats, query_vectors=qvec,
                                  index_path=Path(args.index).resolve(), val_fraction=args.val_fraction,
                                  seed=args.seed, hidden=args.hidden, max_epochs=args.max_epochs,
                                  target_recall=target_recall, target_precision=args.target_precision)
    adapter.save(args.output, overwrite=args.overwrite)
    info = adapter.info
    point = info["threshold_on_validation"]
    print(f"adapter {args.family} on {info['n_fit_queries']} + {info['n_val_queries']} validation queries in "
          f"{time.perf_counter() - start:.1f} s; threshold {adapter.threshold:.4g} (validation recall "
          f"{point['recall']:.3f}, precision {point['precision']:.3f}) -> {args.output}", file=sys.stderr)
    return 0
