"""Dense builds that stream their vectors: ``winnow index build ivf|ivfpq|hnsw``.

The vectors directory is read through :class:`winnow.vector_chunks.VectorChunks`: memory-mapped
parts (float16 ``winnow encode`` chunks stay float16 on disk), one float32 block at a time, a
training sample gathered row by row. So the peak memory of an IVF-PQ build is its codes plus one
block plus the training sample, never all vectors as float32 (8.8M x 384 would be 13.5 GB).
"""
from __future__ import annotations

import argparse
import sys
import time

from winnow.cli.common import check_index_output

BLOCK_ROWS = 65536  # rows per float32 block: 96 MiB at 384 dimensions


def _progress(n: int, desc: str, block: int):
    from tqdm import tqdm

    return tqdm(total=n, unit="vec", desc=desc, file=sys.stderr, dynamic_ncols=True, disable=n <= block)


def run_build_ivf(args: argparse.Namespace, model: str | None) -> int:
    """Train on a sample (the rows an in-memory build samples: the same index), then assign and
    encode block by block with :class:`winnow.index.ivf_builder.IVFBuilder`."""
    from winnow.index.ivf import IVFIndex
    from winnow.index.ivf_builder import IVFBuilder
    from winnow.vector_chunks import VectorChunks

    start = time.perf_counter()
    source = VectorChunks(args.vectors)
    docnos = source.ids()  # a bad ids file fails before any training
    kind = args.dense_kind
    if kind == "ivf":  # --payload float32 is IVF's "flat" lists
        payload = "flat" if args.payload == "float32" else args.payload
    else:
        payload = "fastscan" if args.nbits == 4 else "pq"
    index = IVFIndex(source.d, args.nlist, payload, getattr(args, "M", None), getattr(args, "nbits", 8),
                     args.metric, residual=not getattr(args, "no_residual", False),
                     opq=getattr(args, "opq", False), refine=args.refine, model=model)
    sample = source.sample(args.train_size, args.seed)
    index.train(sample, niter=args.niter, seed=args.seed, threads=args.threads)
    trained = time.perf_counter() - start
    del sample
    builder = IVFBuilder(index, source.n)
    with _progress(source.n, kind, BLOCK_ROWS) as bar:
        for _, block in source.blocks(BLOCK_ROWS):
            builder.add(block, threads=args.threads)
            bar.update(len(block))
    builder.finish()
    index.set_docnos(docnos)
    index.save(args.output, overwrite=args.overwrite)
    print(f"indexed {source.n:,} vectors of dim {source.d} in {time.perf_counter() - start:.1f} s "
          f"(training on {min(source.n, args.train_size):,}: {trained:.1f} s); "
          f"{index.nbytes / 1e6:.1f} MB -> {args.output}", file=sys.stderr)
    return 0


def run_build_hnsw(args: argparse.Namespace) -> int:
    """Add block by block: with one thread the graph equals one add of everything (SQ8 ranges
    are trained first, on a seeded sample: all rows when n <= --train-size, as one add would)."""
    from winnow.cli.cmd_index import query_model
    from winnow.index import HNSWIndex
    from winnow.vector_chunks import VectorChunks

    check_index_output(args.output, args.overwrite, args.vectors)
    model = query_model(args)
    from winnow.cli import sharding

    if sharding.check_build_args(args):
        return sharding.run_build_dense(args, model)
    start = time.perf_counter()
    source = VectorChunks(args.vectors)
    docnos = source.ids()  # a bad ids file fails before the graph is built
    index = HNSWIndex(source.d, M=args.M, ef_construction=args.ef_construction, metric=args.metric,
                      payload=args.payload, refine=args.refine, model=model, seed=args.seed)
    if args.payload == "sq8":
        index.train(source.sample(args.train_size, args.seed))
    with _progress(source.n, "hnsw", args.batch_size) as bar:
        for _, block in source.blocks(args.batch_size):
            index.add(block, threads=args.threads, progress=False)
            bar.update(len(block))
    index.set_docnos(docnos)
    index.save(args.output, overwrite=args.overwrite)
    print(f"indexed {source.n:,} vectors of dim {source.d} in {time.perf_counter() - start:.1f} s "
          f"(HNSW M={args.M} ef_construction={args.ef_construction} {args.payload}); "
          f"{index.nbytes / 1e6:.1f} MB -> {args.output}", file=sys.stderr)
    return 0
