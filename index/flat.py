"""``FlatIndex``: exact search over float32 vectors (the oracle and the quality ceiling)."""
from __future__ import annotations

import numpy as np

from winnow import _core
from winnow.index.dense_base import DenseIndex, as_vectors
from winnow.index.format import register_format


@register_format("winnow.flat")
class FlatIndex(DenseIndex):
    """Exact inner-product or L2 search (blocked kernel, exact top-k, ties by lower row).

    Vectors: (n, d) float32; ids: (n,) int64 (default 0..n-1); ``metric`` ``ip`` or ``l2``
    (L2 scores are negative squared distances: higher is better everywhere).
    """

    FORMAT = "winnow.flat"

    def __init__(self, d: int, metric: str = "ip", model: str | None = None):
        super().__init__(d, metric, model)
        self.vectors = np.zeros((0, self.d), np.float32)
        self.ids = np.zeros(0, np.int64)
        self._norms: np.ndarray | None = None

    @property
    def n_docs(self) -> int:
        """Number of vectors (documents) in the index."""
        return int(len(self.ids))

    def add(self, vectors, ids=None) -> None:
        """Append vectors (n, d); ``ids`` (n,) int64, default continuing 0, 1, ..."""
        x = as_vectors(vectors, self.d)
        new_ids = _new_ids(ids, len(x), self.ids)
        self.vectors = np.ascontiguousarray(np.concatenate([self.vectors, x])) if self.n_docs else x
        self.ids = np.concatenate([self.ids, new_ids])
        self._norms = None

    def remove(self, ids) -> int:
        """Remove the vectors with these ids; returns how many were removed."""
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        self.vectors = np.ascontiguousarray(self.vectors[keep])
        self.ids = self.ids[keep]
        self._norms = None
        return removed

    def _search(self, x, k, threads: int = 1, allow=None):
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
        """The stored vectors of ``ids`` (m, d)."""
        rows = _rows_of(self.ids, ids)
        return self.vectors[rows]

    def _arrays(self):
        return {"vectors": self.vectors, "ids": self.ids}

    @classmethod
    def _from_arrays(cls, params, arrays):
        index = cls(params["d"], params["metric"], params.get("model"))
        index.vectors, index.ids = arrays["vectors"], arrays["ids"]
        return index

    def __repr__(self) -> str:
        return f"FlatIndex(d={self.d}, metric={self.metric!r}, n_docs={self.n_docs})"


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
