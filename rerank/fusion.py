"""Result fusion for hybrid pipelines: reciprocal rank fusion and normalised score sums.

Fusion works on external document ids (docnos), so retrievers over different indexes
(BM25 and dense, say) fuse correctly; the fused Results carry their own docno table.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from winnow.docnos import DocnoTable
from winnow.results import Results
from winnow.stage import Retriever, Stage, as_queries


def _check_aligned(inputs: Sequence[Results]) -> list[str]:
    if not inputs:
        raise ValueError("fusion needs at least one result list")
    qids = inputs[0].qids
    for r in inputs[1:]:
        if r.qids != qids:
            raise ValueError("fused result lists must hold the same queries in the same order")
    return qids


def _fuse(inputs: Sequence[Results], contributions, k: int) -> Results:
    """Sum per-docno contributions; contributions(result_index, row_scores, valid) -> (n,) float64."""
    qids = _check_aligned(inputs)
    table = DocnoTable.builder()
    per_query: list[dict[int, float]] = [dict() for _ in qids]
    for ri, res in enumerate(inputs):
        for qi in range(res.nq):
            valid = res.ids[qi] >= 0
            ids = res.ids[qi][valid]
            if len(ids) == 0:
                continue
            values = contributions(ri, res.scores[qi][valid])
            acc = per_query[qi]
            for docno, v in zip(res.docnos.lookup(ids), values):
                gid = table.add(docno)
                acc[gid] = acc.get(gid, 0.0) + float(v)
    out = Results.empty(qids, k, table.build(), inputs[0].queries)
    for qi, acc in enumerate(per_query):
        if not acc:
            continue
        ids = np.fromiter(acc.keys(), np.int64, len(acc))
        scores = np.fromiter(acc.values(), np.float64, len(acc))
        # best score first; ties: the docno seen first for this query (dict insertion order)
        order = np.lexsort((np.arange(len(ids)), -scores))[:k]
        out.ids[qi, : len(order)] = ids[order]
        out.scores[qi, : len(order)] = scores[order].astype(np.float32)
    return out


def reciprocal_rank_fusion(inputs: Sequence[Results], k: int = 1000, rrf_k: int = 60,
                           weights: Sequence[float] | None = None) -> Results:
    """RRF (Cormack, Clarke & Buettcher, SIGIR 2009): score(d) = sum_i w_i / (rrf_k + rank_i(d)).

    Ranks start at 1; a document missing from a list contributes nothing for it.
    """
    if rrf_k < 0:
        raise ValueError(f"rrf_k must be >= 0, got {rrf_k}")
    w = list(weights) if weights is not None else [1.0] * len(inputs)
    if len(w) != len(inputs):
        raise ValueError(f"{len(w)} weights for {len(inputs)} result lists")
    return _fuse(inputs, lambda ri, s: w[ri] / (rrf_k + np.arange(1, len(s) + 1, dtype=np.float64)), k)


def _normalise(scores: np.ndarray, method: str) -> np.ndarray:
    s = scores.astype(np.float64)
    if method == "minmax":
        lo, hi = s.min(), s.max()
        return np.ones_like(s) if hi == lo else (s - lo) / (hi - lo)
    if method == "zscore":
        sd = s.std()
        return np.zeros_like(s) if sd == 0 else (s - s.mean()) / sd
    if method == "none":
        return s
    raise ValueError(f"unknown normalisation '{method}' (expected minmax, zscore or none)")


def score_fusion(inputs: Sequence[Results], k: int = 1000, normalise: str = "minmax",
                 weights: Sequence[float] | None = None) -> Results:
    """Weighted sum of per-query normalised scores (min-max or z-score; CombSUM, Fox & Shaw 1994)."""
    _normalise(np.zeros(1), normalise)  # validate the name even for empty inputs
    w = list(weights) if weights is not None else [1.0] * len(inputs)
    if len(w) != len(inputs):
        raise ValueError(f"{len(w)} weights for {len(inputs)} result lists")
    return _fuse(inputs, lambda ri, s: w[ri] * _normalise(s, normalise), k)


class Fusion(Retriever):
    """A stage that runs several retrievers on the same queries and fuses their results.

    Used as ``rrf(bm25, dense)``; as a stage it ignores incoming results.
    """

    def __init__(self, retrievers: Sequence[Stage], method: str = "rrf", k: int = 1000, depth: int = 1000,
                 rrf_k: int = 60, normalise: str = "minmax", weights: Sequence[float] | None = None):
        if method not in ("rrf", "score"):
            raise ValueError(f"unknown fusion method '{method}' (expected rrf or score)")
        if not retrievers:
            raise ValueError("fusion needs at least one retriever")
        self.retrievers = list(retrievers)
        self.method, self.k, self.depth = method, k, depth
        self.rrf_k, self.normalise, self.weights = rrf_k, normalise, weights

    def search(self, queries, k: int = 10, **kwargs) -> Results:
        qids, texts = as_queries(queries)
        q = dict(zip(qids, texts))
        inputs = [r.search(q, k=max(self.depth, k), **kwargs) if isinstance(r, Retriever) else r(q)
                  for r in self.retrievers]
        if self.method == "rrf":
            return reciprocal_rank_fusion(inputs, k=k, rrf_k=self.rrf_k, weights=self.weights)
        return score_fusion(inputs, k=k, normalise=self.normalise, weights=self.weights)

    def __repr__(self) -> str:
        return f"{self.method}({', '.join(map(repr, self.retrievers))})"


def rrf(*retrievers: Stage, k: int = 1000, depth: int = 1000, rrf_k: int = 60, weights=None) -> Fusion:
    """Reciprocal rank fusion of retrievers: ``rrf(bm25, dense)``."""
    return Fusion(retrievers, "rrf", k=k, depth=depth, rrf_k=rrf_k, weights=weights)


def score_sum(*retrievers: Stage, k: int = 1000, depth: int = 1000, normalise: str = "minmax",
              weights=None) -> Fusion:
    """Normalised score sum of retrievers: ``score_sum(bm25, dense, normalise="zscore")``."""
    return Fusion(retrievers, "score", k=k, depth=depth, normalise=normalise, weights=weights)
