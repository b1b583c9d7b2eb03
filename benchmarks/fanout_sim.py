"""Fan-out latency simulator: what a query costs when it goes to S shards at once.

A query's latency is its slowest shard plus the merge plus the per-call overhead:

    latency = max over s of shard_ms[s] + merge_us_per_shard * S / 1000 + call_ms

``shard_ms`` are drawn (with replacement, independently per shard) from the per-shard,
per-query latencies measured by ``bench_distributed.py`` (``--latencies``), optionally
scaled (``--shard-scale``: a shard ``x`` times larger costs about ``x`` times more for BM25
and IVF scans, a stated assumption). ``merge_us_per_shard`` and ``call_ms`` come from the
benchmark's JSON lines (``--bench``: the ``sharded_local`` merge cost and the ``ray_call``
overhead) or the flags. Straggler tails dominate at large S: the p99 of a 1,024-way max is
close to the p99.99... of one shard.

    python benchmarks/fanout_sim.py --latencies benchmarks/results/shard_latencies.json \\
        --bench benchmarks/results/distributed.jsonl --k 1000 --shards 16,64,256,1024

Without --latencies a lognormal stand-in is used (and said so in the output).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def simulate(samples_ms: np.ndarray, n_shards: int, n_queries: int, merge_us_per_shard: float, call_ms: float,
             rng: np.random.Generator, chunk: int = 256) -> np.ndarray:
    """(n_queries,) simulated latencies (ms) of queries fanned out to ``n_shards`` shards."""
    out = np.empty(n_queries)
    for a in range(0, n_queries, chunk):
        m = min(chunk, n_queries - a)
        draws = samples_ms[rng.integers(0, len(samples_ms), (m, n_shards))]  # (m, S)
        out[a:a + m] = draws.max(axis=1)
    return out + merge_us_per_shard * n_shards / 1000.0 + call_ms


def _from_bench(path: Path, k: int) -> tuple[float | None, float | None]:
    """(merge µs per query per shard, Ray per-call overhead ms) at cutoff k, from the last run."""
    merge = call = None
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("k") != k:
            continue
        if rec.get("mode") == "sharded_local":
            merge = rec["merge_us_per_query_per_shard"]
        if rec.get("mode") == "ray_call":
            call = rec["overhead_ms_p50"]
    return merge, call


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latencies", default=None, help="shard_latencies.json from bench_distributed.py")
    ap.add_argument("--bench", default=None, help="distributed.jsonl from bench_distributed.py (merge, call cost)")
    ap.add_argument("--k", type=int, default=1000, help="cutoff whose latencies to use (default 1000)")
    ap.add_argument("--shards", default="16,64,256,1024", help="fan-out widths (default 16,64,256,1024)")
    ap.add_argument("--queries", type=int, default=20000, help="simulated queries per width (default 20000)")
    ap.add_argument("--shard-scale", type=float, default=1.0,
                    help="multiply measured shard latencies (a shard this many times larger; default 1)")
    ap.add_argument("--merge-us-per-shard", type=float, default=None, help="override: merge cost per shard (µs)")
    ap.add_argument("--call-ms", type=float, default=None, help="override: per-call overhead incl. network (ms)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="append one JSON line per width here")
    a = ap.parse_args(argv)

    rng = np.random.default_rng(a.seed)
    if a.latencies:
        data = json.loads(Path(a.latencies).read_text())
        samples = np.concatenate([np.asarray(s, float) for s in data["ms"][str(a.k)]])
        source = f"{a.latencies} (k={a.k}, {len(samples)} shard-query latencies, {data.get('n_docs')} docs)"
    else:
        samples = rng.lognormal(mean=np.log(2.0), sigma=0.6, size=10000)
        source = "lognormal stand-in (median 2 ms, sigma 0.6): no --latencies given"
    samples = samples * a.shard_scale
    merge, call = _from_bench(Path(a.bench), a.k) if a.bench else (None, None)
    merge = a.merge_us_per_shard if a.merge_us_per_shard is not None else (merge if merge is not None else 2.0)
    call = a.call_ms if a.call_ms is not None else (call if call is not None else 1.0)
    print(f"shard latencies: {source}; merge {merge:.2f} µs/shard, call {call:.2f} ms", file=sys.stderr)
    one = {"p50": np.percentile(samples, 50), "p99": np.percentile(samples, 99)}
    print(f"one shard: p50 {one['p50']:.2f} ms, p99 {one['p99']:.2f} ms", file=sys.stderr)
    print(f"{'shards':>7} {'p50 ms':>9} {'p99 ms':>9} {'p99.9 ms':>9}", file=sys.stderr)
    for s in [int(x) for x in a.shards.split(",")]:
        lat = simulate(samples, s, a.queries, merge, call, rng)
        rec = {"shards": s, "k": a.k, "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
               "p999_ms": float(np.percentile(lat, 99.9)), "merge_us_per_shard": merge, "call_ms": call,
               "shard_scale": a.shard_scale, "source": source, "seed": a.seed}
        print(f"{s:>7} {rec['p50_ms']:>9.2f} {rec['p99_ms']:>9.2f} {rec['p999_ms']:>9.2f}", file=sys.stderr)
        if a.out:
            with open(a.out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
