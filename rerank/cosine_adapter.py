"""Cosine Adapter (Rossi et al., "Relevance Filtering for Embedding-based Retrieval", CIKM 2024).

A small network reads a query representation and outputs the parameters of a monotone map
of the retrieval score; a sigmoid turns the mapped score into a probability of relevance;
one global threshold then cuts every result list. Verified from the paper's abstract and
summaries (../shared/reference/algorithms.md section 3.1): query-dependent monotone map,
families linear / square root / quadratic / power, one global threshold, PR-AUC and P@R95.

Design choices that are ours (the paper's full text and no authors' code could be read,
section 3.2; issue 18 asks that they be named, and they are kept as they are):

* the ``(s + 1) / 2`` rescaling of cosines before the sqrt / quadratic / power maps (below);
* a sigmoid of the mapped score as the probability of relevance, trained with binary
  cross-entropy on (query, candidate, qrels label) pairs of the retriever's own top-K
  (:mod:`winnow.rerank.adapter_training`: full batch, Adam, early stopping, a global warm
  start);
* the threshold rule: one global threshold on that probability, chosen on a held-out
  validation split as the largest value that keeps ``target_recall`` (0.95) of the relevant
  candidates (or the smallest reaching a target precision); 0.5 when none is chosen;

* network ``features -> Linear(hidden) -> ReLU -> Linear(P)``, inputs standardised with the
  training mean and standard deviation; ``P`` = 2 (slope a, bias b) or 3 (power c);
* ``a = softplus(raw_0) + 1e-4`` and ``c = softplus(raw_2) + 1e-4`` keep the map strictly
  increasing, so the per-query ranking is unchanged;
* score domain: ``linear`` maps the raw score ``s``; the other families map
  ``x = (s + 1) / 2`` for cosines (``domain="cosine"``) or ``x = max(0, (s - lo) / (hi - lo))``
  with the training score range for other retrievers (``domain="minmax"``, BM25), so that
  ``sqrt``, ``x**2`` and ``x**c`` are defined and increasing;
* query features: the retriever's query embedding (``"embedding"``), or, for retrievers
  without one, ``"query_stats"`` = (number of query terms, summed IDF, max IDF) from a
  BM25 index; optionally ``"score_stats"`` = (top-1 score, mean and std of the top-10
  scores, mean and std of all the scores) of the incoming candidate list (our addition,
  off by default; the last two are what a per-query z-score cutoff uses).

Files: an adapter directory holds ``meta.json`` (format ``winnow.cosine_adapter``, the
configuration, threshold and training report) and ``weights.pt`` (a state dict of tensors
only, read back with ``torch.load(weights_only=True)``).
"""
from __future__ import annotations

import math
import pickle  # only for its error type: weights load with torch.load(weights_only=True)
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from winnow.errors import IndexFormatError
from winnow.results import Results
from winnow.stage import Stage, as_queries

FORMAT = "winnow.cosine_adapter"
FORMAT_VERSION = (1, 0)
FAMILIES = ("linear", "sqrt", "quadratic", "power")
FEATURE_KINDS = ("embedding", "query_stats", "score_stats")
DOMAINS = ("cosine", "minmax")
SCORE_STATS_DEPTH = 10
_EPS = 1e-4


def n_params(family: str) -> int:
    check_family(family)
    return 3 if family == "power" else 2


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"unknown adapter family {family!r} (expected one of {FAMILIES})")
    return family


def _torch():
    import torch

    return torch


def make_net(in_dim: int, hidden: int, family: str):
    """The adapter MLP: (n, in_dim) standardised features -> (n, P) raw parameters."""
    torch = _torch()

    class AdapterNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("feat_mean", torch.zeros(in_dim))
            self.register_buffer("feat_std", torch.ones(in_dim))
            self.hidden = torch.nn.Linear(in_dim, hidden)
            self.out = torch.nn.Linear(hidden, n_params(family))

        def forward(self, feats):
            z = (feats - self.feat_mean) / self.feat_std
            return self.out(torch.relu(self.hidden(z)))

    return AdapterNet()


def map_scores(raw, scores, family: str, domain: str, lo: float, hi: float, xp=np):
    """Logits f(s) of the family for parameters ``raw`` (nq, P) and scores (nq, k).

    ``xp`` is numpy (float64 inference) or torch (training); the formulas are the same.
    """
    if xp is np:
        softplus = lambda v: np.logaddexp(0.0, v)  # noqa: E731
        clip0 = lambda v: np.maximum(v, 0.0)  # noqa: E731
        pow_ = np.power
    else:
        softplus = xp.nn.functional.softplus
        clip0 = lambda v: xp.clamp(v, min=0.0)  # noqa: E731
        pow_ = xp.pow
    a = softplus(raw[:, 0:1]) + _EPS
    b = raw[:, 1:2]
    if family == "linear":
        x = scores if domain == "cosine" else (scores - lo) / (hi - lo)
        return a * x + b
    x = (scores + 1.0) / 2.0 if domain == "cosine" else (scores - lo) / (hi - lo)
    x = clip0(x)
    if family == "sqrt":
        return a * (x + 1e-12) ** 0.5 + b
    if family == "quadratic":
        return a * x * x + b
    c = softplus(raw[:, 2:3]) + _EPS
    x = x + 1e-6 if xp is np else xp.clamp(x, min=1e-6)  # x**c and its gradient in c at x = 0
    return a * pow_(x, c) + b


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free, monotone


class CosineAdapter(Stage):
    """Relevance filter: ``retriever >> adapter`` keeps the hits whose probability of
    relevance is at least ``threshold`` (scores become the probabilities); with
    ``calibrate_only=True`` it keeps every hit and only replaces the scores.

    Query features come from, in order: ``query_vectors`` ({qid: vector} or a callable
    texts -> (n, d) array), ``index`` (a dense index's encoder, or a BM25 index's term
    statistics for ``query_stats``). Build one with :func:`winnow.rerank.train_adapter`
    or :meth:`load`.
    """

    def __init__(self, family: str = "power", features: tuple[str, ...] = ("embedding",), in_dim: int = 0,
                 hidden: int = 64, domain: str = "cosine", score_range: tuple[float, float] = (-1.0, 1.0),
                 threshold: float = 0.5, *, index=None, query_vectors=None, calibrate_only: bool = False,
                 info: dict | None = None, seed: int = 0):
        self.family = check_family(family)
        self.features = tuple(features)
        bad = [f for f in self.features if f not in FEATURE_KINDS]
        if bad or not self.features:
            raise ValueError(f"unknown or missing feature kinds {bad or self.features} (expected from {FEATURE_KINDS})")
        if domain not in DOMAINS:
            raise ValueError(f"unknown score domain {domain!r} (expected one of {DOMAINS})")
        lo, hi = float(score_range[0]), float(score_range[1])
        if not hi > lo:
            raise ValueError(f"score_range must have hi > lo, got {score_range}")
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.in_dim, self.hidden, self.domain = int(in_dim), int(hidden), domain
        self.score_range = (lo, hi)
        self.threshold = float(threshold)
        self.index, self.query_vectors = index, query_vectors
        self.calibrate_only = bool(calibrate_only)
        self.info: dict = dict(info or {})
        _torch().manual_seed(seed)
        self.net = make_net(self.in_dim, self.hidden, self.family)
        self.net.eval()

    # -- features ----------------------------------------------------------------------------
    def query_features(self, qids: list[str], texts: list[str] | None, results: Results | None = None) -> np.ndarray:
        """(nq, in_dim) float32 network inputs for these queries."""
        if isinstance(self.index, (str, Path)) and any(k != "score_stats" for k in self.features) \
                and self.query_vectors is None:
            self.index = _resolve_index(self.index)  # the recorded index, loaded once
        parts = [query_features(kind, qids, texts, results, index=self.index, query_vectors=self.query_vectors)
                 for kind in self.features]
        x = np.concatenate(parts, axis=1) if parts else np.zeros((len(qids), 0), np.float32)
        if x.shape[1] != self.in_dim:
            raise ValueError(f"query features have {x.shape[1]} columns (dim), the adapter expects {self.in_dim}")
        return x

    def params(self, feats: np.ndarray) -> np.ndarray:
        """(nq, P) raw map parameters for features (nq, in_dim)."""
        torch = _torch()
        with torch.no_grad():
            return self.net(torch.as_tensor(np.asarray(feats, np.float32))).double().numpy()

    def probabilities(self, feats: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """(nq, k) float64 probabilities of relevance; padding (-inf) stays -inf."""
        scores = np.asarray(scores, np.float64)
        pad = ~np.isfinite(scores)
        safe = np.where(pad, self.score_range[0], scores)
        p = _sigmoid(map_scores(self.params(feats), safe, self.family, self.domain, *self.score_range))
        return np.where(pad, -np.inf, p)

    def row_probabilities(self, feats: np.ndarray, scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(nq, k) float32 probabilities as the stage emits them (cells where ``valid`` is False: meaningless)."""
        probs = self.probabilities(feats, scores)
        # Monotone map => probabilities are non-increasing along each best-first row; the
        # running minimum only guards against sub-ulp rounding, so the order stays exactly.
        probs = np.minimum.accumulate(np.where(valid, probs, np.inf), axis=1)
        return np.minimum.accumulate(probs.astype(np.float32), axis=1)

    # -- the stage ---------------------------------------------------------------------------
    def transform(self, queries, results: Results | None) -> Results:
        if results is None:
            raise ValueError("CosineAdapter needs results from an earlier stage (retriever >> adapter)")
        qids, texts = as_queries(queries)
        pos = {q: i for i, q in enumerate(results.qids)}
        missing = [q for q in qids if q not in pos]
        if missing:
            raise ValueError(f"no results for query id(s) {missing[:5]}")
        rows = [pos[q] for q in qids]
        ids, scores = results.ids[rows], results.scores[rows]
        out = Results.empty(qids, results.k, results.docnos, texts)
        if not qids:
            return out
        sub = Results(qids, ids, scores, results.docnos, texts)
        probs32 = self.row_probabilities(self.query_features(qids, texts, sub), scores, ids >= 0)
        keep = ids >= 0
        if not self.calibrate_only:
            keep &= probs32 >= np.float32(self.threshold)
        out.ids[keep] = ids[keep]  # kept hits form a prefix of each row
        out.scores[keep] = probs32[keep]
        return out

    def __repr__(self) -> str:
        cut = "calibrate_only" if self.calibrate_only else f"threshold={self.threshold:.4g}"
        return f"CosineAdapter({self.family}, {'+'.join(self.features)}, {cut})"

    # -- files -------------------------------------------------------------------------------
    def config(self) -> dict:
        return {"family": self.family, "features": list(self.features), "in_dim": self.in_dim,
                "hidden": self.hidden, "domain": self.domain, "score_range": list(self.score_range),
                "threshold": self.threshold}

    def save(self, path, overwrite: bool = False) -> None:
        """Write the adapter directory atomically (meta.json + weights.pt of tensors). An
        existing ``path`` must be a Winnow directory and ``overwrite`` true, else ``ValueError``."""
        from winnow.index.format import save_directory

        torch = _torch()
        state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        meta = {"format": FORMAT, "format_version": list(FORMAT_VERSION), "config": self.config(),
                "info": _jsonable(self.info)}
        save_directory(path, lambda tmp: torch.save(state, tmp / "weights.pt"), meta, overwrite)

    @classmethod
    def load(cls, path, *, index=None, query_vectors=None, calibrate_only: bool = False,
             threshold: float | None = None) -> "CosineAdapter":
        """Open a saved adapter. ``index`` (an index object or directory) defaults to the index
        recorded at training time when the features need one and no ``query_vectors`` are given."""
        from winnow.index.format import open_index

        path = Path(path)
        # the index checks: meta.json's own checksum, format and version, file sizes and checksums
        meta = open_index(path, FORMAT, FORMAT_VERSION[0], mmap=False)
        cfg = dict(meta["config"])
        if threshold is not None:
            cfg["threshold"] = threshold
        info = meta.get("info", {})
        if index is None and query_vectors is None and info.get("index"):
            index = info["index"]  # loaded lazily by query_features
        adapter = cls(cfg["family"], tuple(cfg["features"]), cfg["in_dim"], cfg["hidden"], cfg["domain"],
                      tuple(cfg["score_range"]), cfg["threshold"], index=index, query_vectors=query_vectors,
                      calibrate_only=calibrate_only, info=info)
        torch = _torch()
        try:
            state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
            adapter.net.load_state_dict(state)
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as exc:
            raise IndexFormatError(f"{path / 'weights.pt'}: cannot load adapter weights ({exc})") from None
        adapter.net.eval()
        return adapter


# ----------------------------------------------------------------------------- features

def query_features(kind: str, qids: list[str], texts: list[str] | None, results: Results | None = None,
                   *, index=None, query_vectors=None) -> np.ndarray:
    """(nq, n) float32 features of one kind (see the module docstring)."""
    n = len(qids)
    if kind == "score_stats":
        if results is None:
            raise ValueError("score_stats features need the candidate results")
        return score_stats(results.scores)
    if kind == "embedding":
        if query_vectors is not None:
            if callable(query_vectors):
                return np.asarray(query_vectors(list(texts or [])), np.float32).reshape(n, -1)
            try:
                return np.stack([np.asarray(query_vectors[q], np.float32) for q in qids]) if n else \
                    np.zeros((0, 0), np.float32)
            except KeyError as exc:
                raise ValueError(f"no query vector for query id {exc.args[0]!r}") from None
        index = _resolve_index(index)
        if index is None or not hasattr(index, "_query_vectors"):
            raise ValueError("embedding features need query_vectors or a dense index with an encoder")
        if texts is None:
            raise ValueError("embedding features need query texts to encode")
        return index._query_vectors(dict(zip(qids, texts)))[2]
    if kind == "query_stats":
        index = _resolve_index(index)
        if index is None or not hasattr(index, "df"):
            raise ValueError("query_stats features need a BM25 index (term statistics)")
        if texts is None:
            raise ValueError("query_stats features need query texts")
        return np.array([bm25_query_stats(index, t) for t in texts], np.float32).reshape(n, 3)
    raise ValueError(f"unknown feature kind {kind!r} (expected one of {FEATURE_KINDS})")


def bm25_query_stats(index, text: str) -> tuple[float, float, float]:
    """(number of query terms, summed IDF, max IDF); IDF = log(1 + (N - df + 0.5) / (df + 0.5))."""
    terms = index.analyze(text)
    n = max(1, index.n_docs)
    idf = [math.log(1.0 + (n - df + 0.5) / (df + 0.5)) for df in (index.df(t) for t in terms)]
    return float(len(terms)), float(sum(idf)), float(max(idf, default=0.0))


def score_stats(scores: np.ndarray) -> np.ndarray:
    """(nq, 5): top-1 score, mean and std of the top-10 real scores, mean and std of all the
    real scores (the per-query z-score's statistics; they depend on the list depth, so use
    the depth the adapter was trained with). 0 for an empty row."""

    def mean_std(top):
        real = np.isfinite(top)
        cnt = np.maximum(real.sum(axis=1), 1)
        vals = np.where(real, top, 0.0)
        mean = vals.sum(axis=1) / cnt
        var = np.where(real, (top - mean[:, None]) ** 2, 0.0).sum(axis=1) / cnt
        return mean, np.sqrt(var)

    s = np.asarray(scores, np.float64)
    first = np.where(np.isfinite(s[:, 0]), s[:, 0], 0.0) if s.shape[1] else np.zeros(len(s))
    return np.stack([first, *mean_std(s[:, :SCORE_STATS_DEPTH]), *mean_std(s)], axis=1).astype(np.float32)


def _resolve_index(index):
    if isinstance(index, (str, Path)):
        from winnow.index import load

        return load(index)
    return index


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj if isinstance(obj, (str, int, float, bool)) or obj is None else str(obj)
