"""Late-interaction retrieval over a :class:`~winnow.index.token_store.TokenStore`.

* :class:`MaxSimRetriever` -- ColBERT's end-to-end pipeline (Khattab & Zaharia, SIGIR 2020,
  "dense_e2e" in ColBERT-PRF): every query vector retrieves its ``faiss_depth`` nearest token
  vectors from an IVF(-PQ) index over all token vectors of the collection, the union of
  their documents is scored by exact weighted MaxSim, and the best ``k`` are returned.
* :class:`MaxSimReranker` -- a stage re-scoring the documents of incoming Results by MaxSim
  (``bm25 >> maxsim_rerank``).

Query token vectors come from a late-interaction encoder (:mod:`winnow.colbert`) or from
``query_tokens`` (qid -> (vectors, token_ids)), e.g. ``winnow encode --queries --tokens``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from winnow.results import PAD_ID, PAD_SCORE, Results
from winnow.stage import Retriever, Stage, as_queries

__all__ = ["ANN_PRESETS", "MaxSimReranker", "MaxSimRetriever", "build_token_ann", "colbert_partitions", "query_texts",
           "store_ids", "top_k"]


def top_k(doc_ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` by score (ties: lower doc id), padded to ``k`` with -1 / -inf."""
    order = np.lexsort((doc_ids, -scores.astype(np.float64)))[:k]
    ids = np.full(k, PAD_ID, np.int64)
    sc = np.full(k, PAD_SCORE, np.float32)
    ids[:len(order)], sc[:len(order)] = doc_ids[order], scores[order]
    return ids, sc


ANN_PRESETS = ("colbert", "winnow")


def colbert_partitions(ntokens: int) -> int:
    """ColBERT's default IVF partition count for ``ntokens`` token vectors,
    ``1 << ceil(log2(8 * sqrt(ntokens)))`` (colbert/index_faiss.py; pyterrier_colbert's
    ColBERTIndexer passes 100 instead, ``nlist=100`` reproduces that)."""
    return 1 << int(np.ceil(np.log2(8 * np.sqrt(max(1, int(ntokens))))))


def build_token_ann(store, nlist: int | None = None, M: int | None = None, nbits: int = 8,
                    train_size: int | None = None, seed: int = 1234, threads: int = 1, chunk: int = 200_000,
                    preset: str = "colbert"):
    """IVF-PQ index over all token vectors of ``store`` (ids = token rows) for end-to-end
    MaxSim retrieval and ColBERT-PRF's centroid -> token look-up.

    ``preset="colbert"`` (default) is the reference configuration, ColBERT v0.2's faiss
    ``IndexIVFPQ(IndexFlatL2(dim), dim, partitions, 16, 8)`` as pyterrier_colbert's
    ColBERT-PRF uses it: L2 coarse quantizer and L2 search, residual PQ with 16 sub-quantizers
    of 8 bits, ``nlist`` by :func:`colbert_partitions`, trained on a 5% sample of the token
    vectors (ColBERT trains on its ``.sample`` files, ``len // 20`` rows per part). Two guards of
    ours: the sample has at least ``2**nbits`` rows (PQ training needs them) and ``nlist`` is at
    most the sample size (k-means needs a point per list), which only binds on small stores.

    ``preset="winnow"`` is our earlier configuration, kept as an option: inner-product metric,
    ``nlist = 4 * sqrt(T)`` rounded to a power of two (at most T / 39), ``M = dim / 8``
    sub-quantizers, trained on up to 200,000 rows.

    Explicit ``nlist``, ``M`` or ``train_size`` override either preset. PQ stores are indexed
    from their decoded vectors.
    """
    from winnow.index.ivf import IVFIndex

    if preset not in ANN_PRESETS:
        raise ValueError(f"preset must be one of {ANN_PRESETS}, got {preset!r}")
    T = store.ntokens
    if T == 0:
        raise ValueError("the token store is empty")
    if preset == "colbert":
        metric, M = "l2", M or min(16, store.dim)
        n_train = min(T, int(train_size) if train_size else max(T // 20, 1 << int(nbits)))
        nlist = nlist or max(1, min(colbert_partitions(T), n_train))
    else:
        metric, M = "ip", M or max(1, store.dim // 8)
        if nlist is None:
            nlist = int(min(max(1, 2 ** round(np.log2(4 * np.sqrt(T)))), max(1, T // 39)))
        n_train = min(T, max(int(train_size or 200_000), nlist))
    while store.dim % M:
        M -= 1
    ann = IVFIndex(store.dim, nlist, payload="pq", M=M, nbits=nbits, metric=metric)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(T, max(n_train, min(T, nlist)), replace=False))
    ann.train(store.rows(sample), seed=seed, threads=threads)
    for a in range(0, T, chunk):
        rows = np.arange(a, min(T, a + chunk))
        ann.add(store.rows(rows), ids=rows, threads=threads)
    return ann


class _QuerySource:
    """Query token vectors by qid: precomputed ones first, else the encoder."""

    def __init__(self, encoder, query_tokens: Mapping | None):
        self.encoder = encoder
        self.query_tokens = dict(query_tokens or {})

    def get(self, qids: list[str], texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        out: list = [self.query_tokens.get(q) for q in qids]
        todo = [i for i, v in enumerate(out) if v is None]
        if todo:
            if self.encoder is None:
                raise ValueError(f"no query encoder and no precomputed token vectors for qid {qids[todo[0]]!r}")
            enc = self.encoder.encode_queries([texts[i] for i in todo])
            for i, v in zip(todo, enc):
                out[i] = v
        return [(np.ascontiguousarray(v, dtype=np.float32), np.asarray(t)) for v, t in out]


class MaxSimRetriever(Retriever):
    """ANN candidate generation over all token vectors, then exact weighted MaxSim.

    Parameters
    ----------
    store : TokenStore
    ann : IVFIndex, optional
        Index over token rows (:func:`build_token_ann`; built here when omitted).
    encoder : late-interaction encoder, optional
        See :mod:`winnow.colbert`; default: built from ``store.model`` when texts arrive.
    query_tokens : mapping qid -> (vectors (nq, dim), token_ids (nq,)), optional
    faiss_depth : int
        Token neighbours per query vector (ColBERT-PRF: 1000).
    nprobe : int
        IVF lists probed per query vector (10).
    k : int
        Depth when used as a pipeline stage (1000).
    doc_maxlen : int, optional
        Score documents as zero-padded to this many rows (ColBERT's and pyterrier_colbert's
        scorer, doc_maxlen 180: each max is then at least 0 for shorter documents); None
        (default) scores real tokens only. See :meth:`TokenStore.maxsim`.
    """

    def __init__(self, store, ann=None, encoder=None, query_tokens: Mapping | None = None,
                 faiss_depth: int = 1000, nprobe: int = 10, k: int = 1000, threads: int = 1,
                 doc_maxlen: int | None = None):
        self.store = store
        self.doc_maxlen = None if doc_maxlen is None else int(doc_maxlen)
        self.ann = ann if ann is not None else build_token_ann(store, threads=threads)
        self._encoder = encoder
        self.queries = _QuerySource(encoder, query_tokens)
        self.faiss_depth, self.nprobe, self.k, self.threads = int(faiss_depth), int(nprobe), int(k), int(threads)

    @classmethod
    def load(cls, path, mmap: bool = True, **kwargs) -> "MaxSimRetriever":
        """Open a store written by ``winnow index build tokens`` (its ANN index in ``path/ann``;
        built in memory when absent)."""
        from pathlib import Path

        from winnow.index.ivf import IVFIndex
        from winnow.index.token_store import TokenStore

        store = TokenStore.load(path, mmap=mmap)
        ann_dir = Path(path) / "ann"
        ann = IVFIndex.load(ann_dir, mmap=mmap) if (ann_dir / "meta.json").is_file() else None
        return cls(store, ann, **kwargs)

    @property
    def encoder(self):
        if self.queries.encoder is None and self.store.model.get("model_path"):
            from winnow.colbert import load_late_encoder

            self.queries.encoder = load_late_encoder(self.store.model["model_path"])
        return self.queries.encoder

    def query_vectors(self, qids: list[str], texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.queries.encoder is None and any(q not in self.queries.query_tokens for q in qids):
            _ = self.encoder
        return self.queries.get(qids, texts)

    def candidates(self, q: np.ndarray, depth: int | None = None) -> np.ndarray:
        """Documents (sorted, unique) owning the ``faiss_depth`` nearest token rows of each q_i."""
        if len(q) == 0:
            return np.zeros(0, np.int64)
        _, rows = self.ann.search_vectors(q, depth or self.faiss_depth, nprobe=self.nprobe, threads=self.threads)
        rows = rows[rows >= 0]
        return np.unique(self.store.doc_of_rows(rows))

    def score(self, q: np.ndarray, weights, k: int) -> tuple[np.ndarray, np.ndarray]:
        docs = self.candidates(q)
        return top_k(docs, self.store.maxsim(q, docs, weights, threads=self.threads, pad_to=self.doc_maxlen), k)

    def search(self, queries, k: int = 10) -> Results:
        qids, texts = as_queries(queries)
        qv = self.query_vectors(qids, texts)
        ids = np.full((len(qids), k), PAD_ID, np.int64)
        scores = np.full((len(qids), k), PAD_SCORE, np.float32)
        for i, (q, _) in enumerate(qv):
            ids[i], scores[i] = self.score(q, None, k)
        return Results(qids, ids, scores, self.store.docnos, texts)

    def __repr__(self) -> str:
        return f"MaxSimRetriever(faiss_depth={self.faiss_depth}, nprobe={self.nprobe})"


def store_ids(store, results: Results, row: int) -> np.ndarray:
    """The documents of ``results`` row ``row`` as store document numbers (by docno when the
    results come from another index; docnos missing from the store are dropped)."""
    ids = results.ids[row]
    ids = ids[ids >= 0]
    if results.docnos is store.docnos or results.docnos == store.docnos:
        return ids.astype(np.int64)
    lookup = getattr(store, "_docno_index", None)
    if lookup is None:
        lookup = store._docno_index = {d: i for i, d in enumerate(store.docnos.to_list())}
    mapped = [lookup.get(d, -1) for d in results.docnos.lookup(ids)]
    return np.array([m for m in mapped if m >= 0], np.int64)


class MaxSimReranker(Stage):
    """Re-score the incoming candidates of each query by exact MaxSim; keep the best ``k``.

    ``source`` is a :class:`MaxSimRetriever` (for its store and query vectors) or a store
    (then ``encoder`` / ``query_tokens`` give the query vectors)."""

    def __init__(self, source, encoder=None, query_tokens: Mapping | None = None, k: int = 1000,
                 threads: int = 1):
        if isinstance(source, MaxSimRetriever):
            self.store, self._queries = source.store, source
        else:
            self.store, self._queries = source, None
            self._source = _QuerySource(encoder, query_tokens)
        self.k, self.threads = int(k), int(threads)

    def query_vectors(self, qids, texts):
        if self._queries is not None:
            return self._queries.query_vectors(qids, texts)
        return self._source.get(qids, texts)

    def transform(self, queries, results: Results | None) -> Results:
        if results is None:
            raise ValueError("MaxSimReranker needs results from an earlier stage")
        qids = results.qids
        texts = results.queries or query_texts(queries, qids)
        qv = self.query_vectors(qids, texts)
        k = self.k
        ids = np.full((len(qids), k), PAD_ID, np.int64)
        scores = np.full((len(qids), k), PAD_SCORE, np.float32)
        for i, (q, _) in enumerate(qv):
            docs = store_ids(self.store, results, i)
            ids[i], scores[i] = top_k(docs, self.store.maxsim(q, docs, threads=self.threads), k)
        return Results(qids, ids, scores, self.store.docnos, texts)


def query_texts(queries, qids: list[str]) -> list[str]:
    if queries is None:
        return ["" for _ in qids]
    q, t = as_queries(queries)
    m = dict(zip(q, t))
    return [m.get(x, "") for x in qids]


# -- experiment-config factories (registered in winnow.experiment_config) -------------------------
_OPEN: dict = {}


def _open(path: str, faiss_depth: int = 1000, nprobe: int = 10, threads: int = 1) -> MaxSimRetriever:
    key = (str(path), int(faiss_depth), int(nprobe), int(threads))
    if key not in _OPEN:
        _OPEN[key] = MaxSimRetriever.load(path, faiss_depth=faiss_depth, nprobe=nprobe, threads=threads)
    return _OPEN[key]


class _RetrieveStage(Stage):
    """``expr >> maxsim(path=...)``: end-to-end MaxSim retrieval (input results ignored)."""

    def __init__(self, retriever: MaxSimRetriever, k: int):
        self.retriever, self.k = retriever, int(k)

    def transform(self, queries, results: Results | None) -> Results:
        if queries is None and results is not None:
            queries = dict(zip(results.qids, results.queries or [""] * results.nq))
        return self.retriever.search(queries, k=self.k)

    def __repr__(self) -> str:
        return f"maxsim(k={self.k})"


def maxsim_stage(path: str, k: int = 1000, faiss_depth: int = 1000, nprobe: int = 10, threads: int = 1):
    return _RetrieveStage(_open(path, faiss_depth, nprobe, threads), k)


def maxsim_rerank_stage(path: str, k: int = 1000, threads: int = 1):
    return MaxSimReranker(_open(path, threads=threads), k=k, threads=threads)


def colbert_prf_stage(path: str, rerank: bool = True, fb_docs: int = 3, k: int = 24, fb_embs: int = 10,
                      beta: float = 1.0, seed: int = 42, kmeans: str = "sklearn", cutoff: int = 1000,
                      faiss_depth: int = 1000, nprobe: int = 10, threads: int = 1, pool: str = "padded",
                      rerank_pool: str = "e2e", maxsim: str = "padded", doc_maxlen: int | None = None):
    from winnow.prf.colbert_prf import ColBERTPRF

    return ColBERTPRF(_open(path, faiss_depth, nprobe, threads), rerank=rerank, fb_docs=fb_docs, k=k,
                      fb_embs=fb_embs, beta=beta, seed=seed, kmeans=kmeans, cutoff=cutoff, threads=threads,
                      pool=pool, rerank_pool=rerank_pool, maxsim=maxsim, doc_maxlen=doc_maxlen)
