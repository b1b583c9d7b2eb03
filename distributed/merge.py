"""Exact merge of per-shard top-k lists into the collection's top-k (scatter-gather).

Every shard returns its top-k best first under the same total order the unsharded index
uses: higher score first, then the tie rule. Because that order is total and the shards
partition the documents, the collection's top-k is the top-k of the union of the shards'
top-k lists, ordered by the same rule. Tie rules:

- ``id``: lower global id first. Shards split the collection by position, so a document's
  global id is its shard's offset plus its id in the shard, and the order of global ids is
  the order of positions in the unsharded index (BM25 ``ties="id"``, Flat, PQ, IVF).
- ``docno``: lower docno string first (BM25's default, Anserini's rule). Only runs of equal
  scores that reach into the first k are looked up, so the docno cost is that of the ties.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

PAD_ID = -1


def merge_topk(parts: Sequence[tuple[np.ndarray, np.ndarray]], offsets: Sequence[int], k: int,
               ties: str = "id", docno_of: Callable[[int], str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Merge shard results into (scores (nq, kc) float32, global ids (nq, kc) int64).

    ``parts[s]`` = (scores (nq, k_s) float32, local ids (nq, k_s) int64) of shard ``s``,
    padded with id -1; ``offsets[s]`` its first global id; ``kc = min(k, sum k_s)``.
    ``ties="docno"`` needs ``docno_of(global id) -> docno``.
    """
    if ties not in ("id", "docno"):
        raise ValueError(f"ties must be 'docno' or 'id', got {ties!r}")
    if ties == "docno" and docno_of is None:
        raise ValueError("ties='docno' needs docno_of")
    if len(parts) != len(offsets):
        raise ValueError(f"{len(parts)} shard results for {len(offsets)} shard offsets")
    if not parts:
        raise ValueError("no shard results to merge")
    nq = parts[0][0].shape[0]
    for s, (sc, ids) in enumerate(parts):
        if sc.shape != ids.shape or sc.ndim != 2 or sc.shape[0] != nq:
            raise ValueError(f"shard {s} returned scores {sc.shape} and ids {ids.shape}, expected ({nq}, k)")
    scores = np.concatenate([np.asarray(sc, np.float32) for sc, _ in parts], axis=1)  # (nq, sum k_s)
    gids = np.concatenate([np.where(ids >= 0, ids + off, PAD_ID).astype(np.int64)
                           for (_, ids), off in zip(parts, offsets)], axis=1)
    scores = np.where(gids >= 0, scores, -np.inf).astype(np.float32)
    kc = min(int(k), scores.shape[1])
    # padding sorts last: after every real hit, -inf scores included
    pad = gids < 0
    id_key = np.where(pad, np.iinfo(np.int64).max, gids)
    order = np.lexsort((id_key, pad, -scores.astype(np.float64)), axis=1)  # last key is primary
    top_scores = np.take_along_axis(scores, order, axis=1)
    top_ids = np.take_along_axis(gids, order, axis=1)
    if ties == "docno":
        _order_ties_by_docno(top_scores, top_ids, kc, docno_of)
    return top_scores[:, :kc].copy(), top_ids[:, :kc].copy()


def _order_ties_by_docno(scores: np.ndarray, ids: np.ndarray, kc: int, docno_of: Callable[[int], str]) -> None:
    """Reorder, in place, each run of equal scores (real hits) that starts before column kc by docno."""
    nq, width = ids.shape
    if width < 2:
        return
    same = (scores[:, 1:] == scores[:, :-1]) & (ids[:, 1:] >= 0) & (ids[:, :-1] >= 0)  # (nq, width-1)
    for qi in np.flatnonzero(same[:, :kc].any(axis=1) if kc > 0 else np.zeros(nq, bool)):
        row_same = same[qi]
        j = 0
        while j < kc:
            if j < width - 1 and row_same[j]:
                end = j + 1
                while end < width - 1 and row_same[end]:
                    end += 1
                run = ids[qi, j:end + 1]
                ids[qi, j:end + 1] = sorted(run.tolist(), key=lambda g: docno_of(int(g)).encode("utf-8"))
                j = end + 1
            else:
                j += 1
