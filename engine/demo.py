"""``winnow demo``: build every index type that exists over the bundled Cranfield
collection, run the pipelines, evaluate them, and print one metrics table.

Sparse: BM25 (Lucene-exact default, tuned, classic). Dense (when the ``dense`` extra is
installed): the packaged all-MiniLM-L6-v2 encodes the corpus once (cached under
``$WINNOW_CACHE`` or ``~/.cache/winnow``), then Flat, PQ, IVF-PQ fast-scan, HNSW; and hybrids.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO

from winnow.evaluation import evaluate

DEMO_METRICS = ["nDCG@10", "RR@10", "AP", "R@100", "R@1000"]


def cache_dir() -> Path:
    return Path(os.environ.get("WINNOW_CACHE", Path.home() / ".cache" / "winnow"))


def _dense_indexes(ds, threads: int, log: TextIO):
    """[(name, build seconds, index)] over MiniLM vectors, or [] with a note when unavailable."""
    try:
        from winnow.embedding_cache import EmbeddingCache
        from winnow.encoders import SentenceEncoder
    except ImportError as exc:
        print(f"note: dense rows skipped ({exc}); install winnow[dense] for them", file=log)
        return [], None
    from winnow.index import HNSWIndex
    from winnow.index.flat import FlatIndex
    from winnow.index.ivf import IVFIndex
    from winnow.index.pq_index import PQIndex

    try:
        encoder = SentenceEncoder(threads=threads or None)
    except Exception as exc:  # missing packaged model or sentence-transformers
        print(f"note: dense rows skipped ({exc})", file=log)
        return [], None
    start = time.perf_counter()
    print("encoding Cranfield with all-MiniLM-L6-v2 (cached after the first run) ...", file=log)
    vectors, docnos = EmbeddingCache(cache_dir() / "embeddings").encode(encoder, list(ds.corpus()))
    encoded = time.perf_counter() - start
    out = []
    for name, make in [
        ("dense Flat (exact)", lambda: FlatIndex(vectors.shape[1], "ip")),
        ("dense PQ48 (8-bit ADC)", lambda: PQIndex(vectors.shape[1], 48, 8).train(vectors, threads=threads)),
        ("dense IVF32 PQ96x4 fast-scan", lambda: IVFIndex(vectors.shape[1], 32, "fastscan", 96)
            .train(vectors, threads=threads)),
        ("dense HNSW M=16 efC=100 ef=64", lambda: HNSWIndex(vectors.shape[1], M=16, ef_construction=100)),
    ]:
        start = time.perf_counter()
        index = make()
        if isinstance(index, HNSWIndex):
            index.add(vectors, threads=1)  # one thread: the same graph, and table, on every run
        else:
            index.add(vectors)
        index.set_docnos(docnos)
        index.encoder = encoder
        out.append((name, encoded + time.perf_counter() - start, index))
    return out, encoder


def run_demo(out: TextIO, threads: int = 1, k: int = 1000, dense: bool = True, log: TextIO = sys.stderr) -> list[dict]:
    from winnow.datasets import bundled
    from winnow.index import BM25Index
    from winnow.rerank import rrf, score_sum

    ds = bundled("cranfield")
    queries, qrels = ds.queries(), ds.qrels()
    start = time.perf_counter()
    bm25 = BM25Index.build(ds.corpus(), threads=threads, progress=False)
    built = time.perf_counter() - start
    tuned = bm25.with_params(k1=0.82, b=0.68)
    classic = bm25.with_params(scoring="robertson", k1=1.2, b=0.75)
    runs = [("BM25 lucene k1=0.9 b=0.4", built, bm25, bm25, {}),
            ("BM25 lucene k1=0.82 b=0.68", built, tuned, tuned, {}),
            ("BM25 robertson k1=1.2 b=0.75", built, classic, classic, {})]
    dense_indexes, _ = _dense_indexes(ds, threads, log) if dense else ([], None)
    for name, seconds, index in dense_indexes:
        kwargs = {"nprobe": 8} if "IVF" in name else ({"ef": 64} if "HNSW" in name else {})
        runs.append((name, seconds, index, index, kwargs))
    if dense_indexes:
        flat = dense_indexes[0][2]
        runs.append(("hybrid RRF(BM25, dense Flat)", built + dense_indexes[0][1], bm25, rrf(bm25, flat), {}))
        runs.append(("hybrid z-score sum(BM25, dense Flat)", built + dense_indexes[0][1], bm25,
                     score_sum(bm25, flat, normalise="zscore"), {}))
    else:
        runs.append(("RRF(BM25 lucene, BM25 robertson)", built, bm25, rrf(bm25, classic), {}))

    rows = []
    for name, seconds, index, pipeline, kwargs in runs:
        start = time.perf_counter()
        results = pipeline.search(queries, k=k, **kwargs)
        latency_ms = 1000 * (time.perf_counter() - start) / max(1, len(queries))
        metrics = evaluate(results.to_dict(), qrels, DEMO_METRICS)
        rows.append({"pipeline": name, **metrics, "ms/query": latency_ms, "build s": seconds,
                     "index MB": index.nbytes / 1e6})
    _print_table(out, rows, len(queries), k)
    return rows


def _print_table(out: TextIO, rows: list[dict], nq: int, k: int) -> None:
    print(f"Cranfield ({nq} queries, bundled with winnow); k={k}", file=out)
    header = DEMO_METRICS + ["ms/query", "build s", "index MB"]
    width = max(len(r["pipeline"]) for r in rows)
    print(f"{'pipeline':<{width}}  " + "  ".join(f"{h:>8}" for h in header), file=out)
    for r in rows:
        cells = [f"{r[m]:8.4f}" for m in DEMO_METRICS] + [f"{r['ms/query']:8.3f}", f"{r['build s']:8.2f}",
                                                          f"{r['index MB']:8.2f}"]
        print(f"{r['pipeline']:<{width}}  " + "  ".join(cells), file=out)
    print("Reference (pyserini 0.21.0 BM25 k1=0.9 b=0.4): nDCG@10 0.3510, RR@10 0.5078, AP 0.2879, "
          "R@100 0.7224, R@1000 0.9518. Dense build time includes encoding (or reading the cache).",
          file=out)
