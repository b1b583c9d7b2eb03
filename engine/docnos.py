"""``DocnoTable``: internal document id -> external document id (docno), both ways.

Stored as one UTF-8 byte array plus (N+1,) uint64 (or uint32) offsets, so an 8.8M-passage
table costs two arrays (memory-mappable) instead of millions of Python strings; the reverse
map is built only when first asked for.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


class DocnoTable:
    # the file a loaded table came from: a docno that is not UTF-8 is then a damaged index
    source: str | None = None
    # the document store of the index this table belongs to (winnow.index.doc_store.DocStore,
    # same internal ids), so Results carry it through stages to Results.with_text()
    doc_store = None

    def __init__(self, data: np.ndarray, offsets: np.ndarray):
        self.data = np.asarray(data, dtype=np.uint8)
        self.offsets = np.asarray(offsets)
        if self.offsets.dtype not in (np.uint32, np.uint64):  # u32 / u64 as saved: no copy of a mapped table
            self.offsets = self.offsets.astype(np.uint64)
        if self.offsets.ndim != 1 or len(self.offsets) < 1:
            raise ValueError("docno offsets must be a non-empty 1-D array")
        self._reverse: dict[str, int] | None = None

    @classmethod
    def from_list(cls, docnos: Sequence[str]) -> "DocnoTable":
        encoded = [d.encode("utf-8") for d in docnos]
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.uint64, count=len(encoded))
        offsets = np.concatenate([np.zeros(1, np.uint64), np.cumsum(lengths, dtype=np.uint64)])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(data, offsets)

    @classmethod
    def builder(cls) -> "_Builder":
        return _Builder()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"document id {i} out of range for {n} documents")
        i %= n
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        try:
            return self.data[a:b].tobytes().decode("utf-8")
        except UnicodeDecodeError:
            from winnow.errors import IndexFormatError

            raise IndexFormatError(f"{self.source or 'docno table'}: docno of document {i} is not valid UTF-8 "
                                   "(corrupt file)") from None

    def lookup(self, ids: Iterable[int]) -> list[str]:
        """External ids of the internal ``ids`` (IndexError on an id out of range).

        Negative ids are out of range too: -1 is the padding id and names no document.
        """
        out = []
        for i in ids:
            i = int(i)
            if i < 0:
                raise IndexError(f"document id {i} out of range for {len(self)} documents")
            out.append(self[i])
        return out

    def index_of(self, docno: str) -> int:
        """Internal id of ``docno``; KeyError naming it when absent."""
        if self._reverse is None:
            self._reverse = {self[i]: i for i in range(len(self))}
        try:
            return self._reverse[docno]
        except KeyError:
            raise KeyError(f"unknown document id {docno!r}") from None

    def to_list(self) -> list[str]:
        return [self[i] for i in range(len(self))]

    def __eq__(self, other) -> bool:
        return (isinstance(other, DocnoTable) and np.array_equal(self.offsets, other.offsets)
                and np.array_equal(self.data, other.data))


class _Builder:
    """Assigns consecutive ids to docnos as they are first seen."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def add(self, docno: str) -> int:
        return self.ids.setdefault(docno, len(self.ids))

    def build(self) -> DocnoTable:
        return DocnoTable.from_list(list(self.ids))


def as_docno_table(docnos) -> DocnoTable:
    if isinstance(docnos, DocnoTable):
        return docnos
    if docnos is None:
        return DocnoTable.from_list([])
    return DocnoTable.from_list([str(d) for d in docnos])


class IdentityDocnos(DocnoTable):
    """Docnos of indexes without a docno table: the id itself, as a string."""

    def __init__(self) -> None:
        super().__init__(np.zeros(0, np.uint8), np.zeros(1, np.uint64))

    def __len__(self) -> int:
        return 2**63 - 1

    def __getitem__(self, i: int) -> str:
        if int(i) < 0:
            raise IndexError(f"document id {i} is negative (padding)")
        return str(int(i))

    def lookup(self, ids: Iterable[int]) -> list[str]:
        return [self[int(i)] for i in ids]

    def index_of(self, docno: str) -> int:
        try:
            return int(docno)
        except ValueError:
            raise KeyError(f"unknown document id {docno!r}") from None

    def to_list(self) -> list[str]:
        raise ValueError("an identity docno table has no finite list")

    def __eq__(self, other) -> bool:
        return isinstance(other, IdentityDocnos)


class RangeDocnos(DocnoTable):
    """The docnos ``str(start)``, ``str(start + 1)``, ..., ``str(start + n - 1)`` of documents
    0 .. n-1 (MS MARCO's passages are numbered so), held as two integers. ``data`` and
    ``offsets`` (a DocnoTable's arrays) are made when first asked for."""

    def __init__(self, start: int, n: int) -> None:
        if start < 0 or n < 0:
            raise ValueError(f"a docno range needs start >= 0 and n >= 0, got start {start}, n {n}")
        self.start, self.n = int(start), int(n)
        self._reverse = None
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def _materialize(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            table = DocnoTable.from_list([str(self.start + i) for i in range(self.n)])
            self._arrays = (table.data, table.offsets)
        return self._arrays

    @property
    def data(self) -> np.ndarray:
        return self._materialize()[0]

    @property
    def offsets(self) -> np.ndarray:
        return self._materialize()[1]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> str:
        i = int(i)
        if not -self.n <= i < self.n:
            raise IndexError(f"document id {i} out of range for {self.n} documents")
        return str(self.start + i % self.n)

    def index_of(self, docno: str) -> int:
        i = int(docno) - self.start if docno.isascii() and docno.isdigit() else -1
        if 0 <= i < self.n and str(self.start + i) == docno:  # canonical: no leading zeros
            return i
        raise KeyError(f"unknown document id {docno!r}")

    def __eq__(self, other) -> bool:
        if isinstance(other, RangeDocnos):
            return (self.start, self.n) == (other.start, other.n)
        return isinstance(other, DocnoTable) and DocnoTable.__eq__(other, self)


def docno_range_start(data: np.ndarray, offsets: np.ndarray) -> int | None:
    """``start`` when the table's docnos are ``str(start + i)`` for i = 0 .. n-1, else None."""
    n = len(offsets) - 1
    if n < 1:
        return None
    first = bytes(data[int(offsets[0]):int(offsets[1])])
    if not (first.isdigit() and first.isascii()) or (len(first) > 1 and first[:1] == b"0") or len(first) > 18:
        return None
    start = int(first)
    values = np.arange(start, start + n, dtype=np.uint64)
    digits = np.ones(n, np.int64)
    for k in range(1, 20):  # decimal digits of each value
        digits += values >= np.uint64(10**k)
    if not np.array_equal(np.asarray(offsets[1:], np.int64), np.cumsum(digits)):
        return None
    expected = "".join(map(str, range(start, start + n))).encode()
    return start if np.array_equal(np.frombuffer(expected, np.uint8), np.asarray(data)) else None

