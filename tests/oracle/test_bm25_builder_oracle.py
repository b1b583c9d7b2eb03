"""The BM25 builder's arrays against oracles.

* Thread count, memory budget (segments flushed to disk and merged) and batch size do not
  change the output: every array equals the one-thread, one-segment build, on the real
  shared collections and on synthetic corpora with a long vocabulary tail (terms sharing
  long prefixes, terms longer than the table's inline bytes, non-ASCII).
* What the arrays mean equals a pure-Python oracle: terms sorted by their UTF-8 bytes, df,
  cf, every term's decoded postings, document lengths and norms, docno order.
"""
from __future__ import annotations

import tempfile
from collections import Counter

import numpy as np
import pytest

from winnow import _core
from winnow.datasets import bundled
from winnow.datasets import load as load_dataset
from winnow.index import BM25Index, analyze

from bm25_reference import small_float_int_to_byte4


def build(docs, *, threads=1, budget_mb=2048.0, batch=4096, kind="texts", analyzer="english"):
    """(arrays, stats, segments flushed) from the core builder fed `docs` in batches."""
    with tempfile.TemporaryDirectory() as tmp:
        builder = _core.Bm25Builder(0.9, 0.4, "lucene", analyzer, threads, budget_mb, tmp)
        for i in range(0, len(docs), batch):
            part = docs[i:i + batch]
            docnos = [d for d, _ in part]
            if kind == "texts":
                builder.add_texts(docnos, [t for _, t in part])
            elif kind == "tokens":
                builder.add_tokens(docnos, [t for _, t in part])
            else:  # impacts: (docno, {term: impact})
                terms = [t for _, w in part for t in w]
                impacts = np.array([x for _, w in part for x in w.values()], np.uint32)
                offsets = np.cumsum([0] + [len(w) for _, w in part]).astype(np.int64)
                builder.add_impacts(docnos, terms, impacts, offsets)
        flushed = builder.n_segments_flushed
        arrays, stats = builder.finish()
    return arrays, stats, flushed


def assert_same_arrays(reference, other, what):
    ref_arrays, ref_stats, _ = reference
    arrays, stats, _ = other
    assert stats == ref_stats, what
    assert sorted(arrays) == sorted(ref_arrays), what
    for name in ref_arrays:
        a, b = np.asarray(ref_arrays[name]), np.asarray(arrays[name])
        assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: {name} {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        assert np.array_equal(a, b), f"{what}: array {name} differs"


def assert_invariant(docs, kind="texts", analyzer="english", segment_budget_mb=0.05):
    reference = build(docs, kind=kind, analyzer=analyzer)
    assert reference[2] == 0
    for threads, budget, batch in [(2, 2048.0, 4096), (3, 2048.0, 1000), (2, segment_budget_mb, 500),
                                   (1, segment_budget_mb, 300), (4, segment_budget_mb, 333)]:
        other = build(docs, threads=threads, budget_mb=budget, batch=batch, kind=kind, analyzer=analyzer)
        if budget < 1:
            assert other[2] >= 2, "the tiny budget must force segment flushes"
        assert_same_arrays(reference, other, f"threads={threads} budget={budget} batch={batch}")
    return reference


def long_tail_tokens(n_docs: int, seed: int) -> list[tuple[str, list[str]]]:
    """Zipfian documents over a head vocabulary plus a long tail of one-off terms."""
    rng = np.random.default_rng(seed)
    head = [f"w{i}" for i in range(3000)]
    odd = ["a", "a!", "a!b", "\u00e9t\u00e9", "\u4e2d\u6587", "\U0001f600", "x" * 19, "x" * 20, "x" * 300,
           "prefix_shared_" + "0" * 10, "prefix_shared_" + "0" * 9 + "1", "zz\xff"]
    docs = []
    for d in range(n_docs):
        n = int(rng.integers(0, 60))
        words = [head[min(int(r), len(head)) - 1] for r in rng.zipf(1.2, n) if r <= len(head)]
        words += [f"tail{d}_{j}_{'q' * int(rng.integers(0, 30))}" for j in range(int(rng.integers(0, 4)))]
        words += [odd[int(i)] for i in rng.integers(0, len(odd), int(rng.integers(0, 3)))]
        rng.shuffle(words)
        docs.append((f"doc{(d * 7919) % n_docs:06d}", words))
    return docs


def python_oracle(docs_terms: list[list[str]]):
    """Terms in byte order with df, cf and postings; document lengths."""
    postings: dict[str, list[tuple[int, int]]] = {}
    for d, terms in enumerate(docs_terms):
        for t, tf in Counter(terms).items():
            postings.setdefault(t, []).append((d, tf))
    order = sorted(postings, key=lambda t: t.encode("utf-8"))
    return order, postings, [len(t) for t in docs_terms]


def assert_equals_oracle(index: BM25Index, docnos: list[str], docs_terms: list[list[str]]):
    order, postings, lengths = python_oracle(docs_terms)
    arrays = index.arrays
    assert index.terms() == order
    assert np.array_equal(arrays["df"], [len(postings[t]) for t in order])
    assert [index.cf(t) for t in order] == [sum(tf for _, tf in postings[t]) for t in order]
    for t in order:
        docs, tfs = index.postings(t)
        assert [(int(d), int(f)) for d, f in zip(docs, tfs)] == postings[t], t
    assert np.array_equal(arrays["doc_len"], lengths)
    assert np.array_equal(arrays["norms"], [small_float_int_to_byte4(n) for n in lengths])
    assert index.n_docs == len(docnos)
    docno_order = np.asarray(arrays["docno_order"])
    assert [docnos[i] for i in docno_order] == sorted(docnos, key=lambda s: s.encode("utf-8"))


@pytest.mark.parametrize("name", ["cranfield", "vaswani", "scifact"])
def test_shared_collection_build_is_independent_of_threads_and_segments(shared_data, name):
    docs = list(load_dataset(shared_data / name).corpus())
    if name == "scifact":
        docs = docs[:2500]  # enough for several segments, and keeps the test short
    assert_invariant(docs, segment_budget_mb=0.2)


def test_long_tail_tokens_build_is_independent_of_threads_and_segments():
    docs = long_tail_tokens(3000, seed=1)
    assert_invariant(docs, kind="tokens", analyzer="plain")


def test_long_tail_impacts_build_is_independent_of_threads_and_segments():
    rng = np.random.default_rng(2)
    docs = [(d, {t: int(rng.integers(1, 300)) for t in terms}) for d, terms in long_tail_tokens(2000, seed=2)]
    assert_invariant(docs, kind="impacts", analyzer="plain")


def test_long_tail_tokens_equal_python_oracle():
    docs = long_tail_tokens(1500, seed=3)
    index = BM25Index.build(docs, pretokenized=True, memory_budget_mb=0.05, batch_size=256, threads=2,
                            progress=False)
    assert_equals_oracle(index, [d for d, _ in docs], [[t for t in terms if t] for _, terms in docs])


def test_cranfield_equals_python_oracle():
    docs = list(bundled("cranfield").corpus())
    index = BM25Index.build(docs, memory_budget_mb=0.1, batch_size=300, threads=2, progress=False)
    assert_equals_oracle(index, [d for d, _ in docs], [analyze(text) for _, text in docs])
