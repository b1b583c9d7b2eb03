"""Late interaction benchmarks.

``throughput``: weighted MaxSim throughput (documents scored per second) of the C++ core from
float16 token vectors and from PQ codes, beside a numpy and a torch implementation (padded
batch matmul + max + weighted sum) on the same synthetic data in the same run.

``quality``: BM25 (the pyserini reference run), MaxSim end-to-end (IVF-PQ candidate generation
over all token vectors + exact MaxSim), + ColBERT-PRF ReRanker, + ColBERT-PRF Ranker, and
MaxSim end-to-end over a PQ-compressed store, on a collection whose documents and queries were
encoded with ``winnow encode --tokens`` (all-MiniLM-L6-v2 token outputs: **not** a ColBERT model),
or (``--store``) on a token store built with ``winnow index build tokens --model MODEL``, e.g. a
ColBERT model trained by ``winnow train colbert`` (then every protocol uses the store's own token ANN).
Two protocols (``--protocols``), each with its own token ANN and MaxSim E2E first pass:

* ``reference`` (issue 18, pyterrier_colbert's): token ANN ``build_token_ann(preset="colbert")``
  (L2, 16 x 8-bit PQ, ColBERT's partition rule) unless ``--ref-nlist`` / ``--ref-ann-M`` are given;
  MaxSim over documents zero-padded to ``--doc-maxlen`` (180); PRF with the padded feedback
  pool and the ReRanker re-scoring the uncut end-to-end candidate set;
* ``winnow`` (our earlier protocol): ``preset="winnow"`` ANN (``--nlist`` 1024, ``--ann-M`` 48,
  inner product), exact MaxSim, real-token feedback pool, ReRanker over the incoming top 1000.

One JSON line per operating point (stdout, and appended to ``--out``).

    python benchmarks/bench_late.py throughput [--dim 128] [--threads 2]
    python benchmarks/bench_late.py quality --docs DIR --queries DIR --qrels FILE --bm25-run FILE
    python benchmarks/bench_late.py quality --store STORE --topics DATASET --split test --qrels FILE --bm25-run FILE
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _env(threads: int) -> dict:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        sha = ""
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": threads,
            "numpy": np.__version__, "python": platform.python_version(), "git": sha}


def _emit(rec: dict, out: str | None) -> None:
    line = json.dumps(rec)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def _time(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def throughput(args) -> None:
    from winnow import _core as core

    source = "winnow._core"
    rng = np.random.default_rng(0)
    lens = rng.integers(args.min_len, args.max_len + 1, args.docs)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    x = rng.standard_normal((int(off[-1]), args.dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    tok = x.astype(np.float16)
    q = rng.standard_normal((args.nq, args.dim)).astype(np.float32)
    w = np.ones(args.nq, np.float32)
    ids = rng.permutation(args.docs).astype(np.int64)[:args.candidates]
    n = len(ids)
    pq = core.ProductQuantizer(args.dim, args.M, 8)
    pq.train(x[rng.choice(len(x), min(len(x), 50_000), replace=False)], niter=10, seed=0, threads=args.threads,
             max_points_per_centroid=256)
    codes = pq.encode(x, args.threads)
    # anchors: padded (n, Lmax, dim) batch, the usual numpy / torch formulation
    Lmax = int(lens.max())
    pad = np.zeros((n, Lmax, args.dim), np.float32)
    valid = np.zeros((n, Lmax), bool)
    for c, t in enumerate(ids):
        L = off[t + 1] - off[t]
        pad[c, :L] = tok[off[t]:off[t + 1]]
        valid[c, :L] = True

    def numpy_scores():
        s = np.einsum("qd,nld->nql", q, pad, optimize=True)
        s = np.where(valid[:, None, :], s, -np.inf)
        return (s.max(-1) * w).sum(-1)

    import torch

    torch.set_num_threads(args.threads)
    tq, tpad, tvalid, tw = torch.from_numpy(q), torch.from_numpy(pad), torch.from_numpy(valid), torch.from_numpy(w)

    def torch_scores():
        with torch.inference_mode():
            s = torch.einsum("qd,nld->nql", tq, tpad).masked_fill(~tvalid[:, None, :], float("-inf"))
            return (s.max(-1).values * tw).sum(-1)

    ref = numpy_scores()
    luts = np.stack([pq.compute_lut(v, "ip") for v in q])
    runs = {
        "core_f16": lambda: core.maxsim_f16(q, w, tok, off, ids, args.threads),
        "core_pq": lambda: core.maxsim_pq(luts, w, codes, off, ids, args.threads),
        "core_pq+luts": lambda: core.maxsim_pq(np.stack([pq.compute_lut(v, "ip") for v in q]), w, codes, off, ids,
                                               args.threads),
        "numpy_padded_f32": numpy_scores,
        "torch_padded_f32": torch_scores,
    }
    np.testing.assert_allclose(core.maxsim_f16(q, w, tok, off, ids, args.threads), ref, rtol=1e-4, atol=1e-4)
    secs = {name: _time(fn, args.reps) for name, fn in runs.items()}
    for name, s in secs.items():
        _emit({"bench": "late.throughput", "impl": name, "dim": args.dim, "nq": args.nq, "candidates": n,
               "mean_doc_len": float(lens.mean()), "M": args.M if "pq" in name else None,
               "seconds": s, "docs_per_s": n / s, "vs_numpy": secs["numpy_padded_f32"] / s,
               "vs_torch": secs["torch_padded_f32"] / s, "kernels": source, "env": _env(args.threads)}, args.out)


# -- quality ---------------------------------------------------------------------------------------

def quality(args) -> None:
    import warnings

    from winnow.colbert import special_ids_from_vocab
    from winnow.evaluation import evaluate
    from winnow.index.token_store import TokenStore
    from winnow.prf import ColBERTPRF
    from winnow.rerank.maxsim import MaxSimRetriever, build_token_ann
    from winnow.results import Results
    from winnow.significance import paired_t_test
    from winnow.vectors import load_tokens

    warnings.simplefilter("ignore", RuntimeWarning)
    t0 = time.perf_counter()
    if args.store:  # a store built by `winnow index build tokens --model MODEL` (e.g. a trained ColBERT)
        from winnow.cli.common import load_queries

        loaded = MaxSimRetriever.load(args.store, faiss_depth=args.faiss_depth, nprobe=args.nprobe, k=1000,
                                      threads=args.threads)
        store, store_pq = loaded.store, None
        topics = load_queries(args.topics, args.split)
        qids = list(topics)
        # encoded once here and kept by qid (the PRF stages ask again)
        qtok = dict(zip(qids, loaded.query_vectors(qids, [topics[q] for q in qids])))
        anns = {proto: loaded.ann for proto in args.protocols}  # the store's own token ANN
        build_s = time.perf_counter() - t0
        print(f"loaded store, encoded {len(qids)} queries in {build_s:.0f} s", file=sys.stderr)
    else:
        vecs, tids, off, docnos = load_tokens(args.docs)
        meta = json.loads((Path(args.docs) / "meta.json").read_text())
        special = special_ids_from_vocab(meta.get("model_path"))
        store = TokenStore(vecs, tids, off, docnos, special_ids=special)
        store_pq = None if args.no_pq else TokenStore(vecs, tids, off, docnos, pq_M=args.pq, train_size=50_000,
                                                      threads=args.threads, special_ids=special)
        anns = {}
        for proto in args.protocols:
            if proto == "reference":
                anns[proto] = build_token_ann(store, nlist=args.ref_nlist, M=args.ref_ann_M, threads=args.threads,
                                              preset="colbert")
            else:
                anns[proto] = build_token_ann(store, nlist=args.nlist, M=args.ann_M, train_size=50_000,
                                              threads=args.threads, preset="winnow")
        build_s = time.perf_counter() - t0
        print(f"built stores + ANN in {build_s:.0f} s ({store.ntokens:,} tokens; "
              + ", ".join(f"{p}: nlist {a.nlist} M {a.M} {a.metric}" for p, a in anns.items()) + ")", file=sys.stderr)
        qv, qt, qoff, qids = load_tokens(args.queries)
        qtok = {q: (np.asarray(qv[qoff[i]:qoff[i + 1]], np.float32), np.asarray(qt[qoff[i]:qoff[i + 1]]))
                for i, q in enumerate(qids)}
    queries = {q: "" for q in qids}
    kw = dict(query_tokens=qtok, faiss_depth=args.faiss_depth, nprobe=args.nprobe, k=1000, threads=args.threads)
    runs, lat, proto_of = {}, {}, {}

    def timed(name, proto, fn):
        t = time.perf_counter()
        res = fn()
        lat[name] = 1000 * (time.perf_counter() - t) / len(qids)
        runs[name], proto_of[name] = res.to_dict(), proto
        print(f"{name}: {lat[name]:.0f} ms/query", file=sys.stderr)
        return res

    for proto in args.protocols:
        ref = proto == "reference"
        e2e = MaxSimRetriever(store, anns[proto], doc_maxlen=args.doc_maxlen if ref else None, **kw)
        first = timed(f"MaxSim E2E [{proto}]", proto, lambda: e2e.search(queries, k=1000))
        if store_pq is not None and not ref:
            e2e_pq = MaxSimRetriever(store_pq, anns[proto], **kw)
            timed(f"MaxSim E2E (PQ store) [{proto}]", proto, lambda: e2e_pq.search(queries, k=1000))
        opts = (dict(pool="padded", rerank_pool="e2e", maxsim="padded", doc_maxlen=args.doc_maxlen) if ref else
                dict(pool="tokens", rerank_pool="incoming", maxsim="exact"))
        for beta in args.betas:
            tag = ("" if beta == 1.0 else f" (beta={beta:g})") + f" [{proto}]"
            prf_kw = dict(fb_docs=3, k=24, fb_embs=10, beta=beta, seed=42, kmeans=args.kmeans, threads=args.threads,
                          **opts)
            timed("+ ColBERT-PRF ReRanker" + tag, proto,
                  lambda: ColBERTPRF(e2e, rerank=True, **prf_kw)(queries, first))
            timed("+ ColBERT-PRF Ranker" + tag, proto,
                  lambda: ColBERTPRF(e2e, rerank=False, **prf_kw)(queries, first))
    bm25 = Results.from_trec(args.bm25_run, k=1000).to_dict()
    runs = {"BM25 (pyserini run)": {q: bm25.get(q, {}) for q in qids}, **runs}
    lat.setdefault("BM25 (pyserini run)", None)
    proto_of["BM25 (pyserini run)"] = args.protocols[0]
    metrics = ["AP", "nDCG@10", "R@1000"]
    per = {}
    for name, run in runs.items():
        agg, pq_ = evaluate(run, args.qrels, metrics, rel=args.rel, per_query=True)
        per[name] = (agg, pq_)
    for name, (agg, pq_) in per.items():
        proto = proto_of[name]
        base_name = f"MaxSim E2E [{proto}]"  # p-values against the same protocol's first pass
        base = per[base_name][1]
        sig = {}
        for m in metrics:
            qs = list(base[m])
            p = paired_t_test([pq_[m][q] for q in qs], [base[m][q] for q in qs]).pvalue if name != base_name else None
            sig[m] = p
        ann = anns[proto]
        _emit({"bench": "late.quality", "collection": args.name, "pipeline": name, "protocol": proto, **agg,
               "p_vs_maxsim": sig,
               "ms_per_query": lat.get(name), "queries": len(qids), "rel": args.rel,
               "faiss_depth": args.faiss_depth, "nprobe": args.nprobe, "ann_nlist": ann.nlist, "ann_M": ann.M,
               "ann_metric": ann.metric, "doc_maxlen": args.doc_maxlen if proto == "reference" else None,
               "store_bytes_f16": store.nbytes, "store_bytes_pq": None if store_pq is None else store_pq.nbytes, "pq_M": args.pq,
               "tokens": store.ntokens, "kmeans": args.kmeans, "env": _env(args.threads)}, args.out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput", help="MaxSim docs/s: core f16 / PQ vs numpy / torch")
    t.add_argument("--dim", type=int, default=128)
    t.add_argument("--M", type=int, default=16, help="PQ sub-quantizers (8 bits)")
    t.add_argument("--nq", type=int, default=32, help="query vectors (ColBERT: 32)")
    t.add_argument("--docs", type=int, default=4000)
    t.add_argument("--candidates", type=int, default=2000)
    t.add_argument("--min-len", type=int, default=40)
    t.add_argument("--max-len", type=int, default=180)
    t.add_argument("--reps", type=int, default=3)
    q = sub.add_parser("quality", help="effectiveness table on an encoded collection")
    for p in (t, q):
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--out", default=None, help="append JSON lines here")
    q.add_argument("--name", required=True)
    q.add_argument("--docs", help="`winnow encode --tokens` output of the corpus")
    q.add_argument("--queries", help="`winnow encode --queries --tokens` output")
    q.add_argument("--store", help="instead of --docs/--queries: a token store built by `winnow index build "
                   "tokens --model MODEL` (queries encoded with the store's model; no PQ-store run)")
    q.add_argument("--topics", help="with --store: queries file or dataset directory")
    q.add_argument("--split", default=None, help="with --store and a dataset directory: the query split")
    q.add_argument("--qrels", required=True)
    q.add_argument("--bm25-run", required=True, help="BM25 TREC run (e.g. shared refs/pyserini-bm25)")
    q.add_argument("--rel", type=int, default=None, help="binary relevance threshold (DL: 2)")
    q.add_argument("--pq", type=int, default=48, help="PQ sub-quantizers of the compressed store")
    q.add_argument("--nlist", type=int, default=1024, help="token ANN lists, winnow protocol (default 1024)")
    q.add_argument("--ann-M", type=int, default=48, help="token ANN PQ sub-quantizers, winnow protocol (default 48)")
    q.add_argument("--ref-nlist", type=int, default=None,
                   help="token ANN lists, reference protocol (default ColBERT's rule 1 << ceil(log2(8 sqrt(T))))")
    q.add_argument("--ref-ann-M", type=int, default=None, help="token ANN PQ sub-quantizers, reference (default 16)")
    q.add_argument("--protocols", nargs="+", choices=["reference", "winnow"], default=["reference", "winnow"],
                   help="which protocols to run (default both; see the module docstring)")
    q.add_argument("--doc-maxlen", type=int, default=180, help="reference protocol: zero-padding length (180)")
    q.add_argument("--faiss-depth", type=int, default=300)
    q.add_argument("--nprobe", type=int, default=10)
    q.add_argument("--betas", type=float, nargs="+", default=[1.0], help="PRF beta values (default 1.0)")
    q.add_argument("--no-pq", action="store_true", help="skip the PQ-store run")
    q.add_argument("--kmeans", choices=["sklearn", "winnow"], default="sklearn")
    args = ap.parse_args(argv)
    if args.cmd == "quality" and not (args.store and args.topics) and not (args.docs and args.queries):
        ap.error("quality needs --docs and --queries, or --store and --topics")
    throughput(args) if args.cmd == "throughput" else quality(args)


if __name__ == "__main__":
    main()
