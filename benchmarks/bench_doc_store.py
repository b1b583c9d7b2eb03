"""Document store size and random-access latency (``--store text``).

For each collection and block size: store bytes, bytes per document, ratio to the raw UTF-8
title + text, build seconds, and the latency of a look-up by internal id and by docno
(p50 / p99 µs, seeded random ids, one thread, store memory-mapped and warm). Anchors, on the
same documents: the same blocks compressed with zlib level 6 (size), and a look-up in a plain
Python list of the texts (the latency floor of any store).

    python benchmarks/bench_doc_store.py --data ../shared/data/scifact ../shared/data/vaswani

One JSON line per operating point goes to ``--out`` (default benchmarks/results/doc_store.jsonl).
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
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    import zstandard

    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {"cpu": platform.processor() or platform.machine(), "n_cpus": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "zstandard": zstandard.__version__,
            "zstd": ".".join(map(str, zstandard.ZSTD_VERSION)), "git_sha": sha,
            "load_avg": os.getloadavg()[0]}


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    us = np.asarray(seconds) * 1e6
    return float(np.percentile(us, 50)), float(np.percentile(us, 99))


def _zlib_bytes(docs, block_bytes: int) -> int:
    """Size of the same blocks (the store's raw layout) compressed with zlib level 6."""
    total, block, raw = 0, [], 0
    for d in docs:
        t, x = d.title.encode(), d.text.encode()
        block += [len(t).to_bytes(4, "little"), len(x).to_bytes(4, "little"), t, x]
        raw += 8 + len(t) + len(x)
        if raw >= block_bytes:
            total += len(zlib.compress(b"".join(block), 6))
            block, raw = [], 0
    if block:
        total += len(zlib.compress(b"".join(block), 6))
    return total


def bench(data: Path, block_bytes: int, lookups: int, seed: int) -> dict:
    from winnow import datasets
    from winnow.index import BM25Index

    ds = datasets.load(data)
    docs = list(ds.documents())
    raw_bytes = sum(len(d.title.encode()) + len(d.text.encode()) for d in docs)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        index = BM25Index.build(docs, store="text", store_block_bytes=block_bytes, progress=False)
        build_s = time.perf_counter() - t0
        plain_t0 = time.perf_counter()
        BM25Index.build((d[:2] for d in docs), progress=False)
        plain_s = time.perf_counter() - plain_t0
        index.save(Path(tmp) / "ix")
        index = BM25Index.load(Path(tmp) / "ix", mmap=True)
        store = index.store
        rng = np.random.default_rng(seed)
        ids = rng.integers(0, len(store), lookups)
        for i in ids[:200]:  # warm: pages mapped, decompressor made
            store.get(int(i))
        by_id = []
        for i in ids:
            t = time.perf_counter()
            store.get(int(i))
            by_id.append(time.perf_counter() - t)
        names = [docs[int(i)].docno for i in ids]
        index.doc(names[0])  # the docno -> id map, built once
        by_docno = []
        for name in names:
            t = time.perf_counter()
            index.doc(name)
            by_docno.append(time.perf_counter() - t)
        texts = [(d.title, d.text) for d in docs]
        floor = []
        for i in ids:
            t = time.perf_counter()
            texts[int(i)]
            floor.append(time.perf_counter() - t)
        store_bytes = store.nbytes
    p50, p99 = _percentiles(by_id)
    d50, d99 = _percentiles(by_docno)
    f50, f99 = _percentiles(floor)
    zbytes = _zlib_bytes(docs, block_bytes)
    return {"bench": "doc_store", "collection": ds.name, "n_docs": len(docs), "block_bytes": block_bytes,
            "n_blocks": store.info["n_blocks"], "level": store.info["level"], "raw_bytes": raw_bytes,
            "store_bytes": store_bytes, "bytes_per_doc": store_bytes / len(docs),
            "ratio_to_raw": store_bytes / raw_bytes, "zlib6_bytes": zbytes, "zstd_over_zlib6": store_bytes / zbytes,
            "build_s_with_store": build_s, "build_s_without_store": plain_s,
            "lookup_id_p50_us": p50, "lookup_id_p99_us": p99, "lookup_docno_p50_us": d50,
            "lookup_docno_p99_us": d99, "python_list_p50_us": f50, "python_list_p99_us": f99,
            "lookups": lookups, "seed": seed, "env": _env()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", required=True, help="dataset directories (BEIR, TREC, MS MARCO)")
    ap.add_argument("--block-bytes", type=int, nargs="+", default=[16384, 65536], help="block sizes to measure")
    ap.add_argument("--lookups", type=int, default=5000, help="random look-ups per point (default 5000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "doc_store.jsonl"))
    args = ap.parse_args(argv)
    with open(args.out, "a", encoding="utf-8") as out:
        for data in args.data:
            for block in args.block_bytes:
                rec = bench(Path(data), block, args.lookups, args.seed)
                out.write(json.dumps(rec) + "\n")
                print(f"{rec['collection']:>10} block {block // 1024:>3} KiB: {rec['bytes_per_doc']:7.1f} B/doc, "
                      f"{rec['ratio_to_raw']:.3f} of raw ({rec['zstd_over_zlib6']:.2f}x zlib-6), "
                      f"by id p50 {rec['lookup_id_p50_us']:.0f} / p99 {rec['lookup_id_p99_us']:.0f} µs, "
                      f"by docno p50 {rec['lookup_docno_p50_us']:.0f} / p99 {rec['lookup_docno_p99_us']:.0f} µs, "
                      f"build {rec['build_s_with_store']:.2f} s vs {rec['build_s_without_store']:.2f} s without",
                      file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
