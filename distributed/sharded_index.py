"""``ShardedIndex``: a document-partitioned index searched shard by shard in this process,
results merged exactly (see merge.py). ``RaySearcher`` does the same over Ray actors."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from winnow.index.format import register_format
from winnow.limits import check_k
from winnow.results import Results
from winnow.stage import Retriever, as_queries
from winnow.distributed import manifest as mf
from winnow.distributed.merge import merge_topk
from winnow.distributed.shard_loading import load_shard
from winnow.distributed.shard_search import search_shard, tie_keys
from winnow.distributed.sharded_docnos import ShardedDocnos


class ShardedIndex(Retriever):
    """The shards of a sharded index directory, loaded in this process.

    ``search`` takes what the shard type takes (texts for BM25; texts or vectors for dense
    shards) and the same keywords (``threads``, ``algorithm``, ``ties``, ``nprobe``, ``ef``).
    BM25 results are identical to the unsharded index's, ties included; Flat, PQ and IVF
    (shared quantizers, same ``nprobe``) too; HNSW shards are approximate.
    """

    FORMAT = mf.FORMAT

    def __init__(self, meta: dict, shards: list, path: Path | None = None, k: int = 1000):
        self.meta, self.shards, self.path, self.k = meta, shards, path, k
        self.shard_format = meta["params"]["shard_format"]
        self.offsets = [e["offset"] for e in meta["shards"]]
        self.docnos = ShardedDocnos([s.docnos for s in shards])
        first = shards[0]
        self.params = dict(getattr(first, "params", {}))
        if hasattr(first, "nlist"):
            self.nlist = first.nlist
        if hasattr(first, "d"):
            self.d = first.d

    @classmethod
    def load(cls, path, mmap: bool = False, verify: bool | None = None, **kwargs) -> "ShardedIndex":
        """Open every shard (checked against the manifest; see ``load_shard``)."""
        path = Path(path)
        verify = (not mmap) if verify is None else bool(verify)
        meta = mf.read_manifest(path, verify)
        shards = [load_shard(path, meta, i, mmap, verify) for i in range(len(meta["shards"]))]
        if kwargs and meta["params"]["shard_format"] == "winnow.bm25":  # k1 / b / scoring
            shards = [_with_params(s, kwargs) for s in shards]
        elif kwargs:
            raise ValueError(f"unknown load options {sorted(kwargs)} for {meta['params']['shard_format']} shards")
        return cls(meta, shards, path)

    @property
    def n_docs(self) -> int:
        return int(self.meta["params"]["n_docs"])

    @property
    def n_shards(self) -> int:
        return len(self.shards)

    def prepare(self, queries) -> tuple[list[str], list[str] | None, object]:
        """(qids, texts, what each shard searches): texts for BM25; vectors (nq, d) for dense
        shards, encoded once here (the first shard's encoder or recorded model)."""
        if self.shard_format == "winnow.bm25":
            qids, texts = as_queries(queries)
            return qids, texts, texts
        return self.shards[0]._query_vectors(queries)

    def search(self, queries, k: int = 10, **options) -> Results:
        qids, texts, payload = self.prepare(queries)
        scores, ids = self.search_prepared(payload, k, **options)
        return Results(qids, ids, scores, self.docnos, texts)

    def search_vectors(self, x, k: int = 10, **options) -> tuple[np.ndarray, np.ndarray]:
        """(scores, global ids) of query vectors (nq, d) against dense shards."""
        from winnow.index.dense_base import as_vectors

        return self.search_prepared(as_vectors(x, self.d, "query vectors"), k, **options)

    def search_prepared(self, payload, k: int, **options) -> tuple[np.ndarray, np.ndarray]:
        k = check_k(k, self.n_docs)
        parts = [search_shard(s, payload, k, options, warn=(i == 0)) for i, s in enumerate(self.shards)]
        keys = [tie_keys(s, ids, options, off) for s, (_, ids), off in zip(self.shards, parts, self.offsets)]
        return merge_topk(parts, self.offsets, k, keys)

    def __repr__(self) -> str:
        return f"ShardedIndex({self.shard_format}, n_shards={self.n_shards}, n_docs={self.n_docs})"


def _with_params(shard, params: dict):
    """A BM25 shard view with other k1 / b / scoring (bounds recomputed, collection
    statistics and docno ranks kept)."""
    view = shard.with_params(**params)
    view.docno_rank = shard.docno_rank
    return view


register_format(mf.FORMAT)(ShardedIndex)
