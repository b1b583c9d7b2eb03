"""Exact merge of per-shard top-k lists into the collection's top-k (scatter-gather).

Every shard returns its top-k best first under the order the unsharded index uses: higher
score first, then the tie rule. That order is total and the shards partition the documents,
so the collection's top-k is the top-k of the union of the shards' lists under the same
order. A tie rule is a key per hit, lower first:

- ``id``: the global id. Shards split the collection by position, so global id = shard
  offset + id in the shard, and global ids are the unsharded index's internal ids (BM25
  ``ties="id"``; Flat, PQ, IVF and HNSW break ties by lower id).
- ``docno``: the hit's rank among all docnos of the collection in UTF-8 byte order (BM25's
  default, Anserini's rule), recorded per shard at build time (``docno_rank``), so that the
  merge compares integers, never strings.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

PAD_ID = -1
_NO_KEY = np.iinfo(np.int64).max


def merge_topk(parts: Sequence[tuple[np.ndarray, np.ndarray]], offsets: Sequence[int], k: int,
               tie_keys: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Merge shard results into (scores (nq, kc) float32, global ids (nq, kc) int64).

    ``parts[s]`` = (scores (nq, k_s) float32, local ids (nq, k_s) int64) of shard ``s``, best
    first, padded with id -1; ``offsets[s]`` its first global id; ``tie_keys[s]`` (nq, k_s)
    int64 the tie key of each hit (default: the global id); ``kc = min(k, sum of k_s)``.
    """
    if len(parts) != len(offsets):
        raise ValueError(f"{len(parts)} shard results for {len(offsets)} shard offsets")
    if tie_keys is not None and len(tie_keys) != len(parts):
        raise ValueError(f"{len(tie_keys)} tie key arrays for {len(parts)} shard results")
    if not parts:
        raise ValueError("no shard results to merge")
    nq = parts[0][0].shape[0]
    for s, (sc, ids) in enumerate(parts):
        if sc.shape != ids.shape or sc.ndim != 2 or sc.shape[0] != nq:
            raise ValueError(f"shard {s} returned scores {sc.shape} and ids {ids.shape}, expected ({nq}, k)")
    gids = np.concatenate([np.where(ids >= 0, ids + off, PAD_ID).astype(np.int64)
                           for (_, ids), off in zip(parts, offsets)], axis=1)  # (nq, sum k_s)
    pad = gids < 0
    scores = np.concatenate([np.asarray(sc, np.float32) for sc, _ in parts], axis=1)
    scores = np.where(pad, np.float32(-np.inf), scores)
    keys = gids if tie_keys is None else np.concatenate([np.asarray(t, np.int64) for t in tie_keys], axis=1)
    keys = np.where(pad, _NO_KEY, keys)
    kc = min(int(k), scores.shape[1])
    # primary key last: score (descending), then padding after every real hit, then the tie key
    order = np.lexsort((keys, pad, -scores.astype(np.float64)), axis=1)[:, :kc]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(gids, order, axis=1)


def docno_tie_keys(docno_rank: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(nq, k_s) int64 tie keys of a shard's hits ``ids`` (local, -1 padded) from the shard's
    ``docno_rank`` (n_s,) (each document's rank among the collection's docnos)."""
    ids = np.asarray(ids, np.int64)
    keys = np.full(ids.shape, _NO_KEY, np.int64)
    real = ids >= 0
    keys[real] = np.asarray(docno_rank)[ids[real]].astype(np.int64)
    return keys
