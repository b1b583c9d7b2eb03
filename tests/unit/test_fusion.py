"""Fusion stages: RRF and normalised score sums, exact values computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from stage_conformance import StageConformance, check_results_contract
from winnow import Results, Retriever
from winnow.rerank import Fusion, reciprocal_rank_fusion, rrf, score_fusion, score_sum


class StaticRetriever(Retriever):
    """Returns a fixed run {qid: {docno: score}}; unknown qids get no hits."""

    def __init__(self, run: dict, name: str = "static"):
        self.run, self.name = run, name

    def search(self, queries, k: int = 10, **kwargs) -> Results:
        from winnow.stage import as_queries

        qids, texts = as_queries(queries)
        return Results.from_dict({q: self.run.get(q, {}) for q in qids}, k=k,
                                 queries=dict(zip(qids, texts)))

    def __repr__(self):
        return self.name


# Run A and run B: scores exact in float32, B's spread twice A's so both normalise alike.
RUN_A = {"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "q2": {"d5": 1.0}}
RUN_B = {"q1": {"d3": 4.0, "d1": 2.0, "d4": 0.0}, "q2": {"d6": 7.0, "d5": 5.0}}
QUERIES = {"q1": "first", "q2": "second"}


def run_a(k=10):
    return StaticRetriever(RUN_A, "A").search(QUERIES, k=k)


def run_b(k=10):
    return StaticRetriever(RUN_B, "B").search(QUERIES, k=k)


def ranked(res: Results, qi: int = 0) -> list[tuple[str, float]]:
    valid = res.ids[qi] >= 0
    return list(zip(res.docnos.lookup(res.ids[qi][valid]), res.scores[qi][valid].tolist()))


# -- the stage contract ------------------------------------------------------------------------
class TestRRFConformance(StageConformance):
    QUERIES = QUERIES
    NO_HIT_QUERY = "nothing"  # the no-hit qid is in neither run

    def make_stage(self):
        return rrf(StaticRetriever(RUN_A), StaticRetriever(RUN_B), k=1000, depth=1000)


class TestScoreSumConformance(TestRRFConformance):
    def make_stage(self):
        return score_sum(StaticRetriever(RUN_A), StaticRetriever(RUN_B), normalise="zscore", weights=[1, 2])


class TestRRFOverBM25Conformance(StageConformance):
    QUERIES = {"q1": "quick fox", "q2": "lazy dog"}
    NO_HIT_QUERY = "zebra"

    def make_stage(self):
        from winnow.index import BM25Index

        docs = [("a", "quick brown fox"), ("b", "lazy dog"), ("c", "quick quick dog"), ("d", "fox")]
        bm25 = BM25Index.build(docs, progress=False)
        return rrf(bm25, bm25.with_params(scoring="robertson", k1=1.2, b=0.75), depth=10)


# -- exact values -------------------------------------------------------------------------------
def test_rrf_exact_values():
    out = reciprocal_rank_fusion([run_a(), run_b()], k=10, rrf_k=60)
    check_results_contract(out, nq=2, k=10)
    expected = [("d1", 1 / 61 + 1 / 62), ("d3", 1 / 63 + 1 / 61), ("d2", 1 / 62), ("d4", 1 / 63)]
    got = ranked(out)
    assert [d for d, _ in got] == [d for d, _ in expected]
    assert [s for _, s in got] == [float(np.float32(s)) for _, s in expected]
    # q2: d6 only in B (rank 1); d5 rank 1 in A and rank 2 in B
    assert [d for d, _ in ranked(out, 1)] == ["d5", "d6"]
    assert ranked(out, 1)[0][1] == float(np.float32(1 / 61 + 1 / 62))
    assert out.qids == ["q1", "q2"] and out.queries == ["first", "second"]


def test_rrf_weights_and_rrf_k():
    out = reciprocal_rank_fusion([run_a(), run_b()], k=10, rrf_k=0, weights=[2.0, 1.0])
    expected = {"d1": 2 / 1 + 1 / 2, "d2": 2 / 2, "d3": 2 / 3 + 1 / 1, "d4": 1 / 3}
    got = dict(ranked(out))
    assert got == {d: float(np.float32(v)) for d, v in expected.items()}
    assert [d for d, _ in ranked(out)] == ["d1", "d3", "d2", "d4"]


def test_rrf_single_list_keeps_order():
    out = reciprocal_rank_fusion([run_b()], k=10)
    assert [d for d, _ in ranked(out)] == ["d3", "d1", "d4"]


def test_minmax_sum_exact():
    out = score_fusion([run_a(), run_b()], k=10, normalise="minmax")
    # A -> d1 1, d2 .5, d3 0; B -> d3 1, d1 .5, d4 0
    assert ranked(out) == [("d1", 1.5), ("d3", 1.0), ("d2", 0.5), ("d4", 0.0)]
    # q2: A has one score (min == max -> 1); B: d6 1, d5 0
    assert ranked(out, 1) == [("d5", 1.0), ("d6", 1.0)]  # tie: first-seen docno first


def test_zscore_sum_exact():
    out = score_fusion([run_a(), run_b()], k=10, normalise="zscore")
    z = 1 / math.sqrt(2 / 3)  # population std of (3, 2, 1) and half that of (4, 2, 0)
    got = ranked(out)
    assert [d for d, _ in got] == ["d1", "d2", "d3", "d4"]  # d2, d3 tie at 0: first seen wins
    assert got[0][1] == pytest.approx(z, rel=1e-6)
    assert got[1][1] == 0.0 and got[2][1] == 0.0
    assert got[3][1] == pytest.approx(-z, rel=1e-6)
    assert ranked(out, 1) == [("d6", 1.0), ("d5", -1.0)]  # A's single score normalises to 0


def test_weighted_score_sum_and_none():
    out = score_fusion([run_a(), run_b()], k=10, normalise="none", weights=[1.0, 0.5])
    assert dict(ranked(out)) == {"d1": 4.0, "d2": 2.0, "d3": 3.0, "d4": 0.0}
    out = score_fusion([run_a(), run_b()], k=10, normalise="minmax", weights=[0.0, 1.0])
    assert ranked(out)[:2] == [("d3", 1.0), ("d1", 0.5)]


def test_fusion_across_docno_tables():
    """Fusion matches documents by docno, not by internal id."""
    a = Results(["q"], [[0, 1]], [[2.0, 1.0]], ["x", "y"])
    b = Results(["q"], [[1, 0, -1]], [[5.0, 4.0, -np.inf]], ["z", "y"])  # y first, then z
    out = reciprocal_rank_fusion([a, b], k=5, rrf_k=60)
    check_results_contract(out, nq=1, k=5)
    got = ranked(out)
    assert got[0] == ("y", float(np.float32(1 / 62 + 1 / 61)))
    assert [d for d, _ in got] == ["y", "x", "z"]
    assert out.counts().tolist() == [3]


def test_fusion_k_cuts_and_pads():
    out = reciprocal_rank_fusion([run_a(), run_b()], k=2)
    assert out.k == 2 and [d for d, _ in ranked(out)] == ["d1", "d3"]
    out = score_fusion([run_a(), run_b()], k=7)
    assert out.k == 7 and out.counts().tolist() == [4, 2]


def test_stage_matches_functions():
    fused = rrf(StaticRetriever(RUN_A), StaticRetriever(RUN_B), k=10)
    out = fused(QUERIES)
    ref = reciprocal_rank_fusion([run_a(), run_b()], k=10)
    assert np.array_equal(out.scores, ref.scores)
    assert [ranked(out, i) for i in range(2)] == [ranked(ref, i) for i in range(2)]
    s = score_sum(StaticRetriever(RUN_A), StaticRetriever(RUN_B), normalise="zscore").search(QUERIES, k=3)
    assert s.k == 3
    assert repr(fused) == "rrf(static, static)"


def test_fusion_is_composable():
    pipe = rrf(StaticRetriever(RUN_A), StaticRetriever(RUN_B), k=10) % 1
    out = pipe(QUERIES)
    assert out.k == 1 and ranked(out) == [("d1", float(np.float32(1 / 61 + 1 / 62)))]


def test_mismatched_queries_raise():
    a = run_a()
    b = StaticRetriever(RUN_B).search({"q2": "", "q1": ""}, k=3)
    with pytest.raises(ValueError, match="same queries"):
        reciprocal_rank_fusion([a, b])
    with pytest.raises(ValueError, match="same queries"):
        score_fusion([a, StaticRetriever(RUN_B).search({"q1": ""}, k=3)])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="at least one"):
        reciprocal_rank_fusion([])
    with pytest.raises(ValueError, match="2 weights for 1"):
        reciprocal_rank_fusion([run_a()], weights=[1, 2])
    with pytest.raises(ValueError, match="1 weights for 2"):
        score_fusion([run_a(), run_b()], weights=[1])
    with pytest.raises(ValueError, match="rrf_k"):
        reciprocal_rank_fusion([run_a()], rrf_k=-1)
    with pytest.raises(ValueError, match="normalisation 'l2'"):
        score_fusion([run_a()], normalise="l2")
    with pytest.raises(ValueError, match="fusion method"):
        Fusion([StaticRetriever(RUN_A)], method="max")
    with pytest.raises(ValueError, match="at least one retriever"):
        Fusion([])
