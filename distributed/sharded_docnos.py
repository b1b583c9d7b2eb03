"""``ShardedDocnos``: global document id -> docno over the shards' own docno tables.

Global id = shard offset + id in the shard (shards split the collection by position), so
the table is the shards' tables end to end, without a copy of any of them.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from winnow.docnos import DocnoTable


class ShardedDocnos(DocnoTable):
    """The concatenation of ``tables`` (one per shard, in collection order)."""

    def __init__(self, tables: Sequence[DocnoTable]):
        super().__init__(np.zeros(0, np.uint8), np.zeros(1, np.uint64))
        self.tables = list(tables)
        sizes = np.array([len(t) for t in self.tables], dtype=np.int64)
        self.starts = np.concatenate([np.zeros(1, np.int64), np.cumsum(sizes)])  # (S + 1,)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _locate(self, i: int) -> tuple[int, int]:
        n = len(self)
        if not 0 <= i < n:
            raise IndexError(f"document id {i} out of range for {n} documents")
        s = int(np.searchsorted(self.starts, i, side="right")) - 1
        return s, i - int(self.starts[s])

    def __getitem__(self, i: int) -> str:
        s, local = self._locate(int(i))
        return self.tables[s][local]

    def lookup(self, ids: Iterable[int]) -> list[str]:
        return [self[int(i)] for i in ids]

    def index_of(self, docno: str) -> int:
        for s, table in enumerate(self.tables):
            try:
                return int(self.starts[s]) + table.index_of(docno)
            except KeyError:
                continue
        raise KeyError(f"unknown document id {docno!r}")

    def to_list(self) -> list[str]:
        return [d for t in self.tables for d in t.to_list()]

    def __eq__(self, other) -> bool:
        return isinstance(other, ShardedDocnos) and self.to_list() == other.to_list()
