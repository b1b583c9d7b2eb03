"""A/B batch query speed of two builds of ``winnow._core``, each over its own saved BM25 index
(so builds that read different index formats can be compared on the same corpus).

Each measurement runs in a fresh subprocess that loads one extension file as
``winnow._core`` and calls the core's searcher directly (1 thread, one batch call with every
query, best of 3 after a warm-up call). Sides alternate A B A B ... for ``--rounds`` rounds, so
drift on a machine that is not quiet hits both alike; reported per configuration: the median
QPS of each side, the median of the per-round ratios B/A and the ratio of the best rounds.

    python benchmarks/ab_bm25_indexes.py --a OLD.so OLD_INDEX --b NEW.so NEW_INDEX \\
        --queries benchmarks/.cache/pisa1m/queries.json --rounds 4

``--queries``: a JSON object {qid: text} (bench_bm25.py's queries.json).
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

# the binary sections of either format (1: term_bytes; 2 and 3: term_dict)
SECTIONS = {"postings": "POSTINGS", "term_bytes": "TERMS", "term_dict": "TERMDICT", "docno_bytes": "DOCNOS"}


def child(so: str, index: Path, queries: Path) -> dict:
    """QPS per (algorithm, k) with the extension file `so` on `index` (its own process)."""
    import winnow

    spec = importlib.util.spec_from_file_location("winnow._core", so)
    core = importlib.util.module_from_spec(spec)
    sys.modules["winnow._core"] = core
    spec.loader.exec_module(core)
    winnow._core = core
    meta = json.loads((index / "meta.json").read_text())
    arrays = {p.stem: np.load(p) for p in index.glob("*.npy")}
    for name, tag in SECTIONS.items():
        if (index / f"{name}.bin").exists():
            _, arrays[name] = core.read_section(str(index / f"{name}.bin"), tag, 1, False, True)
    p = meta["params"]
    searcher = core.Bm25Searcher(arrays, meta["stats"], p["k1"], p["b"], p["scoring"], p["analyzer"])
    texts = list(json.loads(queries.read_text()).values())
    out = {}
    for algorithm in ("windowed", "maxscore"):
        for k in (10, 1000):
            searcher.search(texts, k, algorithm, 1, True)
            best = 0.0
            for _ in range(3):
                t0 = time.perf_counter()
                searcher.search(texts, k, algorithm, 1, True)
                best = max(best, len(texts) / (time.perf_counter() - t0))
            out[f"{algorithm} k={k}"] = best
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", nargs=2, metavar=("SO", "INDEX"), help="build A (before) and its index")
    ap.add_argument("--b", nargs=2, metavar=("SO", "INDEX"), help="build B (after) and its index")
    ap.add_argument("--queries", type=Path, required=True, help="JSON {qid: text}")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.queries)))
        return 0
    if not (args.a and args.b):
        ap.error("--a SO INDEX and --b SO INDEX are required")
    runs = {"A": [], "B": []}
    for r in range(args.rounds):
        for side, (so, index) in (("A", args.a), ("B", args.b)):
            res = subprocess.run([sys.executable, __file__, "--queries", str(args.queries), "--child", so, index],
                                 check=True, capture_output=True, text=True)
            runs[side].append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"{'configuration':16s} {'QPS A':>8s} {'QPS B':>8s} {'B/A':>6s} {'best':>6s}   (medians of {args.rounds} ABAB rounds)")
    for name in runs["A"][0]:
        a = [run[name] for run in runs["A"]]
        b = [run[name] for run in runs["B"]]
        ratio = statistics.median(y / x for x, y in zip(a, b))
        print(f"{name:16s} {statistics.median(a):8.0f} {statistics.median(b):8.0f} {ratio:6.3f} {max(b) / max(a):6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
