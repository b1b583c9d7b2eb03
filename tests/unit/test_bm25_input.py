"""BM25 on awkward input: nothing is silently dropped, bad input names the problem."""
from __future__ import annotations

import numpy as np
import pytest

from winnow.index import BM25Index


def test_empty_corpus_builds_and_finds_nothing(tmp_path):
    index = BM25Index.build([], progress=False)
    assert index.n_docs == 0 and index.n_terms == 0
    res = index.search({"q": "anything"}, k=3)
    assert (res.ids == -1).all()
    index.save(tmp_path / "idx")
    again = BM25Index.load(tmp_path / "idx")
    assert again.n_docs == 0


def test_empty_documents_are_indexed_and_match_nothing():
    docs = [("a", ""), ("b", "the of and"), ("c", "real words here")]
    index = BM25Index.build(docs, progress=False)
    stats = index.stats()
    assert stats["n_docs"] == 3 and stats["n_empty_docs"] == 2 and stats["n_docs_with_terms"] == 1
    assert index.docnos.to_list() == ["a", "b", "c"]
    res = index.search({"q": "real words"}, k=3)
    assert res.ids[0].tolist() == [2, -1, -1]


def test_duplicate_document_id_is_named():
    with pytest.raises(ValueError, match="duplicate document id 'x'"):
        BM25Index.build([("x", "one"), ("y", "two"), ("x", "three")], progress=False)


def test_duplicate_across_batches_is_named():
    docs = [(f"d{i}", "text") for i in range(50)] + [("d3", "again")]
    with pytest.raises(ValueError, match="duplicate document id 'd3'"):
        BM25Index.build(docs, batch_size=16, progress=False)


def test_one_megabyte_document():
    rng = np.random.default_rng(0)
    words = [f"w{i}x" for i in range(5000)]
    big = " ".join(rng.choice(words, size=180_000))  # ~1 MB of text
    assert len(big) > 1_000_000
    index = BM25Index.build([("big", big), ("small", "w1x w2x")], progress=False)
    assert int(index.arrays["doc_len"][0]) == 180_000
    res = index.search({"q": "w1x"}, k=2)
    assert set(res.ids[0].tolist()) == {0, 1}


def test_non_ascii_text_and_docnos():
    docs = [("dök-1", "Café naïve façade"), ("日本", "日本語のテキスト"), ("ascii", "plain text")]
    index = BM25Index.build(docs, progress=False)
    res = index.search({"q": "café", "r": "日本"}, k=3)
    assert res.docnos.lookup(res.ids[0][:1]) == ["dök-1"]
    assert res.docnos.lookup(res.ids[1][:1]) == ["日本"]


def test_bad_parameters_raise_value_error():
    with pytest.raises(ValueError, match="k1"):
        BM25Index.build([("a", "x")], k1=0.0, progress=False)
    with pytest.raises(ValueError, match="b must be"):
        BM25Index.build([("a", "x")], b=1.5, progress=False)
    with pytest.raises(ValueError, match="scoring"):
        BM25Index.build([("a", "x")], scoring="bm42", progress=False)
    with pytest.raises(ValueError, match="analyzer"):
        BM25Index.build([("a", "x")], analyzer="klingon", progress=False)
    with pytest.raises(ValueError, match="pairs"):
        BM25Index.build(["just a string"], progress=False)
    index = BM25Index.build([("a", "x")], progress=False)
    with pytest.raises(ValueError, match="k must be"):
        index.search({"q": "x"}, k=-1)
    with pytest.raises(ValueError, match="algorithm"):
        index.search({"q": "x"}, algorithm="wand9000")
    with pytest.raises(ValueError, match="ties"):
        index.search({"q": "x"}, ties="random")


def test_segmented_build_equals_in_memory_build(tmp_path):
    """A tiny memory budget forces many on-disk segments; the merged index is identical."""
    rng = np.random.default_rng(3)
    vocab = [f"t{i}" for i in range(400)]
    docs = [(f"d{i}", " ".join(rng.choice(vocab, size=int(rng.integers(1, 40))))) for i in range(3000)]
    one = BM25Index.build(docs, progress=False)
    many = BM25Index.build(docs, memory_budget_mb=0.05, batch_size=200, temp_dir=str(tmp_path), progress=False)
    for name, arr in one.arrays.items():
        assert np.array_equal(arr, many.arrays[name]), name
    assert list(tmp_path.iterdir()) == []  # segment files removed


def test_k_up_to_ten_thousand_and_threads():
    docs = [(f"d{i}", f"common word{i % 7}") for i in range(12000)]
    index = BM25Index.build(docs, threads=2, progress=False)
    res = index.search({"q": "common", "r": "word3 common"}, k=10000, threads=2)
    assert res.counts().tolist() == [10000, 10000]
    assert (np.diff(res.scores, axis=1) <= 0).all()
