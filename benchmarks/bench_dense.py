#!/usr/bin/env python
"""Dense-index benchmark: Winnow beside faiss-cpu, same data, one run.

Synthetic part (default): seeded clustered vectors (--n x --d float32, unit norm, inner
product), --nq queries drawn near the cluster centres, ground truth by exact search. For each
index type (Flat, PQ48 8-bit, IVF1024-PQ48 8-bit, PQ96 4-bit fast-scan, IVF1024-PQ96 4-bit
fast-scan, SQ8, IVF1024-SQ8) and a few nprobe values: build seconds, recall@10 vs exact, QPS on one thread for
one query at a time and for batches of 64, bytes, and the Winnow/faiss ratio of each. faiss is
built with the index-factory strings "Flat", "PQ48np", "IVF1024,PQ48np", "PQ96x4fs",
"IVF1024,PQ96x4fs", "SQ8", "IVF1024,SQ8" ("np" = no polysemous training, which only costs build time and is not used
by the plain search), faiss.omp_set_num_threads(1) for searches.

--vectors PATH adds a real set (an .npy file or a `winnow encode` directory): queries are a
seeded sample of its rows perturbed by noise (the rows themselves are removed from the base).

--grown replaces the Gaussian clusters with vectors grown from real embeddings: each base
vector is a SciFact MiniLM document embedding plus noise (renormalised), the queries are the
real SciFact query embeddings (bench_hnsw.py's data; at most 1,109 queries).

--hnsw also runs bench_hnsw.py: Winnow HNSW (float32, float16, SQ8) beside hnswlib, faiss
IndexHNSWFlat and usearch on the grown data, with this run's --n, --build-threads, --budget.

--scifact DIR runs the quality comparison (nDCG@10, R@100 on SciFact test, 3 seeds).

Per-call cost (--per-call-only to run just this): the fixed cost of one
``search_vectors(q, 10)`` call with one query on a tiny index (100 vectors, same recipes,
nlist 4 / nprobe 1 for IVF) for Winnow and for faiss's ``search``: best-of-5 mean
microseconds over 2,000 calls, i.e. argument checks, conversions, allocations and binding
overhead rather than scanning.

--batch sets the batch size of the batched QPS column (default 64; the issue-13 table used
1000).

Memory bandwidth: single-core ``np.add.reduce`` over a 1 GiB float32 array (best of 3);
numpy's float32 reduction is AVX2-vectorised, so this is a streaming-read rate (a lower bound
of what the core can read). The exhaustive 4-bit fast-scan's GB/s (codes bytes / time per
single query) is reported as a share of it.

Output: one JSON line per operating point to benchmarks/results/dense.jsonl, Markdown tables
on stdout.
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

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "dense.jsonl"


# ------------------------------------------------------------------------------------ data
def synthetic(n, d, nq, seed, n_clusters=4096):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d), dtype=np.float32)
    x = np.empty((n, d), np.float32)
    step = 200_000
    for a in range(0, n, step):
        b = min(n, a + step)
        x[a:b] = centers[rng.integers(0, n_clusters, b - a)] + 0.6 * rng.standard_normal((b - a, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = centers[rng.integers(0, n_clusters, nq)] + 0.6 * rng.standard_normal((nq, d), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x, q.astype(np.float32)


def grown_set(n, nq, seed):
    """(n, 384) unit vectors grown around the real SciFact MiniLM document embeddings and the
    first nq real SciFact query embeddings (bench_hnsw.py's data)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_hnsw

    x = bench_hnsw.grown(n, 0.8, seed)
    q = np.load(bench_hnsw.SHARED / "queries.npy").astype(np.float32)[:nq]
    return x, np.ascontiguousarray(q)


def real_vectors(path, nq, seed):
    p = Path(path)
    if p.suffix == ".npy":
        x = np.load(p).astype(np.float32)
    else:
        from winnow.vectors import load_vectors
        x = np.asarray(load_vectors(p)[0], dtype=np.float32)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), nq, replace=False)
    q = x[pick] + 0.05 * rng.standard_normal((nq, x.shape[1]), dtype=np.float32) * np.abs(x).mean()
    keep = np.ones(len(x), bool)
    keep[pick] = False
    return np.ascontiguousarray(x[keep]), np.ascontiguousarray(q, dtype=np.float32)


def ground_truth(x, q, k=10, threads=2):
    from winnow.index.flat import FlatIndex
    f = FlatIndex(x.shape[1])
    f.add(x)
    return f.search_vectors(q, k, threads=threads)[1]


def recall_at(ids, gt, k=10):
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(ids.tolist(), gt.tolist())]))


# ---------------------------------------------------------------------------- measurement
def timed_qps(fn, q, batch, budget_s, min_calls=3):
    """Queries per second calling fn(q[a:a+batch]) until budget_s (at least min_calls)."""
    done, calls, t0 = 0, 0, time.perf_counter()
    lat = []
    while True:
        a = (calls * batch) % max(1, len(q) - batch + 1)
        s = time.perf_counter()
        fn(q[a:a + batch])
        lat.append(time.perf_counter() - s)
        done += batch
        calls += 1
        if calls >= min_calls and time.perf_counter() - t0 > budget_s:
            break
    lat = np.array(lat) / batch
    return done / sum(lat * batch), float(np.percentile(lat, 50) * 1e3), float(np.percentile(lat, 99) * 1e3)


def bandwidth_probe(gib=1.0):
    a = np.ones(int(gib * (1 << 30) // 4), np.float32)
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        np.add.reduce(a)
        best = min(best, time.perf_counter() - t)
    return a.nbytes / best / 1e9


# ------------------------------------------------------------------------- index builders
def build_winnow_sq(kind, x, train, seed, nlist, threads):
    """Scalar-quantized rows: "SQ8" / "SQfp16" (FlatIndex payload) or "IVFn,SQ8" / "IVFn,SQfp16"
    (IVFIndex payload, residual like faiss's IndexIVFScalarQuantizer); ranges trained on the
    same sample as faiss."""
    from winnow.index.flat import FlatIndex
    from winnow.index.ivf import IVFIndex
    payload = "sq8" if kind.endswith("SQ8") else "float16"
    if kind.startswith("IVF"):
        idx = IVFIndex(x.shape[1], nlist, payload).train(train, seed=seed, threads=threads)
    else:
        idx = FlatIndex(x.shape[1], payload=payload).train(train)
    idx.add(x, threads=threads)
    return idx


def build_winnow(kind, x, train, seed, nlist, threads):
    if "SQ" in kind:
        return build_winnow_sq(kind, x, train, seed, nlist, threads)
    from winnow.index.flat import FlatIndex
    from winnow.index.ivf import IVFIndex
    from winnow.index.pq_index import PQIndex
    d = x.shape[1]
    if kind == "Flat":
        idx = FlatIndex(d)
    elif kind.startswith("PQ"):
        M, nbits = _pq_params(kind)
        idx = PQIndex(d, M, nbits).train(train, seed=seed, threads=threads)
    else:
        M, nbits = _pq_params(kind.split(",")[1])
        payload = "fastscan" if nbits == 4 else "pq"
        # faiss's "IVF..,PQ..x4fs" is not residual; its "IVF..,PQ.." (8-bit) is
        idx = IVFIndex(d, nlist, payload, M=M, nbits=nbits, residual=(nbits == 8))
        idx.train(train, seed=seed, threads=threads)
    if isinstance(idx, IVFIndex):
        idx.add(x, threads=threads)
    else:
        idx.add(x)
    return idx


def _pq_params(s):
    s = s.replace("np", "")
    if "x4fs" in s:
        return int(s[2:s.index("x")]), 4
    return int(s[2:]), 8


def faiss_string(kind):
    if kind == "Flat" or "x4fs" in kind or "SQ" in kind:
        return kind
    return kind + "np"


def build_faiss(faiss, kind, x, train, seed):
    idx = faiss.index_factory(x.shape[1], faiss_string(kind), faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.try_extract_index_ivf(idx) if "IVF" in kind else None
    if ivf is not None:
        ivf.cp.seed = seed
    sub = ivf if ivf is not None else faiss.downcast_index(idx)
    if hasattr(sub, "pq"):
        sub.pq.cp.seed = seed
    if not idx.is_trained:
        idx.train(train)
    idx.add(x)
    return idx


def faiss_bytes(faiss, idx):
    return int(faiss.serialize_index(idx).nbytes)


# ------------------------------------------------------------------------------ synthetic
def run_speed(args, faiss, x, q, gt, dataset, env, out):
    rng = np.random.default_rng(args.seed)
    train = x if len(x) <= args.train_size else x[np.sort(rng.choice(len(x), args.train_size, replace=False))]
    nlist = args.nlist
    kinds = [("Flat", [None]), ("PQ48", [None]), (f"IVF{nlist},PQ48", args.nprobe),
             ("PQ96x4fs", [None]), (f"IVF{nlist},PQ96x4fs", args.nprobe)]
    kinds += [("SQ8", [None]), (f"IVF{nlist},SQ8", args.nprobe)]  # scalar quantization (faiss's "SQ8" recipes)
    kinds = [(k, p) for k, p in kinds if not args.only or any(o in k for o in args.only)]
    bw = bandwidth_probe(args.probe_gib)
    print(f"\n### {dataset}: n={len(x):,} d={x.shape[1]} nq={len(q):,} (recall over {len(gt):,}), "
          f"single-core read bandwidth (np.add.reduce, {args.probe_gib} GiB) = {bw:.2f} GB/s\n")
    print("| index | nprobe | build s W / F | recall@10 W / F | QPS 1-by-1 W / F (ratio) | "
          f"QPS batch {args.batch} W / F (ratio) | bytes W / F |")
    print("|---|---|---|---|---|---|---|")
    for kind, nprobes in kinds:
        t = time.perf_counter()
        w = build_winnow(kind, x, train, args.seed, nlist, args.build_threads)
        wb = time.perf_counter() - t
        faiss.omp_set_num_threads(args.build_threads)
        t = time.perf_counter()
        f = build_faiss(faiss, kind, x, train, args.seed)
        fb = time.perf_counter() - t
        faiss.omp_set_num_threads(1)
        fbytes = faiss_bytes(faiss, f)
        for nprobe in nprobes:
            wkw = {"threads": 1} if nprobe is None else {"threads": 1, "nprobe": nprobe}
            if nprobe is not None:
                faiss.extract_index_ivf(f).nprobe = nprobe
            wsearch = lambda qq: w.search_vectors(qq, 10, **wkw)  # noqa: E731
            fsearch = lambda qq: f.search(qq, 10)  # noqa: E731
            wr = recall_at(np.concatenate([wsearch(q[a:a + 64])[1] for a in range(0, len(gt), 64)]), gt)
            fr = recall_at(np.concatenate([fsearch(q[a:a + 64])[1] for a in range(0, len(gt), 64)]), gt)
            w1 = timed_qps(wsearch, q, 1, args.budget)
            f1 = timed_qps(fsearch, q, 1, args.budget)
            w64 = timed_qps(wsearch, q, args.batch, args.budget, min_calls=1)
            f64 = timed_qps(fsearch, q, args.batch, args.budget, min_calls=1)
            row = {"bench": "dense", "dataset": dataset, "n": len(x), "d": x.shape[1], "index": kind,
                   "faiss_factory": faiss_string(kind), "nprobe": nprobe, "k": 10,
                   "winnow": {"build_s": wb, "recall@10": wr, "qps_1": w1[0], "p50_ms_1": w1[1], "p99_ms_1": w1[2],
                              "qps_64": w64[0], "bytes": w.nbytes},
                   "faiss": {"build_s": fb, "recall@10": fr, "qps_1": f1[0], "p50_ms_1": f1[1], "p99_ms_1": f1[2],
                             "qps_64": f64[0], "bytes": fbytes},
                   "ratio": {"qps_1": w1[0] / f1[0], "qps_64": w64[0] / f64[0], "build": fb / wb},
                   "batch": args.batch,  # the "qps_64" fields are QPS at this batch size
                   "bandwidth_GBps": bw, "env": env}
            if kind == "PQ96x4fs":
                gbps = len(x) * 48 / (1.0 / w1[0]) / 1e9
                row["winnow"]["scan_GBps_1"] = gbps
                row["faiss"]["scan_GBps_1"] = len(x) * 48 / (1.0 / f1[0]) / 1e9
                row["winnow"]["share_of_bandwidth"] = gbps / bw
            out.write(json.dumps(row) + "\n")
            out.flush()
            extra = ""
            if kind == "PQ96x4fs":
                extra = (f" (scan {row['winnow']['scan_GBps_1']:.2f} / {row['faiss']['scan_GBps_1']:.2f} GB/s = "
                         f"{row['winnow']['share_of_bandwidth']:.0%} of probe)")
            print(f"| {kind} | {nprobe or '-'} | {wb:.1f} / {fb:.1f} | {wr:.4f} / {fr:.4f} | "
                  f"{w1[0]:,.0f} / {f1[0]:,.0f} ({w1[0] / f1[0]:.2f}){extra} | {w64[0]:,.0f} / {f64[0]:,.0f} "
                  f"({w64[0] / f64[0]:.2f}) | {w.nbytes / 1e6:.1f}M / {fbytes / 1e6:.1f}M |", flush=True)
        del w, f


# ---------------------------------------------------------------------------- per-call cost
def run_per_call(args, faiss, env, out):
    """Fixed cost of one single-query search call on a tiny index, Winnow beside faiss."""
    from winnow.index.flat import FlatIndex
    from winnow.index.ivf import IVFIndex
    from winnow.index.pq_index import PQIndex
    d = args.d
    train, q = synthetic(2000, d, 1, args.seed, n_clusters=64)
    base = train[:100]

    def best_us(fn, calls=2000, rounds=5):
        fn()
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            best = min(best, (time.perf_counter() - t) / calls)
        return best * 1e6

    recipes = {
        "Flat": (lambda: FlatIndex(d), "Flat", {}),
        "PQ48": (lambda: PQIndex(d, 48, 8).train(train, seed=args.seed), "PQ48np", {}),
        "PQ96x4fs": (lambda: PQIndex(d, 96, 4).train(train, seed=args.seed), "PQ96x4fs", {}),
        "IVF4,PQ48": (lambda: IVFIndex(d, 4, "pq", M=48).train(train, seed=args.seed), "IVF4,PQ48np", {"nprobe": 1}),
        "IVF4,PQ96x4fs": (lambda: IVFIndex(d, 4, "fastscan", M=96, residual=False).train(train, seed=args.seed),
                          "IVF4,PQ96x4fs", {"nprobe": 1}),
    }
    print(f"\n### Per-call cost: one query, k=10, tiny index (100 x {d}), 1 thread, best-of-5 mean us/call\n")
    print("| index | Winnow us | faiss us | ratio W/F |")
    print("|---|---|---|---|")
    faiss.omp_set_num_threads(1)
    for name, (make, factory, kw) in recipes.items():
        w = make()
        w.add(base)
        f = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
        if not f.is_trained:
            f.train(train)
        f.add(base)
        if kw:
            faiss.extract_index_ivf(f).nprobe = 1
        wu = best_us(lambda: w.search_vectors(q, 10, threads=1, **kw))
        fu = best_us(lambda: f.search(q, 10))
        print(f"| {name} | {wu:.1f} | {fu:.1f} | {wu / fu:.2f} |", flush=True)
        out.write(json.dumps({"bench": "dense-per-call", "index": name, "n": len(base), "d": d, "k": 10,
                              "winnow_us": wu, "faiss_us": fu, "env": env}) + "\n")


# ------------------------------------------------------------------------------- scifact
def run_scifact(args, faiss, env, out):
    from winnow.evaluation import evaluate
    from winnow.index.flat import FlatIndex
    from winnow.index.ivf import IVFIndex
    from winnow.index.pq_index import PQIndex
    root = Path(args.scifact)
    emb = root / "embeddings" / "all-MiniLM-L6-v2"
    x = np.load(emb / "corpus.npy").astype(np.float32)
    qv = np.load(emb / "queries.npy").astype(np.float32)
    docs = (emb / "corpus_ids.txt").read_text().split()
    qids = (emb / "query_ids.txt").read_text().split()
    qrels = {}
    for line in (root / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        a, b, c = line.split("\t")
        qrels.setdefault(a, {})[b] = int(c)
    sel = [i for i, qid in enumerate(qids) if qid in qrels]
    qv, qids = qv[sel], [qids[i] for i in sel]
    d = x.shape[1]
    ref = {"Flat": (0.6451, 0.9250), "PQ48": (0.6345, 0.9183), "PQ24": (0.5343, 0.8910),
           "PQ96x4fs": (None, None), "IVF256,PQ48 nprobe16": (0.5846, 0.8139)}

    def metrics(ids):
        run = {qid: {docs[j]: float(1000 - r) for r, j in enumerate(row) if j >= 0} for qid, row in zip(qids, ids)}
        m = evaluate(run, qrels, ["nDCG@10", "R@100"])
        return m["nDCG@10"], m["R@100"]

    def winnow_index(kind, seed):
        if kind == "Flat":
            i = FlatIndex(d)
        elif kind.startswith("IVF"):
            i = IVFIndex(d, 256, "pq", M=48).train(x, seed=seed)
        else:
            M, nbits = _pq_params(kind)
            i = PQIndex(d, M, nbits).train(x, seed=seed)
        i.add(x)
        return i

    print("\n### SciFact test (all-MiniLM-L6-v2, 5,183 docs, 300 queries, k=1000): mean ± half-range over "
          f"seeds {args.seeds}\n")
    print("| index | Winnow nDCG@10 | faiss nDCG@10 | Winnow R@100 | faiss R@100 | reference (faiss, README) |")
    print("|---|---|---|---|---|---|")
    faiss.omp_set_num_threads(2)
    for kind in ref:
        seeds = [args.seeds[0]] if kind == "Flat" else args.seeds
        wv, fv = [], []
        for seed in seeds:
            w = winnow_index(kind, seed)
            kw = {"nprobe": 16} if kind.startswith("IVF") else {}
            wv.append(metrics(w.search_vectors(qv, 1000, threads=2, **kw)[1]))
            fk = "IVF256,PQ48" if kind.startswith("IVF") else kind
            f = build_faiss(faiss, fk, x, x, seed)
            if kind.startswith("IVF"):
                faiss.extract_index_ivf(f).nprobe = 16
            fv.append(metrics(f.search(qv, 1000)[1]))
        wv, fv = np.array(wv), np.array(fv)

        def fmt(v):
            return f"{v.mean():.4f} ± {(v.max() - v.min()) / 2:.4f}"
        r = ref[kind]
        print(f"| {kind} | {fmt(wv[:, 0])} | {fmt(fv[:, 0])} | {fmt(wv[:, 1])} | {fmt(fv[:, 1])} | "
              f"{'-' if r[0] is None else f'{r[0]:.4f} / {r[1]:.4f}'} |", flush=True)
        out.write(json.dumps({"bench": "dense-quality", "dataset": "scifact-test", "index": kind, "seeds": seeds,
                              "winnow": {"nDCG@10": wv[:, 0].tolist(), "R@100": wv[:, 1].tolist()},
                              "faiss": {"nDCG@10": fv[:, 0].tolist(), "R@100": fv[:, 1].tolist()},
                              "reference": r, "env": env}) + "\n")


def environment():
    import faiss

    import winnow
    from winnow import _core
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        sha = ""
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "nproc": os.cpu_count(), "search_threads": 1, "python": platform.python_version(),
            "numpy": np.__version__, "faiss": faiss.__version__, "winnow": winnow.__version__, "git": sha,
            "fastscan_kernel": _core.fastscan_kernel(), "load1": os.getloadavg()[0]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--n", type=int, default=1_000_000, help="synthetic base vectors (default 1000000)")
    p.add_argument("--d", type=int, default=384, help="dimension (default 384)")
    p.add_argument("--nq", type=int, default=10_000, help="queries (default 10000)")
    p.add_argument("--nq-recall", type=int, default=None, help="queries with ground truth (default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nlist", type=int, default=1024)
    p.add_argument("--nprobe", type=int, nargs="+", default=[4, 16, 64])
    p.add_argument("--train-size", type=int, default=100_000, help="training sample (default 100000)")
    p.add_argument("--build-threads", type=int, default=2, help="threads for training/adding (both engines)")
    p.add_argument("--budget", type=float, default=2.0, help="seconds per QPS measurement (default 2)")
    p.add_argument("--batch", type=int, default=64, help="queries per call for the batched QPS column (default 64)")
    p.add_argument("--per-call-only", action="store_true",
                   help="only measure the fixed per-call cost on a tiny index (runs before the synthetic set otherwise)")
    p.add_argument("--probe-gib", type=float, default=1.0, help="bandwidth probe array size (GiB)")
    p.add_argument("--only", nargs="*", help="run only index kinds containing these strings")
    p.add_argument("--no-synthetic", action="store_true", help="skip the synthetic set")
    p.add_argument("--vectors", help="also run on real vectors (.npy or a winnow encode directory)")
    p.add_argument("--scifact", help="SciFact directory (corpus/qrels/embeddings) for the quality table")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--grown", action="store_true",
                   help="base vectors grown from the real SciFact MiniLM embeddings and the real SciFact query "
                   "embeddings as queries (bench_hnsw.py's data) instead of Gaussian clusters")
    p.add_argument("--hnsw", action="store_true",
                   help="also run bench_hnsw.py (Winnow HNSW beside hnswlib, faiss HNSW, usearch) with --n, "
                   "--build-threads and --budget")
    p.add_argument("--output", default=str(RESULTS), help=f"JSON lines file to append to (default {RESULTS})")
    args = p.parse_args(argv)
    try:
        import faiss
    except ImportError:
        sys.exit("bench_dense needs faiss-cpu (pip install 'winnow[bench]')")
    env = environment()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    print(f"environment: {json.dumps(env)}")
    with open(args.output, "a") as out:
        run_per_call(args, faiss, env, out)
        if args.per_call_only:
            return
        sets = []
        if args.grown:
            sets.append(("grown-scifact", lambda: grown_set(args.n, args.nq, args.seed)))
        elif not args.no_synthetic:
            sets.append(("synthetic", lambda: synthetic(args.n, args.d, args.nq, args.seed)))
        if args.vectors:
            sets.append((Path(args.vectors).name, lambda: real_vectors(args.vectors, args.nq, args.seed)))
        for name, make in sets:
            t = time.perf_counter()
            x, q = make()
            nr = args.nq_recall or len(q)
            gt = ground_truth(x, q[:nr], threads=args.build_threads)
            print(f"data + ground truth: {time.perf_counter() - t:.1f} s", flush=True)
            run_speed(args, faiss, x, q, gt, name, env, out)
            del x, q
        if args.scifact:
            run_scifact(args, faiss, env, out)
    if args.hnsw:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_hnsw

        bench_hnsw.main(["--n", str(args.n), "--nq", str(min(args.nq, 1109)), "--build-threads",
                         str(args.build_threads), "--budget", str(args.budget), "--seed", str(args.seed)])


if __name__ == "__main__":
    main()
