"""``winnow demo``: build every index type that exists over the bundled Cranfield
collection, run the pipelines, evaluate them, and print one metrics table.
"""
from __future__ import annotations

import time
from typing import Callable, TextIO

from winnow.evaluation import evaluate

DEMO_METRICS = ["nDCG@10", "RR@10", "AP", "R@100", "R@1000"]


def _pipelines(threads: int):
    """(name, build seconds, index, pipeline) for every index type available."""
    from winnow.datasets import bundled
    from winnow.index import BM25Index
    from winnow.rerank import rrf

    ds = bundled("cranfield")
    start = time.perf_counter()
    bm25 = BM25Index.build(ds.corpus(), threads=threads, progress=False)
    built = time.perf_counter() - start
    tuned = bm25.with_params(k1=0.82, b=0.68)
    classic = bm25.with_params(scoring="robertson", k1=1.2, b=0.75)
    runs: list[tuple[str, float, object, Callable]] = [
        ("BM25 lucene k1=0.9 b=0.4", built, bm25, bm25),
        ("BM25 lucene k1=0.82 b=0.68", built, tuned, tuned),
        ("BM25 robertson k1=1.2 b=0.75", built, classic, classic),
        ("RRF(BM25 lucene, BM25 robertson)", built, bm25, rrf(bm25, classic)),
    ]
    return ds, runs


def run_demo(out: TextIO, threads: int = 1, k: int = 1000) -> list[dict]:
    ds, runs = _pipelines(threads)
    queries = ds.queries()
    qrels = ds.qrels()
    rows = []
    for name, built, index, pipeline in runs:
        start = time.perf_counter()
        results = pipeline.search(queries, k=k) if hasattr(pipeline, "search") else pipeline(queries)
        latency_ms = 1000 * (time.perf_counter() - start) / max(1, len(queries))
        metrics = evaluate(results.to_dict(), qrels, DEMO_METRICS)
        rows.append({"pipeline": name, **metrics, "ms/query": latency_ms, "build s": built,
                     "index MB": index.nbytes / 1e6})
    print(f"Cranfield ({len(queries)} queries, bundled with winnow); k={k}", file=out)
    header = ["pipeline"] + DEMO_METRICS + ["ms/query", "build s", "index MB"]
    width = max(len(r["pipeline"]) for r in rows)
    print(f"{'pipeline':<{width}}  " + "  ".join(f"{h:>8}" for h in header[1:]), file=out)
    for r in rows:
        cells = [f"{r[m]:8.4f}" for m in DEMO_METRICS] + [f"{r['ms/query']:8.3f}", f"{r['build s']:8.2f}",
                                                          f"{r['index MB']:8.2f}"]
        print(f"{r['pipeline']:<{width}}  " + "  ".join(cells), file=out)
    print("Reference (pyserini 0.21.0 BM25 k1=0.9 b=0.4): nDCG@10 0.3510, RR@10 0.5078, AP 0.2879, "
          "R@100 0.7224, R@1000 0.9518", file=out)
    return rows
