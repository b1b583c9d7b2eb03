"""Multi-threaded BM25 batch search: QPS of one batched call with 1, 2, ... threads on a saved
index, best of --rounds interleaved rounds (threads 1, 2, 1, 2, ...), and the speed-up over one
thread. Results are checked identical across thread counts.

    python benchmarks/bench_bm25_threads.py --index DIR --queries queries.json --k 10,1000

``--queries``: a JSON object {qid: text} (bench_bm25.py writes one into its work dir).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True, help="a saved BM25 index directory")
    ap.add_argument("--queries", required=True, help="JSON object {qid: text}")
    ap.add_argument("--k", default="10,1000", help="comma list of k")
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts")
    ap.add_argument("--algorithm", default="windowed", help="windowed, maxscore or exhaustive")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)

    from winnow.index import BM25Index

    idx = BM25Index.load(a.index, mmap=False)
    queries = json.loads(open(a.queries).read())
    print(f"load average {os.getloadavg()[0]:.2f}; {len(queries)} queries; {a.algorithm}", file=sys.stderr)
    for k in (int(x) for x in a.k.split(",")):
        best: dict[int, float] = {}
        reference = None
        for _ in range(a.rounds):
            for t in (int(x) for x in a.threads.split(",")):
                start = time.perf_counter()
                res = idx.search(queries, k=k, threads=t, algorithm=a.algorithm)
                secs = time.perf_counter() - start
                best[t] = min(best.get(t, float("inf")), secs)
                if reference is None:
                    reference = res
                elif not (np.array_equal(res.ids, reference.ids) and np.array_equal(res.scores, reference.scores)):
                    raise SystemExit(f"threads={t} changed the results at k={k}")
        one = best[min(best)]
        print(json.dumps({"k": k, "algorithm": a.algorithm,
                          "qps": {t: round(len(queries) / s) for t, s in best.items()},
                          "speedup": {t: round(one / s, 3) for t, s in best.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
