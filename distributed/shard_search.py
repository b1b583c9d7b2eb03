"""One shard's part of a scatter-gather search: the same call in-process and in a Ray actor."""
from __future__ import annotations

import warnings

import numpy as np

from winnow.errors import InputWarning
from winnow.distributed.merge import docno_tie_keys


def search_shard(index, queries, k: int, options: dict, warn: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(scores (nq, k_s) float32, shard-local ids (nq, k_s) int64) of one shard, best first.

    ``queries``: a list of query texts (BM25) or query vectors (nq, d) float32 (dense).
    ``options``: the index's search keywords (threads, algorithm, ties, nprobe, ef, ...).
    ``warn``: pass on "query has no terms" warnings (one shard does, so a user sees one).
    """
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore", InputWarning)
        if isinstance(queries, np.ndarray):
            return index.search_vectors(queries, k=k, **options)
        res = index.search(list(queries), k=k, **options)
    return res.scores, res.ids


def tie_keys(index, ids: np.ndarray, options: dict, offset: int) -> np.ndarray:
    """(nq, k_s) int64 merge tie keys of a shard's hits: the docno rank for BM25's default
    ``ties="docno"``, else the global id (offset + local id)."""
    if hasattr(index, "docno_rank") and options.get("ties", "docno") == "docno":
        return docno_tie_keys(index.docno_rank, ids)
    return np.where(ids >= 0, ids + offset, -1).astype(np.int64)
