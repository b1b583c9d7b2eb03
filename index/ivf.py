"""``IVFIndex``: inverted-file index with flat, PQ (8/4-bit), 4-bit fast-scan or scalar-quantized
(SQ8, float16) lists.

Vectors are assigned to the nearest of ``nlist`` coarse centroids (k-means); a query scans
the ``nprobe`` best lists. PQ and scalar-quantized lists encode residuals (x - centroid,
faiss's IVFADC) or, with ``residual=False``, the vectors themselves (required for codebooks
learned elsewhere, e.g. constrained PQ). The lists live in sorted arrays (rows grouped by
list); ``add`` and ``remove`` rebuild them, the C++ core searches them without copies (also
memory-mapped).
"""
from __future__ import annotations

import numpy as np

from winnow import _core
from winnow.index.dense_base import DenseIndex, as_vectors
from winnow.index.flat import _new_ids
from winnow.index.format import register_format
from winnow.index.opq import train_opq
from winnow.validation import check_finite

PAYLOADS = ("flat", "pq", "fastscan", "sq8", "float16")
SQ_PAYLOADS = ("sq8", "float16")  # scalar quantization (faiss IndexIVFScalarQuantizer)


@register_format("winnow.ivf")
class IVFIndex(DenseIndex):
    """IVF over ``nlist`` lists. ``payload``: ``flat`` (float32 vectors), ``pq`` (M x nbits
    codes, ADC), ``fastscan`` (M x 4-bit codes, SIMD scan), ``sq8`` (one byte per dimension,
    per-dimension ranges trained on the residuals, faiss "IVFn,SQ8") or ``float16`` (faiss
    "IVFn,SQfp16"). ``refine=True`` stores the full vectors to re-score the best ``refine_k``
    candidates exactly."""

    FORMAT = "winnow.ivf"
    FORMAT_VERSION = (1, 1)  # 1.1: payloads sq8 / float16 (sq_vmin.npy, sq_vdiff.npy for sq8)

    def __init__(self, d: int, nlist: int, payload: str = "flat", M: int | None = None, nbits: int = 8,
                 metric: str = "ip", residual: bool = True, opq: bool = False, refine: bool = False,
                 model: str | None = None):
        super().__init__(d, metric, model)
        if payload not in PAYLOADS:
            raise ValueError(f"unknown payload '{payload}' (expected one of {PAYLOADS})")
        if int(nlist) <= 0:
            raise ValueError(f"nlist must be >= 1, got {nlist}")
        self.nlist, self.payload = int(nlist), payload
        self.residual, self.opq, self.refine = bool(residual), bool(opq), bool(refine)
        self.pq = None
        self.sq = _core.ScalarQuantizer(self.d, payload) if payload in SQ_PAYLOADS else None
        self.M, self.nbits = None, None
        if payload not in ("flat",) + SQ_PAYLOADS:
            if M is None:
                raise ValueError(f"payload '{payload}' needs M")
            nbits = 4 if payload == "fastscan" else nbits
            if d % M != 0:
                raise ValueError(f"dim {d} is not a multiple of M={M}")
            self.M, self.nbits = int(M), int(nbits)
            self.pq = _core.ProductQuantizer(self.d, self.M, self.nbits)
        self.rotation = None
        self.centroids = np.zeros((0, self.d), np.float32)
        self.list_offsets = np.zeros(self.nlist + 1, np.int64)
        self.ids = np.zeros(0, np.int64)
        width = (self.d * 4) if payload == "flat" else (self.pq or self.sq).code_size
        self.payload_rows = np.zeros((0, self.d), np.float32) if payload == "flat" else np.zeros((0, width), np.uint8)
        self.vectors = np.zeros((0, self.d), np.float32) if refine else None
        self.packed = np.zeros(0, np.uint8)
        self.packed_offsets = np.zeros(self.nlist + 1, np.int64)

    @property
    def n_docs(self) -> int:
        """Number of vectors (documents) in the index."""
        return int(len(self.ids))

    @property
    def is_trained(self) -> bool:
        return (len(self.centroids) == self.nlist and (self.pq is None or bool(self.pq.is_trained))
                and (self.sq is None or bool(self.sq.is_trained)))

    def _rotate(self, x):
        return x if self.rotation is None else np.ascontiguousarray(x @ self.rotation)

    def train(self, x, niter: int = 20, seed: int = 1234, threads: int = 1, max_points_per_centroid: int = 256):
        """k-means coarse centroids, then (PQ payloads) the codebooks or (SQ8) the ranges on
        residuals or vectors."""
        x = as_vectors(x, self.d)
        if len(x) < self.nlist:
            raise ValueError(f"{len(x)} training vectors for nlist={self.nlist}: need at least nlist")
        if self.opq and self.pq is not None and self.rotation is None:
            self.rotation = train_opq(x, self.M, self.nbits, seed=seed, threads=threads)
        xr = self._rotate(x)
        self.centroids, _, _ = _core.kmeans(xr, self.nlist, niter=niter, seed=seed, threads=threads,
                                            max_points_per_centroid=max_points_per_centroid)
        if self.pq is not None:
            target = xr - self.centroids[self._assign(xr, threads)] if self.residual else xr
            self.pq.train(np.ascontiguousarray(target), niter=25, seed=seed + 1, threads=threads,
                          max_points_per_centroid=max_points_per_centroid)
        if self.sq is not None:
            target = xr - self.centroids[self._assign(xr, threads)] if self.residual else xr
            self.sq.train(np.ascontiguousarray(target))
        return self

    def set_quantizers(self, centroids, codebooks=None, rotation=None) -> None:
        """Use given coarse centroids (nlist, d) and PQ codebooks (M, ksub, d/M) instead of training."""
        c = np.ascontiguousarray(centroids, dtype=np.float32)
        if c.shape != (self.nlist, self.d):
            raise ValueError(f"centroids have shape {c.shape}, expected ({self.nlist}, {self.d})")
        check_finite(c, "centroids")
        if codebooks is not None:
            codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)
            check_finite(codebooks, "codebooks")
        if rotation is not None:
            rotation = np.ascontiguousarray(rotation, dtype=np.float32)
            check_finite(rotation, "rotation")
        self.centroids = c  # set only once every array passed its checks
        if codebooks is not None:
            self.pq.set_centroids(codebooks)
        if rotation is not None:
            self.rotation = rotation

    def _assign(self, xr: np.ndarray, threads: int = 1) -> np.ndarray:
        _, lists = _core.dense_exact_search(xr, self.centroids, 1, self.metric, threads, None)
        return lists[:, 0]

    def _row_lists(self) -> np.ndarray:
        return np.repeat(np.arange(self.nlist, dtype=np.int64), np.diff(self.list_offsets))

    def add(self, vectors, ids=None, threads: int = 1) -> None:
        """Assign to lists, encode and append vectors (n, d) with ids (default continuing)."""
        if not self.is_trained:
            raise ValueError("train the index (or set its quantizers) before adding vectors")
        x = as_vectors(vectors, self.d)
        new_ids = _new_ids(ids, len(x), self.ids)
        xr = self._rotate(x)
        lists = self._assign(xr, threads)
        if self.payload == "flat":
            rows = xr
        else:
            target = xr - self.centroids[lists] if self.residual else xr
            rows = (self.pq or self.sq).encode(np.ascontiguousarray(target), threads)
        self._rebuild(np.concatenate([self._row_lists(), lists]), np.concatenate([self.ids, new_ids]),
                      np.concatenate([self.rows(), rows]),
                      np.concatenate([self.vectors, x]) if self.refine else None)

    def remove(self, ids) -> int:
        """Remove the rows with these ids; returns how many were removed."""
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        if removed:
            self._rebuild(self._row_lists()[keep], self.ids[keep], self.rows()[keep],
                          self.vectors[keep] if self.refine else None)
        return removed

    def _rebuild(self, lists, ids, rows, vectors) -> None:
        order = np.argsort(lists, kind="stable")  # group by list, keep insertion order inside
        self.ids = np.ascontiguousarray(ids[order])
        self.payload_rows = np.ascontiguousarray(rows[order])
        if self.refine:
            self.vectors = np.ascontiguousarray(vectors[order])
        counts = np.bincount(lists, minlength=self.nlist)
        self.list_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        if self.payload == "fastscan":
            parts = [_core.fastscan_pack(np.ascontiguousarray(self.payload_rows[a:b]), self.M)
                     for a, b in zip(self.list_offsets[:-1], self.list_offsets[1:])]
            sizes = [len(p) for p in parts]
            self.packed = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
            self.packed_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            self.payload_rows = None  # the packed lists are the only copy; rows() unpacks them

    def rows(self) -> np.ndarray:
        """Payload rows grouped by list: (n, d) float32 vectors or (n, code_size) uint8 codes.

        Fast-scan indexes keep only the packed lists (half the memory of keeping both); their
        codes are unpacked on demand (add, remove, export)."""
        if self.payload_rows is not None:
            return self.payload_rows
        parts = [_core.fastscan_unpack(self.packed[pa:pb], int(b - a), self.M)
                 for a, b, pa, pb in zip(self.list_offsets[:-1], self.list_offsets[1:],
                                         self.packed_offsets[:-1], self.packed_offsets[1:])]
        if not parts or self.n_docs == 0:  # (fast-scan only: the other payloads keep their rows)
            return np.zeros((0, self.pq.code_size), np.uint8)
        return np.ascontiguousarray(np.concatenate(parts))

    def _search(self, x, k, nprobe: int = 1, threads: int = 1, refine_k: int | None = None,
                rescore_k: int | None = None, allow=None):
        xr = x if self.rotation is None else self._rotate(x)
        refine_k = (4 * k if refine_k is None else refine_k) if self.refine else 0
        payload = self.payload
        rescore_k = (4 * k if rescore_k is None else rescore_k) if payload == "fastscan" else 0
        allow_arr = None if allow is None else np.unique(np.asarray(allow, dtype=np.int64))
        if self.sq is not None:
            return _core.ivf_sq_search(
                self.centroids, self.list_offsets, self.ids, self.payload_rows, self.sq, residual=self.residual,
                refine=self.vectors if self.refine else None, metric=self.metric, x=xr, k=k, nprobe=nprobe,
                refine_k=refine_k, allow=allow_arr, threads=threads)
        rows = self.payload_rows
        fastscan = payload == "fastscan"
        # positional: pybind11 matches keyword arguments by name, a measurable cost per call
        return _core.ivf_search(
            self.centroids, self.list_offsets, self.ids, payload,
            rows if payload == "flat" else None, rows if payload == "pq" else None,
            self.packed if fastscan else None, self.packed_offsets if fastscan else None,
            self.pq, self.residual, self.vectors if self.refine else None, self.metric,
            xr, k, nprobe, refine_k, rescore_k, allow_arr, threads)

    def list_sizes(self) -> np.ndarray:
        return np.diff(self.list_offsets)

    def _params(self):
        return {**super()._params(), "nlist": self.nlist, "payload": self.payload, "M": self.M,
                "nbits": self.nbits, "residual": self.residual, "opq": self.opq, "refine": self.refine}

    def _arrays(self):
        arrays = {"centroids": self.centroids, "list_offsets": self.list_offsets, "ids": self.ids}
        if self.payload_rows is not None:
            arrays["payload_rows"] = self.payload_rows
        if self.pq is not None:
            arrays["codebooks"] = self.pq.centroids
        if self.payload == "sq8":
            arrays["sq_vmin"], arrays["sq_vdiff"] = self.sq.vmin, self.sq.vdiff
        if self.payload == "fastscan":
            arrays["packed"], arrays["packed_offsets"] = self.packed, self.packed_offsets
        if self.rotation is not None:
            arrays["rotation"] = self.rotation
        if self.refine:
            arrays["vectors"] = self.vectors
        return arrays

    @classmethod
    def _from_arrays(cls, params, arrays):
        index = cls(params["d"], params["nlist"], params["payload"], params.get("M"), params.get("nbits") or 8,
                    params["metric"], params.get("residual", True), params.get("opq", False),
                    params.get("refine", False), params.get("model"))
        index.centroids, index.list_offsets = arrays["centroids"], arrays["list_offsets"]
        index.ids, index.payload_rows = arrays["ids"], arrays.get("payload_rows")
        if index.pq is not None:
            index.pq.set_centroids(np.ascontiguousarray(arrays["codebooks"]))
        if index.payload == "sq8":
            index.sq.set_ranges(np.ascontiguousarray(arrays["sq_vmin"]), np.ascontiguousarray(arrays["sq_vdiff"]))
        if index.payload == "fastscan":
            index.packed, index.packed_offsets = arrays["packed"], arrays["packed_offsets"]
        index.rotation = arrays.get("rotation")
        if index.refine:
            index.vectors = arrays["vectors"]
        return index

    def __repr__(self) -> str:
        extra = "" if self.pq is None else f", M={self.M}, nbits={self.nbits}, residual={self.residual}"
        return f"IVFIndex(d={self.d}, nlist={self.nlist}, payload={self.payload!r}{extra}, n_docs={self.n_docs})"
