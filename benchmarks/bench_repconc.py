"""RepCONC quality table on SciFact (issues 5, 18).

Trains on the SciFact *train* queries/qrels (a dev split for checkpoint selection is carved
from them inside ``train_repconc``), evaluates on the *test* queries only: nDCG@10 and R@100
at each M (8-bit codes) for

- ``flat``: uncompressed;
- ``pq``: plain PQ (Winnow k-means);
- ``faiss_opq_pq``: faiss ``OPQ{M},PQ{M}x8`` (the paper's baseline, the reference anchor);
- ``winnow_opq_pq``: Winnow's OPQ (faiss's OPQMatrix::train schedule) + PQ = the RepCONC warm-up;
- ``repconc_centroids``: centroid-only mode on the fixed all-MiniLM-L6-v2 vectors;
- ``repconc_full``: the full method (encoder fine-tuned; ``--full-M`` picks the M values, it
  costs encoder passes over the corpus).

One JSON line per operating point goes to --out; a markdown table to stdout.

    nice -n 10 python benchmarks/bench_repconc.py --data ../shared/data/scifact --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np


def main() -> int:
    from winnow.index.repconc import RepCONCConfig

    D = RepCONCConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/scifact", help="SciFact dir (corpus.jsonl, queries.jsonl, "
                    "embeddings/, qrels/)")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--M", default="8,16,24,48")
    ap.add_argument("--full-M", default="", help="M values for the full method (default none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=D.epochs)
    ap.add_argument("--stage2-epochs", type=int, default=D.stage2_epochs)
    ap.add_argument("--full-epochs", type=int, default=None, help="stage-1 epochs of the full method (default --epochs)")
    ap.add_argument("--full-stage2-epochs", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=D.batch_size)
    ap.add_argument("--stage2-batch-size", type=int, default=D.stage2_batch_size)
    ap.add_argument("--hard-negatives", type=int, default=D.hard_negatives)
    ap.add_argument("--temperature", type=float, default=D.temperature)
    ap.add_argument("--centroid-lr", type=float, default=D.centroid_lr)
    ap.add_argument("--stage2-centroid-lr", type=float, default=D.stage2_centroid_lr)
    ap.add_argument("--mse-weight", type=float, default=D.mse_weight)
    ap.add_argument("--max-doc-len", type=int, default=D.max_doc_len)
    ap.add_argument("--max-query-len", type=int, default=D.max_query_len,
                    help="full mode: training query length in word pieces (toolbox: 16, made for MS MARCO "
                    "queries; 76%% of SciFact's claims are longer)")
    ap.add_argument("--label", default="", help="suffix for the method names (a settings variant)")
    ap.add_argument("--no-baselines", action="store_true", help="skip flat / pq / OPQ rows")
    ap.add_argument("--no-centroids", action="store_true", help="skip the centroid-only rows (e.g. to run only "
                    "--full-M when those rows exist from an earlier run)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default="benchmarks/results/repconc.jsonl")
    args = ap.parse_args()

    import faiss
    import torch

    from winnow.evaluation import evaluate, load_qrels
    from winnow.index.flat import FlatIndex
    from winnow.index.opq import train_opq
    from winnow.index.pq_index import PQIndex
    from winnow.index.repconc import train_repconc
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
    assert not set(trq) & set(teq), "a test query among the training queries"
    q_train, q_test = q[[row[k] for k in trq]], np.ascontiguousarray(q[[row[k] for k in teq]])
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    env = {"cpu": platform.processor() or platform.machine(), "threads": args.threads, "torch": torch.__version__,
           "faiss": faiss.__version__, "git": sha, "python": platform.python_version()}

    def quality(scores, ids):
        run = {k: {docnos[j]: float(s) for j, s in zip(ids[r], scores[r]) if j >= 0} for r, k in enumerate(teq)}
        return evaluate(run, test, ["nDCG@10", "R@100"])

    rows = []

    def record(method, M, seconds, scores, ids, extra=None):
        m = quality(scores, ids)
        rec = {"bench": "repconc", "dataset": "scifact", "method": method + args.label, "M": M, "nbits": 8,
               "bytes_per_doc": M if M != "-" else x.shape[1] * 4, "train_s": round(seconds, 1),
               "nDCG@10": m["nDCG@10"], "R@100": m["R@100"], **(extra or {}), "env": env}
        rows.append(rec)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(rec, default=float) + "\n")
        print(f"{rec['method']:<32} M={M!s:<3} nDCG@10 {m['nDCG@10']:.4f} R@100 {m['R@100']:.4f} "
              f"train {seconds:.1f}s", file=sys.stderr, flush=True)

    def settings(M, mode):
        full = mode == "full"
        return RepCONCConfig(
            M=M, mode=mode, seed=args.seed, threads=args.threads, batch_size=args.batch_size,
            stage2_batch_size=args.stage2_batch_size, hard_negatives=args.hard_negatives,
            dynamic_topk_hard_negative=args.hard_negatives or None, temperature=args.temperature,
            centroid_lr=args.centroid_lr, stage2_centroid_lr=args.stage2_centroid_lr, mse_weight=args.mse_weight,
            max_doc_len=args.max_doc_len, max_query_len=args.max_query_len,
            epochs=args.full_epochs if full and args.full_epochs is not None else args.epochs,
            stage2_epochs=(args.full_stage2_epochs if full and args.full_stage2_epochs is not None
                           else args.stage2_epochs))

    if not args.no_baselines:
        flat = FlatIndex(x.shape[1])
        flat.add(x)
        record("flat", "-", 0.0, *flat.search_vectors(q_test, 100, threads=args.threads))
    full_M = {int(v) for v in args.full_M.split(",") if v}
    for M in [int(v) for v in args.M.split(",")]:
        if not args.no_baselines:
            t = time.perf_counter()
            rotation = train_opq(x, M, 8, seed=args.seed, threads=args.threads)
            dt_opq = time.perf_counter() - t
            t = time.perf_counter()
            pq = PQIndex(x.shape[1], M, 8)
            pq.train(x, seed=args.seed, threads=args.threads)
            pq.add(x)
            record("pq", M, time.perf_counter() - t, *pq.search_vectors(q_test, 100, threads=args.threads))

            t = time.perf_counter()
            fx = faiss.index_factory(x.shape[1], f"OPQ{M},PQ{M}x8", faiss.METRIC_INNER_PRODUCT)
            fx.train(x)
            fx.add(x)
            dt = time.perf_counter() - t
            record("faiss_opq_pq", M, dt, *fx.search(q_test, 100))

            t = time.perf_counter()
            op = PQIndex(x.shape[1], M, 8)
            op.rotation = rotation
            op.pq.train(np.ascontiguousarray(x @ rotation), seed=args.seed, threads=args.threads)
            op.add(x)
            record("winnow_opq_pq", M, dt_opq + time.perf_counter() - t,
                   *op.search_vectors(q_test, 100, threads=args.threads))

        if not args.no_centroids:
            t = time.perf_counter()
            res = train_repconc(x, q_train, trq, train, docnos, settings(M, "centroids"), init=None)
            record("repconc_centroids", M, time.perf_counter() - t,
                   *res.index.search_vectors(q_test, 100, threads=args.threads), {"log": res.log})

        if M in full_M:
            import json as _json

            corpus = {}
            with open(os.path.join(args.data, "corpus.jsonl")) as fh:
                for line in fh:
                    d = _json.loads(line)
                    corpus[d["_id"]] = (d.get("title", "") + " " + d.get("text", "")).strip()
            qtext = {}
            with open(os.path.join(args.data, "queries.jsonl")) as fh:
                for line in fh:
                    d = _json.loads(line)
                    qtext[d["_id"]] = d["text"]
            from winnow.encoders import SentenceEncoder, default_model_path

            t = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                res = train_repconc(x, q_train, trq, train, docnos, settings(M, "full"), model=str(default_model_path()),
                                    corpus_texts=[corpus[d] for d in docnos], query_texts=[qtext[k] for k in trq],
                                    encoder_output=tmp)
                dt = time.perf_counter() - t
                enc = SentenceEncoder(res.encoder_path, threads=args.threads)
                qv = enc.encode([qtext[k] for k in teq])
            record("repconc_full", M, dt, *res.index.search_vectors(np.ascontiguousarray(qv), 100,
                                                                     threads=args.threads),
                   {"log": res.log, "config": res.to_dict()["config"]})

    print(f"SciFact test ({len(teq)} queries), all-MiniLM-L6-v2, training on {len(trq)} train queries "
          f"(dev split inside); {args.threads} threads\n")
    print("| M (bytes/doc) | method | nDCG@10 | R@100 | train s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['M']} ({r['bytes_per_doc']}) | {r['method']} | {r['nDCG@10']:.4f} | {r['R@100']:.4f} | "
              f"{r['train_s']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
