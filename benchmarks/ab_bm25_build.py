"""A/B BM25 index build speed of two builds of ``winnow._core`` (the C++ builder only).

Each measurement runs in a fresh subprocess that loads one extension file as
``winnow._core`` and feeds ``Bm25Builder`` the seeded synthetic corpus
(benchmarks/synthetic_corpus.py) in batches of 8,192 as ``BM25Index.build`` does; reading the
TSV into Python lists is outside the timed part. Builds alternate A B A B ... for
``--rounds`` rounds (interleaving makes the ratio meaningful on a shared machine); reported
per thread count: best wall time of each side, best B/A ratio and the median per-round
ratio, and process CPU seconds. ``--check`` also asserts that both builds return equal arrays.

    python benchmarks/ab_bm25_build.py --a /tmp/core_before.so --b engine/_core*.so --n-docs 100000 --threads 1,2
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(so: str, collection: str, n_docs: int, threads: int, budget_mb: float, dump: str | None) -> dict:
    import numpy as np

    spec = importlib.util.spec_from_file_location("winnow._core", so)
    core = importlib.util.module_from_spec(spec)
    sys.modules["winnow._core"] = core
    spec.loader.exec_module(core)
    docnos, texts = [], []
    with open(collection, encoding="utf-8") as f:
        for line in f:
            docno, _, text = line.rstrip("\n").partition("\t")
            docnos.append(docno)
            texts.append(text)
            if len(docnos) >= n_docs:
                break
    batch = 8192
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    builder = core.Bm25Builder(0.9, 0.4, "lucene", "english", threads, budget_mb, "/tmp")
    for i in range(0, len(docnos), batch):
        builder.add_texts(docnos[i:i + batch], texts[i:i + batch])
    t1 = time.perf_counter()
    arrays, stats = builder.finish()
    t2 = time.perf_counter()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    if dump:
        np.savez(dump, **{k: np.asarray(v) for k, v in arrays.items()})
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"wall": t2 - t0, "add": t1 - t0, "finish": t2 - t1, "cpu": cpu, "n_docs": len(docnos)}


def run_child(so, collection, n_docs, threads, budget_mb, dump=None) -> dict:
    cmd = [sys.executable, __file__, "--child", so, "--collection", collection, "--n-docs", str(n_docs),
           "--threads", str(threads), "--budget-mb", str(budget_mb)]
    if dump:
        cmd += ["--dump", dump]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", help="baseline extension file")
    ap.add_argument("--b", help="candidate extension file")
    ap.add_argument("--n-docs", type=int, default=100_000)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budget-mb", type=float, default=2048)
    ap.add_argument("--collection", help="TSV docno<TAB>text (default: the seeded synthetic corpus)")
    ap.add_argument("--check", action="store_true", help="assert both builds return equal arrays")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.collection, args.n_docs, int(args.threads), args.budget_mb, args.dump)))
        return 0
    collection = args.collection
    if collection is None:
        sys.path.insert(0, str(HERE))
        from synthetic_corpus import default_dir, generate

        collection = str(generate(default_dir(args.n_docs, 1000, 0), args.n_docs, seed=0, verbose=False) / "collection.tsv")
    for threads in [int(t) for t in args.threads.split(",")]:
        rows = {"a": [], "b": []}
        for _ in range(args.rounds):
            for side in ("a", "b"):
                rows[side].append(run_child(getattr(args, side), collection, args.n_docs, threads, args.budget_mb))
        ratios = [b["wall"] / a["wall"] for a, b in zip(rows["a"], rows["b"])]
        best = {s: min(r["wall"] for r in rows[s]) for s in rows}
        cpu = {s: min(r["cpu"] for r in rows[s]) for s in rows}
        fin = {s: min(r["finish"] for r in rows[s]) for s in rows}
        print(f"threads={threads} n_docs={args.n_docs}: best wall A {best['a']:.2f}s B {best['b']:.2f}s "
              f"(B/A {best['b'] / best['a']:.3f}, median per-round {statistics.median(ratios):.3f}); "
              f"finish A {fin['a']:.2f}s B {fin['b']:.2f}s; cpu A {cpu['a']:.2f}s B {cpu['b']:.2f}s", flush=True)
    if args.check:
        import numpy as np

        dumps = {}
        for side in ("a", "b"):
            path = f"/tmp/ab_bm25_build_{os.getpid()}_{side}.npz"
            run_child(getattr(args, side), collection, args.n_docs, int(args.threads.split(",")[-1]), args.budget_mb, path)
            dumps[side] = np.load(path)
        for k in dumps["a"].files:
            assert np.array_equal(dumps["a"][k], dumps["b"][k]), f"array {k} differs"
        print("arrays equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
