"""``HitDocnos``: the docnos of the hits of one search, by global id (RaySearcher's results
carry it: the driver holds no shard, so no full docno table)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from winnow.docnos import DocnoTable


class HitDocnos(DocnoTable):
    def __init__(self, names: dict[int, str], n_docs: int):
        super().__init__(np.zeros(0, np.uint8), np.zeros(1, np.uint64))
        self.names, self.n_docs = names, int(n_docs)

    def __len__(self) -> int:
        return self.n_docs

    def __getitem__(self, i: int) -> str:
        try:
            return self.names[int(i)]
        except KeyError:
            raise IndexError(f"document id {i} is not among the hits of this search") from None

    def lookup(self, ids: Iterable[int]) -> list[str]:
        return [self[int(i)] for i in ids]

    def index_of(self, docno: str) -> int:
        for i, name in self.names.items():
            if name == docno:
                return i
        raise KeyError(f"unknown document id {docno!r}")

    def to_list(self) -> list[str]:
        raise ValueError("the docnos of a search's hits are not a full table")

    def __eq__(self, other) -> bool:
        return isinstance(other, HitDocnos) and self.names == other.names
