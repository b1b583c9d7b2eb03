"""Shared machinery of the dense indexes (Flat, PQ, IVF): query vectors or texts in,
``Results`` out; docnos; the encoder recorded in the index; saving and loading payloads.

Vectors are float32, row-major. Inputs of another dtype or layout are converted on purpose
(``np.ascontiguousarray(x, dtype=np.float32)``); a wrong dimension is a ValueError.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from winnow import _core
from winnow.deprecation import deprecated_alias
from winnow.docnos import DocnoTable, IdentityDocnos
from winnow.errors import IndexFormatError
from winnow.limits import check_k, check_threads
from winnow.model_names import model_reference
from winnow.results import Results
from winnow.stage import Retriever, as_queries
from winnow.validation import check_finite, unique_docno_table
from winnow.index import invariants
from winnow.index.format import load_arrays, open_index, save_directory

METRICS = ("ip", "l2")


def as_vectors(x, d: int | None = None, name: str = "vectors") -> np.ndarray:
    """(n, d) C-contiguous float32 view or copy of ``x``; a 1-D vector becomes one row."""
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {arr.shape}")
    if d is not None and arr.shape[1] != d:
        raise ValueError(f"{name} have {arr.shape[1]} columns (dim), index dim is {d}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    # one NaN would poison k-means, codebooks and every score; the C++ pre-check costs well
    # under a microsecond for one query (numpy's isfinite().all() costs several), and
    # check_finite then names the offending entry
    if not _core.all_finite(out):
        check_finite(out, name)
    return out


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}' (expected one of {METRICS})")
    return metric


class DenseIndex(Retriever):
    """Base class. Subclasses set ``FORMAT`` and implement ``_search`` / payload I/O.

    ``search(queries, k)`` takes query vectors (nq, d) or texts (dict, list, DataFrame),
    which are encoded with ``encoder`` (a :class:`winnow.encoders.SentenceEncoder`) or the
    model recorded in the index (``model`` parameter).
    """

    FORMAT = ""
    FORMAT_VERSION = (1, 0)
    n_docs: int  # number of vectors (documents); each subclass defines it as a property
    ntotal = deprecated_alias("ntotal", "n_docs")  # faiss's name

    def __init__(self, d: int, metric: str = "ip", model: str | None = None):
        if int(d) <= 0:
            raise ValueError(f"dimension must be positive, got {d}")
        self.d = int(d)
        self.metric = check_metric(metric)
        self.model = model_reference(model)  # portable: the packaged model by name, not a venv path
        self.docnos: DocnoTable = IdentityDocnos()
        self.encoder = None
        self.k = 1000
        self.path: Path | None = None

    # -- queries -----------------------------------------------------------------------------
    def _query_vectors(self, queries) -> tuple[list[str], list[str] | None, np.ndarray]:
        if isinstance(queries, np.ndarray):
            x = as_vectors(queries, self.d, "query vectors")
            return [str(i) for i in range(len(x))], None, x
        qids, texts = as_queries(queries)
        if self.encoder is None:
            if self.model is None:
                raise ValueError("this index has no query encoder: pass query vectors, or set "
                                 "index.encoder / build it with a model")
            from winnow.encoders import SentenceEncoder

            self.encoder = SentenceEncoder(self.model)
        x = as_vectors(self.encoder.encode_queries(texts), self.d, "encoded queries")
        return qids, texts, x

    def search(self, queries, k: int = 10, **kwargs) -> Results:
        """Top-``k`` per query as :class:`Results` (ids are the ids given at ``add``)."""
        k = check_k(k, self.n_docs)  # before encoding: a bad k fails before any work
        if "threads" in kwargs:
            kwargs["threads"] = check_threads(kwargs["threads"])
        qids, texts, x = self._query_vectors(queries)  # x checked (finite, (nq, d)) there
        scores, ids = self._search(x, k, **kwargs)
        return Results(qids, ids, scores, self.docnos, texts)

    def search_vectors(self, x, k: int = 10, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """(scores (nq, kc) float32, ids (nq, kc) int64), kc = min(k, n_docs), for query vectors x (nq, d).

        ``k`` must be >= 1 and ``threads`` >= 1 (or 0 for all cores), else ``ValueError``."""
        k = check_k(k, self.n_docs)  # (nq, min(k, n_docs)): a huge k allocates no more than the index
        if "threads" in kwargs:
            kwargs["threads"] = check_threads(kwargs["threads"])
        return self._search(as_vectors(x, self.d, "query vectors"), k, **kwargs)

    def _search(self, x: np.ndarray, k: int, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def set_docnos(self, docnos) -> None:
        """Map ids 0..n-1 to external document ids (a list or DocnoTable); duplicates are refused."""
        self.docnos = unique_docno_table(docnos)

    # -- files ---------------------------------------------------------------------------------
    def _params(self) -> dict:
        return {"d": self.d, "metric": self.metric, "model": self.model}

    def _arrays(self) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, path, overwrite: bool = False, info: dict | None = None) -> None:
        """Write the index directory atomically (meta.json + .npy payloads). An existing
        ``path`` must be a Winnow index and ``overwrite`` true, else ``ValueError``.
        ``info`` (JSON-serialisable, e.g. a training log) is kept in meta.json under "info",
        inside the same atomic save and under its checksum."""
        arrays = self._arrays()
        if not isinstance(self.docnos, IdentityDocnos):
            arrays["docno_bytes"] = self.docnos.data
            arrays["docno_offsets"] = self.docnos.offsets

        def write(tmp: Path) -> None:
            for name, arr in arrays.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr))

        meta = {"format": self.FORMAT, "format_version": list(self.FORMAT_VERSION), "params": self._params(),
                "arrays": {name: [str(a.dtype), list(a.shape)] for name, a in arrays.items()}}
        if info is not None:
            meta["info"] = info
        save_directory(path, write, meta, overwrite)
        self.path = Path(path)

    @classmethod
    def load(cls, path, mmap: bool = False, verify: bool | None = None):
        """Open a saved index (``mmap=True`` maps the arrays read-only instead of reading them).

        ``verify`` (default ``not mmap``) checksums every payload file; an unverified mapped
        load checks meta.json, sizes and structure only (see ``winnow.index.load``)."""
        path = Path(path)
        meta = open_index(path, cls.FORMAT, cls.FORMAT_VERSION[0], mmap, verify)
        invariants.verify_structure(meta, path, mmap, verify)
        arrays = load_arrays(meta, path, mmap)
        try:
            index = cls._from_arrays(meta["params"], arrays)
            if "docno_bytes" in arrays:
                index.docnos = invariants.docno_table(arrays["docno_bytes"], arrays["docno_offsets"], path, None)
        except (KeyError, ValueError, TypeError) as exc:  # a missing array or parameter, or a wrong type
            raise IndexFormatError(f"{path}: {exc!r}") from None
        invariants.check_dense(index, path, mmap)  # shapes, list tables, id ranges: before any search
        index.path = path
        return index

    @classmethod
    def _from_arrays(cls, params: dict, arrays: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self._arrays().values()))
