"""Pairwise scorers: an expensive ``score(query, doc_ids)`` with an honest call counter.

A pairwise scorer scores one (query, document) pair per *call* (a cross-encoder forward
pass, a MaxSim over two token matrices, any function). CUR kNN search
(:mod:`winnow.index.cur`) spends a budget of such calls, so every scorer counts the pairs
it scores in ``calls`` (one per pair, however they are batched internally).

Implementations:

* :class:`CrossEncoderScorer`: a sentence-transformers ``CrossEncoder`` from a local path.
* :class:`MaxSimScorer`: ColBERT MaxSim between query token vectors and document token
  vectors (``sum_i max_j <q_i, d_j>``); document tokens from arrays or a token store.
* :class:`CallableScorer`: any Python function ``fn(query, doc_ids) -> scores``.

:func:`scorer_from_spec` builds one from a text SPEC (CLI and saved CUR indexes):
``cross-encoder:MODEL_DIR[@CORPUS]``, ``maxsim:TOKEN_STORE_DIR[@QUERY_MODEL_DIR]``.
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np

from winnow.deprecation import deprecated_alias, renamed_argument

__all__ = ["PairwiseScorer", "CrossEncoderScorer", "MaxSimScorer", "CallableScorer",
           "scorer_from_spec"]


class PairwiseScorer:
    """Base class. Subclasses implement ``_score(query, ids) -> (m,) float`` for valid ids.

    ``n_docs`` is the number of documents (ids 0..n_docs-1); ``calls`` counts every pair
    scored since construction or :meth:`reset_calls`; ``batch_size`` bounds the pairs
    handed to ``_score`` at once; ``spec`` (when known) rebuilds the scorer from text.
    """

    batch_size: int = 256
    spec: str | None = None

    n_items = deprecated_alias("n_items", "n_docs")

    def __init__(self, n_docs: int | None = None, batch_size: int = 256, *, n_items: int | None = None):
        n_docs = renamed_argument(n_docs, n_items, "n_items", "n_docs")
        if n_docs is None or int(n_docs) < 0:
            raise ValueError(f"n_docs must be an integer >= 0, got {n_docs}")
        if int(batch_size) <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.n_docs = int(n_docs)
        self.batch_size = int(batch_size)
        self.calls = 0

    def reset_calls(self) -> int:
        """Zero the counter; returns the count it had."""
        n, self.calls = self.calls, 0
        return n

    def score(self, query, doc_ids) -> np.ndarray:
        """Exact scores (m,) float32 of ``query`` against documents ``doc_ids`` (m,) int.

        Counts ``m`` calls (duplicates included: each listed pair is scored)."""
        ids = np.asarray(doc_ids, dtype=np.int64).reshape(-1)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.n_docs):
            bad = ids[(ids < 0) | (ids >= self.n_docs)]
            raise IndexError(f"document id(s) {bad[:5].tolist()} outside 0..{self.n_docs - 1}")
        out = np.empty(len(ids), np.float32)
        for s in range(0, len(ids), self.batch_size):
            part = ids[s:s + self.batch_size]
            got = np.asarray(self._score(query, part), dtype=np.float32).reshape(-1)
            if len(got) != len(part):
                raise ValueError(f"scorer returned {len(got)} scores for {len(part)} documents")
            out[s:s + len(part)] = got
            self.calls += len(part)
        return out

    def _score(self, query, ids: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_docs={self.n_docs}, calls={self.calls})"


class CallableScorer(PairwiseScorer):
    """Wrap ``fn(query, doc_ids (m,) int64) -> (m,) scores``; ``pairwise=True`` wraps a
    ``fn(query, doc_id) -> float`` instead (called once per pair)."""

    def __init__(self, fn: Callable, n_docs: int | None = None, pairwise: bool = False,
                 batch_size: int = 256, *, n_items: int | None = None):
        super().__init__(renamed_argument(n_docs, n_items, "n_items", "n_docs"), batch_size)
        if not callable(fn):
            raise ValueError(f"fn must be callable, got {type(fn).__name__}")
        self.fn, self.pairwise = fn, bool(pairwise)

    def _score(self, query, ids):
        if self.pairwise:
            return np.array([self.fn(query, int(i)) for i in ids], np.float32)
        return self.fn(query, ids)


class CrossEncoderScorer(PairwiseScorer):
    """A sentence-transformers ``CrossEncoder`` loaded from a local directory (nothing is
    downloaded). ``docs``: document texts indexed by id. Scores are the model's raw output
    (logit for one label; no activation), so a higher score is better."""

    def __init__(self, model_path, docs: Sequence[str], batch_size: int = 32, max_length: int | None = None,
                 device: str = "cpu"):
        super().__init__(len(docs), batch_size)
        path = os.fspath(model_path)
        if not os.path.isdir(path):
            raise ValueError(f"cross-encoder path {path!r} is not a local model directory "
                             "(models load from local paths only; nothing is downloaded)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        kwargs = {"max_length": max_length} if max_length else {}
        try:
            self.model = CrossEncoder(path, device=device, local_files_only=True, **kwargs)
        except TypeError:  # older sentence-transformers without local_files_only
            self.model = CrossEncoder(path, device=device, **kwargs)
        # a store's StoreTexts decodes each document when scored instead of holding them all
        self.docs = docs if hasattr(docs, "store") else list(docs)
        self.model_path = path

    def _score(self, query, ids):
        pairs = [(str(query), self.docs[int(i)]) for i in ids]
        import torch

        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False,
                                    convert_to_numpy=True, activation_fn=torch.nn.Identity())
        scores = np.asarray(scores, np.float32)
        return scores if scores.ndim == 1 else scores[:, 0]


class MaxSimScorer(PairwiseScorer):
    """MaxSim (late interaction) as a pairwise scorer.

    Documents: ``doc_vectors`` (T, dim) + ``doc_offsets`` (n + 1,) int64 (document i owns
    rows ``offsets[i]:offsets[i+1]``), or a token store (:meth:`from_token_store`).
    Queries: token matrices (t, dim), or texts turned into token matrices by
    ``query_encoder`` (a callable text -> (t, dim), e.g. a ``SentenceEncoder``'s
    ``encode_tokens`` wrapped; results are cached per text).
    ``kernel``: a function ``(q, doc_ids) -> scores`` used instead of the arrays (the token
    store's MaxSim plugs in here). Either way the scoring is the C++ MaxSim kernel; the arrays
    are converted to contiguous float32 once, here.
    """

    def __init__(self, doc_vectors=None, doc_offsets=None, query_encoder: Callable | None = None,
                 kernel: Callable | None = None, n_docs: int | None = None, batch_size: int = 1024,
                 *, n_items: int | None = None):
        n_docs = renamed_argument(n_docs, n_items, "n_items", "n_docs")
        if kernel is None and (doc_vectors is None or doc_offsets is None):
            raise ValueError("MaxSimScorer needs doc_vectors and doc_offsets, or a kernel")
        if doc_offsets is not None:
            doc_offsets = np.ascontiguousarray(doc_offsets, dtype=np.int64)
            if doc_offsets.ndim != 1 or len(doc_offsets) < 1:
                raise ValueError(f"doc_offsets must be 1-D (n + 1,), got shape {doc_offsets.shape}")
            n = len(doc_offsets) - 1
        elif n_docs is None:
            raise ValueError("with a kernel and no offsets, pass n_docs")
        super().__init__(n if n_docs is None else n_docs, batch_size)
        if doc_vectors is not None and kernel is None:
            doc_vectors = np.ascontiguousarray(doc_vectors, dtype=np.float32)
        self.doc_vectors, self.doc_offsets = doc_vectors, doc_offsets
        self.query_encoder, self.kernel = query_encoder, kernel
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def from_token_store(cls, path, query_encoder: Callable | None = None, batch_size: int = 1024):
        """Adapter to ``winnow.index.token_store`` (the late-interaction index): scores with
        the store's C++ ``maxsim(q, ids)``."""
        from winnow.index.token_store import TokenStore

        store = TokenStore.load(path)
        return cls(kernel=store.maxsim, n_docs=store.n_docs, query_encoder=query_encoder,
                   batch_size=batch_size)

    def query_tokens(self, query) -> np.ndarray:
        if isinstance(query, np.ndarray):
            return query
        if self.query_encoder is None:
            raise ValueError("MaxSimScorer got a text query but has no query_encoder; pass "
                             "query token vectors (t, dim) or set query_encoder")
        key = str(query)
        if key not in self._cache:
            self._cache[key] = np.ascontiguousarray(self.query_encoder(key), dtype=np.float32)
        return self._cache[key]

    def _score(self, query, ids):
        q = self.query_tokens(query)
        if self.kernel is not None:
            return self.kernel(q, ids)
        from winnow import _core

        return _core.maxsim_f32(np.ascontiguousarray(q, dtype=np.float32), None, self.doc_vectors,
                                self.doc_offsets, np.ascontiguousarray(ids, dtype=np.int64), 1)


def _read_corpus_texts(path) -> tuple[list[str], list[str]]:
    from winnow.datasets import load

    docs = list(load(path).corpus())
    return [d for d, _ in docs], [t for _, t in docs]


def scorer_from_spec(spec: str, corpus=None, batch_size: int | None = None) -> PairwiseScorer:
    """Build a scorer from text.

    * ``cross-encoder:MODEL_DIR`` — needs ``corpus`` (a path, an index built with a document
      store, or a list of texts by id), or ``cross-encoder:MODEL_DIR@CORPUS_PATH``; a path that
      is an index directory with a document store (``--store text``) is read from its store.
    * ``maxsim:TOKEN_STORE_DIR`` or ``maxsim:TOKEN_STORE_DIR@QUERY_MODEL_DIR`` (query texts
      are encoded to token vectors with that sentence-transformers model; default: the
      packaged all-MiniLM-L6-v2).
    """
    kind, sep, rest = str(spec).partition(":")
    if not sep or not rest:
        raise ValueError(f"scorer SPEC {spec!r}: expected 'cross-encoder:MODEL_DIR' or 'maxsim:TOKEN_STORE_DIR'")
    path, _, extra = rest.partition("@")
    if kind == "cross-encoder":
        source = extra or corpus
        if source is None:
            raise ValueError(f"scorer SPEC {spec!r}: a cross-encoder needs the corpus texts "
                             "(cross-encoder:MODEL_DIR@CORPUS, or pass corpus)")
        from winnow.index.doc_store import StoreTexts, texts_of_index

        if isinstance(source, (str, os.PathLike)):
            texts = texts_of_index(source)
            if texts is None:  # a corpus file or dataset directory
                texts = _read_corpus_texts(source)[1]
        elif getattr(source, "store", None) is not None:  # an index built with store="text"
            texts = StoreTexts(source.store)
        else:
            texts = list(source)
        scorer = CrossEncoderScorer(path, texts, batch_size=batch_size or 32)
    elif kind == "maxsim":
        from winnow.encoders import SentenceEncoder

        enc = SentenceEncoder(extra or None)
        scorer = MaxSimScorer.from_token_store(path, lambda t: enc.encode_tokens([t])[0],
                                               batch_size=batch_size or 1024)
    else:
        raise ValueError(f"scorer SPEC {spec!r}: unknown kind {kind!r} (cross-encoder, maxsim)")
    scorer.spec = str(spec) if (kind != "cross-encoder" or extra) else None
    return scorer
