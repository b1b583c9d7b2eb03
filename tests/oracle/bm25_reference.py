"""A short numpy BM25 reference scorer (the oracle for the C++ index).

Implements the three scoring modes from their definitions, in the float32 arithmetic
Lucene uses, over documents given as lists of terms:
  lucene    idf = ln(1 + (N - df + .5)/(df + .5)), tf / (tf + k1 (1 - b + b dl/avgdl)) with dl
            quantized by Lucene's SmallFloat.intToByte4, computed as w - w / (1 + tf * ninv)
  accurate  the same with exact dl
  robertson idf = ln((N - df + .5)/(df + .5)), times (k1 + 1), exact dl
N and avgdl count only documents with at least one term (Lucene's docCount).
"""
from __future__ import annotations

from collections import Counter

import numpy as np


def small_float_int_to_byte4(i: int) -> int:
    """Lucene SmallFloat.intToByte4, transcribed."""
    if i < 24:
        return i
    v = i - 24
    if v < 8:
        return 24 + v
    bits = v.bit_length()
    shift = bits - 4
    return 24 + (((v >> shift) & 0x07) | ((shift + 1) << 3))


def small_float_byte4_to_int(b: int) -> int:
    if b < 24:
        return b
    i = b - 24
    bits, shift = i & 0x07, (i >> 3) - 1
    return 24 + (bits if shift == -1 else (bits | 0x08) << shift)


class ReferenceBM25:
    def __init__(self, docs: list[list[str]], k1=0.9, b=0.4, scoring="lucene"):
        f32 = np.float32
        self.k1, self.b, self.scoring = f32(k1), f32(b), scoring
        self.tfs = [Counter(d) for d in docs]
        self.df = Counter(t for tf in self.tfs for t in tf)
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        self.n = int((lengths > 0).sum())
        self.avgdl = f32(lengths.sum() / self.n) if self.n else f32(1)
        if scoring == "lucene":
            dl = np.array([small_float_byte4_to_int(small_float_int_to_byte4(int(x))) for x in lengths], f32)
        else:
            dl = lengths.astype(f32)
        one = f32(1)
        self.ninv = one / (self.k1 * ((one - self.b) + self.b * dl / self.avgdl))

    def weight(self, term: str, boost: float) -> np.float32:
        df, n = self.df[term], self.n
        if self.scoring == "robertson":
            idf = np.float32(np.log((n - df + 0.5) / (df + 0.5)))
            return np.float32(boost) * ((self.k1 + np.float32(1)) * idf)
        return np.float32(boost) * np.float32(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def scores(self, query_terms: list[str]) -> dict[int, np.float32]:
        """doc -> score for every document matching a query term."""
        acc: dict[int, float] = {}
        for term, boost in Counter(t for t in query_terms if t in self.df).items():
            w = self.weight(term, boost)
            for d, tf in enumerate(self.tfs):
                if term in tf:
                    x = np.float32(tf[term]) * self.ninv[d]
                    acc[d] = acc.get(d, 0.0) + float(w - w / (np.float32(1) + x))
        return {d: np.float32(s) for d, s in acc.items()}

    def topk(self, query_terms: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) best first, ties by lower id, padded with -1 / -inf."""
        s = self.scores(query_terms)
        order = sorted(s, key=lambda d: (-s[d], d))[:k]
        ids = np.full(k, -1, np.int64)
        sc = np.full(k, -np.inf, np.float32)
        ids[: len(order)] = order
        sc[: len(order)] = [s[d] for d in order]
        return ids, sc
