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
    if kc == 0:
        return scores[:, :0], gids[:, :0]
    if int(keys[~pad].max(initial=0)) < _TIE_LIMIT:
        order = _top_by_packed_key(_packed_keys(scores, keys, pad), kc)
    else:  # tie keys beyond 32 bits: three sort keys, primary last (score, then padding, then tie)
        order = np.lexsort((keys, pad, -scores.astype(np.float64)), axis=1)[:, :kc]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(gids, order, axis=1)


_TIE_LIMIT = (1 << 32) - 1


def _packed_keys(scores: np.ndarray, keys: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """(nq, w) uint64 keys whose ascending order is the merge order: the high 32 bits order
    float32 scores descending (their bits mapped to an order-preserving unsigned integer,
    -0.0 taken as 0.0), the low 32 bits hold the tie key; padding gets the largest key."""
    bits = (scores + np.float32(0.0)).view(np.uint32)  # + 0.0 turns -0.0 into 0.0
    ascending = np.where(bits >> 31 == 1, ~bits, bits | np.uint32(0x80000000))
    packed = ((~ascending).astype(np.uint64) << np.uint64(32)) | keys.astype(np.uint64)
    packed[pad] = np.iinfo(np.uint64).max
    return packed


def _top_by_packed_key(packed: np.ndarray, kc: int) -> np.ndarray:
    """Columns of the kc smallest keys per row, in ascending key order: a partition (linear)
    then a sort of the kc survivors, instead of sorting all S * k candidates."""
    if kc < packed.shape[1]:
        part = np.argpartition(packed, kc - 1, axis=1)[:, :kc]
        order = np.argsort(np.take_along_axis(packed, part, axis=1), axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1)
    return np.argsort(packed, axis=1, kind="stable")


def docno_tie_keys(docno_rank: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(nq, k_s) int64 tie keys of a shard's hits ``ids`` (local, -1 padded) from the shard's
    ``docno_rank`` (n_s,) (each document's rank among the collection's docnos)."""
    ids = np.asarray(ids, np.int64)
    keys = np.full(ids.shape, _NO_KEY, np.int64)
    real = ids >= 0
    keys[real] = np.asarray(docno_rank)[ids[real]].astype(np.int64)
    return keys
