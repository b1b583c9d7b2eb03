"""``FlatIndex``: exhaustive search over float32 vectors (exact: the oracle and the quality
ceiling), or over scalar-quantized ones (float16, SQ8: faiss ``IndexScalarQuantizer``)."""
from __future__ import annotations

import numpy as np

from winnow import _core
from winnow.index.dense_base import DenseIndex, as_vectors
from winnow.index.format import register_format

PAYLOADS = ("float32", "float16", "sq8")


@register_format("winnow.flat")
class FlatIndex(DenseIndex):
    """Exhaustive inner-product or L2 search (blocked kernel, exact top-k, ties by lower row).

    Vectors: (n, d) float32; ids: (n,) int64 (default 0..n-1); ``metric`` ``ip`` or ``l2``
    (L2 scores are negative squared distances: higher is better everywhere).

    ``payload``: ``float32`` (default, exact), ``float16`` (half the memory) or ``sq8`` (a
    quarter: one byte per dimension, per-dimension ranges as faiss's QT_8bit). The SQ8 ranges
    are trained by ``train(x)``, or on the first ``add`` when ``train`` was not called; later
    values outside them are clamped. Compressed payloads score the decoded vectors; one query
    per call and batches (8 or more queries) take different kernels, so their scores agree up to
    float rounding. ``refine=True`` also keeps the float32 vectors and re-scores the best
    ``refine_k`` (default 4 k) candidates exactly.
    """

    FORMAT = "winnow.flat"
    FORMAT_VERSION = (1, 1)  # 1.1: payload float16 / sq8 (params "payload", "refine"; codes.npy)

    def __init__(self, d: int, metric: str = "ip", model: str | None = None, payload: str = "float32",
                 refine: bool = False):
        super().__init__(d, metric, model)
        if payload not in PAYLOADS:
            raise ValueError(f"unknown payload '{payload}' (expected one of {PAYLOADS})")
        if refine and payload == "float32":
            raise ValueError("refine=True needs a compressed payload (float16 or sq8); float32 is exact")
        self.payload, self.refine = payload, bool(refine)
        self.ids = np.zeros(0, np.int64)
        self._norms: np.ndarray | None = None
        self.sq = None if payload == "float32" else _core.ScalarQuantizer(self.d, payload)
        self.codes = None if self.sq is None else np.zeros((0, self.sq.code_size), np.uint8)
        # float32: the stored vectors; compressed payloads: the refine vectors, or None
        self.vectors = np.zeros((0, self.d), np.float32) if payload == "float32" or refine else None

    @property
    def n_docs(self) -> int:
        """Number of vectors (documents) in the index."""
        return int(len(self.ids))

    @property
    def is_trained(self) -> bool:
        return self.sq is None or bool(self.sq.is_trained)

    def train(self, x):
        """SQ8: per-dimension ranges (min, max) of x (n, d); other payloads need no training."""
        x = as_vectors(x, self.d)
        if self.sq is not None:
            self.sq.train(x)
        return self

    def add(self, vectors, ids=None, threads: int = 1) -> None:
        """Append vectors (n, d); ``ids`` (n,) int64, default continuing 0, 1, ...
        (``threads`` encodes compressed payloads)."""
        x = as_vectors(vectors, self.d)
        new_ids = _new_ids(ids, len(x), self.ids)
        if self.sq is not None:
            if not self.sq.is_trained:
                self.train(x)
            codes = self.sq.encode(x, threads)
            self.codes = np.ascontiguousarray(np.concatenate([self.codes, codes])) if self.n_docs else codes
        if self.vectors is not None:
            self.vectors = np.ascontiguousarray(np.concatenate([self.vectors, x])) if self.n_docs else x
        self.ids = np.concatenate([self.ids, new_ids])
        self._norms = None

    def remove(self, ids) -> int:
        """Remove the vectors with these ids; returns how many were removed."""
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        if self.vectors is not None:
            self.vectors = np.ascontiguousarray(self.vectors[keep])
        if self.codes is not None:
            self.codes = np.ascontiguousarray(self.codes[keep])
        self.ids = self.ids[keep]
        self._norms = None
        return removed

    def _search(self, x, k, threads: int = 1, allow=None, refine_k: int | None = None):
        if self.sq is not None:
            if self.n_docs == 0:  # (k is 0 here; an SQ8 index that never saw a vector has no ranges)
                return np.zeros((len(x), k), np.float32), np.zeros((len(x), k), np.int64)
            refine_k = (4 * k if refine_k is None else refine_k) if self.refine else 0
            allow_arr = None if allow is None else np.unique(np.asarray(allow, dtype=np.int64))
            # k <= n_docs (check_k), so the result is k wide; an allow-list pads with -inf / -1
            return _core.sq_search(self.sq, self.metric, self.codes, self.ids, self.vectors if self.refine else None,
                                   x, k, refine_k, allow_arr, threads)
        vectors, ids = self.vectors, self.ids
        if allow is not None:
            mask = np.isin(ids, np.asarray(allow, dtype=np.int64))
            vectors, ids = np.ascontiguousarray(vectors[mask]), ids[mask]
            norms = None
        else:
            if self.metric == "l2" and self._norms is None:
                self._norms = _core.dense_squared_norms(vectors)
            norms = self._norms if self.metric == "l2" else None
        scores, rows = _core.dense_exact_search(x, vectors, k, self.metric, threads, norms)
        out = np.where(rows >= 0, ids[np.maximum(rows, 0)], -1) if len(ids) else rows
        if rows.shape[1] < k:  # `allow` left fewer rows than k: pad to the index's width
            pad = k - rows.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            out = np.pad(out, ((0, 0), (0, pad)), constant_values=-1)
        return scores, out

    def reconstruct(self, ids) -> np.ndarray:
        """The stored vectors of ``ids`` (m, d) (compressed payloads: decoded)."""
        rows = _rows_of(self.ids, ids)
        if self.sq is not None:
            return self.sq.decode(np.ascontiguousarray(self.codes[rows]))
        return self.vectors[rows]

    def _params(self):
        params = super()._params()
        if self.sq is not None:  # float32 indexes keep the 1.0 parameters
            params.update(payload=self.payload, refine=self.refine)
        return params

    def _arrays(self):
        if self.sq is None:
            return {"vectors": self.vectors, "ids": self.ids}
        arrays = {"codes": self.codes, "ids": self.ids}
        if self.payload == "sq8":
            arrays["sq_vmin"], arrays["sq_vdiff"] = self.sq.vmin, self.sq.vdiff
        if self.refine:
            arrays["vectors"] = self.vectors
        return arrays

    @classmethod
    def _from_arrays(cls, params, arrays):
        index = cls(params["d"], params["metric"], params.get("model"), params.get("payload", "float32"),
                    params.get("refine", False))
        index.ids = arrays["ids"]
        if index.sq is None:
            index.vectors = arrays["vectors"]
            return index
        index.codes = arrays["codes"]
        if index.payload == "sq8":
            index.sq.set_ranges(np.ascontiguousarray(arrays["sq_vmin"]), np.ascontiguousarray(arrays["sq_vdiff"]))
        if index.refine:
            index.vectors = arrays["vectors"]
        return index

    def __repr__(self) -> str:
        extra = "" if self.sq is None else f", payload={self.payload!r}"
        return f"FlatIndex(d={self.d}, metric={self.metric!r}{extra}, n_docs={self.n_docs})"


def _new_ids(ids, n: int, existing: np.ndarray) -> np.ndarray:
    if ids is None:
        start = int(existing.max()) + 1 if len(existing) else 0
        return np.arange(start, start + n, dtype=np.int64)
    out = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(out) != n:
        raise ValueError(f"{len(out)} ids for {n} vectors")
    if (out < 0).any():
        raise ValueError("ids must be >= 0 (-1 is the padding id)")
    if len(np.unique(out)) != n or np.isin(out, existing).any():
        raise ValueError("ids must be unique, also across adds")
    return out


def _rows_of(all_ids: np.ndarray, ids) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    order = np.argsort(all_ids, kind="stable")
    pos = np.searchsorted(all_ids[order], ids)
    pos = np.minimum(pos, len(order) - 1) if len(order) else pos
    if len(order) == 0 or not np.array_equal(all_ids[order][pos], ids):
        missing = ids[~np.isin(ids, all_ids)]
        raise IndexError(f"unknown id(s) {missing[:5].tolist()}")
    return order[pos]
