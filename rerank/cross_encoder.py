"""The cross-encoder reranking stage: ``first_stage % 100 >> cross_encoder(path, corpus=...)``.

Each incoming candidate (query, document) pair is scored by a sentence-transformers
``CrossEncoder`` from a local directory (``winnow train cross-encoder`` writes one), through
:class:`winnow.rerank.scorers.CrossEncoderScorer` (raw logits, so a higher score is better; its
``calls`` counts the pairs scored); the best ``k`` are kept. Document texts come from
``corpus``: a dataset directory or corpus file, a Winnow index built with a document store
(``--store text``; a path or the loaded index), or a mapping docno -> text. In experiment
configs: ``bm25 % 100 >> cross_encoder(path="model", corpus="data/scifact")``.
"""
from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from winnow.results import PAD_ID, PAD_SCORE, Results
from winnow.stage import Stage

__all__ = ["CrossEncoderReranker", "cross_encoder"]


class _Texts:
    """Document texts by position plus docno -> position (what the scorer indexes)."""

    def __init__(self, corpus):
        if corpus is None:
            raise ValueError("cross_encoder needs corpus= (a dataset directory, corpus file, an index with a "
                             "document store, or a mapping docno -> text)")
        if isinstance(corpus, Mapping):
            self.docnos = [str(d) for d in corpus]
            self.texts = [str(corpus[d]) for d in corpus]
        elif getattr(corpus, "store", None) is not None:  # a loaded index with a document store
            from winnow.index.doc_store import StoreTexts

            self.docnos, self.texts = corpus.docnos.to_list(), StoreTexts(corpus.store)
        elif isinstance(corpus, (str, os.PathLike)):
            from winnow.index.doc_store import texts_of_index

            store = texts_of_index(corpus)
            if store is not None:
                from winnow.index.format import load

                self.docnos, self.texts = load(corpus, mmap=True).docnos.to_list(), store
            else:
                from winnow.datasets import load as load_dataset

                pairs = list(load_dataset(corpus).corpus())
                self.docnos, self.texts = [d for d, _ in pairs], [t for _, t in pairs]
        else:
            raise ValueError(f"cross_encoder corpus must be a path, an index with a store or a mapping, "
                             f"got {type(corpus).__name__}")
        self.position = {d: i for i, d in enumerate(self.docnos)}


class CrossEncoderReranker(Stage):
    """Re-score each query's incoming candidates with a cross-encoder; keep the best ``k``.

    Parameters
    ----------
    model : path-like or CrossEncoderScorer
        A local sentence-transformers cross-encoder directory (or a scorer built over the
        same ``corpus`` texts).
    corpus
        Where document texts come from (see the module docstring).
    k : int
        Results kept per query (1000).
    batch_size, max_length
        Pairs per forward pass (32); word pieces per pair (default: the model's).
    """

    def __init__(self, model, corpus=None, k: int = 1000, batch_size: int = 32, max_length: int | None = None):
        from winnow.rerank.scorers import CrossEncoderScorer

        if int(k) <= 0:
            raise ValueError(f"k must be positive, got {k}")
        self.k = int(k)
        self._texts = _Texts(corpus)
        if isinstance(model, CrossEncoderScorer):
            if model.n_docs != len(self._texts.docnos):
                raise ValueError(f"the scorer has {model.n_docs} documents, the corpus {len(self._texts.docnos)}")
            self.scorer = model
        else:
            self.scorer = CrossEncoderScorer(model, self._texts.texts, batch_size=batch_size, max_length=max_length)

    def __repr__(self) -> str:
        return f"cross_encoder({os.path.basename(str(self.scorer.model_path))!r}, k={self.k})"

    def transform(self, queries, results: Results | None) -> Results:
        if results is None:
            raise ValueError("cross_encoder needs results from an earlier stage (e.g. bm25 % 100 >> cross_encoder)")
        from winnow.rerank.maxsim import query_texts

        qids = results.qids
        texts = results.queries or query_texts(queries, qids)
        k = self.k
        ids = np.full((len(qids), k), PAD_ID, np.int64)
        scores = np.full((len(qids), k), PAD_SCORE, np.float32)
        position = self._texts.position
        for i in range(len(qids)):
            row = results.ids[i][results.ids[i] >= 0]
            docnos = results.docnos.lookup(row)
            missing = [d for d in docnos if d not in position]
            if missing:
                raise ValueError(f"cross_encoder: document(s) {missing[:3]} of query {qids[i]!r} are not in the corpus")
            s = self.scorer.score(texts[i], [position[d] for d in docnos]) if len(row) else np.zeros(0, np.float32)
            order = np.argsort(-s, kind="stable")[:k]  # ties keep the first stage's order
            ids[i, :len(order)] = row[order]
            scores[i, :len(order)] = s[order]
        return Results(qids, ids, scores, results.docnos, texts)


def cross_encoder(path, corpus=None, k: int = 1000, batch_size: int = 32, max_length: int | None = None):
    """The reranking stage (see :class:`CrossEncoderReranker`); the ``cross_encoder(...)`` of
    experiment configs."""
    return CrossEncoderReranker(path, corpus=corpus, k=k, batch_size=batch_size, max_length=max_length)
