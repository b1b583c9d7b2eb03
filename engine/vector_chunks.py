"""Vector directories read piece by piece: builds that never hold every vector as float32.

``winnow encode`` writes ``vectors-NNNNN.npy`` chunks (float32 or float16). A build of
8.8M x 384 vectors cannot afford them as one float32 array (13.5 GB), so the dense builders
read through :class:`VectorChunks`: blocks of rows are read from the files with plain reads
and come out as float32 one at a time, and a training sample gathers only its own rows (one
part mapped at a time). Nothing stays mapped, so the chunks' pages are page cache, never part
of the build's resident memory (a mapping would count every page it touched in the RSS).

Every block is checked for NaN and infinity where it is read, and the error names the file
and the row in it (as :func:`winnow.vectors.load_vectors` does for whole files).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from winnow.errors import IndexFormatError
from winnow.vectors import _load_npy, _npy_header, _read_ids, vector_files

__all__ = ["VectorChunks"]


class VectorChunks:
    """The rows of a vector directory (any layout of :func:`winnow.vectors.vector_files`).

    Attributes: ``n`` rows, ``d`` columns, ``dtype`` as stored, ``meta`` (meta.json or {}),
    ``files`` the .npy parts in row order, ``starts`` (n_parts + 1,) the first row of each.
    """

    def __init__(self, path: str | os.PathLike[str], which: str | None = None):
        self.path = Path(path)
        files = vector_files(self.path, which)
        self.meta, self._ids_path = files.meta, files.ids
        self.files = files.parts
        headers = [_npy_header(p) for p in files.parts]  # (shape, dtype, data offset) each
        for p, h in zip(files.parts, headers):
            if h is None:
                raise IndexFormatError(f"{p}: missing, truncated or not an .npy file")
            if len(h[0]) != 2 or h[1].kind != "f":
                raise IndexFormatError(f"{p}: expected a 2-d float array, found {h[1]} {h[0]}")
        self.d = files.dim if files.dim is not None else (headers[0][0][1] if headers else 0)
        for p, h in zip(files.parts, headers):
            if h[0][1] != self.d:
                raise IndexFormatError(f"{p}: {h[0][1]} columns, expected {self.d} (meta.json dim or the "
                                       "first part)")
            if h[1] != headers[0][1]:
                raise IndexFormatError(f"{p}: dtype {h[1]}, the first part has {headers[0][1]}")
        self._offsets = [h[2] for h in headers]
        self.starts = np.cumsum([0] + [h[0][0] for h in headers])  # (n_parts + 1,) first row of each
        self.n = int(self.starts[-1])
        if files.count is not None and self.n != files.count:
            raise IndexFormatError(f"{self.path}: chunks hold {self.n} rows, meta.json says {files.count}")
        self.dtype = headers[0][1] if headers else np.dtype(np.float32)

    def ids(self) -> list[str]:
        """Docnos in row order (one per row, else IndexFormatError)."""
        return _read_ids(self._ids_path, self.n)

    def blocks(self, rows: int = 65536) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, block (m, d) float32)`` in row order, m <= rows; a block never spans two
        files, so memory is one block whatever the chunk size."""
        if rows <= 0:
            raise ValueError(f"rows must be positive, got {rows}")
        for path, offset, start, stop in zip(self.files, self._offsets, self.starts[:-1], self.starts[1:]):
            with open(path, "rb") as fh:
                fh.seek(offset)
                for a in range(0, int(stop - start), rows):
                    m = min(rows, int(stop - start) - a)
                    raw = np.fromfile(fh, dtype=self.dtype, count=m * self.d)
                    if len(raw) != m * self.d:  # the file shrank since its header was read
                        raise IndexFormatError(f"{path}: truncated at row {a + len(raw) // max(1, self.d)}")
                    block = raw.reshape(m, self.d).astype(np.float32, copy=False)
                    _check_block(block, path, a)
                    yield int(start) + a, block

    def sample(self, m: int, seed: int) -> np.ndarray:
        """(min(m, n), d) float32 rows for training: all rows when n <= m, else the rows
        ``np.sort(default_rng(seed).choice(n, m, replace=False))`` (the sample an in-memory
        build takes, so both paths train on the same vectors)."""
        if self.n <= m:
            rows = np.arange(self.n)
        else:
            rows = np.sort(np.random.default_rng(seed).choice(self.n, m, replace=False))
        out = np.empty((len(rows), self.d), np.float32)
        which = np.searchsorted(self.starts, rows, side="right") - 1  # part of each row
        for i in np.unique(which):
            sel = np.flatnonzero(which == i)
            local = rows[sel] - self.starts[i]
            part = _load_npy(self.files[i], True)  # mapped for this gather only, then unmapped
            out[sel] = part[local]
            del part
            _check_block(out[sel], self.files[i], None, local)
        return out


def _check_block(block: np.ndarray, path: Path, first: int | None, rows: np.ndarray | None = None) -> None:
    """NaN/inf check of rows read from ``path`` (rows ``first..`` or the given ``rows`` of
    that file); the message names the file, row and column."""
    ok = np.isfinite(block)
    if not ok.all():
        r, c = (int(v) for v in np.argwhere(~ok)[0])
        row = first + r if rows is None else int(rows[r])
        raise ValueError(f"{path} row {row} column {c} is {block[r, c]}: vectors must be finite")
