"""``TokenStore``: per-document token vectors for late interaction (ColBERT, ColBERT-PRF).

Layout (``format: winnow.tokens``; one ``.npy`` per array, memory-mappable)::

    tokens.npy      (T, dim) float16          storage "float16"
    codes.npy       (T, code_size) uint8      storage "pq": PQ codes of the token vectors
    codebooks.npy   (M, ksub, dim / M) float32 storage "pq"
    token_ids.npy   (T,) int32                word-piece id of every token row ("emb2tid")
    offsets.npy     (n_docs + 1,) int64        document t owns rows offsets[t]:offsets[t + 1]
    df.npy          (vocab,) int64            documents containing each token id (for IDF)
    docno_bytes.npy / docno_offsets.npy       external document ids (when set)

Scoring is weighted MaxSim in the C++ core (``sum_i w_i max_j <q_i, d_j>``), from float16
rows converted on the fly or from PQ codes through per-query-vector look-up tables; see
:meth:`TokenStore.maxsim`. IDF follows ColBERT-PRF (Wang et al., ICTIR 2021):
``ln((N + 1) / (df + 1))``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from winnow import _core
from winnow.deprecation import deprecated_alias
from winnow.docnos import DocnoTable, IdentityDocnos
from winnow.errors import IndexFormatError
from winnow.index import invariants
from winnow.index.format import load_arrays, open_index, register_format, save_directory
from winnow.validation import check_finite, unique_docno_table

__all__ = ["TokenStore", "maxsim_reference", "document_frequencies"]

STORAGES = ("float16", "pq")


def document_frequencies(token_ids: np.ndarray, offsets: np.ndarray, vocab_size: int | None = None) -> np.ndarray:
    """``df[t]`` = number of documents whose token rows contain id ``t``, (vocab,) int64."""
    token_ids = np.asarray(token_ids, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    vocab = int(vocab_size if vocab_size is not None else (token_ids.max() + 1 if len(token_ids) else 0))
    if len(token_ids) and (token_ids.min() < 0 or token_ids.max() >= vocab):
        raise ValueError(f"token ids span [{token_ids.min()}, {token_ids.max()}], vocab_size is {vocab}")
    doc = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    pairs = np.unique(doc * max(vocab, 1) + token_ids)  # one entry per (doc, token id)
    return np.bincount(pairs % max(vocab, 1), minlength=vocab).astype(np.int64)


def maxsim_reference(q: np.ndarray, weights: np.ndarray | None, tokens: np.ndarray, offsets: np.ndarray,
                     doc_ids: np.ndarray, pad_to: int | None = None) -> np.ndarray:
    """Numpy weighted MaxSim (float64 accumulation): the oracle the tests hold the C++ kernels
    to. Empty documents score 0. ``pad_to``: documents literally zero-padded to ``pad_to``
    rows first (ColBERT's padded ``D`` tensor)."""
    q = np.asarray(q, dtype=np.float64)
    w = np.ones(len(q)) if weights is None else np.asarray(weights, dtype=np.float64)
    out = np.zeros(len(doc_ids), np.float32)
    for c, t in enumerate(np.asarray(doc_ids, dtype=np.int64)):
        d = np.asarray(tokens[offsets[t]:offsets[t + 1]], dtype=np.float64)
        if pad_to is not None and len(d) < pad_to:
            d = np.concatenate([d, np.zeros((pad_to - len(d), q.shape[1]))])
        if len(d) and len(q):
            out[c] = float((w * (q @ d.T).max(axis=1)).sum())
    return out


@register_format("winnow.tokens")
class TokenStore:
    """Token vectors of a collection, stored as float16 or PQ codes.

    Parameters
    ----------
    tokens : (T, dim) array
        Token vectors (any float dtype; stored as float16, or PQ-encoded when ``pq_M`` is set).
    token_ids : (T,) int
        Word-piece id of each row.
    offsets : (n_docs + 1,) int64
        Document ``t`` owns rows ``offsets[t]:offsets[t + 1]``.
    docnos : list of str, optional
        External document ids.
    pq_M : int, optional
        Compress with a product quantizer of ``pq_M`` sub-spaces (``nbits`` bits each),
        trained on up to ``train_size`` rows; default: keep float16.
    vocab_size : int, optional
        Length of the ``df`` table (default: largest token id + 1).
    special_ids : sequence of int
        Token ids that never name a feedback term (markers, [unused*]); recorded for ColBERT-PRF.
    model : dict, optional
        Encoder description recorded in meta.json (kind, path, settings).
    """

    FORMAT = "winnow.tokens"
    FORMAT_VERSION = (1, 0)

    def __init__(self, tokens, token_ids, offsets, docnos=None, *, pq_M: int | None = None, nbits: int = 8,
                 train_size: int = 200_000, seed: int = 1234, threads: int = 1, vocab_size: int | None = None,
                 special_ids=(), model: dict | None = None, _raw: dict | None = None):
        if _raw is not None:  # from load(): arrays as stored
            self.__dict__.update(_raw)
            return
        tokens = np.asarray(tokens)
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be 2-D (T, dim), got shape {tokens.shape}")
        check_finite(tokens, "tokens")
        self.token_ids = np.ascontiguousarray(token_ids, dtype=np.int32)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        _check_layout(len(tokens), self.token_ids, self.offsets)
        self.dim = int(tokens.shape[1])
        self.model = dict(model or {})
        self.special_ids = sorted({int(i) for i in special_ids})
        self.df = document_frequencies(self.token_ids, self.offsets, vocab_size)
        self.docnos: DocnoTable = IdentityDocnos()
        if docnos is not None:
            self.set_docnos(docnos)
        self.tokens = self.codes = self.codebooks = self.pq = None
        if pq_M is None:
            self.storage = "float16"
            self.tokens = np.ascontiguousarray(tokens, dtype=np.float16)
        else:
            self.storage = "pq"
            if self.dim % int(pq_M):
                raise ValueError(f"token dim {self.dim} is not a multiple of M={pq_M}")
            self.pq = _core.ProductQuantizer(self.dim, int(pq_M), int(nbits))
            rng = np.random.default_rng(seed)
            sample = np.sort(rng.choice(len(tokens), min(train_size, len(tokens)), replace=False))
            self.pq.train(np.ascontiguousarray(tokens[sample], dtype=np.float32), niter=25, seed=seed,
                          threads=threads, max_points_per_centroid=256)
            self.codes = np.empty((len(tokens), self.pq.code_size), np.uint8)
            for a in range(0, len(tokens), 65536):  # bounded float32 copies
                chunk = np.ascontiguousarray(tokens[a:a + 65536], dtype=np.float32)
                self.codes[a:a + len(chunk)] = self.pq.encode(chunk, threads)
            self.codebooks = self.pq.centroids
        self.path: Path | None = None

    # -- shape -----------------------------------------------------------------------------
    @property
    def n_docs(self) -> int:
        """Number of documents (``len(offsets) - 1``)."""
        return len(self.offsets) - 1

    ndocs = deprecated_alias("ndocs", "n_docs")

    @property
    def ntokens(self) -> int:
        return len(self.token_ids)

    @property
    def M(self) -> int | None:
        return None if self.pq is None else int(self.pq.M)

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        pq = "" if self.pq is None else f", M={self.pq.M}, nbits={self.pq.nbits}"
        return f"TokenStore(n_docs={self.n_docs}, ntokens={self.ntokens}, dim={self.dim}, storage={self.storage!r}{pq})"

    def set_docnos(self, docnos) -> None:
        table = unique_docno_table(docnos)
        if len(table) != self.n_docs:
            raise ValueError(f"{len(table)} docnos for {self.n_docs} documents")
        self.docnos = table

    # -- statistics ----------------------------------------------------------------------------
    def idf(self, token_ids) -> np.ndarray:
        """ColBERT-PRF IDF ``ln((N + 1) / (df + 1))`` of token ids (unknown ids: df 0)."""
        t = np.asarray(token_ids, dtype=np.int64)
        df = np.where((t >= 0) & (t < len(self.df)), self.df[np.clip(t, 0, max(len(self.df) - 1, 0))], 0)
        return np.log((self.n_docs + 1.0) / (df + 1.0))

    def doc_of_rows(self, rows) -> np.ndarray:
        """Document of each token row (``offsets`` inverted by binary search)."""
        return np.searchsorted(self.offsets, np.asarray(rows, dtype=np.int64), side="right") - 1

    @property
    def nbytes(self) -> int:
        """Bytes of the token payload (vectors or codes + codebooks), ids, offsets and df."""
        payload = self.tokens.nbytes if self.storage == "float16" else self.codes.nbytes + self.codebooks.nbytes
        return int(payload + self.token_ids.nbytes + self.offsets.nbytes + self.df.nbytes)

    # -- vectors -----------------------------------------------------------------------------
    def doc_vectors(self, t: int) -> np.ndarray:
        """Token vectors (L, dim) float32 of document ``t`` (decoded for PQ storage)."""
        a, b = int(self.offsets[t]), int(self.offsets[t + 1])
        return self.rows(np.arange(a, b))

    def rows(self, rows) -> np.ndarray:
        """Token vectors (n, dim) float32 of the given token rows."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.storage == "float16":
            return np.asarray(self.tokens[rows], dtype=np.float32)
        return self.pq.decode(np.ascontiguousarray(self.codes[rows]))

    # -- scoring ---------------------------------------------------------------------------
    def maxsim(self, q, doc_ids, weights=None, threads: int = 1, pad_to: int | None = None) -> np.ndarray:
        """Weighted MaxSim ``sum_i w_i max_j <q_i, d_j>`` of query vectors q (nq, dim) against
        documents ``doc_ids`` (n,); returns (n,) float32. Empty documents score 0. PQ storage
        scores ``<q_i, decode(code_j)>`` through look-up tables, without decoding.

        ``pad_to`` (e.g. ColBERT's doc_maxlen 180): score every document as if zero-padded to
        ``pad_to`` rows, as ColBERT and pyterrier_colbert do (their ``D`` tensor is
        ``zeros(n, doc_maxlen, dim)`` with the document copied in). A document shorter than
        ``pad_to`` then has a zero row, so each ``max_j`` is at least 0; one of ``pad_to`` rows
        or more is scored unchanged. Done by scoring a gathered copy of the candidates' rows
        with one zero row appended to each short document (PQ storage: decoded float32)."""
        q = np.ascontiguousarray(q, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"query vectors have shape {q.shape}, expected (nq, dim={self.dim})")
        check_finite(q, "query vectors")
        ids = np.ascontiguousarray(doc_ids, dtype=np.int64)
        w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
        if w is not None and w.shape != (len(q),):
            raise ValueError(f"weights have shape {w.shape}, expected ({len(q)},)")
        if w is not None:
            check_finite(w, "weights")
        if len(ids) and (ids.min() < 0 or ids.max() >= self.n_docs):
            raise IndexError(f"doc ids span [{ids.min()}, {ids.max()}], store has {self.n_docs} documents")
        if pad_to is not None and np.any(self.offsets[ids + 1] - self.offsets[ids] < int(pad_to)):
            return self._maxsim_padded(q, ids, w, threads, int(pad_to))
        if self.storage == "float16":
            return _core.maxsim_f16(q, w, self.tokens, self.offsets, ids, threads)
        return _core.maxsim_pq(self._luts(q), w, self.codes, self.offsets, ids, threads)

    def _maxsim_padded(self, q: np.ndarray, ids: np.ndarray, w: np.ndarray | None, threads: int,
                       pad_to: int) -> np.ndarray:
        """``maxsim`` of checked q (nq, dim) float32, ids (n,) int64 and w, documents shorter
        than ``pad_to`` rows given one zero row each (it stands for all their padding)."""
        starts, ends = self.offsets[ids], self.offsets[ids + 1]
        lens = ends - starts
        extra = (lens < pad_to).astype(np.int64)
        new_off = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(lens + extra, out=new_off[1:])
        # source row of every gathered real row: starts[c] + 0 .. lens[c] - 1, per candidate c
        total_real = int(lens.sum())
        owner = np.repeat(np.arange(len(ids)), lens)
        within = np.arange(total_real) - np.repeat(np.cumsum(lens) - lens, lens)
        src = starts[owner] + within
        dst = new_off[:-1][owner] + within
        local = np.arange(len(ids), dtype=np.int64)
        if self.storage == "float16":
            rows = np.zeros((int(new_off[-1]), self.dim), np.float16)
            rows[dst] = self.tokens[src]
            return _core.maxsim_f16(q, w, rows, new_off, local, threads)
        rows = np.zeros((int(new_off[-1]), self.dim), np.float32)
        rows[dst] = self.rows(src)
        return _core.maxsim_f32(q, w, rows, new_off, local, threads)

    def luts(self, q) -> np.ndarray:
        """Per-query-vector inner-product look-up tables (nq, M, ksub) float32 (PQ storage)."""
        if self.pq is None:
            raise ValueError("look-up tables need PQ storage")
        q = np.ascontiguousarray(q, dtype=np.float32)
        check_finite(q, "query vectors")
        return self._luts(q)

    def _luts(self, q: np.ndarray) -> np.ndarray:
        """``luts`` of already checked float32 query vectors (maxsim checks them once)."""
        out = np.empty((len(q), self.pq.M, self.pq.ksub), np.float32)
        for i in range(len(q)):
            out[i] = self.pq.compute_lut(q[i], "ip")
        return out

    # -- files ---------------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"token_ids": self.token_ids, "offsets": self.offsets, "df": self.df}
        if self.storage == "float16":
            arrays["tokens"] = self.tokens
        else:
            arrays["codes"], arrays["codebooks"] = self.codes, self.codebooks
        if not isinstance(self.docnos, IdentityDocnos):
            arrays["docno_bytes"], arrays["docno_offsets"] = self.docnos.data, self.docnos.offsets
        return arrays

    def save(self, path, overwrite: bool = False) -> None:
        """Write the store directory atomically (meta.json + .npy arrays). An existing
        ``path`` must be a Winnow index and ``overwrite`` true, else ``ValueError``."""
        arrays = self._arrays()

        def write(tmp: Path) -> None:
            for name, arr in arrays.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr))

        params = {"dim": self.dim, "storage": self.storage, "n_docs": self.n_docs, "ntokens": self.ntokens,
                  "M": self.M, "nbits": None if self.pq is None else int(self.pq.nbits),
                  "special_ids": self.special_ids, "model": self.model}
        meta = {"format": self.FORMAT, "format_version": list(self.FORMAT_VERSION), "params": params,
                "arrays": {n: [str(a.dtype), list(a.shape)] for n, a in arrays.items()}}
        save_directory(path, write, meta, overwrite)
        self.path = Path(path)

    @classmethod
    def load(cls, path, mmap: bool = False, verify: bool | None = None) -> "TokenStore":
        """Open a saved store; ``mmap=True`` maps the arrays read-only (no copy).
        ``verify`` (default ``not mmap``) checksums every payload file."""
        path = Path(path)
        meta = open_index(path, cls.FORMAT, cls.FORMAT_VERSION[0], mmap, verify)
        invariants.verify_structure(meta, path, mmap, verify)
        p = meta.get("params", {})
        storage = p.get("storage")
        if storage not in STORAGES:
            raise IndexFormatError(f"{path}: storage {storage!r}, expected one of {STORAGES}")
        need = ["token_ids", "offsets", "df"] + (["tokens"] if storage == "float16" else ["codes", "codebooks"])
        arrays = load_arrays(meta, path, mmap)
        missing = [n for n in need if n not in arrays]
        if missing:
            raise IndexFormatError(f"{path}: meta.json lists no {missing} array(s) for storage {storage!r}")
        try:  # a missing or mistyped parameter (meta.json of an older winnow has no checksum)
            raw = {"dim": int(p["dim"]), "storage": storage, "token_ids": arrays["token_ids"],
                   "offsets": arrays["offsets"], "df": arrays["df"], "special_ids": list(p.get("special_ids", [])),
                   "model": dict(p.get("model") or {}), "tokens": arrays.get("tokens"), "codes": arrays.get("codes"),
                   "codebooks": arrays.get("codebooks"), "pq": None, "path": path, "docnos": IdentityDocnos()}
            if storage == "pq":
                cb = arrays["codebooks"]
                pq = _core.ProductQuantizer(raw["dim"], int(p["M"]), int(p["nbits"]))
                if cb.shape != (pq.M, pq.ksub, pq.dsub):
                    raise IndexFormatError(f"{path}: codebooks shape {cb.shape}, expected {(pq.M, pq.ksub, pq.dsub)}")
                pq.set_centroids(np.ascontiguousarray(cb, dtype=np.float32))
                raw["pq"] = pq
            payload = arrays["tokens"] if storage == "float16" else arrays["codes"]
            _check_layout(len(payload), arrays["token_ids"], arrays["offsets"])
            if "docno_bytes" in arrays:
                raw["docnos"] = invariants.docno_table(arrays["docno_bytes"], arrays["docno_offsets"], path,
                                                       len(arrays["offsets"]) - 1)
        except (KeyError, ValueError, TypeError) as exc:  # IndexFormatError passes through unchanged
            if isinstance(exc, IndexFormatError):
                raise
            raise IndexFormatError(f"{path}: {exc}") from None
        invariants.check_tokens(raw, p, path)
        return cls(None, None, None, _raw=raw)


def _check_layout(ntokens: int, token_ids: np.ndarray, offsets: np.ndarray) -> None:
    if token_ids.ndim != 1 or len(token_ids) != ntokens:
        raise ValueError(f"token_ids has shape {token_ids.shape}, expected ({ntokens},)")
    if offsets.ndim != 1 or len(offsets) < 1:
        raise ValueError(f"offsets must be 1-D with n_docs + 1 >= 1 entries, got shape {offsets.shape}")
    if offsets[0] != 0 or offsets[-1] != ntokens or (len(offsets) > 1 and np.any(np.diff(offsets) < 0)):
        raise ValueError(f"offsets must rise from 0 to the {ntokens} token rows, got [{offsets[0]} .. {offsets[-1]}]")
