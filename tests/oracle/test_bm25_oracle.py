"""BM25 against oracles: a numpy reference scorer for every scoring mode, and pruned
top-k (Block-Max MaxScore) against exhaustive top-k over thousands of queries."""
from __future__ import annotations

import numpy as np
import pytest

from winnow.datasets import bundled
from winnow.index import BM25Index, analyze

from bm25_reference import ReferenceBM25, small_float_byte4_to_int, small_float_int_to_byte4
from winnow import _core


@pytest.fixture(scope="module")
def cranfield():
    docs = list(bundled("cranfield").corpus())
    queries = bundled("cranfield").queries()
    return docs, queries


@pytest.fixture(scope="module")
def cranfield_terms(cranfield):
    docs, _ = cranfield
    return [analyze(text) for _, text in docs]


def test_small_float_matches_lucene_table():
    # Lucene: 0..23 exact; lengths up to 39 exact (explain says "approximate" only above)
    for i in range(40):
        assert small_float_byte4_to_int(small_float_int_to_byte4(i)) == i
        assert _core.lucene_length_to_byte(i) == small_float_int_to_byte4(i)
    for i in [40, 41, 47, 48, 100, 1000, 123456, 2**31 - 1]:
        assert _core.lucene_length_to_byte(i) == small_float_int_to_byte4(i)
        decoded = _core.lucene_byte_to_length(_core.lucene_length_to_byte(i))
        assert decoded <= i and decoded >= i * 0.875  # 4 significant bits, truncating
    for b in range(256):
        assert _core.lucene_byte_to_length(b) == min(small_float_byte4_to_int(b), 2**31 - 1)


@pytest.mark.parametrize("scoring,k1,b", [("lucene", 0.9, 0.4), ("accurate", 0.9, 0.4),
                                          ("robertson", 1.2, 0.75), ("lucene", 0.82, 0.68)])
@pytest.mark.parametrize("k", [50, 300])  # 300: above BufferedTopK's heap limit, so its buffer compacts
def test_scores_equal_numpy_reference(cranfield, cranfield_terms, scoring, k1, b, k):
    docs, queries = cranfield
    index = BM25Index.build(docs, k1=k1, b=b, scoring=scoring, progress=False)
    ref = ReferenceBM25(cranfield_terms, k1=k1, b=b, scoring=scoring)
    qids = list(queries)[:60]
    res = index.search({q: queries[q] for q in qids}, k=k, algorithm="exhaustive", ties="id")
    for qi, qid in enumerate(qids):
        ids, scores = ref.topk(analyze(queries[qid]), k)
        np.testing.assert_allclose(res.scores[qi], scores, rtol=0, atol=1e-5)
        # same scores in float32 arithmetic: the ranking is identical, ties included
        assert np.array_equal(res.ids[qi], ids), qid


def test_with_params_equals_fresh_build(cranfield):
    docs, queries = cranfield
    base = BM25Index.build(docs, progress=False)
    fresh = BM25Index.build(docs, k1=1.2, b=0.75, scoring="robertson", progress=False)
    derived = base.with_params(k1=1.2, b=0.75, scoring="robertson")
    a, b = fresh.search(queries, k=100), derived.search(queries, k=100)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.scores, b.scores)


def _query_set(vocab: list[str], df: np.ndarray, n: int, seed: int) -> list[list[str]]:
    """Random queries: 1-12 terms drawn with a bias to frequent terms, repeats, unseen terms."""
    rng = np.random.default_rng(seed)
    p = np.sqrt(df.astype(np.float64))
    p /= p.sum()
    out = []
    for _ in range(n):
        length = int(rng.integers(1, 13))
        terms = [vocab[i] for i in rng.choice(len(vocab), size=length, p=p)]
        if rng.random() < 0.2:
            terms.append(terms[0])  # repeated term: boost 2
        if rng.random() < 0.1:
            terms.append("zzzunseenzzz")
        out.append(terms)
    out += [[], ["zzzunseenzzz"], ["zzzunseenzzz", "qqqnothereqqq"]]
    return out


@pytest.mark.parametrize("scoring", ["lucene", "accurate", "robertson"])
def test_maxscore_equals_exhaustive_on_cranfield(cranfield, scoring):
    docs, _ = cranfield
    index = BM25Index.build(docs, scoring=scoring, progress=False)
    vocab = index.terms()
    queries = _query_set(vocab, index.arrays["df"], 1500, seed=0)
    qmap = {str(i): q for i, q in enumerate(queries)}
    for k in (1, 10, 100, 2000):  # 2000 > every match count: padding
        for ties in ("docno", "id"):
            slow = index.search_terms(qmap, k=k, algorithm="exhaustive", ties=ties)
            for algorithm in ("maxscore", "windowed"):
                fast = index.search_terms(qmap, k=k, algorithm=algorithm, ties=ties)
                assert np.array_equal(fast.ids, slow.ids), (algorithm, k, ties)
                assert np.array_equal(fast.scores, slow.scores), (algorithm, k, ties)
    assert (slow.ids[-3:] == -1).all() and np.isneginf(slow.scores[-3:]).all()


def test_maxscore_equals_exhaustive_on_zipfian_corpus():
    """Long posting lists (many blocks) make block-max skipping do real work."""
    rng = np.random.default_rng(7)
    n_docs, vocab_size = 20000, 3000
    p = 1.0 / np.arange(1, vocab_size + 1) ** 1.05
    p /= p.sum()
    lengths = rng.integers(3, 80, size=n_docs)
    words = rng.choice(vocab_size, size=lengths.sum(), p=p)
    docs, pos = [], 0
    for d, n in enumerate(lengths):
        docs.append((f"d{d}", [f"w{w}" for w in words[pos:pos + n]]))
        pos += n
    index = BM25Index.build(docs, pretokenized=True, progress=False)
    vocab = [f"w{i}" for i in range(vocab_size)]
    df = np.array([index.df(t) for t in vocab])
    queries = {str(i): q for i, q in enumerate(_query_set(vocab, np.maximum(df, 1), 2000, seed=1))}
    for k in (10, 1000):
        slow = index.search_terms(queries, k=k, algorithm="exhaustive", threads=1)
        for algorithm in ("maxscore", "windowed"):
            fast = index.search_terms(queries, k=k, algorithm=algorithm, threads=2)
            assert np.array_equal(fast.ids, slow.ids), algorithm
            assert np.array_equal(fast.scores, slow.scores), algorithm


def test_stopword_only_and_empty_queries(cranfield):
    docs, _ = cranfield
    index = BM25Index.build(docs, progress=False)
    res = index.search({"a": "the of and", "b": "", "c": "!!!"}, k=5)
    assert (res.ids == -1).all() and np.isneginf(res.scores).all()
