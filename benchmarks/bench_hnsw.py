#!/usr/bin/env python
"""Graph-index benchmark: Winnow HNSW (float32, float16, SQ8) beside hnswlib 0.8.0, faiss
IndexHNSWFlat and usearch, same data, same M / ef_construction, one run.

Data ("grown from real embeddings"): the 5,183 SciFact MiniLM document embeddings of
../shared/data are the cluster centres; each base vector is a centre plus Gaussian noise of
norm --noise, renormalised (unit vectors, inner product); the queries are the real SciFact
query embeddings (first --nq). Ground truth: exact search (FlatIndex).

Every system is built and searched in its own subprocess (fair peak-memory readings): build
seconds with --build-threads threads, the memory the build added to the process (peak RSS
during the build minus RSS before it, MiB; the input vectors are already loaded), then for each ef: recall@10 and QPS on one thread, one query per
call and one batch call of all queries. The headline compares each Winnow row with hnswlib at
recall@10 0.90 and 0.95 (QPS interpolated log-linearly between the two measured ef points
around that recall on each system's own curve).

Output: JSON lines appended to benchmarks/results/hnsw.jsonl, Markdown tables on stdout.
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

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "hnsw.jsonl"
CACHE = HERE / ".cache"
SHARED = HERE.parent.parent / "shared" / "data" / "scifact" / "embeddings" / "all-MiniLM-L6-v2"
SYSTEMS = ("winnow-f32", "winnow-f16", "winnow-sq8", "hnswlib", "faiss", "usearch")


# ------------------------------------------------------------------------------------ data
def grown(n: int, noise: float, seed: int) -> np.ndarray:
    """(n, 384) unit vectors around the real SciFact document embeddings."""
    centres = np.load(SHARED / "corpus.npy").astype(np.float32)
    rng = np.random.default_rng(seed)
    d = centres.shape[1]
    x = np.empty((n, d), np.float32)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        g = rng.standard_normal((b - a, d), dtype=np.float32) * np.float32(noise / np.sqrt(d))
        x[a:b] = centres[rng.integers(0, len(centres), b - a)] + g
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def dataset(args) -> tuple[Path, Path, Path]:
    """Cached (base, queries, ground truth) .npy paths for these arguments."""
    CACHE.mkdir(exist_ok=True)
    tag = f"grown-n{args.n}-noise{args.noise}-seed{args.seed}-nq{args.nq}"
    base, queries, truth = (CACHE / f"{tag}.{part}.npy" for part in ("base", "queries", "gt"))
    if not truth.exists():
        x = grown(args.n, args.noise, args.seed)
        q = np.ascontiguousarray(np.load(SHARED / "queries.npy").astype(np.float32)[: args.nq])
        from winnow.index.flat import FlatIndex

        flat = FlatIndex(x.shape[1])
        flat.add(x)
        gt = flat.search_vectors(q, 10, threads=0)[1]
        np.save(base, x)
        np.save(queries, q)
        np.save(truth, gt)
    return base, queries, truth


# ----------------------------------------------------------------------------- one system
def status_mib(field: str) -> float:
    """/proc/self/status field (VmRSS: resident now, VmHWM: peak since the last reset), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs resets the peak to the current RSS)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def build(system: str, x: np.ndarray, M: int, efc: int, threads: int):
    """(searcher(q, k, ef) -> ids, batch_searcher(q, k, ef) -> ids) after building."""
    d = x.shape[1]
    if system.startswith("winnow"):
        from winnow.index import HNSWIndex

        payload = {"winnow-f32": "float32", "winnow-f16": "float16", "winnow-sq8": "sq8"}[system]
        index = HNSWIndex(d, M=M, ef_construction=efc, metric="ip", payload=payload)
        index.add(x, threads=threads, progress=False)
        one = lambda q, k, ef: index.search_vectors(q, k, ef=ef)[1]  # noqa: E731
        return one, one
    if system == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=d)
        index.init_index(max_elements=len(x), M=M, ef_construction=efc, random_seed=100)
        index.add_items(x, num_threads=threads)

        def search(q, k, ef):
            index.set_ef(ef)
            return index.knn_query(q, k=k, num_threads=1)[0]

        return search, search
    if system == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(d, M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = efc
        index.add(x)
        faiss.omp_set_num_threads(1)

        def search(q, k, ef):
            index.hnsw.efSearch = ef
            return index.search(q, k)[1]

        return search, search
    if system == "usearch":
        from usearch.index import Index

        index = Index(ndim=d, metric="ip", dtype="f32", connectivity=M, expansion_add=efc)
        index.add(np.arange(len(x)), x, threads=threads)

        def search(q, k, ef):
            index.expansion_search = ef
            m = index.search(q, k, threads=1)
            return m.keys.reshape(len(q), -1) if q.ndim == 2 else m.keys[None]

        return search, search
    raise ValueError(system)


def qps(fn, q, budget: float, per_call: bool) -> float:
    """Queries per second: one query per call (cycling through q) or whole batches."""
    done, t0 = 0, time.perf_counter()
    while True:
        if per_call:
            for i in range(len(q)):
                fn(q[i:i + 1])
            done += len(q)
        else:
            fn(q)
            done += len(q)
        elapsed = time.perf_counter() - t0
        if elapsed > budget:
            return done / elapsed


def run_system(args) -> None:
    """Child process: build one system, measure, print one JSON object."""
    x = np.ascontiguousarray(np.load(args.base), dtype=np.float32)  # read, not mapped: no file pages in RSS
    q, gt = np.load(args.queries), np.load(args.truth)
    # Import the system's modules first: the memory reading is the build's, not the imports'.
    {"hnswlib": lambda: __import__("hnswlib"), "faiss": lambda: __import__("faiss"),
     "usearch": lambda: __import__("usearch.index")}.get(args.system, lambda: (__import__("winnow.index"),
                                                                                __import__("tqdm")))()
    before = status_mib("VmRSS")
    reset_peak()
    t = time.perf_counter()
    one, batch = build(args.system, x, args.M, args.efc, args.build_threads)
    build_s = time.perf_counter() - t
    peak = status_mib("VmHWM")  # the most the build held at once, the input vectors included
    rows = []
    for ef in args.ef:
        ids = np.asarray(batch(q, 10, ef))
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), gt.tolist())]))
        rows.append({"ef": ef, "recall": recall,
                     "qps_one": qps(lambda b: one(b, 10, ef), q[: args.per_call_queries], args.budget, True),
                     "qps_batch": qps(lambda b: batch(b, 10, ef), q, args.budget, False)})
    print(json.dumps({"system": args.system, "build_s": build_s, "build_mib": peak - before, "points": rows}))


# ------------------------------------------------------------------------------- reporting
def at_recall(points: list[dict], target: float, key: str) -> float | None:
    """QPS at recall `target` on this curve: log-linear between the bracketing ef points."""
    pts = sorted(points, key=lambda p: p["recall"])
    for lo, hi in zip(pts, pts[1:]):
        if lo["recall"] <= target <= hi["recall"] and hi["recall"] > lo["recall"]:
            w = (target - lo["recall"]) / (hi["recall"] - lo["recall"])
            return float(np.exp(np.log(lo[key]) * (1 - w) + np.log(hi[key]) * w))
    above = [p for p in pts if p["recall"] >= target]
    return above[0][key] if above and above[0] is pts[0] else None


def report(results: dict, args) -> None:
    print(f"\n### HNSW, {args.n:,} x 384 grown from SciFact MiniLM, {args.nq} real queries, M={args.M}, "
          f"efC={args.efc}, build threads {args.build_threads}, search 1 thread\n")
    print("| system | build s | build MiB | " + " | ".join(f"ef {e}: R@10 / QPS one / batch" for e in args.ef) + " |")
    print("|---|---|---|" + "---|" * len(args.ef))
    for name, r in results.items():
        cells = [f"{p['recall']:.3f} / {p['qps_one']:,.0f} / {p['qps_batch']:,.0f}" for p in r["points"]]
        print(f"| {name} | {r['build_s']:.1f} | {r['build_mib']:.0f} | " + " | ".join(cells) + " |")
    base = results.get("winnow-f32")
    for name in ("winnow-f16", "winnow-sq8"):
        r = results.get(name)
        if not (base and r):
            continue
        print(f"\n| {name} / winnow-f32, same ef | " + " | ".join(f"ef {p['ef']}" for p in r["points"]) + " |")
        print("|---|" + "---|" * len(r["points"]))
        print("| recall@10 difference | " + " | ".join(f"{p['recall'] - b['recall']:+.3f}"
                                                      for p, b in zip(r["points"], base["points"])) + " |")
        for key, label in (("qps_one", "QPS ratio, one query per call"), ("qps_batch", "QPS ratio, batch")):
            print(f"| {label} | " + " | ".join(f"{p[key] / b[key]:.2f}x" for p, b in zip(r["points"], base["points"])) + " |")
    ref = results.get("hnswlib")
    if not ref:
        return
    print("\n| Winnow / anchor | build time (anchor/Winnow) | build memory (anchor/Winnow) | "
          "QPS @R0.90 one / batch | QPS @R0.95 one / batch |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        if not name.startswith("winnow"):
            continue
        for anchor in ("hnswlib", "faiss", "usearch"):
            a = results.get(anchor)
            if not a:
                continue
            cells = []
            for target in (0.90, 0.95):
                pair = []
                for key in ("qps_one", "qps_batch"):
                    w, o = at_recall(r["points"], target, key), at_recall(a["points"], target, key)
                    pair.append(f"{w / o:.2f}x" if w and o else "n/a")
                cells.append(" / ".join(pair))
            print(f"| {name} / {anchor} | {a['build_s'] / r['build_s']:.2f}x | {a['build_mib'] / max(r['build_mib'], 1):.2f}x | "
                  + " | ".join(cells) + " |")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200_000, help="base vectors (default 200000)")
    p.add_argument("--nq", type=int, default=1000, help="real queries (default 1000, at most 1109)")
    p.add_argument("--noise", type=float, default=0.8, help="noise norm around each real embedding (default 0.8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--M", type=int, default=16)
    p.add_argument("--efc", type=int, default=100, help="ef_construction (default 100)")
    p.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    p.add_argument("--build-threads", type=int, default=2)
    p.add_argument("--budget", type=float, default=1.0, help="seconds per QPS measurement (default 1)")
    p.add_argument("--per-call-queries", type=int, default=300, help="queries cycled in the one-per-call loop")
    p.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    p.add_argument("--output", default=str(RESULTS))
    # internal: the child process
    p.add_argument("--system", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--queries", help=argparse.SUPPRESS)
    p.add_argument("--truth", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.system:
        run_system(args)
        return
    base, queries, truth = dataset(args)
    results = {}
    for system in args.systems:
        cmd = [sys.executable, __file__, "--system", system, "--base", str(base), "--queries", str(queries),
               "--truth", str(truth), "--M", str(args.M), "--efc", str(args.efc), "--build-threads",
               str(args.build_threads), "--budget", str(args.budget), "--per-call-queries",
               str(args.per_call_queries), "--ef", *map(str, args.ef)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{system} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        results[system] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{system}: built in {results[system]['build_s']:.1f} s", file=sys.stderr)
    report(results, args)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "a") as f:
        for name, r in results.items():
            f.write(json.dumps({**r, "n": args.n, "M": args.M, "efc": args.efc, "noise": args.noise,
                                "build_threads": args.build_threads, "machine": platform.processor() or platform.machine(),
                                "load": os.getloadavg()[0], "time": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")


if __name__ == "__main__":
    main()
