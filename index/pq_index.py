"""``PQIndex``: exhaustive product-quantized search (8-bit ADC, or 4-bit fast-scan), with an
optional rotation (OPQ learned here, or supplied) and optional exact re-scoring of the best
candidates with stored full vectors."""
from __future__ import annotations

import numpy as np

from winnow import _core
from winnow.index.dense_base import DenseIndex, as_vectors
from winnow.index.flat import _new_ids, _rows_of
from winnow.index.format import register_format
from winnow.index.opq import train_opq
from winnow.validation import check_finite


def pq_luts(pq, x: np.ndarray, metric: str) -> np.ndarray:
    """(nq, M, ksub) float32 look-up tables of queries x (nq, d)."""
    return pq.compute_luts(np.ascontiguousarray(x, dtype=np.float32), metric)


def exact_rescore(vectors: np.ndarray, metric: str, x: np.ndarray, cand_ids: np.ndarray, rows: np.ndarray,
                  k: int) -> tuple[np.ndarray, np.ndarray]:
    """Re-score candidates (nq, c) whose vector rows are ``rows`` with full vectors; top k."""
    nq = len(x)
    scores = np.full((nq, k), -np.inf, np.float32)
    ids = np.full((nq, k), -1, np.int64)
    for qi in range(nq):
        valid = rows[qi] >= 0
        v = vectors[rows[qi][valid]]
        s = v @ x[qi] if metric == "ip" else -((v - x[qi]) ** 2).sum(axis=1)
        cid = cand_ids[qi][valid]
        order = np.lexsort((rows[qi][valid], -s))[:k]
        scores[qi, :len(order)] = s[order]
        ids[qi, :len(order)] = cid[order]
    return scores, ids


@register_format("winnow.pq")
class PQIndex(DenseIndex):
    """Product quantization, M sub-quantizers of ``nbits`` (8, or 4 with fast-scan).

    ``opq=True`` learns a rotation at train time; ``rotation`` (d, d) supplies one.
    ``refine=True`` keeps the float32 vectors to re-score the best ``refine_k`` candidates.
    """

    FORMAT = "winnow.pq"

    def __init__(self, d: int, M: int, nbits: int = 8, metric: str = "ip", opq: bool = False,
                 rotation=None, refine: bool = False, model: str | None = None):
        super().__init__(d, metric, model)
        if nbits not in (4, 8):
            raise ValueError(f"nbits must be 4 or 8, got {nbits}")
        if d % M != 0:
            raise ValueError(f"dim {d} is not a multiple of M={M}")
        self.M, self.nbits, self.opq, self.refine = int(M), int(nbits), bool(opq), bool(refine)
        self.pq = _core.ProductQuantizer(self.d, self.M, self.nbits)
        self.rotation = None if rotation is None else self._check_rotation(rotation)
        self.codes = np.zeros((0, self.pq.code_size), np.uint8)
        self.ids = np.zeros(0, np.int64)
        self.vectors = np.zeros((0, self.d), np.float32) if refine else None
        self.packed: np.ndarray | None = None

    @property
    def fastscan(self) -> bool:
        return self.nbits == 4

    @property
    def n_docs(self) -> int:
        """Number of vectors (documents) in the index."""
        return int(len(self.ids))

    @property
    def is_trained(self) -> bool:
        return bool(self.pq.is_trained)

    def _check_rotation(self, r) -> np.ndarray:
        r = np.ascontiguousarray(r, dtype=np.float32)
        if r.shape != (self.d, self.d):
            raise ValueError(f"rotation has shape {r.shape}, expected ({self.d}, {self.d})")
        check_finite(r, "rotation")
        return r

    def _rotate(self, x: np.ndarray) -> np.ndarray:
        return x if self.rotation is None else np.ascontiguousarray(x @ self.rotation)

    def train(self, x, niter: int = 25, seed: int = 1234, threads: int = 1, max_points_per_centroid: int = 256):
        """Learn the rotation (when ``opq``) and the codebooks from training vectors (n, d)."""
        x = as_vectors(x, self.d)
        if self.opq and self.rotation is None:
            self.rotation = train_opq(x, self.M, self.nbits, seed=seed, threads=threads)
        self.pq.train(self._rotate(x), niter=niter, seed=seed, threads=threads,
                      max_points_per_centroid=max_points_per_centroid)
        return self

    def set_codebooks(self, centroids, rotation=None) -> None:
        """Use given centroids (M, ksub, d/M) (and rotation (d, d)) instead of training."""
        centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        check_finite(centroids, "centroids")
        self.pq.set_centroids(centroids)
        if rotation is not None:
            self.rotation = self._check_rotation(rotation)

    def add(self, vectors, ids=None) -> None:
        if not self.is_trained:
            raise ValueError("train the index (or set codebooks) before adding vectors")
        x = as_vectors(vectors, self.d)
        new_ids = _new_ids(ids, len(x), self.ids)
        self.add_codes(self.pq.encode(self._rotate(x), 1), new_ids, x if self.refine else None)

    def add_codes(self, codes, ids, vectors=None) -> None:
        """Append already-computed codes (n, code_size) uint8 with their ids."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] != self.pq.code_size:
            raise ValueError(f"codes have shape {codes.shape}, expected (n, {self.pq.code_size})")
        self.codes = np.concatenate([self.codes, codes]) if self.n_docs else codes
        self.ids = np.concatenate([self.ids, np.asarray(ids, np.int64)])
        if self.refine:
            if vectors is None:
                raise ValueError("this index refines with full vectors: pass them with the codes")
            self.vectors = np.concatenate([self.vectors, as_vectors(vectors, self.d)])
        self.packed = None

    def remove(self, ids) -> int:
        """Remove the rows with these ids; returns how many were removed."""
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        if removed:
            self.codes = np.ascontiguousarray(self.codes[keep])
            self.ids = self.ids[keep]
            if self.refine:
                self.vectors = np.ascontiguousarray(self.vectors[keep])
            self.packed = None
        return removed

    def _packed(self) -> np.ndarray:
        if self.packed is None:
            self.packed = _core.fastscan_pack(np.ascontiguousarray(self.codes), self.M)
        return self.packed

    def _search(self, x, k, threads: int = 1, refine_k: int | None = None, rescore_k: int | None = None,
                allow=None):
        xr = self._rotate(x)
        refine_k = (4 * k if refine_k is None else refine_k) if self.refine else 0
        allow_arr = None if allow is None else np.unique(np.asarray(allow, dtype=np.int64))
        if self.fastscan and allow_arr is None:
            rescore = 4 * k if rescore_k is None else rescore_k
            depth = max(k, refine_k)
            luts = pq_luts(self.pq, xr, self.metric)  # (nq, M, 16) float32, C-contiguous
            if refine_k:
                # hits as row positions (the vectors to re-score), mapped to ids here
                scores, hit_rows = _core.fastscan_search(self._packed(), self.n_docs, self.M, luts, depth, rescore,
                                                         None, threads)
                ids = np.where(hit_rows >= 0, self.ids[np.maximum(hit_rows, 0)], -1)
                return exact_rescore(self.vectors, self.metric, x, ids, hit_rows, k)
            # the core maps rows to ids (self.ids is the (n,) int64 map); depth == k here
            return _core.fastscan_search(self._packed(), self.n_docs, self.M, luts, depth, rescore, self.ids,
                                         threads)
        return _core.pq_search(self.pq, self.metric, np.ascontiguousarray(self.codes), self.ids,
                               self.vectors if self.refine else None, xr, k, refine_k, allow_arr, threads)

    def decode(self, ids=None) -> np.ndarray:
        """Reconstructed vectors (in the original space) of all rows or of ``ids``."""
        codes = self.codes if ids is None else self.codes[_rows_of(self.ids, ids)]  # ids need not be sorted
        y = self.pq.decode(np.ascontiguousarray(codes))
        return y if self.rotation is None else y @ self.rotation.T

    def _params(self):
        return {**super()._params(), "M": self.M, "nbits": self.nbits, "opq": self.opq, "refine": self.refine}

    def _arrays(self):
        arrays = {"centroids": self.pq.centroids, "codes": self.codes, "ids": self.ids}
        if self.rotation is not None:
            arrays["rotation"] = self.rotation
        if self.refine:
            arrays["vectors"] = self.vectors
        return arrays

    @classmethod
    def _from_arrays(cls, params, arrays):
        index = cls(params["d"], params["M"], params["nbits"], params["metric"], params.get("opq", False),
                    arrays.get("rotation"), params.get("refine", False), params.get("model"))
        index.pq.set_centroids(np.ascontiguousarray(arrays["centroids"]))
        index.codes, index.ids = arrays["codes"], arrays["ids"]
        if index.refine:
            index.vectors = arrays["vectors"]
        return index

    def __repr__(self) -> str:
        return (f"PQIndex(d={self.d}, M={self.M}, nbits={self.nbits}, metric={self.metric!r}, "
                f"opq={self.rotation is not None}, n_docs={self.n_docs})")
