"""``IVFBuilder``: fill a trained :class:`~winnow.index.ivf.IVFIndex` block by block and sort
its lists once.

``IVFIndex.add`` keeps its lists sorted after every call, so each call copies everything
added before: fine for a few calls, quadratic for an 8.8M-row corpus arriving in 65,536-row
blocks. The builder instead assigns and encodes each block into preallocated arrays
(``lists`` (n,) int64, ``rows`` (n, code_size) uint8 or (n, d) float32, ``ids`` (n,) int64)
and groups them by list once in :meth:`finish`. Peak memory is the payload of all rows
(codes: 48 bytes per row for PQ48) plus one block, plus one more copy of the payload while
it is sorted.

The result equals ``index.add(all_vectors)`` exactly: assignment and encoding are per row,
and the final stable sort keeps insertion order inside each list, as ``add`` does.
"""
from __future__ import annotations

import numpy as np

from winnow.index.dense_base import as_vectors
from winnow.index.ivf import IVFIndex


class IVFBuilder:
    """Add ``n`` vectors to a trained, empty ``index`` in blocks, then :meth:`finish`.

    Ids are the row numbers ``0..n-1`` in the order the blocks arrive (docnos attach to them
    with ``index.set_docnos``). ``refine=True`` indexes also store every float32 vector.
    """

    def __init__(self, index: IVFIndex, n: int):
        if not index.is_trained:
            raise ValueError("train the index (or set its quantizers) before adding vectors")
        if index.n_docs:
            raise ValueError(f"the builder fills an empty index; this one holds {index.n_docs} vectors")
        if int(n) < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.index, self.n, self.filled = index, int(n), 0
        self.lists = np.empty(self.n, np.int64)
        if index.payload == "flat":
            self.rows = np.empty((self.n, index.d), np.float32)
        else:
            self.rows = np.empty((self.n, (index.pq or index.sq).code_size), np.uint8)  # PQ or SQ codes
        self.vectors = np.empty((self.n, index.d), np.float32) if index.refine else None

    def add(self, vectors, threads: int = 1) -> None:
        """Assign and encode the next block of rows (m, d)."""
        index = self.index
        x = as_vectors(vectors, index.d)
        a, b = self.filled, self.filled + len(x)
        if b > self.n:
            raise ValueError(f"{b} vectors added to a builder for {self.n}")
        xr = index._rotate(x)
        lists = index._assign(xr, threads)
        if index.payload == "flat":
            self.rows[a:b] = xr
        else:
            target = xr - index.centroids[lists] if index.residual else xr
            self.rows[a:b] = (index.pq or index.sq).encode(np.ascontiguousarray(target), threads)
        self.lists[a:b] = lists
        if self.vectors is not None:
            self.vectors[a:b] = x
        self.filled = b

    def finish(self) -> IVFIndex:
        """Group the rows by list (one stable sort) into the index and return it."""
        if self.filled != self.n:
            raise ValueError(f"{self.filled} of {self.n} vectors added; add the rest before finish()")
        ids = np.arange(self.n, dtype=np.int64)
        self.index._rebuild(self.lists, ids, self.rows, self.vectors)
        self.lists = self.rows = self.vectors = None  # the index holds the sorted copies now
        return self.index
