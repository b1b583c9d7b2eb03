"""Sharded builds and searches from the command line (``winnow.distributed``):
``winnow index build bm25|flat|pq|ivfpq ... --shards N [--ray local|auto|ADDRESS]`` and the
``--ray`` / ``--replicas`` options of ``winnow search``."""
from __future__ import annotations

import argparse
import sys
import time

from winnow.cli.common import positive_int

SHARDABLE = ("bm25", "flat", "pq", "ivfpq", "hnsw")
RAY_HELP = ("run on Ray: 'local' starts a private Ray instance for this command and shuts it down "
            "after; 'auto' or ADDRESS (host:port) joins a running cluster, whose nodes must see the "
            "index directory (pip install \"winnow[distributed]\")")


def add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shards", type=positive_int, default=None,
                   help="build a sharded index: the collection split by position into N shards, each an "
                   "index of its own, with a manifest (BM25 shards score with the whole collection's "
                   "statistics: results identical to one index)")
    p.add_argument("--ray", metavar="local|auto|ADDRESS", default=None,
                   help="with --shards: build the shards as Ray tasks; " + RAY_HELP)


def add_search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ray", metavar="local|auto|ADDRESS", default=None,
                   help="sharded indexes: search with one Ray actor per shard (and replica); " + RAY_HELP)
    p.add_argument("--replicas", type=positive_int, default=None,
                   help="with --ray: actors per shard (default 1); more replicas, more throughput")


def check_build_args(args: argparse.Namespace) -> bool:
    """Whether this build is sharded (``--ray`` without ``--shards`` is a usage mistake)."""
    if getattr(args, "shards", None) is None:
        if getattr(args, "ray", None) is not None:
            raise ValueError("--ray builds the shards of a sharded index: give --shards N too")
        return False
    return True


def run_build_bm25(args: argparse.Namespace) -> int:
    from winnow.distributed.build import build_sharded_bm25

    if args.pretokenized or args.store:
        raise ValueError("--shards does not go with --pretokenized or --store (not supported for sharded BM25 yet)")
    if args.skip_bad_lines:
        raise ValueError("--shards reads the corpus once per shard and needs a clean corpus: "
                         "--skip-bad-lines is not supported with it")
    start = time.perf_counter()
    meta = build_sharded_bm25(args.input, args.output, args.shards, k1=args.k1, b=args.b, scoring=args.scoring,
                              analyzer=args.analyzer, threads=args.threads, batch_size=args.batch_size,
                              memory_budget_mb=args.memory_budget_mb, overwrite=args.overwrite, ray=args.ray)
    _report(meta, start, args)
    return 0


def run_build_dense(args: argparse.Namespace, model: str | None) -> int:
    from winnow.distributed.build import build_sharded_dense

    kind = args.dense_kind
    if kind not in SHARDABLE:
        raise ValueError(f"--shards supports {', '.join(SHARDABLE)}; not {kind}")
    options = {"metric": args.metric}
    for name in ("M", "nbits", "opq", "nlist", "payload", "refine"):
        if hasattr(args, name):
            options[name] = getattr(args, name)
    if kind == "hnsw":
        options = {"metric": args.metric, "hnsw_M": args.M, "ef_construction": args.ef_construction,
                   "seed": args.seed}
        if args.payload != "float32" or args.refine:
            raise ValueError("--shards builds float32 HNSW shards: --payload and --refine are not supported with it")
    if kind == "ivfpq":
        options["residual"] = not args.no_residual
    start = time.perf_counter()
    meta = build_sharded_dense(args.vectors, args.output, kind, args.shards, options=options, model=model,
                               train_size=getattr(args, "train_size", 200_000), niter=getattr(args, "niter", 20),
                               seed=getattr(args, "seed", 1234), threads=args.threads, overwrite=args.overwrite,
                               ray=args.ray)
    _report(meta, start, args)
    return 0


def _report(meta: dict, start: float, args: argparse.Namespace) -> None:
    where = f"on Ray ({args.ray})" if args.ray else "locally"
    print(f"indexed {meta['params']['n_docs']:,} documents into {len(meta['shards'])} "
          f"{meta['params']['shard_format']} shards {where} in {time.perf_counter() - start:.1f} s "
          f"-> {args.output}", file=sys.stderr)


def open_searcher(args: argparse.Namespace):
    """A RaySearcher for ``--ray`` (closed by the caller), else None; ``--replicas`` alone is a mistake."""
    if args.ray is None:
        if args.replicas is not None:
            raise ValueError("--replicas goes with --ray")
        return None
    from winnow.index.format import inspect
    from winnow.distributed.manifest import FORMAT
    from winnow.distributed.ray_searcher import RaySearcher

    fmt = inspect(args.index)["format"]
    if fmt != FORMAT:
        raise ValueError(f"--ray searches a sharded index (built with --shards); {args.index} is {fmt}")
    return RaySearcher(args.index, replicas=args.replicas or 1, ray=args.ray, mmap=True)
