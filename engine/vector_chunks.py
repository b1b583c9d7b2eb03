"""Vector directories read piece by piece: builds that never hold every vector as float32.

``winnow encode`` writes ``vectors-NNNNN.npy`` chunks (float32 or float16). A build of
8.8M x 384 vectors cannot afford them as one float32 array (13.5 GB), so the dense builders
read through :class:`VectorChunks`: every part is memory-mapped, blocks of rows come out as
float32 one at a time, and a training sample gathers only its own rows.

Every block is checked for NaN and infinity where it is read, and the error names the file
and the row in it (as :func:`winnow.vectors.load_vectors` does for whole files).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from winnow.errors import IndexFormatError
from winnow.vectors import _load_npy, _read_ids, vector_files

__all__ = ["VectorChunks"]


class VectorChunks:
    """The rows of a vector directory (any layout of :func:`winnow.vectors.vector_files`).

    Attributes: ``n`` rows, ``d`` columns, ``dtype`` as stored, ``meta`` (meta.json or {}),
    ``parts`` (the mapped arrays, read-only; their pages count as page cache, not as the
    process's own memory).
    """

    def __init__(self, path: str | os.PathLike[str], which: str | None = None):
        self.path = Path(path)
        files = vector_files(self.path, which)
        self.meta, self._ids_path = files.meta, files.ids
        self.files = files.parts
        self.parts = [_load_npy(p, True) for p in files.parts]  # each (rows_i, d), mapped
        for p, a in zip(files.parts, self.parts):
            if a.ndim != 2 or a.dtype.kind != "f":
                raise IndexFormatError(f"{p}: expected a 2-d float array, found {a.dtype} {a.shape}")
        self.d = files.dim if files.dim is not None else (self.parts[0].shape[1] if self.parts else 0)
        for p, a in zip(files.parts, self.parts):
            if a.shape[1] != self.d:
                raise IndexFormatError(f"{p}: {a.shape[1]} columns, expected {self.d} (meta.json dim or the "
                                       "first part)")
        self.starts = np.cumsum([0] + [len(a) for a in self.parts])  # (n_parts + 1,) first row of each
        self.n = int(self.starts[-1])
        if files.count is not None and self.n != files.count:
            raise IndexFormatError(f"{self.path}: chunks hold {self.n} rows, meta.json says {files.count}")
        self.dtype = self.parts[0].dtype if self.parts else np.dtype(np.float32)

    def ids(self) -> list[str]:
        """Docnos in row order (one per row, else IndexFormatError)."""
        return _read_ids(self._ids_path, self.n)

    def blocks(self, rows: int = 65536) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, block (m, d) float32)`` in row order, m <= rows; a block never spans two
        files, so memory is one block whatever the chunk size."""
        if rows <= 0:
            raise ValueError(f"rows must be positive, got {rows}")
        for path, part, start in zip(self.files, self.parts, self.starts):
            for a in range(0, len(part), rows):
                block = np.ascontiguousarray(part[a:a + rows], dtype=np.float32)
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
            out[sel] = self.parts[i][local]
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
