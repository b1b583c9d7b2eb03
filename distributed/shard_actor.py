"""``ShardActor``: one shard, memory-mapped, in a Ray actor process (see ray_searcher.py).

It returns, with each shard top-k, the docnos of its hits, so the driver never opens a
shard: it merges (score, then the tie rule, by docno for BM25) and labels the results.
"""
from __future__ import annotations

import os

from winnow.distributed.shard_loading import load_shard
from winnow.distributed.shard_search import search_shard, tie_keys


class ShardActor:
    def __init__(self, path: str, meta: dict, shard: int, mmap: bool = True, verify: bool | None = None):
        # a restarted actor runs this again: a shard damaged or removed meanwhile fails here,
        # and the actor stays dead (the searcher then reports the shard lost)
        self.shard = shard
        self.index = load_shard(path, meta, shard, mmap=mmap, verify=verify)

    def search(self, queries, k: int, options: dict, offset: int):
        """(scores (nq, k_s), local ids (nq, k_s), merge tie keys (nq, k_s), docnos of the
        real hits in row order)."""
        scores, ids = search_shard(self.index, queries, k, options)
        return scores, ids, tie_keys(self.index, ids, options, offset), self.index.docnos.lookup(ids[ids >= 0])

    def pid(self) -> int:
        return os.getpid()
