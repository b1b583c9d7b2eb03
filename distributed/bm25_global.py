"""Collection-wide BM25 statistics for document-partitioned shards (the idea of
Elasticsearch's dfs_query_then_fetch, computed once at build time instead of per query).

A BM25 score depends on the collection through idf (N = documents with terms, df of the
term) and the average length (sum of lengths / N); see csrc/core/sparse/bm25_scoring.hpp.
A shard that scores with the whole collection's N, df and sum of lengths gives every one of
its documents the score the unsharded index gives it. The core takes them as the stats dict
(collection-wide ``n_docs_with_terms`` and ``total_length``) plus an ``idf_df`` array (the
collection df of each of the shard's terms; ``Bm25View::idf_df``). The pruning bounds
(``block_max_x``, maxima of tf * norm_inverse) depend on the average length, so a shard
carries bounds recomputed with the collection's statistics.
"""
from __future__ import annotations

import heapq
from typing import Iterator, Sequence

import numpy as np

from winnow import _core
from winnow.index.bm25 import BM25Index

STAT_KEYS = ("n_docs", "n_docs_with_terms", "total_length")


def collection_stats(shard_stats: Sequence[dict]) -> dict:
    """Sum of the shards' n_docs, n_docs_with_terms and total_length."""
    return {key: int(sum(int(s[key]) for s in shard_stats)) for key in STAT_KEYS}


def shard_terms(index: BM25Index) -> list[bytes]:
    """The shard's terms (UTF-8 bytes) in term-id order (sorted bytewise)."""
    return [term.encode("utf-8") for term in index.terms()]


def collection_df(shards: Sequence[BM25Index]) -> list[np.ndarray]:
    """For each shard, (T_s,) uint32: the collection df of each of its terms.

    The df of a term over the collection is the sum of its df over the shards (the shards
    partition the documents). Memory: one dict entry per distinct term of the collection.
    """
    totals: dict[bytes, int] = {}
    terms = []
    for index in shards:
        t = shard_terms(index)
        terms.append(t)
        for term, df in zip(t, np.asarray(index.arrays["df"]).tolist()):
            totals[term] = totals.get(term, 0) + df
    out = []
    for t in terms:
        df = np.fromiter((totals[term] for term in t), dtype=np.uint64, count=len(t))
        if len(df) and int(df.max()) >= 2**32:
            raise ValueError(f"a term's collection df {int(df.max())} does not fit the index's uint32 df")
        out.append(df.astype(np.uint32))
    return out


def _sorted_docnos(s: int, index: BM25Index) -> Iterator[tuple[bytes, int, int]]:
    """(docno bytes, shard, local id) of shard ``s`` in docno byte order (its docno_order)."""
    # through the docno table: a numbered-docno index stores no docno bytes (docno_range)
    data = np.asarray(index.docnos.data, np.uint8).tobytes()
    off = np.asarray(index.docnos.offsets, np.int64)
    for d in np.asarray(index.arrays["docno_order"]).tolist():
        yield data[off[d]:off[d + 1]], s, d


def collection_docno_ranks(shards: Sequence[BM25Index]) -> list[np.ndarray]:
    """For each shard, (n_s,) uint64: each document's rank among all the collection's docnos
    in UTF-8 byte order (the unsharded index's docno tie order). A k-way merge of the
    shards' sorted docnos: memory O(shards) beyond the output, time O(N log shards)."""
    ranks = [np.empty(int(index.n_docs), np.uint64) for index in shards]
    merged = heapq.merge(*(_sorted_docnos(s, index) for s, index in enumerate(shards)))
    previous = None
    for rank, (docno, s, d) in enumerate(merged):
        if previous is not None and docno == previous[0]:  # each shard checked its own at build
            raise ValueError(f"duplicate document id {docno.decode('utf-8', 'replace')!r} (in shards "
                             f"{previous[1]} and {s})")
        previous = (docno, s)
        ranks[s][d] = rank
    return ranks


def global_stats(index: BM25Index, stats: dict) -> dict:
    """The stats dict of a shard view: the shard's own n_docs, the collection's N and length."""
    return {"n_docs": int(index.n_docs), "n_docs_with_terms": int(stats["n_docs_with_terms"]),
            "total_length": int(stats["total_length"])}


def global_bounds(index: BM25Index, idf_df: np.ndarray, stats: dict, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(block_max_x (B,), multi_max_x (M,)) float32 of the shard under collection statistics."""
    arrays = dict(index.arrays, idf_df=np.ascontiguousarray(idf_df, np.uint32))
    return _core.bm25_block_maxima(arrays, global_stats(index, stats), index.params["k1"], index.params["b"],
                                   index.params["scoring"], threads, source=str(index.path or ""))


def shard_view(index: BM25Index, idf_df: np.ndarray, stats: dict, block_max_x: np.ndarray,
               multi_max_x: np.ndarray) -> BM25Index:
    """The shard scoring with collection statistics: a BM25Index over the same postings."""
    arrays = dict(index.arrays, idf_df=idf_df, block_max_x=block_max_x, multi_max_x=multi_max_x)
    view = BM25Index(arrays, global_stats(index, stats), index.params, index.path, index.k)
    view.docnos.source = index.docnos.source
    view._attach_store(index.store)
    return view
