"""Constrained PQ (RepCONC) quality table on SciFact (issue 5).

Trains on the SciFact *train* queries/qrels, evaluates on the *test* queries only:
nDCG@10 and R@100 at M in {8, 16, 24, 48} (8-bit codes) for plain PQ (Winnow k-means), faiss
OPQ+PQ (the anchor), Winnow constrained PQ (OPQ rotation + Sinkhorn-balanced k-means, nearest
codes), constrained + ranking-loss trained (stage 1 + JPQ stage 2), and uncompressed Flat.
One JSON line per operating point goes to --out; a markdown table to stdout.

    nice python benchmarks/bench_repconc.py --data ../shared/data/scifact --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/scifact", help="SciFact dir (embeddings/, qrels/)")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--M", default="8,16,24,48")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpq-niter", type=int, default=10)
    ap.add_argument("--sinkhorn-iters", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--stage2-epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default="benchmarks/results/repconc.jsonl")
    args = ap.parse_args()

    import faiss
    import torch

    from winnow.evaluation import evaluate, load_qrels
    from winnow.index.flat import FlatIndex
    from winnow.index.pq_index import PQIndex
    from winnow.index.repconc import RepCONCConfig, train_repconc
    from winnow.vectors import load_vectors

    faiss.omp_set_num_threads(args.threads)
    emb = os.path.join(args.data, "embeddings", args.model)
    x, docnos = load_vectors(emb)
    q, qids = load_vectors(emb, which="queries")
    train = load_qrels(os.path.join(args.data, "qrels", "train.tsv"))
    test = load_qrels(os.path.join(args.data, "qrels", "test.tsv"))
    row = {k: i for i, k in enumerate(qids)}
    trq = [k for k in qids if k in train]
    teq = [k for k in qids if k in test]
    q_train, q_test = q[[row[k] for k in trq]], np.ascontiguousarray(q[[row[k] for k in teq]])
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    env = {"cpu": platform.processor() or platform.machine(), "threads": args.threads, "torch": torch.__version__,
           "faiss": faiss.__version__, "git": sha, "python": platform.python_version()}

    def quality(scores, ids):
        run = {k: {docnos[j]: float(s) for j, s in zip(ids[r], scores[r]) if j >= 0} for r, k in enumerate(teq)}
        return evaluate(run, test, ["nDCG@10", "R@100"])

    rows = []

    def record(method, M, bytes_per_doc, seconds, scores, ids, extra=None):
        m = quality(scores, ids)
        rec = {"bench": "repconc", "dataset": "scifact", "method": method, "M": M, "nbits": 8,
               "bytes_per_doc": bytes_per_doc, "train_s": round(seconds, 1), "nDCG@10": m["nDCG@10"],
               "R@100": m["R@100"], **(extra or {}), "env": env}
        rows.append(rec)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(f"{method:<28} M={M!s:<3} nDCG@10 {m['nDCG@10']:.4f} R@100 {m['R@100']:.4f} "
              f"train {seconds:.1f}s", file=sys.stderr, flush=True)

    flat = FlatIndex(x.shape[1])
    flat.add(x)
    record("flat", "-", x.shape[1] * 4, 0.0, *flat.search_vectors(q_test, 100, threads=args.threads))
    for M in [int(v) for v in args.M.split(",")]:
        t = time.perf_counter()
        pq = PQIndex(x.shape[1], M, 8)
        pq.train(x, seed=args.seed, threads=args.threads)
        pq.add(x)
        record("pq", M, M, time.perf_counter() - t, *pq.search_vectors(q_test, 100, threads=args.threads))

        t = time.perf_counter()
        fx = faiss.index_factory(x.shape[1], f"OPQ{M},PQ{M}x8", faiss.METRIC_INNER_PRODUCT)
        fx.train(x)
        fx.add(x)
        dt = time.perf_counter() - t
        s, i = fx.search(q_test, 100)
        record("faiss_opq_pq", M, M, dt, s, i)

        cfg = RepCONCConfig(M=M, cpq_niter=args.cpq_niter, sinkhorn_iters=args.sinkhorn_iters, epochs=0,
                            stage2_epochs=0, seed=args.seed, threads=args.threads)
        t = time.perf_counter()
        base = train_repconc(x, q_train, trq, train, docnos, cfg)
        dt_base = time.perf_counter() - t
        st = base.log[0]
        record("winnow_constrained_pq", M, M, dt_base, *base.index.search_vectors(q_test, 100, threads=args.threads),
               {"imbalance_constrained": st["imbalance_constrained"], "imbalance_nearest": st["imbalance_nearest"]})

        cfg.epochs, cfg.stage2_epochs = args.epochs, args.stage2_epochs
        t = time.perf_counter()
        trained = train_repconc(x, q_train, trq, train, docnos, cfg,
                                init=(base.index.pq.centroids, base.index.rotation))
        dt = time.perf_counter() - t + dt_base
        record("winnow_constrained_trained", M, M, dt,
               *trained.index.search_vectors(q_test, 100, threads=args.threads), {"log": trained.log})

    flat_row = rows[0]
    print(f"SciFact test ({len(teq)} queries), all-MiniLM-L6-v2, training on {len(trq)} train queries; "
          f"{args.threads} threads\n")
    print("| M (bytes/doc) | method | nDCG@10 | R@100 | % of Flat nDCG@10 | train s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        rel = 100 * r["nDCG@10"] / flat_row["nDCG@10"]
        print(f"| {r['M']} ({r['bytes_per_doc']}) | {r['method']} | {r['nDCG@10']:.4f} | {r['R@100']:.4f} | "
              f"{rel:.1f}% | {r['train_s']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
