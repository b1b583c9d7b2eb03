"""``CURIndex``: k-NN search with an expensive pairwise scorer under a budget of calls
(ANNCUR, Yadav et al., EMNLP 2022; adaptive anchors after AdaCUR, Yadav et al., 2023).

Offline (``build``): score ``k_q`` anchor queries against every item, ``R (k_q, n)``
(``k_q * n`` scorer calls, computed in resumable chunks); pick ``k_i`` anchor items
``I_a`` (uniformly at random by default); ``U = pinv(R[:, I_a]) (k_i, k_q)``; item
embeddings ``E = U R (k_i, n)``, stored as a Winnow dense index over rows ``E.T (n, k_i)``
(Flat, or IVF-flat), so approximate scoring is our own inner-product search.

Query time (``search``, budget ``B = k_i + k_r`` calls): score the query against the
``k_i`` anchor items -> ``c (k_i,)``; approximate scores ``c @ E`` via the dense index; then
one of two rerank pools (``pool``):

* ``"reference"`` (default), the protocol of the ANNCUR evaluation
  (iesl/anncur ``eval/run_retrieval_eval_wrt_exact_crossenc_w_fixed_train_test_splits.py``):
  the top ``k_r`` items by approximate score over *all* items, anchors included, are scored
  exactly and the top-k of that pool is returned; anchors outside the pool are not merged.
  Anchors inside it are not scored again (their exact scores are known), so a query costs
  at most ``k_i + k_r`` calls. The paper's recall numbers come from this pool.
* ``"merged"`` (ours, earlier the only one): the best ``k_r`` *non-anchor* items are scored
  and the anchors' exact scores are merged in, so every one of the ``k_i + k_r`` calls can
  reach the result. Recall is higher at the same split; it is not comparable with the paper.

Adaptive (``search_adaptive``, AdaCUR, Yadav et al. 2023): spend the budget over rounds;
round 1 scores a seeded uniformly random subset of the items (AdaCUR's random first anchors);
each later round the items already scored are the anchor set S, ``E_S = pinv(R[:, S]) R``
is recomputed and the best unscored items by ``c_S @ E_S`` are scored next. Needs ``R``
(kept by default).

With the IVF item index (``dense="ivf"``) a search probes ``nprobe`` lists, by default
``floor(sqrt(nlist))`` as the ANNCUR code's IVF (``models/nearest_nbr.py``): with its
``nlist = floor(sqrt(n))`` that scans about ``n^(3/4)`` items, a fixed fraction of the
lists' recall rather than the single list (nprobe 1) we probed before. Note the ANNCUR
evaluation itself ranks all items exactly (that IVF served dual-encoder baselines only);
``dense="flat"``, the default, does the same.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from winnow.deprecation import deprecated_alias
from winnow.docnos import DocnoTable, IdentityDocnos
from winnow.errors import IndexFormatError
from winnow.limits import check_k
from winnow.results import Results
from winnow.stage import Retriever, as_queries
from winnow.index import invariants
from winnow.index.format import load_arrays, open_index, register_format, save_directory
from winnow.validation import check_finite, unique_docno_table

__all__ = ["CUR_POOLS", "CURIndex", "score_matrix", "sample_pseudo_queries"]

CUR_POOLS = ("reference", "merged")


def sample_pseudo_queries(doc_texts, n: int, seed: int = 0, n_words: int = 12) -> list[str]:
    """``n`` pseudo-queries: a random window of ``n_words`` words from each of ``n``
    documents drawn uniformly without replacement (for collections without training
    queries)."""
    rng = np.random.default_rng(seed)
    docs = list(doc_texts)
    if not 1 <= n <= len(docs):
        raise ValueError(f"n must be in 1..{len(docs)}, got {n}")
    out = []
    for i in rng.choice(len(docs), size=n, replace=False):
        words = docs[int(i)].split()
        start = int(rng.integers(0, max(1, len(words) - n_words + 1)))
        out.append(" ".join(words[start:start + n_words]))
    return out


def _pinv(a: np.ndarray, rcond: float | None) -> np.ndarray:
    """float64 pseudo-inverse (numpy's SVD pinv; ``rcond`` None: numpy's default)."""
    a = np.asarray(a, np.float64)
    return np.linalg.pinv(a) if rcond is None else np.linalg.pinv(a, rcond=rcond)


def _fingerprint(queries: list[str], n_docs: int, spec: str | None) -> str:
    h = hashlib.sha256(json.dumps([queries, n_docs, spec]).encode())
    return h.hexdigest()[:16]


def score_matrix(scorer, queries: list[str], work_dir=None, chunk_size: int = 8,
                 progress: bool = True) -> tuple[np.ndarray, dict]:
    """R (len(queries), n_docs) float32: every query scored against every item.

    With ``work_dir``, each chunk of ``chunk_size`` queries is saved as
    ``R_<first>.npy`` once scored, and chunks already there (same queries, items and scorer
    spec, checked through ``work_dir/manifest.json``) are loaded instead of re-scored, so an
    interrupted build resumes. Returns ``(R, cost)`` with cost = calls made, seconds and
    chunks resumed.
    """
    n, nq = scorer.n_docs, len(queries)
    R = np.empty((nq, n), np.float32)
    wd = Path(work_dir) if work_dir is not None else None
    fp = _fingerprint(queries, n, getattr(scorer, "spec", None))
    if wd is not None:
        wd.mkdir(parents=True, exist_ok=True)
        man = wd / "manifest.json"
        if man.is_file() and json.loads(man.read_text()).get("fingerprint") != fp:
            for f in wd.glob("R_*.npy"):  # another build's chunks: not ours to reuse
                f.unlink()
        man.write_text(json.dumps({"fingerprint": fp, "n_queries": nq, "n_items": n, "chunk_size": chunk_size}))
    calls0, start, resumed = scorer.calls, time.perf_counter(), 0
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=nq, desc="CUR anchor scores", unit="query", file=sys.stderr)
        except ImportError:  # pragma: no cover
            bar = None
    all_items = np.arange(n, dtype=np.int64)
    for s in range(0, nq, chunk_size):
        e = min(nq, s + chunk_size)
        path = wd / f"R_{s:07d}_{e:07d}.npy" if wd is not None else None
        if path is not None and path.is_file():
            chunk = np.load(path, allow_pickle=False)
            if chunk.shape == (e - s, n) and chunk.dtype == np.float32:
                R[s:e] = chunk
                resumed += 1
                if bar is not None:
                    bar.update(e - s)
                continue
        for qi in range(s, e):
            R[qi] = scorer.score(queries[qi], all_items)
            if bar is not None:
                bar.update(1)
        if path is not None:
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, R[s:e])
            tmp.rename(path)
    if bar is not None:
        bar.close()
    cost = {"scorer_calls": int(scorer.calls - calls0), "seconds": round(time.perf_counter() - start, 3),
            "resumed_chunks": resumed, "matrix_entries": int(nq * n)}
    return R, cost


@register_format("winnow.cur")
class CURIndex(Retriever):
    """CUR-factorised k-NN index for a pairwise scorer (see the module docstring).

    Attributes: ``anchor_items (k_i,) int64``; ``anchor_queries`` (texts); ``R (k_q, n)``
    float32 or None; ``dense`` the inner-product index over ``E.T (n, k_i)``; ``scorer``;
    ``budget`` the calls per query used as a pipeline stage (default ``k_i + 100``);
    ``min_score``: exactly scored items below it are not returned (None: all are);
    ``pool``: the rerank pool of :meth:`search` (``"reference"`` or ``"merged"``, see the
    module docstring); ``nprobe``: IVF lists probed (None: ``floor(sqrt(nlist))``).
    """

    FORMAT = "winnow.cur"
    FORMAT_VERSION = (1, 0)

    def __init__(self, scorer, anchor_items, R, dense, anchor_queries=None, rcond=None,
                 build_cost=None, budget: int | None = None, min_score: float | None = None):
        self.scorer = scorer
        self.anchor_items = np.asarray(anchor_items, np.int64)
        self.R = R
        self.dense = dense
        self.anchor_queries = list(anchor_queries or [])
        self.rcond = rcond
        self.build_cost = dict(build_cost or {})
        self.budget = int(budget) if budget is not None else self.k_i + 100
        self.min_score = min_score
        self.docnos: DocnoTable = IdentityDocnos()
        self.k = 1000
        self.path: Path | None = None
        self.last_calls = 0  # scorer calls spent by the last search
        self.adaptive, self.n_rounds = False, 5  # how transform() searches as a pipeline stage
        self.pool, self.nprobe = "reference", None  # query-time choices (not stored)

    @property
    def k_i(self) -> int:
        return int(len(self.anchor_items))

    @property
    def n_docs(self) -> int:
        """Number of documents (items) the index covers."""
        return int(self.dense.n_docs)

    n_items = deprecated_alias("n_items", "n_docs")

    # -- building -------------------------------------------------------------------------
    @classmethod
    def build(cls, scorer, anchor_queries, n_anchor_items: int = 200, anchor_items=None, seed: int = 0,
              rcond: float | None = None, dense: str = "flat", nlist: int | None = None,
              work_dir=None, chunk_size: int = 8, keep_matrix: bool = True, progress: bool = True,
              R: np.ndarray | None = None, docnos=None, budget: int | None = None,
              min_score: float | None = None) -> "CURIndex":
        """Score ``anchor_queries`` (texts: training queries, or pseudo-queries from
        :func:`sample_pseudo_queries`) against all items, factorise, index.

        ``anchor_items``: explicit ids, else ``n_anchor_items`` drawn uniformly with
        ``seed``. ``dense``: ``flat`` (exact MIPS) or ``ivf`` (IVF-flat, ``nlist`` default
        ``floor(sqrt(n))`` as in the ANNCUR code). ``R``: a precomputed score matrix (skips
        the scoring; its cost is then not counted). ``keep_matrix`` stores R (needed by
        :meth:`search_adaptive` and for re-choosing anchors).
        """
        _, texts = as_queries(anchor_queries)
        n = scorer.n_docs
        if R is None:
            R, cost = score_matrix(scorer, texts, work_dir, chunk_size, progress)
        else:
            R = np.ascontiguousarray(R, np.float32)
            if R.shape != (len(texts), n):
                raise ValueError(f"R has shape {R.shape}, expected ({len(texts)}, {n})")
            cost = {"scorer_calls": 0, "seconds": 0.0, "precomputed": True, "matrix_entries": int(R.size)}
        check_finite(R, "anchor score matrix R", "scores")  # pinv of a NaN matrix is all NaN
        if anchor_items is None:
            k_i = int(n_anchor_items)
            if not 1 <= k_i <= n:
                raise ValueError(f"n_anchor_items must be in 1..{n}, got {n_anchor_items}")
            anchor_items = np.sort(np.random.default_rng(seed).choice(n, size=k_i, replace=False))
        anchor_items = np.asarray(anchor_items, np.int64)
        if len(anchor_items) == 0 or anchor_items.min() < 0 or anchor_items.max() >= n:
            raise ValueError(f"anchor items must be non-empty ids in 0..{n - 1}")
        if len(np.unique(anchor_items)) != len(anchor_items):
            raise ValueError("anchor items must be distinct")
        t0 = time.perf_counter()
        E = (_pinv(R[:, anchor_items], rcond) @ R).astype(np.float32)  # (k_i, n)
        index = cls._make_dense(E, dense, nlist, seed)
        cost["factorise_seconds"] = round(time.perf_counter() - t0, 3)
        out = cls(scorer, anchor_items, R if keep_matrix else None, index, texts, rcond, cost, budget, min_score)
        if docnos is not None:
            out.set_docnos(docnos)
        return out

    @staticmethod
    def _make_dense(E: np.ndarray, dense: str, nlist: int | None, seed: int):
        from winnow.index.flat import FlatIndex

        rows = np.ascontiguousarray(E.T)  # (n, k_i)
        n, d = rows.shape
        if dense == "flat":
            index = FlatIndex(d, "ip")
            index.add(rows)
            return index
        if dense == "ivf":
            from winnow.index.ivf import IVFIndex

            index = IVFIndex(d, nlist or max(1, int(np.sqrt(n))), "flat", metric="ip")
            index.train(rows, seed=seed)
            index.add(rows)
            return index
        raise ValueError(f"dense must be 'flat' or 'ivf', got {dense!r}")

    def set_docnos(self, docnos) -> None:
        self.docnos = unique_docno_table(docnos)

    def item_embeddings(self) -> np.ndarray:
        """E.T (n, k_i) float32 (reconstructed from the dense index)."""
        return self.dense.reconstruct(np.arange(self.n_docs))

    # -- search ---------------------------------------------------------------------------
    def transform(self, queries, results: Results | None) -> Results:
        """As a pipeline stage: a first-stage retriever (input results are ignored)."""
        if self.adaptive:
            return self.search_adaptive(queries, k=self.k, budget=self.budget, n_rounds=self.n_rounds)
        return self.search(queries, k=self.k, budget=self.budget)

    def _check_budget(self, budget: int | None) -> int:
        b = self.budget if budget is None else int(budget)
        if b < self.k_i:
            raise ValueError(f"budget {b} is below the {self.k_i} anchor items (budget = k_i + k_r)")
        return b

    def _finish(self, qids, texts, k, per_query) -> Results:
        res = Results.empty(qids, k, self.docnos, texts)
        for qi, (ids, scores) in enumerate(per_query):
            if self.min_score is not None:
                keep = scores >= self.min_score
                ids, scores = ids[keep], scores[keep]
            order = np.lexsort((ids, -scores))[:k]  # best first, ties by lower id
            res.ids[qi, :len(order)] = ids[order]
            res.scores[qi, :len(order)] = scores[order]
        return res

    def default_nprobe(self) -> int | None:
        """IVF lists probed by default: ``floor(sqrt(nlist))`` (ANNCUR's rule); None for Flat."""
        nlist = getattr(self.dense, "nlist", None)
        return None if nlist is None else max(1, int(np.sqrt(nlist)))

    def search(self, queries, k: int = 10, budget: int | None = None, nprobe: int | None = None,
               pool: str | None = None) -> Results:
        """Top-``k`` per query with at most ``budget = k_i + k_r`` scorer calls each.
        ``pool``: ``"reference"`` (default: the top ``k_r`` of all items by approximate
        score, anchors included, re-scored exactly; anchors outside it dropped) or
        ``"merged"`` (the best ``k_r`` non-anchor items plus all anchors). Returns exact scores."""
        k = check_k(k, self.n_docs)  # Results hold min(k, n_docs) columns
        b = self._check_budget(budget)
        pool = pool or self.pool
        if pool not in CUR_POOLS:
            raise ValueError(f"pool must be one of {CUR_POOLS}, got {pool!r}")
        qids, texts = as_queries(queries)
        anchors = self.anchor_items
        anchor_order = np.argsort(anchors, kind="stable")  # anchors may come in any order
        sorted_anchors = anchors[anchor_order]
        k_r = min(b - self.k_i, self.n_docs - (self.k_i if pool == "merged" else 0))
        calls0, per_query = self.scorer.calls, []
        kw = {}
        if hasattr(self.dense, "nlist"):
            kw["nprobe"] = int(nprobe or self.nprobe or self.default_nprobe())
        for text in texts:
            c = self.scorer.score(text, anchors)  # k_i calls; reused below, never re-scored
            if pool == "merged":
                ids, scores = anchors, c
                if k_r > 0:
                    _, cand = self.dense.search_vectors(c[None, :], k_r + self.k_i, **kw)
                    cand = cand[0]
                    cand = cand[(cand >= 0) & ~np.isin(cand, anchors)][:k_r]
                    if len(cand):
                        ids = np.concatenate([anchors, cand])
                        scores = np.concatenate([c, self.scorer.score(text, cand)])
            else:
                ids, scores = np.zeros(0, np.int64), np.zeros(0, np.float32)
                if k_r > 0:
                    _, cand = self.dense.search_vectors(c[None, :], k_r, **kw)
                    ids = cand[0][cand[0] >= 0]
                    scores = np.empty(len(ids), np.float32)
                    pos = np.minimum(np.searchsorted(sorted_anchors, ids), len(anchors) - 1)
                    is_anchor = sorted_anchors[pos] == ids
                    scores[is_anchor] = c[anchor_order[pos[is_anchor]]]
                    if (~is_anchor).any():
                        scores[~is_anchor] = self.scorer.score(text, ids[~is_anchor])
            per_query.append((ids, scores))
        self.last_calls = self.scorer.calls - calls0
        return self._finish(qids, texts, k, per_query)

    def search_adaptive(self, queries, k: int = 10, budget: int | None = None, n_rounds: int = 5,
                        n_initial: int | None = None, seed: int = 0) -> Results:
        """AdaCUR-style search: ``budget`` calls over ``n_rounds`` rounds.

        Round 1 scores ``n_initial`` items (default ``budget // n_rounds``) drawn uniformly at
        random without replacement with ``seed`` (:meth:`first_round_items`), the same for
        every query, as AdaCUR's random first anchors; every later round approximates all
        scores from the items scored so far, ``c_S pinv(R[:, S]) R``, and scores the best
        unscored ones (an equal share of what is left per round). The final top-``k`` comes
        from exact scores only. (Before issue 18 round 1 took the first ``n_initial`` of the
        index's sorted anchor ids, i.e. the lowest ids: a bug, not a choice, so not kept.)
        """
        if self.R is None:
            raise ValueError("search_adaptive needs the anchor score matrix R; build with keep_matrix=True")
        k = check_k(k, self.n_docs)  # Results hold min(k, n_docs) columns
        b = min(self.budget if budget is None else int(budget), self.n_docs)
        if b < 1 or int(n_rounds) < 1:
            raise ValueError(f"budget and n_rounds must be >= 1, got {budget}, {n_rounds}")
        n0 = max(1, min(b, int(n_initial) if n_initial is not None else b // int(n_rounds)))
        first = self.first_round_items(n0, seed)
        qids, texts = as_queries(queries)
        R = np.asarray(self.R, np.float32)
        calls0, per_query = self.scorer.calls, []
        for text in texts:
            S = np.asarray(first, np.int64)
            c = self.scorer.score(text, S)
            scored = np.zeros(self.n_docs, bool)
            scored[S] = True
            for r in range(1, int(n_rounds)):
                left = b - len(S)
                if left <= 0:
                    break
                take = left // (int(n_rounds) - r)
                if take <= 0:
                    continue
                approx = (c.astype(np.float64) @ _pinv(self._finite_columns(R, S), self.rcond)) @ R  # (n,)
                approx[scored] = -np.inf
                new = np.argpartition(-approx, take - 1)[:take] if take < len(approx) else np.arange(len(approx))
                new = new[np.isfinite(approx[new])]
                if not len(new):
                    break
                S = np.concatenate([S, new])
                c = np.concatenate([c, self.scorer.score(text, new)])
                scored[new] = True
            per_query.append((S, c))
        self.last_calls = self.scorer.calls - calls0
        return self._finish(qids, texts, k, per_query)

    def first_round_items(self, n: int, seed: int = 0) -> np.ndarray:
        """AdaCUR's first-round anchors: ``n`` item ids (n,) int64 drawn uniformly at random
        without replacement from all items with ``seed``, in draw order."""
        if not 1 <= int(n) <= self.n_docs:
            raise ValueError(f"n must be in 1..{self.n_docs}, got {n}")
        return np.random.default_rng(seed).choice(self.n_docs, size=int(n), replace=False).astype(np.int64)

    def _finite_columns(self, R: np.ndarray, S: np.ndarray) -> np.ndarray:
        """R[:, S], which must be finite: a built R is checked, so a NaN here comes from a
        damaged R.npy under an unverified mapped load (its pinv would not converge)."""
        sub = R[:, S]
        if not np.isfinite(sub).all():
            where = self.path / "R.npy" if self.path is not None else "R"
            raise IndexFormatError(f"{where}: non-finite anchor scores (a damaged file; load with verify=True)")
        return sub

    # -- files ----------------------------------------------------------------------------
    def save(self, path, overwrite: bool = False) -> None:
        """Write the index directory atomically: meta.json, anchor_items.npy, R.npy (when
        kept), the dense index arrays as ``dense.<name>.npy``, docnos, anchor query texts.
        An existing ``path`` must be a Winnow index and ``overwrite`` true, else ``ValueError``."""
        arrays = {"anchor_items": self.anchor_items}
        if self.R is not None:
            arrays["R"] = np.asarray(self.R, np.float32)
        for name, arr in self.dense._arrays().items():
            if arr is not None:
                arrays[f"dense.{name}"] = arr
        if not isinstance(self.docnos, IdentityDocnos):
            arrays["docno_bytes"], arrays["docno_offsets"] = self.docnos.data, self.docnos.offsets
        qbytes = [q.encode("utf-8") for q in self.anchor_queries]
        arrays["query_bytes"] = np.frombuffer(b"".join(qbytes), np.uint8)
        arrays["query_offsets"] = np.concatenate([[0], np.cumsum([len(q) for q in qbytes])]).astype(np.int64)

        def write(tmp: Path) -> None:
            for name, arr in arrays.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr))

        meta = {"format": self.FORMAT, "format_version": list(self.FORMAT_VERSION),
                "params": {"k_i": self.k_i, "k_q": len(self.anchor_queries), "n_docs": self.n_docs,
                           "rcond": self.rcond, "budget": self.budget, "min_score": self.min_score,
                           "scorer_spec": getattr(self.scorer, "spec", None),
                           "dense_format": self.dense.FORMAT, "dense_params": self.dense._params()},
                "build_cost": self.build_cost,
                "arrays": {name: [str(a.dtype), list(a.shape)] for name, a in arrays.items()}}
        save_directory(path, write, meta, overwrite)
        self.path = Path(path)

    @classmethod
    def load(cls, path, mmap: bool = False, scorer=None, corpus=None, verify: bool | None = None):
        """Open a saved CUR index. ``scorer``: the pairwise scorer (default: rebuilt from the
        spec recorded at build time; ``corpus`` supplies cross-encoder document texts).
        ``verify`` (default ``not mmap``) checksums every payload file."""
        from winnow.index.flat import FlatIndex
        from winnow.index.ivf import IVFIndex

        path = Path(path)
        meta = open_index(path, cls.FORMAT, cls.FORMAT_VERSION[0], mmap, verify)
        invariants.verify_structure(meta, path, mmap, verify)
        arrays = load_arrays(meta, path, mmap)
        p = meta["params"]
        dense_cls = {FlatIndex.FORMAT: FlatIndex, IVFIndex.FORMAT: IVFIndex}.get(p.get("dense_format"))
        if dense_cls is None:
            raise IndexFormatError(f"{path}: unknown dense index format {p.get('dense_format')!r}")
        missing = [n for n in ("anchor_items", "query_bytes", "query_offsets") if n not in arrays]
        if missing or ("docno_bytes" in arrays) != ("docno_offsets" in arrays):
            raise IndexFormatError(f"{path}: meta.json lists no {missing or 'docno_bytes/docno_offsets'} array(s)")
        try:
            dense = dense_cls._from_arrays(p["dense_params"], {k[6:]: v for k, v in arrays.items()
                                                               if k.startswith("dense.")})
        except (KeyError, ValueError, TypeError) as exc:
            raise IndexFormatError(f"{path}: {exc!r}") from None
        invariants.check_dense(dense, path, mmap, prefix="dense.")
        invariants.check_cur(arrays, p, dense, path)  # before the scorer: a damaged index is not a scorer mismatch
        if scorer is None:
            if not p.get("scorer_spec"):
                raise ValueError(f"{path}: no scorer spec recorded; pass scorer= to CURIndex.load")
            from winnow.rerank.scorers import scorer_from_spec

            scorer = scorer_from_spec(p["scorer_spec"], corpus=corpus)
        n_docs = p["n_docs"] if "n_docs" in p else p["n_items"]  # "n_items" before the rename
        if scorer.n_docs != n_docs:
            raise ValueError(f"scorer covers {scorer.n_docs} documents, the index {n_docs}")
        qb, qo = arrays["query_bytes"].tobytes(), arrays["query_offsets"]
        try:
            queries = [qb[qo[i]:qo[i + 1]].decode("utf-8") for i in range(len(qo) - 1)]
            index = cls(scorer, np.asarray(arrays["anchor_items"]), arrays.get("R"), dense, queries, p.get("rcond"),
                        meta.get("build_cost"), p.get("budget"), p.get("min_score"))
        except (ValueError, TypeError) as exc:  # undecodable query texts, a mistyped budget
            raise IndexFormatError(f"{path}: {exc}") from None
        if "docno_bytes" in arrays:
            index.docnos = invariants.docno_table(arrays["docno_bytes"], arrays["docno_offsets"], path, len(dense.ids))
        index.path = path
        return index

    def __repr__(self) -> str:
        return (f"CURIndex(k_i={self.k_i}, k_q={len(self.anchor_queries)}, n_docs={self.n_docs}, "
                f"budget={self.budget}, dense={type(self.dense).__name__})")


def cur_stage(path, budget: int | None = None, adaptive: bool = False, n_rounds: int = 5, k: int = 1000,
              corpus: str | None = None, pool: str = "reference", nprobe: int | None = None) -> CURIndex:
    """The experiment-config stage ``cur(path=DIR, budget=..., adaptive=..., k=..., pool=...,
    nprobe=...)``: a saved CUR index with the scorer rebuilt from its recorded spec."""
    if pool not in CUR_POOLS:
        raise ValueError(f"pool must be one of {CUR_POOLS}, got {pool!r}")
    index = CURIndex.load(path, corpus=corpus)
    if budget is not None:
        index.budget = int(budget)
    index.adaptive, index.n_rounds, index.k = bool(adaptive), int(n_rounds), int(k)
    index.pool, index.nprobe = pool, (int(nprobe) if nprobe is not None else None)
    return index
