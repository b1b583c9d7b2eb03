"""ColBERT-PRF (Wang, Macdonald, Tonellotto, Ounis; ICTIR 2021; ACM TWEB 2023).

Pseudo-relevance feedback for late interaction, as ``pyterrier_colbert``'s ``ColbertPRF``
implements it (ranking.py, faiss_term_index.py; see ``reference/algorithms.md`` section 2).
The defaults follow the reference; our earlier choices stay available as named options.

1. the feedback pool: the token vectors of the top ``fb_docs`` first-pass documents, each
   zero-padded to ``doc_maxlen`` (180) rows as the reference's ``get_embedding`` does
   (``pool="padded"``); ``pool="tokens"`` (ours) clusters the real tokens only. On MS MARCO
   passages (~70 tokens) the padding is over half the pool, so KMeans spends about one of its
   24 centroids on the zero vector (the "null cluster"); its token and IDF are whatever the
   ANN returns for the zero vector, and it adds nothing to any score (``<0, d> = 0``), but it
   can take one of the ``fb_embs`` expansion slots. We keep it by default because the
   published numbers include it;
2. KMeans into ``k`` centroids (below);
3. each centroid is mapped to the most frequent token id among its ``nn_tokens`` nearest
   token vectors of the collection (the token ANN index), skipping special ids (ties: the id
   met first, nearest first); a centroid whose neighbours are all special is skipped. Special
   ids are the store's (from the tokenizer or ``vocab.txt``); a store that records none falls
   back to BERT WordPiece's ids 0-103 ([PAD], [unused0-98] holding ColBERT's [Q] = [unused0]
   and [D] = [unused1], [UNK], [CLS], [SEP], [MASK]), the same in bert-base-uncased and -cased;
4. centroid weight sigma = IDF of that token, ``ln((N + 1) / (df + 1))``;
5. the ``fb_embs`` centroids of highest IDF (raw KMeans means, not re-normalised) are
   appended to the query with weight ``beta * sigma``; original query vectors keep weight 1;
6. ReRanker (``rerank=True``): re-score with the expanded query every candidate of the
   *uncut* first pass and cut to ``cutoff`` after. The reference's first pass is ColBERT's
   end-to-end set retrieval (every query vector's ``faiss_depth`` nearest token vectors, the
   union of their documents) with no rank cut-off before ColbertPRF (ranking.py, ``prf()``),
   so a document ranked below the incoming ``k`` can be promoted. ``rerank_pool="e2e"``
   (default) re-scores the union of the incoming results and that candidate set of the
   original query; ``rerank_pool="incoming"`` (ours before) re-scores only the incoming
   results, which freezes R@k at the first pass's.
   Ranker (``rerank=False``): retrieve again with all expanded query vectors (ANN + MaxSim).

Scoring (``maxsim="padded"``, default): the reference scores documents zero-padded to
``doc_maxlen`` rows (``index_scorer``), so for a document shorter than that each query
vector's max is at least 0; ``maxsim="exact"`` (ours before) takes the max over real tokens.

KMeans: ``kmeans="sklearn"`` (default) is the installed scikit-learn's ``KMeans(k,
random_state=seed, n_init=10, max_iter=300)``, the reference's call with 0.23.2's defaults
spelled out. The authors used scikit-learn 0.23.2 and warn that later versions give other
centroids for the same seed (their scikit-learn issue #19990, a 540 x 128 pool = 3 documents x
180 padded rows). What differs from 0.23.2 in the versions we run (1.x):
(a) 0.24 changed how the random state is consumed by the k-means++ initialisation
(scikit-learn PR #17928, the change behind #19990), so the starts differ for the same seed;
(b) 1.3 changed the k-means++ draws again (sample-weighted sampling; scikit-learn issue #30643);
(c) 0.23's ``algorithm="auto"`` ran Elkan's algorithm on dense data, 1.x runs Lloyd's (the
same fixed points, other float rounding); (d) 1.4 made ``n_init="auto"`` (1 start) the default,
which we override with 10. The tolerance (1e-4 x mean feature variance) and ``max_iter`` are
unchanged. So centroids differ from the paper's run in detail, not in kind.
``kmeans="winnow"`` is the core's k-means (k-means++ seeding, 25 Lloyd iterations, 1 start):
much faster, our choice, not the reference's.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from winnow.rerank.maxsim import MaxSimRetriever, query_texts, store_ids, top_k
from winnow.results import PAD_ID, PAD_SCORE, Results
from winnow.stage import Stage

__all__ = ["BERT_SPECIAL_IDS", "ColBERTPRF"]

KMEANS = ("sklearn", "winnow")
POOLS = ("padded", "tokens")
RERANK_POOLS = ("e2e", "incoming")
MAXSIMS = ("padded", "exact")
# [PAD] 0, [unused0-98] 1-99 ([Q] = 1, [D] = 2 in ColBERT), [UNK] 100, [CLS] 101, [SEP] 102,
# [MASK] 103 in BERT's WordPiece vocabularies (uncased and cased)
BERT_SPECIAL_IDS = tuple(range(104))
DOC_MAXLEN = 180  # ColBERT-PRF's doc_maxlen (ColBERTModelOnlyFactory)


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
        See the module docstring.
    pool : {"padded", "tokens"}
        Feedback pool zero-padded to ``doc_maxlen`` rows per document (reference) or real
        tokens only (ours).
    rerank_pool : {"e2e", "incoming"}
        ReRanker candidates: the uncut end-to-end candidate set of the original query plus
        the incoming results (reference), or the incoming results only (ours).
    maxsim : {"padded", "exact"}
        Score documents as zero-padded to ``doc_maxlen`` rows (reference) or over real tokens.
    doc_maxlen : int, optional
        Default: the store's recorded encoder ``doc_maxlen``, else 180.
    special_ids : sequence of int, optional
        Ids never used as expansion tokens; default the store's, else ``BERT_SPECIAL_IDS``.
    """

    def __init__(self, retriever: MaxSimRetriever, rerank: bool = True, fb_docs: int = 3, k: int = 24,
                 fb_embs: int = 10, beta: float = 1.0, seed: int = 42, nn_tokens: int = 10, cutoff: int = 1000,
                 kmeans: str = "sklearn", threads: int = 1, pool: str = "padded", rerank_pool: str = "e2e",
                 maxsim: str = "padded", doc_maxlen: int | None = None, special_ids=None):
        if not isinstance(retriever, MaxSimRetriever):
            raise ValueError(f"ColBERTPRF needs a MaxSimRetriever, got {type(retriever).__name__}")
        if int(k) <= int(fb_embs):
            # the authors' assert k > fb_embs (ranking.py L1025)
            raise ValueError(f"k ({k}) must exceed fb_embs ({fb_embs})")
        for name, value, allowed in (("kmeans", kmeans, KMEANS), ("pool", pool, POOLS),
                                     ("rerank_pool", rerank_pool, RERANK_POOLS), ("maxsim", maxsim, MAXSIMS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if int(fb_docs) < 1 or int(nn_tokens) < 1:
            raise ValueError(f"fb_docs and nn_tokens must be >= 1, got {fb_docs}, {nn_tokens}")
        self.retriever, self.store = retriever, retriever.store
        self.rerank = bool(rerank)
        self.fb_docs, self.k, self.fb_embs = int(fb_docs), int(k), int(fb_embs)
        self.beta, self.seed, self.nn_tokens = float(beta), int(seed), int(nn_tokens)
        self.cutoff, self.kmeans, self.threads = int(cutoff), kmeans, int(threads)
        self.pool, self.rerank_pool, self.maxsim = pool, rerank_pool, maxsim
        self.doc_maxlen = int(doc_maxlen or self.store.model.get("doc_maxlen") or DOC_MAXLEN)
        if self.doc_maxlen < 1:
            raise ValueError(f"doc_maxlen must be >= 1, got {doc_maxlen}")
        if special_ids is None:
            special_ids = self.store.special_ids or BERT_SPECIAL_IDS
        self._special = {int(t) for t in special_ids}

    def __repr__(self) -> str:
        return (f"ColBERTPRF({'ReRanker' if self.rerank else 'Ranker'}, fb_docs={self.fb_docs}, k={self.k}, "
                f"fb_embs={self.fb_embs}, beta={self.beta}, pool={self.pool!r}, rerank_pool={self.rerank_pool!r}, "
                f"maxsim={self.maxsim!r})")

    # -- steps -------------------------------------------------------------------------------
    def feedback_pool(self, doc_ids) -> np.ndarray:
        """Feedback token vectors (n, dim) float32 of ``doc_ids`` (first ``fb_docs``), each
        document followed by ``doc_maxlen - len`` zero rows when ``pool="padded"``."""
        parts = []
        for d in [int(x) for x in doc_ids][:self.fb_docs]:
            v = self.store.doc_vectors(d)
            parts.append(v)
            if self.pool == "padded" and len(v) < self.doc_maxlen:
                parts.append(np.zeros((self.doc_maxlen - len(v), self.store.dim), np.float32))
        return np.concatenate(parts) if parts else np.zeros((0, self.store.dim), np.float32)

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
        centroids = self.cluster(self.feedback_pool(fb_doc_ids))
        toks = self.centroid_tokens(centroids)
        valid = np.flatnonzero(toks >= 0)
        idf = self.store.idf(toks[valid])
        order = valid[np.argsort(-idf, kind="stable")][:self.fb_embs]
        sel_idf = self.store.idf(toks[order]).astype(np.float32)
        q_exp = np.concatenate([q, centroids[order].astype(np.float32)])
        w = np.concatenate([np.ones(len(q), np.float32), (self.beta * sel_idf).astype(np.float32)])
        info = {"token_ids": toks[order], "idf": sel_idf, "n_clusters": len(centroids), "n_valid": len(valid),
                "centroids": centroids}
        return np.ascontiguousarray(q_exp), w, info

    def score(self, q: np.ndarray, weights: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """Weighted MaxSim (n,) of ``docs`` (n,), zero-padded per ``maxsim``."""
        pad = self.doc_maxlen if self.maxsim == "padded" else None
        return self.store.maxsim(q, docs, weights, threads=self.threads, pad_to=pad)

    def rerank_candidates(self, q: np.ndarray, incoming: np.ndarray) -> np.ndarray:
        """The ReRanker's documents: the incoming ones, plus (``rerank_pool="e2e"``) the
        original query's uncut end-to-end candidate set."""
        if self.rerank_pool == "incoming":
            return incoming
        return np.union1d(incoming, self.retriever.candidates(q))

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
            docs = self.rerank_candidates(q, first) if self.rerank else self.retriever.candidates(q_exp)
            ids[i], scores[i] = top_k(docs, self.score(q_exp, w, docs), k)
        return Results(qids, ids, scores, self.store.docnos, texts)
