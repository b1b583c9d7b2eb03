"""Scale-out benchmark: a sharded index searched in one process and over Ray actors, against
single-process search of the unsharded index on the same data; Ray's per-call overhead and the
merge cost measured apart; per-shard per-query latencies written for ``fanout_sim.py``.

    python benchmarks/bench_distributed.py --corpus ../shared/data/scifact --split test \\
        --shards 4 --replicas 1,2,4 --k 10,1000 --n-queries 1000

For each k (one JSON line per operating point, to --out):
- ``single``: the unsharded index, one process, one thread (the anchor);
- ``sharded_local``: the sharded index in one process, shards one after another, and the
  share of that time spent merging (``merge_topk``);
- ``ray_rR``: RaySearcher with R actors per shard (R = 1, 2, 4), batches of --batch-size;
- ``ray_call``: the round trip of an empty actor call (p50 / p99 ms) and of a one-query
  search through RaySearcher against the same query in process: Ray's per-call overhead.
Per-shard, per-query latencies (ms, one query per call, in process) go to --latencies, the
input of fanout_sim.py. Every search result is checked against the anchor (identical runs).
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
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def environment() -> dict:
    import ray

    import winnow

    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {"cpu": platform.processor() or platform.machine(), "n_cpus": os.cpu_count(),
            "load_avg": os.getloadavg()[0], "python": platform.python_version(), "numpy": np.__version__,
            "ray": ray.__version__, "winnow": winnow.__version__, "git_sha": sha}


def best_of(fn, repeat: int) -> tuple[float, object]:
    """(best wall seconds, last result) of ``repeat`` calls."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4),
            "mean_ms": round(float(a.mean()), 4)}


def sharded_local(index, queries: dict, k: int, repeat: int) -> dict:
    """In-process scatter-gather, timing the shard searches and the merge apart."""
    from winnow.distributed.merge import merge_topk
    from winnow.distributed.shard_search import search_shard, tie_keys

    texts = list(queries.values())
    search_s, merge_s = float("inf"), float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        parts = [search_shard(s, texts, k, {}) for s in index.shards]
        keys = [tie_keys(s, ids, {}, off) for s, (_, ids), off in zip(index.shards, parts, index.offsets)]
        t1 = time.perf_counter()
        merge_topk(parts, index.offsets, k, keys)
        t2 = time.perf_counter()
        search_s, merge_s = min(search_s, t1 - t), min(merge_s, t2 - t1)
    n = len(texts)
    return {"qps": n / (search_s + merge_s), "search_s": search_s, "merge_s": merge_s,
            "merge_share": merge_s / (search_s + merge_s), "merge_us_per_query": 1e6 * merge_s / n,
            "merge_us_per_query_per_shard": 1e6 * merge_s / n / len(index.shards)}


def shard_latencies(index, queries: dict, k: int, limit: int) -> list[list[float]]:
    """[shard][query] ms of one-query searches of each shard (the simulator's input)."""
    from winnow.distributed.shard_search import search_shard

    texts = list(queries.values())[:limit]
    out = []
    for shard in index.shards:
        ms = []
        for text in texts:
            t = time.perf_counter()
            search_shard(shard, [text], k, {})
            ms.append(1e3 * (time.perf_counter() - t))
        out.append(ms)
    return out


def ray_call_overhead(ray, searcher, single, queries: dict, k: int, n: int) -> dict:
    """Empty actor round trip, and one query through RaySearcher vs in process (ms)."""
    actor = searcher.actors[0][0]
    ray.get(actor.pid.remote())
    empty = []
    for _ in range(n):
        t = time.perf_counter()
        ray.get(actor.pid.remote())
        empty.append(1e3 * (time.perf_counter() - t))
    items = list(queries.items())[:n]
    via_ray, local = [], []
    for qid, text in items:
        t = time.perf_counter()
        searcher.search({qid: text}, k=k)
        via_ray.append(1e3 * (time.perf_counter() - t))
        t = time.perf_counter()
        single.search({qid: text}, k=k)
        local.append(1e3 * (time.perf_counter() - t))
    return {"empty_call": percentiles(empty), "one_query_ray": percentiles(via_ray),
            "one_query_in_process": percentiles(local),
            "overhead_ms_p50": round(float(np.median(via_ray) - np.median(local)), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="corpus file or dataset directory (BM25)")
    ap.add_argument("--split", default=None, help="queries split of the dataset (default: all queries)")
    ap.add_argument("--shards", type=int, default=4, help="shards (default 4)")
    ap.add_argument("--replicas", default="1,2,4", help="actors per shard to measure (default 1,2,4)")
    ap.add_argument("--k", default="10,1000", help="cutoffs (default 10,1000)")
    ap.add_argument("--n-queries", type=int, default=1000, help="queries per measurement (cycled; default 1000)")
    ap.add_argument("--batch-size", type=int, default=64, help="RaySearcher queries per call (default 64)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the private Ray instance (default: all)")
    ap.add_argument("--calls", type=int, default=200, help="round trips for the per-call overhead (default 200)")
    ap.add_argument("--latency-queries", type=int, default=500, help="queries per shard for --latencies")
    ap.add_argument("--work", default=None, help="directory for the indexes (default: a temporary one)")
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/distributed.jsonl"))
    ap.add_argument("--latencies", default=str(REPO / "benchmarks/results/shard_latencies.json"))
    a = ap.parse_args(argv)

    import ray

    from winnow.datasets import load
    from winnow.distributed import RaySearcher, ShardedIndex
    from winnow.distributed.build import build_sharded_bm25
    from winnow.index import BM25Index

    work = Path(a.work or tempfile.mkdtemp(prefix="bench-distributed-"))
    ds = load(a.corpus)
    base = ds.queries(split=a.split) if a.split else ds.queries()
    texts = list(base.values())
    queries = {f"q{i}": texts[i % len(texts)] for i in range(a.n_queries)}
    t = time.perf_counter()
    single = BM25Index.build(ds.corpus(), progress=False)
    single_build = time.perf_counter() - t
    t = time.perf_counter()
    build_sharded_bm25(str(a.corpus), work / f"s{a.shards}", a.shards, overwrite=True)
    sharded_build = time.perf_counter() - t
    index = ShardedIndex.load(work / f"s{a.shards}", mmap=True)
    env = environment()
    on_disk = sum(p.stat().st_size for p in (work / f"s{a.shards}").rglob("*") if p.is_file())
    common = {"corpus": str(a.corpus), "n_docs": single.n_docs, "shards": a.shards, "n_queries": a.n_queries,
              "batch_size": a.batch_size, "single_build_s": round(single_build, 3),
              "sharded_build_s": round(sharded_build, 3), "sharded_bytes": on_disk,
              "bytes_per_doc": round(on_disk / max(single.n_docs, 1), 1),
              "build_s_per_million": round(1e6 * single_build / max(single.n_docs, 1), 1), "env": env}
    records, latencies = [], {}
    ray.init(num_cpus=a.ray_cpus, include_dashboard=False, logging_level="warning", log_to_driver=False)
    try:
        for k in [int(x) for x in a.k.split(",")]:
            secs, want = best_of(lambda: single.search(queries, k=k), a.repeat)
            anchor = a.n_queries / secs
            records.append(dict(common, k=k, mode="single", qps=anchor, ratio_to_single=1.0))
            loc = sharded_local(index, queries, k, a.repeat)
            records.append(dict(common, k=k, mode="sharded_local", ratio_to_single=loc["qps"] / anchor, **loc))
            for r in [int(x) for x in a.replicas.split(",")]:
                with RaySearcher(work / f"s{a.shards}", replicas=r, batch_size=a.batch_size) as searcher:
                    secs, got = best_of(lambda: searcher.search(queries, k=k), a.repeat)
                    assert np.array_equal(got.scores, want.scores), "RaySearcher differs from the anchor"
                    rec = dict(common, k=k, mode=f"ray_r{r}", replicas=r, actors=r * a.shards,
                               qps=a.n_queries / secs, ratio_to_single=a.n_queries / secs / anchor)
                    if r == 1:
                        records.append(dict(common, k=k, mode="ray_call",
                                            **ray_call_overhead(ray, searcher, single, queries, k, a.calls)))
                records.append(rec)
            latencies[str(k)] = shard_latencies(index, queries, k, a.latency_queries)
    finally:
        ray.shutdown()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
    Path(a.latencies).write_text(json.dumps({"corpus": str(a.corpus), "n_docs": single.n_docs, "shards": a.shards,
                                             "ms": latencies, "env": env}))
    for rec in records:
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in rec.items()
                 if k not in ("env", "corpus") and not k.endswith("build_s")}
        print(json.dumps(shown), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
