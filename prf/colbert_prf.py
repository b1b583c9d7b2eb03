"""ColBERT-PRF (Wang, Macdonald, Tonellotto, Ounis; ICTIR 2021; ACM TWEB 2023).

Pseudo-relevance feedback for late interaction, as ``pyterrier_colbert``'s ``ColbertPRF``
implements it (see ``reference/algorithms.md`` section 2):

1. the token vectors of the top ``fb_docs`` first-pass documents are clustered by KMeans into
   ``k`` centroids (scikit-learn, ``random_state=seed``, for parity with the paper; or the
   C++ k-means of the core, ``kmeans="winnow"``, the fast option);
2. each centroid is mapped to the most frequent token id among its ``nn_tokens`` nearest token
   vectors of the collection (ANN over all token rows), skipping special and ``[unused*]``
   tokens (ties: the id met first, nearest first); a centroid whose neighbours are all
   special is skipped;
3. centroid weight sigma = IDF of that token, ``ln((N + 1) / (df + 1))``;
4. the ``fb_embs`` centroids of highest IDF (raw KMeans means, not re-normalised) are
   appended to the query with weight ``beta * sigma``; original query vectors keep weight 1;
5. ReRanker (``rerank=True``): re-score the first-pass candidates with the expanded query;
   Ranker: retrieve again with all expanded query vectors (ANN + exact MaxSim).
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from winnow.rerank.maxsim import MaxSimRetriever, query_texts, store_ids, top_k
from winnow.results import PAD_ID, PAD_SCORE, Results
from winnow.stage import Stage

__all__ = ["ColBERTPRF"]

KMEANS = ("sklearn", "winnow")


class ColBERTPRF(Stage):
    """The ColBERT-PRF stage.

    Parameters
    ----------
    retriever : MaxSimRetriever
        Token store, ANN over token rows and query vectors.
    rerank : bool
        True: the ReRanker variant; False: the Ranker variant.
    fb_docs, k, fb_embs, beta, seed, nn_tokens
        3, 24, 10, 1.0, 42, 10 (the authors' defaults).
    cutoff : int
        Results kept per query (1000).
    kmeans : {"sklearn", "winnow"}
        scikit-learn KMeans (k-means++, n_init=10, max_iter=300: sklearn 0.23's semantics)
        or the core's k-means (k-means++ seeding, 25 Lloyd iterations).
    """

    def __init__(self, retriever: MaxSimRetriever, rerank: bool = True, fb_docs: int = 3, k: int = 24,
                 fb_embs: int = 10, beta: float = 1.0, seed: int = 42, nn_tokens: int = 10, cutoff: int = 1000,
                 kmeans: str = "sklearn", threads: int = 1):
        if not isinstance(retriever, MaxSimRetriever):
            raise ValueError(f"ColBERTPRF needs a MaxSimRetriever, got {type(retriever).__name__}")
        if int(k) <= int(fb_embs):
            # the authors' assert k > fb_embs (ranking.py L1025)
            raise ValueError(f"k ({k}) must exceed fb_embs ({fb_embs})")
        if kmeans not in KMEANS:
            raise ValueError(f"kmeans must be one of {KMEANS}, got {kmeans!r}")
        if int(fb_docs) < 1 or int(nn_tokens) < 1:
            raise ValueError(f"fb_docs and nn_tokens must be >= 1, got {fb_docs}, {nn_tokens}")
        self.retriever, self.store = retriever, retriever.store
        self.rerank = bool(rerank)
        self.fb_docs, self.k, self.fb_embs = int(fb_docs), int(k), int(fb_embs)
        self.beta, self.seed, self.nn_tokens = float(beta), int(seed), int(nn_tokens)
        self.cutoff, self.kmeans, self.threads = int(cutoff), kmeans, int(threads)
        self._special = {int(t) for t in self.store.special_ids}

    def __repr__(self) -> str:
        return (f"ColBERTPRF({'ReRanker' if self.rerank else 'Ranker'}, fb_docs={self.fb_docs}, k={self.k}, "
                f"fb_embs={self.fb_embs}, beta={self.beta})")

    # -- steps -------------------------------------------------------------------------------
    def cluster(self, x: np.ndarray) -> np.ndarray:
        """KMeans centroids (min(k, n), dim) float32 of the feedback token vectors x (n, dim)."""
        n_clusters = min(self.k, len(x))
        if n_clusters == 0:
            return np.zeros((0, x.shape[1]), np.float32)
        if self.kmeans == "sklearn":
            from sklearn.cluster import KMeans

            km = KMeans(n_clusters=n_clusters, random_state=self.seed, n_init=10, max_iter=300)
            return km.fit(x.astype(np.float32)).cluster_centers_.astype(np.float32)
        from winnow import _core

        c, _, _ = _core.kmeans(np.ascontiguousarray(x, dtype=np.float32), n_clusters, niter=25, seed=self.seed,
                               kmeanspp=True, max_points_per_centroid=1 << 30, threads=self.threads)
        return c

    def centroid_tokens(self, centroids: np.ndarray) -> np.ndarray:
        """Token id (or -1: every neighbour special) of each centroid: the most frequent id
        among its ``nn_tokens`` nearest token rows, first met on ties."""
        if len(centroids) == 0:
            return np.zeros(0, np.int64)
        r = self.retriever
        _, rows = r.ann.search_vectors(np.ascontiguousarray(centroids, dtype=np.float32), self.nn_tokens,
                                       nprobe=r.nprobe, threads=self.threads)
        out = np.full(len(centroids), -1, np.int64)
        for i, row in enumerate(rows):
            tids = [int(t) for t in self.store.token_ids[row[row >= 0]] if int(t) not in self._special]
            if tids:
                counts = Counter(tids)  # insertion order = nearest first, so max() keeps the first on ties
                out[i] = max(counts, key=counts.__getitem__)
        return out

    def expand(self, q: np.ndarray, fb_doc_ids) -> tuple[np.ndarray, np.ndarray, dict]:
        """Expanded query (q (nq, dim) + f_e centroids) and weights ``[1]*nq + beta*idf``
        (IDF descending); ``info`` has the chosen token ids and IDFs."""
        q = np.ascontiguousarray(q, dtype=np.float32)
        docs = [int(d) for d in fb_doc_ids][:self.fb_docs]
        parts = [self.store.doc_vectors(d) for d in docs]
        x = np.concatenate(parts) if parts else np.zeros((0, self.store.dim), np.float32)
        centroids = self.cluster(x)
        toks = self.centroid_tokens(centroids)
        valid = np.flatnonzero(toks >= 0)
        idf = self.store.idf(toks[valid])
        order = valid[np.argsort(-idf, kind="stable")][:self.fb_embs]
        sel_idf = self.store.idf(toks[order]).astype(np.float32)
        q_exp = np.concatenate([q, centroids[order].astype(np.float32)])
        w = np.concatenate([np.ones(len(q), np.float32), (self.beta * sel_idf).astype(np.float32)])
        info = {"token_ids": toks[order], "idf": sel_idf, "n_clusters": len(centroids), "n_valid": len(valid)}
        return np.ascontiguousarray(q_exp), w, info

    # -- stage -------------------------------------------------------------------------------
    def transform(self, queries, results: Results | None) -> Results:
        if results is None:
            raise ValueError("ColBERTPRF needs first-pass results (e.g. maxsim >> colbert_prf)")
        qids = results.qids
        texts = results.queries or query_texts(queries, qids)
        qv = self.retriever.query_vectors(qids, texts)
        k = self.cutoff
        ids = np.full((len(qids), k), PAD_ID, np.int64)
        scores = np.full((len(qids), k), PAD_SCORE, np.float32)
        for i, (q, _) in enumerate(qv):
            first = store_ids(self.store, results, i)
            q_exp, w, _ = self.expand(q, first[:self.fb_docs])
            if self.rerank:
                ids[i], scores[i] = top_k(first, self.store.maxsim(q_exp, first, w, threads=self.threads), k)
            else:
                ids[i], scores[i] = self.retriever.score(q_exp, w, k)
        return Results(qids, ids, scores, self.store.docnos, texts)
