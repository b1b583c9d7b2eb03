"""``winnow index build repconc``: constrained PQ (RepCONC) trained on your queries and qrels."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from winnow.cli.common import add_overwrite, add_threads, check_index_output, nonnegative_int, positive_int

HELP = "RepCONC constrained PQ: Sinkhorn-balanced codebooks + ranking-loss centroid training"


def add_repconc_parser(tsub) -> None:
    p = tsub.add_parser(
        "repconc", help=HELP,
        description="Train a constrained PQ codebook (OPQ rotation, Sinkhorn-balanced k-means, ranking-loss "
        "centroid training against hard negatives, then JPQ-style training with fixed codes) and write a PQ "
        "(or, with --ivf, non-residual IVF-PQ) index. --vectors: a `winnow encode` output or a directory with "
        "corpus.npy + corpus_ids.txt. --train-queries: query vectors from the same model, either a directory "
        "(`winnow encode` output of the queries, or queries.npy + query_ids.txt) or a .npy file with "
        "--train-query-ids. --train-qrels: TREC or BEIR qrels whose document ids are the corpus ids.")
    p.add_argument("--vectors", required=True, help="document vectors directory")
    p.add_argument("--train-queries", required=True, help="training query vectors: directory or .npy file")
    p.add_argument("--train-query-ids", help="ids file (one per line) for a .npy --train-queries")
    p.add_argument("--train-qrels", required=True, help="training qrels (TREC or BEIR tsv)")
    p.add_argument("--output", required=True, help="index directory to write (must not exist, or be an "
                   "index and --overwrite be given)")
    add_overwrite(p)
    p.add_argument("--M", type=positive_int, required=True, help="sub-quantizers (must divide the dimension)")
    p.add_argument("--nbits", type=int, choices=[4, 8], default=8, help="bits per code (default 8)")
    p.add_argument("--ivf", type=positive_int, metavar="NLIST", help="also partition into NLIST lists (non-residual IVF-PQ)")
    p.add_argument("--epochs", type=nonnegative_int, default=4, help="stage-1 epochs: ranking + MSE loss (default 4)")
    p.add_argument("--stage2-epochs", type=nonnegative_int, default=4, help="stage-2 (JPQ) epochs (default 4)")
    p.add_argument("--cpq-niter", type=nonnegative_int, default=10, help="constrained k-means iterations (default 10)")
    p.add_argument("--epsilon", type=float, default=0.01, help="Sinkhorn epsilon on [-1,1]-scaled costs")
    p.add_argument("--sinkhorn-iters", type=positive_int, default=20, help="Sinkhorn iterations (default 20)")
    p.add_argument("--lr", type=float, default=5e-4, help="stage-1 centroid learning rate")
    p.add_argument("--stage2-lr", type=float, default=2e-4, help="stage-2 centroid learning rate")
    p.add_argument("--batch-size", type=positive_int, default=64, help="queries per step (default 64)")
    p.add_argument("--no-opq", action="store_true", help="no OPQ rotation before the constrained k-means")
    p.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    add_threads(p)
    p.set_defaults(func=run_build_repconc)


def _load_queries(args):
    import numpy as np

    from winnow.errors import InputFormatError
    from winnow.vectors import load_vectors

    path = Path(args.train_queries)
    if path.is_dir():
        return load_vectors(path, which="queries")
    if not args.train_query_ids:
        raise InputFormatError(f"{path}: a .npy --train-queries needs --train-query-ids")
    q = np.load(path, allow_pickle=False).astype(np.float32)
    ids = [line.strip() for line in Path(args.train_query_ids).read_text().splitlines() if line.strip()]
    if len(ids) != len(q):
        raise InputFormatError(f"{args.train_query_ids}: {len(ids)} ids for {len(q)} query vectors in {path}")
    return q, ids


def run_build_repconc(args: argparse.Namespace) -> int:
    from winnow.evaluation import load_qrels
    from winnow.index.repconc import RepCONCConfig, to_ivf, train_repconc
    from winnow.vectors import load_vectors

    check_index_output(args.output, args.overwrite, args.vectors, args.train_queries)
    start = time.perf_counter()
    vectors, docnos = load_vectors(args.vectors)
    meta_path = Path(args.vectors) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    model = meta.get("model_path") or meta.get("model")
    queries, qids = _load_queries(args)
    cfg = RepCONCConfig(M=args.M, nbits=args.nbits, opq=not args.no_opq, cpq_niter=args.cpq_niter,
                        epsilon=args.epsilon, sinkhorn_iters=args.sinkhorn_iters, epochs=args.epochs,
                        stage2_epochs=args.stage2_epochs, batch_size=args.batch_size, lr=args.lr,
                        stage2_lr=args.stage2_lr, seed=args.seed, threads=args.threads)
    res = train_repconc(vectors, queries, qids, load_qrels(args.train_qrels), docnos, cfg, model=model)
    index = res.index if not args.ivf else to_ivf(res.index, vectors, args.ivf, args.seed, args.threads)
    # the training log goes inside the atomic save (meta.json "info"), never written after it
    index.save(args.output, overwrite=args.overwrite, info={"training_log": res.to_dict()})
    print(f"indexed {len(vectors):,} vectors (M={args.M}, {len(qids):,} training queries) in "
          f"{time.perf_counter() - start:.1f} s; {index.nbytes / 1e6:.1f} MB -> {args.output} "
          f"(training log: meta.json 'info')", file=sys.stderr)
    return 0
