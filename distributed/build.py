"""Build a sharded index: the collection split by position into ``n_shards`` parts, one
index per part (a Ray task each with ``ray``), then the collection's statistics and the
manifest. The whole directory is written like any index (``save_directory``): shards go
into the temporary sibling, the manifest last, then one atomic swap into place.
"""
from __future__ import annotations

import os
from itertools import islice
from pathlib import Path

import numpy as np

from winnow.index.format import save_directory
from winnow.index.safe_save import check_output, remove_leftovers
from winnow.distributed import manifest as mf
from winnow.distributed.ray_runtime import ray_session, run_tasks

BLOCK_ROWS = 65536  # vectors per block when a dense shard reads its slice


def _corpus_slice(source, start: int, stop: int):
    """Documents [start, stop) of a corpus path (each task reads its own slice) or list."""
    if isinstance(source, (str, os.PathLike)):
        from winnow import datasets

        return islice(datasets.load(source).corpus(), start, stop)
    return source[start:stop]


def _count_corpus(source) -> int:
    return sum(1 for _ in _corpus_slice(source, 0, None)) if isinstance(source, (str, os.PathLike)) else len(source)


# -- BM25 --------------------------------------------------------------------------------------
def _bm25_shard_task(source, start: int, stop: int, out: str, options: dict) -> dict:
    """Index documents [start, stop) into ``out`` (a Ray task; reruns replace a partial save)."""
    from winnow.index import BM25Index

    index = BM25Index.build(_corpus_slice(source, start, stop), progress=False, **options)
    if index.n_docs != stop - start:
        raise ValueError(f"shard [{start}, {stop}) read {index.n_docs} documents: the corpus changed while building")
    index.save(out, overwrite=True)  # only ever our own shard inside the temporary directory
    return {k: int(v) for k, v in index._stats.items()}


def _bm25_bounds_task(out: str, side_prefix: str, stats: dict, threads: int) -> None:
    """Pruning bounds of one shard under the collection's statistics, beside the shard."""
    from winnow.index import BM25Index
    from winnow.distributed import bm25_global

    index = BM25Index.load(out, mmap=True, verify=False)
    idf_df = np.load(f"{side_prefix}.idf_df.npy")
    block_max, multi_max = bm25_global.global_bounds(index, idf_df, stats, threads)
    np.save(f"{side_prefix}.block_max_x.npy", block_max)
    np.save(f"{side_prefix}.multi_max_x.npy", multi_max)


def build_sharded_bm25(docs, path, n_shards: int, *, k1: float = 0.9, b: float = 0.4, scoring: str = "lucene",
                       analyzer: str = "english", threads: int = 1, batch_size: int = 8192,
                       memory_budget_mb: float = 2048, overwrite: bool = False, ray: str | None = None,
                       total: int | None = None, num_cpus: int | None = None) -> dict:
    """Build a sharded BM25 index at ``path``; returns the manifest.

    ``docs``: a corpus file or dataset directory (each shard task reads its own slice), or a
    sequence of (docno, text). ``ray``: None (build here, one shard after another),
    ``"local"``, ``"auto"`` or a cluster address. ``total``: the number of documents, if
    known (else counted in one pass).
    """
    path = Path(path).absolute()
    check_output(path, overwrite, [docs] if isinstance(docs, (str, os.PathLike)) else [])
    if not isinstance(docs, (str, os.PathLike, list, tuple)):
        docs = list(docs)  # each shard takes its slice
    n = _count_corpus(docs) if total is None else int(total)
    spans = mf.split_positions(n, n_shards)
    options = {"k1": k1, "b": b, "scoring": scoring, "analyzer": analyzer, "threads": threads,
               "batch_size": batch_size, "memory_budget_mb": memory_budget_mb}
    meta = {"format": mf.FORMAT, "format_version": list(mf.FORMAT_VERSION)}

    def write(tmp: Path) -> None:
        from winnow.index import BM25Index
        from winnow.distributed import bm25_global

        names = [mf.shard_name(i) for i in range(len(spans))]
        with ray_session(ray, num_cpus) as rt:
            shard_stats = run_tasks(_bm25_shard_task, [(docs, a, z, str(tmp / nm), options)
                                                       for nm, (a, z) in zip(names, spans)], rt)
            stats = bm25_global.collection_stats(shard_stats)
            shards = [BM25Index.load(tmp / nm, mmap=True, verify=False) for nm in names]
            for nm, idf_df in zip(names, bm25_global.collection_df(shards)):
                np.save(tmp / mf.side_file(nm, "idf_df"), idf_df)
            for nm, rank in zip(names, bm25_global.collection_docno_ranks(shards)):
                np.save(tmp / mf.side_file(nm, "docno_rank"), rank)
            del shards
            run_tasks(_bm25_bounds_task, [(str(tmp / nm), str(tmp / nm), stats, threads) for nm in names], rt)
        _finish_meta(meta, tmp, names, spans, "winnow.bm25", n)
        meta["stats"] = stats
        meta["params"].update({k: options[k] for k in ("k1", "b", "scoring", "analyzer")})

    save_directory(path, write, meta, overwrite)
    return meta


def _finish_meta(meta: dict, tmp: Path, names: list, spans: list, shard_format: str, n: int) -> None:
    """Fill the manifest (``save_directory`` writes it after ``write`` returns, then swaps)."""
    for nm in names:
        remove_leftovers(tmp / nm)  # of a retried task's interrupted save
    meta["params"] = {"shard_format": shard_format, "n_shards": len(names), "n_docs": int(n)}
    meta["shards"] = [mf.shard_entry(nm, a, tmp / nm) for nm, (a, _) in zip(names, spans)]
    for e, (a, z) in zip(meta["shards"], spans):
        if e["n_docs"] != z - a:
            raise ValueError(f"shard {e['name']} holds {e['n_docs']} documents, expected {z - a}")


# -- dense -------------------------------------------------------------------------------------
def _dense_template(kind: str, d: int, options: dict, model: str | None):
    """An empty index of the shard type (untrained)."""
    from winnow.index.flat import FlatIndex
    from winnow.index.hnsw import HNSWIndex
    from winnow.index.ivf import IVFIndex
    from winnow.index.pq_index import PQIndex

    metric = options.get("metric", "ip")
    if kind == "flat":
        return FlatIndex(d, metric, model, payload=options.get("payload", "float32"))
    if kind == "pq":
        return PQIndex(d, options["M"], options.get("nbits", 8), metric, opq=options.get("opq", False),
                       refine=options.get("refine", False), model=model)
    if kind == "ivfpq":
        payload = "fastscan" if options.get("nbits", 8) == 4 else "pq"
        return IVFIndex(d, options["nlist"], payload, options["M"], options.get("nbits", 8), metric,
                        residual=options.get("residual", True), opq=options.get("opq", False),
                        refine=options.get("refine", False), model=model)
    if kind == "hnsw":
        return HNSWIndex(d, M=options.get("hnsw_M", 16), ef_construction=options.get("ef_construction", 100),
                         metric=metric, model=model, seed=options.get("seed", 100))
    raise ValueError(f"unknown dense shard kind {kind!r} (expected flat, pq, ivfpq or hnsw)")


def _dense_shard_task(vectors: str, start: int, stop: int, out: str, kind: str, trained: tuple, threads: int) -> dict:
    """Add vectors [start, stop) to a copy of the trained (empty) index; save to ``out``."""
    from winnow.index.ivf_builder import IVFBuilder
    from winnow.vector_chunks import VectorChunks

    cls, params, arrays = trained
    index = cls._from_arrays(params, {k: np.array(v) for k, v in arrays.items()})
    source = VectorChunks(vectors)
    builder = IVFBuilder(index, stop - start) if kind == "ivfpq" else None
    for first, block in source.blocks(BLOCK_ROWS):
        lo, hi = max(start, first), min(stop, first + len(block))
        if lo >= hi:
            continue
        part = block[lo - first:hi - first]
        if builder is not None:
            builder.add(part, threads=threads)
        elif kind == "flat" or kind == "pq":
            index.add(part)
        else:
            index.add(part, threads=threads, progress=False)
    if builder is not None:
        builder.finish()
    index.set_docnos(source.ids()[start:stop])
    index.save(out, overwrite=True)
    return {"n_docs": index.n_docs}


def build_sharded_dense(vectors, path, kind: str, n_shards: int, *, options: dict | None = None,
                        model: str | None = None, train_size: int = 200_000, niter: int = 20, seed: int = 1234,
                        threads: int = 1, overwrite: bool = False, ray: str | None = None,
                        num_cpus: int | None = None) -> dict:
    """Build a sharded Flat / PQ / IVF-PQ / HNSW index from a vectors directory.

    PQ and IVF-PQ train once, on the sample an unsharded build takes, and every shard
    shares the codebooks and coarse quantizer, so the merged results equal the unsharded
    index's (IVF: for the same nprobe). HNSW shards are separate graphs (approximate).
    """
    from winnow.validation import unique_docno_table
    from winnow.vector_chunks import VectorChunks

    options = dict(options or {})
    path = Path(path).absolute()
    check_output(path, overwrite, [vectors])
    source = VectorChunks(vectors)
    unique_docno_table(source.ids())  # docnos unique over the collection, not only within each shard
    spans = mf.split_positions(source.n, n_shards)
    template = _dense_template(kind, source.d, options, model)
    if kind in ("pq", "ivfpq"):
        template.train(source.sample(train_size, seed), niter=niter, seed=seed, threads=threads)
    trained = (type(template), template._params(), template._arrays())
    shard_format = template.FORMAT
    meta = {"format": mf.FORMAT, "format_version": list(mf.FORMAT_VERSION)}

    def write(tmp: Path) -> None:
        names = [mf.shard_name(i) for i in range(len(spans))]
        with ray_session(ray, num_cpus) as rt:
            run_tasks(_dense_shard_task, [(str(Path(vectors).absolute()), a, z, str(tmp / nm), kind, trained, threads)
                                          for nm, (a, z) in zip(names, spans)], rt)
        _finish_meta(meta, tmp, names, spans, shard_format, source.n)
        meta["params"]["kind"] = kind

    save_directory(path, write, meta, overwrite)
    return meta
