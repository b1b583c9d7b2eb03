"""Precomputed query vectors with their query ids (``winnow search --query-vectors``).

Accepted inputs:

* an ``.npy`` file (nq, d) of floats, with the query ids one per line in ``--query-ids`` or,
  when that is not given, in a file beside it: ``query_ids.txt`` for ``queries.npy`` (the
  shared reference layout), ``ids.txt`` for ``vectors.npy`` (embedding-cache entries), else
  ``<stem>_ids.txt`` or ``<stem>.ids.txt``;
* a directory: ``winnow encode --queries`` output or the reference layout (``queries.npy`` +
  ``query_ids.txt``); ``--query-ids`` then replaces the ids found there.

Every problem is a ``ValueError`` (or ``FileNotFoundError``) naming the file: counts that
differ, a wrong shape or dtype, a NaN or infinity, empty or repeated ids.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from winnow.errors import IndexFormatError
from winnow.validation import check_finite

__all__ = ["load_query_vectors"]


def load_query_vectors(path: str | os.PathLike[str], ids_path: str | os.PathLike[str] | None = None
                       ) -> tuple[np.ndarray, list[str]]:
    """``(vectors (nq, d) float32, qids)`` of a query-vector file or directory (see above)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such query-vector file or directory")
    if p.is_dir():
        from winnow.vectors import load_vectors

        try:
            vectors, qids = load_vectors(p, which="queries")
        except IndexFormatError as exc:
            raise ValueError(f"{p}: not a query-vector directory ({exc})") from None
        if ids_path is not None:
            qids = _read_ids(Path(ids_path), len(vectors), p)
        return vectors, _checked_ids(qids, Path(ids_path) if ids_path else p)
    vectors = _read_npy(p)
    ids_file = Path(ids_path) if ids_path is not None else _ids_beside(p)
    return vectors, _read_ids(ids_file, len(vectors), p)


def _read_npy(p: Path) -> np.ndarray:
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{p}: not a readable .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise ValueError(f"{p}: expected one .npy array, found an archive")
    if arr.ndim != 2:
        raise ValueError(f"{p}: query vectors must be 2-D (nq, d), found shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise ValueError(f"{p}: query vectors must be floats, found dtype {arr.dtype}")
    if arr.shape[0] == 0:
        raise ValueError(f"{p}: no query vectors (shape {arr.shape})")
    with np.errstate(over="ignore"):  # an overflow becomes inf, reported just below with its place
        out = np.ascontiguousarray(arr, dtype=np.float32)
    check_finite(out, str(p))  # after the cast (1e300 in float64 is inf in float32); names row and column
    return out


def _ids_beside(p: Path) -> Path:
    """The ids file that ships beside an .npy file, by the conventions in the module docstring."""
    stem = p.name[:-4] if p.name.endswith(".npy") else p.name
    names = {"queries": ["query_ids.txt"], "corpus": ["corpus_ids.txt"], "vectors": ["ids.txt"]}.get(stem, [])
    candidates = [p.with_name(n) for n in names + [f"{stem}_ids.txt", f"{stem}.ids.txt"]]
    for c in candidates:
        if c.is_file():
            return c
    raise ValueError(f"{p}: no query ids file beside it (looked for "
                     f"{', '.join(c.name for c in candidates)}); pass --query-ids FILE with one id per line")


def _read_ids(ids_file: Path, n: int, vectors_path: Path) -> list[str]:
    try:
        qids = ids_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{ids_file}: no such query ids file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{ids_file}: unreadable query ids file ({exc})") from None
    if len(qids) != n:
        raise ValueError(f"{ids_file} has {len(qids):,} query ids, {vectors_path} has {n:,} "
                         "query vectors; they must match one to one (one id per line)")
    return _checked_ids(qids, ids_file)


def _checked_ids(qids: list[str], source: Path) -> list[str]:
    qids = [q.strip() for q in qids]
    for line, q in enumerate(qids, 1):
        if not q or any(c.isspace() for c in q):
            raise ValueError(f"{source}: query id on line {line} is {'empty' if not q else repr(q)}; "
                             "ids are one word per line")
    if len(set(qids)) != len(qids):
        seen: set[str] = set()
        dup = next(q for q in qids if q in seen or seen.add(q))
        raise ValueError(f"{source}: query id {dup!r} occurs more than once")
    return qids
