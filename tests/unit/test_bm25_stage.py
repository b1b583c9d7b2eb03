"""BM25Index as a retriever / stage: the stage contract plus composition."""
from __future__ import annotations

import numpy as np
import pytest

from stage_conformance import StageConformance, check_results_contract
from winnow import Cutoff, Pipeline, Results
from winnow.index import BM25Index

CORPUS = [
    ("d1", "The quick brown fox jumps over the lazy dog"),
    ("d2", "A lazy dog sleeps all day"),
    ("d3", "Quick quick foxes and quick rabbits"),
    ("d4", ""),  # empty document: indexed, matches nothing
    ("d5", "Brown bears eat fish in the river"),
    ("d6", "Fox hunting is banned; the fox is quick"),
]
QUERIES = {"q1": "quick fox", "q2": "lazy dog", "q3": "brown"}


def tiny_index(**kwargs) -> BM25Index:
    return BM25Index.build(CORPUS, progress=False, **kwargs)


class TestBM25Conformance(StageConformance):
    QUERIES = QUERIES
    NO_HIT_QUERY = "zebra xylophone"
    CAPS_K = True

    def make_stage(self):
        return tiny_index()


class TestBM25ExhaustiveConformance(StageConformance):
    QUERIES = QUERIES
    NO_HIT_QUERY = "the"  # a stopword only: analyzes to no terms
    CAPS_K = True

    def make_stage(self):
        return tiny_index(scoring="robertson", k1=1.2, b=0.75)

    def apply(self, stage, queries, results, k):
        return stage.search(queries, k=k, algorithm="exhaustive", threads=2)


class TestCutoffConformance(StageConformance):
    """Cutoff is the simplest stage that takes results (reranker side of the contract)."""

    def make_stage(self):
        return Cutoff(2)

    def make_input(self):
        return QUERIES, tiny_index().search(QUERIES, k=5)


def test_search_finds_expected_documents():
    res = tiny_index().search(QUERIES, k=10)
    d = res.to_dict()
    assert set(d["q1"]) == {"d1", "d3", "d6"}
    assert set(d["q2"]) == {"d1", "d2"}
    assert set(d["q3"]) == {"d1", "d5"}
    assert res.queries == list(QUERIES.values())


def test_stage_call_uses_retriever_k():
    index = tiny_index()
    index.k = 2
    out = index(QUERIES)
    check_results_contract(out, nq=3, k=2)
    assert np.array_equal(out.ids, index.search(QUERIES, k=2).ids)


def test_list_and_str_queries():
    index = tiny_index()
    out = index.search(["quick fox", "lazy dog"], k=3)
    assert out.qids == ["0", "1"]
    assert index.search("quick fox", k=3).qids == ["0"]


def test_composition_with_cutoff():
    index = tiny_index()
    index.k = 5
    pipe = index % 2
    assert isinstance(pipe, Pipeline) and len(pipe.stages) == 2
    out = pipe(QUERIES)
    full = index.search(QUERIES, k=5)
    check_results_contract(out, nq=3, k=2)
    assert np.array_equal(out.ids, full.ids[:, :2]) and np.array_equal(out.scores, full.scores[:, :2])
    chained = index >> Cutoff(3) >> Cutoff(1)
    assert len(chained.stages) == 3
    assert chained(QUERIES).k == 1


def test_maxscore_equals_exhaustive_and_threads():
    index = tiny_index()
    a = index.search(QUERIES, k=4)
    b = index.search(QUERIES, k=4, algorithm="exhaustive", threads=2)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.scores, b.scores)


def test_pretokenized_index_searches_split_terms():
    docs = [("a", ["x", "y"]), ("b", ["y", "y", "z"])]
    index = BM25Index.build(docs, pretokenized=True, progress=False)
    res = index.search({"q": "y"}, k=5)
    check_results_contract(res, nq=1, k=2)  # k is capped at the index's 2 documents
    assert res.counts().tolist() == [2]


def test_with_params_changes_scores_not_shape():
    index = tiny_index()
    other = index.with_params(k1=1.2, b=0.75, scoring="robertson")
    a, b = index.search(QUERIES, k=4), other.search(QUERIES, k=4)
    check_results_contract(b, nq=3, k=4)
    assert not np.array_equal(a.scores, b.scores)
    assert set(a.to_dict()["q1"]) == set(b.to_dict()["q1"])


def test_bad_documents_raise_value_error():
    with pytest.raises(ValueError, match="pairs"):
        BM25Index.build([("only-one-field",)], progress=False)


def test_results_type():
    assert isinstance(tiny_index().search(QUERIES), Results)
