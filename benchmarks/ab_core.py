"""A/B query speed of two builds of ``winnow._core`` on the same indexes and queries.

Each measurement runs in a fresh subprocess that loads one extension file as
``winnow._core`` (before anything imports the installed one) and calls the core directly, so
the Python wrappers are identical for both sides. Builds alternate A B A B ... for
``--rounds`` rounds: on a machine that is not quiet, interleaving is what makes the ratio
meaningful (drift hits both sides alike). Reported per configuration: median QPS of each
side and the median of the per-round ratios B/A.

Workloads (1 thread): BM25 on the seeded synthetic corpus (benchmarks/synthetic_corpus.py,
default 100k passages, 1,000 queries), each algorithm at k=10 and k=1000; dense Flat, PQ
(M=16, 8 bits) and IVF-PQ (nlist 256, nprobe 16) on seeded Gaussian data (100k x 64), k=10.

    python benchmarks/ab_core.py --a /tmp/core_before.so --b /tmp/core_after.so --rounds 5
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# the sections of either BM25 format (1: term_bytes; 2: term_dict); every .npy is passed as it is
BM25_SECTIONS = {"postings": "POSTINGS", "term_bytes": "TERMS", "term_dict": "TERMDICT", "docno_bytes": "DOCNOS"}


def prepare(work: Path, n_docs: int, seed: int) -> None:
    """Build the BM25 index and dense arrays once (with the installed build; formats are shared)."""
    if (work / "ready").exists():
        return
    sys.path.insert(0, str(HERE))
    from synthetic_corpus import default_dir, generate

    from winnow.datasets import load as load_dataset
    from winnow.index import BM25Index
    from winnow.index.ivf import IVFIndex
    from winnow.index.pq_index import PQIndex

    corpus = generate(default_dir(n_docs, 1000, seed), n_docs, seed=seed, verbose=False)
    ds = load_dataset(corpus)
    BM25Index.build(ds.corpus(), progress=False).save(work / "bm25")
    queries = list(ds.queries().values())
    (work / "queries.json").write_text(json.dumps(queries))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((100_000, 64), dtype=np.float32)
    q = rng.standard_normal((200, 64), dtype=np.float32)
    pq = PQIndex(64, 16, 8)
    pq.train(x[:20_000])
    pq.add(x)
    ivf = IVFIndex(64, 256, "pq", M=16)
    ivf.train(x[:20_000])
    ivf.add(x)
    np.savez(work / "dense.npz", x=x, q=q, pq_centroids=pq.pq.centroids, pq_codes=pq.codes, pq_ids=pq.ids,
             ivf_centroids=ivf.centroids, ivf_offsets=ivf.list_offsets, ivf_ids=ivf.ids, ivf_codes=ivf.payload_rows,
             ivf_pq_centroids=ivf.pq.centroids, ivf_residual=np.array(ivf.residual))
    (work / "ready").write_text("ok")


def _timed(fn, min_seconds: float = 1.0) -> float:
    """Calls per second of fn, run repeatedly for at least min_seconds after one warm-up call."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return n / dt


def child(so: str, work: Path) -> dict:
    """QPS per configuration with the extension file `so` (runs in its own process)."""
    import winnow

    spec = importlib.util.spec_from_file_location("winnow._core", so)
    core = importlib.util.module_from_spec(spec)
    sys.modules["winnow._core"] = core
    spec.loader.exec_module(core)
    winnow._core = core

    meta = json.loads((work / "bm25" / "meta.json").read_text())
    arrays = {p.stem: np.load(p) for p in (work / "bm25").glob("*.npy")}
    for name, tag in BM25_SECTIONS.items():
        if (work / "bm25" / f"{name}.bin").exists():
            _, arrays[name] = core.read_section(str(work / "bm25" / f"{name}.bin"), tag, 1, False, True)
    p = meta["params"]
    searcher = core.Bm25Searcher(arrays, meta["stats"], p["k1"], p["b"], p["scoring"], p["analyzer"])
    queries = json.loads((work / "queries.json").read_text())
    out = {}
    for alg in ("maxscore", "windowed", "exhaustive"):
        for k in (10, 1000):
            out[f"bm25 {alg} k={k}"] = len(queries) * _timed(lambda: searcher.search(queries, k, alg, 1, True))
    d = np.load(work / "dense.npz")
    x, q = d["x"], d["q"]
    out["flat k=10"] = len(q) * _timed(lambda: core.dense_exact_search(q, x, 10, "ip", 1, None))
    pq = core.ProductQuantizer(64, 16, 8)
    pq.set_centroids(np.ascontiguousarray(d["pq_centroids"]))
    codes, ids = np.ascontiguousarray(d["pq_codes"]), np.ascontiguousarray(d["pq_ids"])
    out["pq k=10"] = len(q) * _timed(lambda: core.pq_search(pq, "ip", codes, ids, None, q, 10, 0, None, 1))
    ipq = core.ProductQuantizer(64, 16, 8)
    ipq.set_centroids(np.ascontiguousarray(d["ivf_pq_centroids"]))
    args = (np.ascontiguousarray(d["ivf_centroids"]), np.ascontiguousarray(d["ivf_offsets"]),
            np.ascontiguousarray(d["ivf_ids"]), "pq")
    icodes, residual = np.ascontiguousarray(d["ivf_codes"]), bool(d["ivf_residual"])
    out["ivf-pq nprobe=16 k=10"] = len(q) * _timed(lambda: core.ivf_search(
        *args, codes=icodes, pq=ipq, residual=residual, metric="ip", x=q, k=10, nprobe=16, threads=1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="extension file of build A (before)")
    ap.add_argument("--b", required=True, help="extension file of build B (after)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n-docs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=HERE / ".cache" / "ab_core")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.work)))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    prepare(args.work, args.n_docs, args.seed)
    runs = {"A": [], "B": []}
    for r in range(args.rounds):
        for side, so in (("A", args.a), ("B", args.b)):
            res = subprocess.run([sys.executable, __file__, "--a", args.a, "--b", args.b, "--work", str(args.work),
                                  "--child", so], check=True, capture_output=True, text=True)
            runs[side].append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    # B/A: median of the per-round ratios; range: their min..max (the noise); best: ratio of
    # each side's best round (on a loaded machine the best round is the least disturbed)
    print(f"{'configuration':28s} {'QPS A':>10s} {'QPS B':>10s} {'B/A':>7s} {'range':>13s} {'best':>7s}"
          f"   (medians of {args.rounds} ABAB rounds)")
    for name in runs["A"][0]:
        a = [run[name] for run in runs["A"]]
        b = [run[name] for run in runs["B"]]
        ratios = [y / x for x, y in zip(a, b)]
        print(f"{name:28s} {statistics.median(a):10.1f} {statistics.median(b):10.1f} {statistics.median(ratios):7.3f} "
              f"{min(ratios):6.3f}..{max(ratios):5.3f} {max(b) / max(a):7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
