"""Encoded-vector directories: the chunked output of ``winnow encode`` and its readers.

Layout written by :func:`encode_to_dir` (``format: winnow-vectors``)::

    vectors-00000.npy ...   (rows, dim) float32 or float16, chunk_size rows each but the last
    tokens-00000.npy ...    (T_c, token_dim) token vectors of the chunk's texts   [--tokens]
    token_ids-00000.npy ... (T_c,) int32 word-piece ids                           [--tokens]
    offsets-00000.npy ...   (rows + 1,) int64, chunk-local: text j of the chunk owns token
                            rows offsets[j]:offsets[j + 1]                          [--tokens]
    ids.txt                 docnos (or qids) in row order, one per line
    progress.json           settings and the finished chunks (updated after each chunk)
    meta.json               written last: settings, count, dim, chunk list with byte counts

Every file is written to a temporary sibling, fsynced and renamed, so an interrupted run
leaves only whole files. A chunk counts as finished when its vectors file (written after its
token files) exists with the expected header and byte count *and* the content digest of its
``(docno, text)`` pairs matches the one recorded in progress.json / meta.json; a rerun with
the same settings skips finished chunks and encodes the rest.

:func:`load_vectors` also reads the shared reference layout (``corpus.npy`` / ``queries.npy``
with ``corpus_ids.txt`` / ``query_ids.txt``) and :class:`~winnow.encoders.EmbeddingCache`
entries (``vectors.npy`` + ``ids.txt``).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from itertools import islice
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

from winnow.errors import IndexFormatError
from winnow.validation import check_finite

__all__ = ["EncodeReport", "VectorFiles", "encode_to_dir", "load_tokens", "load_vectors", "vector_files"]

FORMAT = "winnow-vectors"
FORMAT_VERSION = 1
_CHUNK_FILES = ("vectors", "tokens", "token_ids", "offsets")
# Settings that change the bytes written; a resume must match all of them.
_RESUME_KEYS = ("model_fingerprint", "pooling", "normalize", "max_seq_length", "kind", "dtype",
                "chunk_size", "tokens", "special_tokens", "token_normalize")


class EncodeReport(NamedTuple):
    meta: dict
    chunks_reused: int
    chunks_encoded: int
    texts_encoded: int
    seconds: float


def _name(kind: str, i: int) -> str:
    return f"{kind}-{i:05d}.npy"


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: np.ndarray | str) -> int:
    """Write an array (.npy) or text to ``path`` via tmp + fsync + rename; return bytes."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            if isinstance(data, str):
                fh.write(data.encode("utf-8"))
            else:
                np.save(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)
    return path.stat().st_size


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int] | None:
    """(shape, dtype, data offset) of an .npy file whose byte count matches, else None."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
    except (OSError, ValueError):
        return None
    if fortran or path.stat().st_size != offset + int(np.prod(shape)) * dtype.itemsize:
        return None
    return shape, dtype, offset


def _chunk_ok(out: Path, i: int, rows: int, dim: int, token_dim: int, dtype: np.dtype,
              tokens: bool) -> bool:
    """Are chunk i's files all present, whole, and of the expected shapes?"""
    h = _npy_header(out / _name("vectors", i))
    if h is None or h[0] != (rows, dim) or h[1] != dtype:
        return False
    if not tokens:
        return True
    h = _npy_header(out / _name("offsets", i))
    if h is None or h[0] != (rows + 1,) or h[1] != np.int64:
        return False
    n_tok = int(np.load(out / _name("offsets", i))[-1])
    h = _npy_header(out / _name("tokens", i))
    if h is None or h[0] != (n_tok, token_dim) or h[1] != dtype:
        return False
    h = _npy_header(out / _name("token_ids", i))
    return h is not None and h[0] == (n_tok,) and h[1] == np.int32


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{path}: unreadable JSON ({exc})") from exc


def _our_files(out: Path) -> list[Path]:
    names = {"ids.txt", "meta.json", "progress.json"}
    return [p for p in out.iterdir() if p.is_file() and (
        p.name in names or (p.suffix == ".npy" and p.name.split("-")[0] in _CHUNK_FILES)
        or (p.name.startswith(".") and ".tmp-" in p.name))]


def encode_to_dir(encoder, docs: Iterable[tuple[str, str]], out: str | os.PathLike[str], *,
                  chunk_size: int = 10000, dtype: str = "float32", tokens: bool = False,
                  special_tokens: bool = False, queries: bool = False, overwrite: bool = False,
                  source: str | None = None, progress: bool = True, log=None) -> EncodeReport:
    """Encode ``(docno, text)`` pairs into a chunked vector directory, resuming if possible.

    Parameters
    ----------
    encoder : winnow.encoders.SentenceEncoder
    docs : iterable of (str, str)
        Streamed; only one chunk of texts is held at a time.
    out : path
        Output directory (created). One holding another encode's files raises ``ValueError``
        unless ``overwrite``, which deletes those files (and nothing else) first.
    chunk_size : int
        Rows per chunk file. dtype : ``"float32"`` or ``"float16"`` (vectors and tokens).
    tokens : bool
        Also write per-token vectors (see :meth:`SentenceEncoder.encode_tokens`).
    queries : bool
        Encode with the model's query prompt; recorded as ``kind: "queries"``.
    log : callable, optional
        Receives one-line progress messages.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
    log = log or (lambda msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np_dtype = np.dtype(dtype)
    info = encoder.settings()
    settings = {**info, "kind": "queries" if queries else "corpus", "dtype": dtype,
                "chunk_size": int(chunk_size), "tokens": bool(tokens),
                "special_tokens": bool(special_tokens) if tokens else None,
                "token_normalize": encoder.normalize if tokens else None}
    want = {k: settings[k] for k in _RESUME_KEYS}
    prior = _read_json(out / "meta.json") or _read_json(out / "progress.json")
    if prior is not None and {k: prior.get("settings", {}).get(k) for k in _RESUME_KEYS} != want:
        if not overwrite:
            old = prior.get("settings", {})
            diff = ", ".join(f"{k}: {old.get(k)!r} -> {want[k]!r}" for k in _RESUME_KEYS
                             if old.get(k) != want[k])
            raise ValueError(f"{out} holds an encode with other settings ({diff}); pass "
                             "--overwrite (overwrite=True) or choose another directory")
        prior = None
    if prior is None:
        stale = _our_files(out)
        if stale and not overwrite:
            raise ValueError(f"{out} holds encode files ({stale[0].name}, ...) without "
                             "progress.json; pass --overwrite or choose another directory")
        for p in stale:
            p.unlink()
    for p in out.glob(".*.tmp-*"):  # left by a killed run
        p.unlink()
    done = {c["index"]: c for c in (prior or {}).get("chunks", [])}

    start = time.perf_counter()
    total = hashlib.sha256()
    from winnow.encoders import hash_pairs

    it = iter(docs)
    chunks: list[dict] = []
    ids: list[str] = []
    reused = encoded = n_texts = 0
    dim, token_dim = encoder.dim, encoder.token_dim if tokens else 0
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "settings": settings,
             "chunks": chunks}
    while True:
        batch = list(islice(it, chunk_size))
        if not batch:
            break
        i = len(chunks)
        for docno, _ in batch:
            if not isinstance(docno, str) or "\n" in docno or "\r" in docno:
                raise ValueError(f"docno {docno!r} is not a one-line string")
        ids.extend(d for d, _ in batch)
        digest = hash_pairs(hashlib.sha256(), batch).hexdigest()
        hash_pairs(total, batch)
        prev = done.get(i)
        if (prev and prev.get("digest") == digest and prev.get("rows") == len(batch)
                and _chunk_ok(out, i, len(batch), dim, token_dim, np_dtype, tokens)):
            chunks.append(prev)
            reused += 1
            log(f"chunk {i}: {len(batch):,} rows already encoded, kept")
            continue
        texts = [t for _, t in batch]
        t0 = time.perf_counter()
        entry = {"index": i, "rows": len(batch), "digest": digest}
        if tokens:
            vecs, tv, tids, offs = encoder.encode_with_tokens(
                texts, special_tokens=special_tokens, queries=queries, show_progress=progress)
            entry["tokens"] = int(offs[-1])
            entry["bytes"] = {
                _name("tokens", i): _write_atomic(out / _name("tokens", i), tv.astype(np_dtype)),
                _name("token_ids", i): _write_atomic(out / _name("token_ids", i), tids),
                _name("offsets", i): _write_atomic(out / _name("offsets", i), offs)}
        else:
            enc = encoder.encode_queries if queries else encoder.encode
            vecs = enc(texts, show_progress=progress)
            entry["bytes"] = {}
        # The vectors file last: its presence marks the chunk's token files complete.
        entry["bytes"][_name("vectors", i)] = _write_atomic(out / _name("vectors", i),
                                                            vecs.astype(np_dtype))
        chunks.append(entry)
        _write_atomic(out / "progress.json", json.dumps(state, indent=1) + "\n")
        encoded += 1
        n_texts += len(batch)
        dt = time.perf_counter() - t0
        log(f"chunk {i}: encoded {len(batch):,} rows in {dt:.1f} s "
            f"({len(batch) / max(dt, 1e-9):,.1f} texts/s)")
    # Chunks beyond the end of a now shorter input must not linger.
    for p in _our_files(out):
        number = p.name.split(".")[0].rsplit("-", 1)[-1]
        if p.suffix == ".npy" and number.isdigit() and int(number) >= len(chunks):
            p.unlink()
    _write_atomic(out / "progress.json", json.dumps(state, indent=1) + "\n")
    ids_bytes = _write_atomic(out / "ids.txt", "".join(f"{d}\n" for d in ids))
    files = {"ids.txt": ids_bytes}
    for c in chunks:
        files.update(c["bytes"])
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "settings": settings,
            **{k: settings[k] for k in ("model_name", "model_path", "model_fingerprint", "dim",
                                        "pooling", "normalize", "max_seq_length", "dtype",
                                        "kind", "tokens")},
            "count": len(ids), "token_dim": token_dim or None,
            "n_tokens": sum(c.get("tokens", 0) for c in chunks) if tokens else None,
            "corpus_fingerprint": total.hexdigest(), "source": source,
            "chunks": chunks, "ids": "ids.txt", "files": files}
    _write_atomic(out / "meta.json", json.dumps(meta, indent=1) + "\n")
    return EncodeReport(meta, reused, encoded, n_texts, time.perf_counter() - start)


def _read_ids(path: Path, n: int) -> list[str]:
    try:
        ids = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise IndexFormatError(f"{path}: missing ids file") from exc
    if len(ids) != n:
        raise IndexFormatError(f"{path}: {len(ids)} ids for {n} vectors")
    return ids


def _load_npy(path: Path, mmap: bool) -> np.ndarray:
    if _npy_header(path) is None:
        raise IndexFormatError(f"{path}: missing, truncated or not an .npy file")
    return np.load(path, mmap_mode="r" if mmap else None)


def _stack(paths: list[Path], mmap: bool, width: int | None, dtype=np.float32) -> np.ndarray:
    """Concatenate row chunks into one array of ``dtype``; a single chunk already of that
    dtype is returned as is (a read-only memmap when ``mmap``). A NaN or infinity in a float
    file is a ValueError naming the file, row and column (checked here, where the file is
    known, rather than later in an index's add or train)."""
    parts = [_load_npy(p, True) for p in paths]
    for path, part in zip(paths, parts):
        check_finite(part, str(path))
    if len(parts) == 1 and parts[0].dtype == dtype:
        return parts[0] if mmap else np.array(parts[0])
    tail = parts[0].shape[1:] if parts else ((width,) if width is not None else ())
    shape = (sum(len(p) for p in parts),) + tail
    out = np.empty(shape, dtype=dtype)
    pos = 0
    for p in parts:
        out[pos:pos + len(p)] = p
        pos += len(p)
    return out


class VectorFiles(NamedTuple):
    """Where a vector directory keeps its rows: ``.npy`` parts in row order, the ids file, and
    what meta.json promises (``count``/``dim``, None for layouts without one)."""
    parts: list[Path]
    ids: Path
    count: int | None
    dim: int | None
    meta: dict


def vector_files(path: str | os.PathLike[str], which: str | None = None) -> VectorFiles:
    """The files of a vector directory in any layout :func:`load_vectors` reads."""
    d = Path(path)
    if not d.is_dir():
        raise IndexFormatError(f"{d}: not a vector directory")
    meta = _read_json(d / "meta.json")
    if meta is not None and meta.get("format") == FORMAT:
        _check_version(d, meta)
        return VectorFiles([d / _name("vectors", c["index"]) for c in meta["chunks"]],
                           d / meta.get("ids", "ids.txt"), meta["count"], meta["dim"], meta)
    if (d / "vectors.npy").is_file():
        return VectorFiles([d / "vectors.npy"], d / "ids.txt", None, None, meta or {})
    if which is None:
        which = "corpus" if (d / "corpus.npy").is_file() else "queries"
    if which not in ("corpus", "queries"):
        raise ValueError(f"which must be 'corpus' or 'queries', got {which!r}")
    npy, ids = (d / f"{which}.npy",
                d / ("corpus_ids.txt" if which == "corpus" else "query_ids.txt"))
    if not npy.is_file():
        raise IndexFormatError(f"{d}: no meta.json of format {FORMAT!r}, vectors.npy or "
                               f"{npy.name}")
    return VectorFiles([npy], ids, None, None, meta or {})


def load_vectors(path: str | os.PathLike[str], mmap: bool = False,
                 which: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Read an encoded-vector directory as ``(vectors (n, d) float32, ids)``.

    Parameters
    ----------
    path : directory
        ``winnow encode`` output, an embedding-cache entry, or the reference layout
        (``corpus.npy`` + ``corpus_ids.txt``, ``queries.npy`` + ``query_ids.txt``).
    mmap : bool
        Map instead of read where no conversion is needed (one float32 chunk or file);
        float16 files and several chunks are always read into one new float32 array.
    which : {"corpus", "queries"}, optional
        For the reference layout; default ``"corpus"`` (``"queries"`` when only that exists).

    :class:`winnow.vector_chunks.VectorChunks` reads the same directories piece by piece.
    """
    files = vector_files(path, which)
    vecs = _stack(files.parts, mmap, files.dim)
    if files.count is not None and len(vecs) != files.count:
        raise IndexFormatError(f"{Path(path)}: chunks hold {len(vecs)} rows, meta.json says "
                               f"{files.count}")
    if vecs.ndim != 2:
        raise IndexFormatError(f"{files.parts[0]}: expected a 2-d array, found shape {vecs.shape}")
    return vecs, _read_ids(files.ids, len(vecs))


def load_tokens(path: str | os.PathLike[str], mmap: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Token output of ``winnow encode --tokens``:
    ``(vectors (T, token_dim) float32, token_ids (T,) int32, offsets (n + 1,) int64, ids)``;
    text i owns token rows ``offsets[i]:offsets[i + 1]`` (offsets are global here)."""
    d = Path(path)
    meta = _read_json(d / "meta.json")
    if meta is None or meta.get("format") != FORMAT:
        raise IndexFormatError(f"{d}: no meta.json of format {FORMAT!r}")
    _check_version(d, meta)
    if not meta.get("tokens"):
        raise IndexFormatError(f"{d}: encoded without --tokens, no token vectors")
    idx = [c["index"] for c in meta["chunks"]]
    vecs = _stack([d / _name("tokens", i) for i in idx], mmap, meta["token_dim"])
    tids = _stack([d / _name("token_ids", i) for i in idx], mmap, None, np.int32)
    offsets = np.zeros(meta["count"] + 1, dtype=np.int64)
    pos = row = 0
    for i in idx:
        local = _load_npy(d / _name("offsets", i), False)
        offsets[row + 1:row + len(local)] = local[1:] + pos
        row += len(local) - 1
        pos += int(local[-1])
    if row != meta["count"] or pos != len(vecs) or len(tids) != len(vecs):
        raise IndexFormatError(f"{d}: token files disagree ({row} texts, {pos} offsets, "
                               f"{len(vecs)} vectors, {len(tids)} ids)")
    return vecs, tids, offsets, _read_ids(d / meta.get("ids", "ids.txt"), meta["count"])


def _check_version(d: Path, meta: dict) -> None:
    v = meta.get("format_version")
    if not isinstance(v, int) or v > FORMAT_VERSION:
        raise IndexFormatError(f"{d}: {FORMAT} format version {v!r}; this winnow reads up to "
                               f"{FORMAT_VERSION}")
