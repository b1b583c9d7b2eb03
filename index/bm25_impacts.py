"""BM25 term weights written out as impact vectors: a real-collection baseline for impact
indexes (no learned model needed). ``bm25_impacts(index)`` yields, per document, the
{term: BM25 contribution} an ``ImpactIndex`` can index; with text queries weighted by term
count the impact index then ranks like the BM25 index up to quantization.

The weights are the BM25 index's own per-posting scores (Lucene's float expression
``w - w / (1 + tf * norm_inverse)``, csrc/core/sparse/bm25_scoring.hpp), computed here in
float32 numpy for the ``lucene`` and ``accurate`` modes.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from winnow import _core


def _norm_inverse(index) -> np.ndarray:
    """(N,) float32 1 / (k1 * ((1 - b) + b * dl / avgdl)) as the core computes it."""
    p, st = index.params, index.stats()
    k1, b = np.float32(p["k1"]), np.float32(p["b"])
    n_with = int(st["n_docs_with_terms"])
    avgdl = np.float32(float(st["total_length"]) / n_with) if n_with else np.float32(1.0)
    if p["scoring"] == "lucene":
        table = np.array([_core.lucene_byte_to_length(i) for i in range(256)], np.float32)
        dl = table[np.asarray(index.arrays["norms"])]
    elif p["scoring"] == "accurate":
        dl = np.asarray(index.arrays["doc_len"]).astype(np.float32)
    else:
        raise ValueError(f"bm25_impacts supports scoring 'lucene' and 'accurate', got {p['scoring']!r}")
    one = np.float32(1.0)
    return (one / (k1 * ((one - b) + b * dl / avgdl))).astype(np.float32)


def bm25_impacts(index) -> Iterator[tuple[str, dict[str, float]]]:
    """(docno, {term: BM25 weight}) for every document of a ``BM25Index``, in id order
    (documents without terms yield an empty vector)."""
    ninv = _norm_inverse(index)
    n_docs = index.n_docs
    n_with = int(index.stats()["n_docs_with_terms"])
    names = index.terms()
    docs_all, terms_all, weights_all = [], [], []
    for t, term in enumerate(names):
        docs, tfs = index.postings(term)
        df = len(docs)
        # Lucene idf in double, then float (bm25_scoring.hpp idf_lucene)
        w = np.float32(np.log(1.0 + (float(n_with - df) + 0.5) / (float(df) + 0.5)))
        x = tfs.astype(np.float32) * ninv[docs]
        docs_all.append(docs.astype(np.int64))
        terms_all.append(np.full(df, t, np.int64))
        weights_all.append((w - w / (np.float32(1.0) + x)).astype(np.float32))
    docs = np.concatenate(docs_all + [np.zeros(0, np.int64)])
    terms = np.concatenate(terms_all + [np.zeros(0, np.int64)])
    weights = np.concatenate(weights_all + [np.zeros(0, np.float32)])
    order = np.argsort(docs, kind="stable")
    docs, terms, weights = docs[order], terms[order], weights[order]
    bounds = np.searchsorted(docs, np.arange(n_docs + 1))
    docnos = index.docnos
    for d in range(n_docs):
        lo, hi = bounds[d], bounds[d + 1]
        yield docnos.lookup([d])[0], {names[t]: float(w) for t, w in zip(terms[lo:hi].tolist(), weights[lo:hi])}
