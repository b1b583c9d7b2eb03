"""Results, DocnoTable, stage composition and as_queries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stage_conformance import check_results_contract
from winnow import Cutoff, DocnoTable, Pipeline, Results, Stage, as_queries
from winnow.results import PAD_ID


def sample() -> Results:
    # q1: 3 hits; q2: 1 hit then padding; q3: no hits
    return Results(
        ["q1", "q2", "q3"],
        np.array([[2, 0, 1], [1, -1, -1], [-1, -1, -1]]),
        np.array([[3.5, 1.25, 0.1], [7.0, -np.inf, -np.inf], [-np.inf] * 3]),
        ["doc-a", "doc-b", "doc-c"],
        ["first query", "second", "third"],
    )


# -- construction ----------------------------------------------------------------------------
def test_construction_normalises_types():
    r = sample()
    check_results_contract(r, nq=3, k=3)
    assert r.ids.dtype == np.int64 and r.scores.dtype == np.float32
    assert isinstance(r.docnos, DocnoTable) and r.docnos.to_list() == ["doc-a", "doc-b", "doc-c"]
    assert r.nq == len(r) == 3 and r.k == 3
    assert Results([1, 2], np.zeros((2, 0)), np.zeros((2, 0))).qids == ["1", "2"]


@pytest.mark.parametrize("ids,scores,match", [
    (np.zeros((2, 3)), np.zeros((2, 2)), "differ in shape"),
    (np.zeros(3), np.zeros(3), "2-D"),
    (np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), "2-D"),
    (np.zeros((3, 2)), np.zeros((3, 2)), "2 query ids for 3 result rows"),
])
def test_construction_errors(ids, scores, match):
    with pytest.raises(ValueError, match=match):
        Results(["a", "b"], ids, scores)


def test_query_texts_length_checked():
    with pytest.raises(ValueError, match="1 query texts for 2 query ids"):
        Results(["a", "b"], np.zeros((2, 1)), np.zeros((2, 1)), queries=["only one"])


def test_empty_results():
    e = Results.empty(["x", "y"], 4)
    check_results_contract(e, nq=2, k=4)
    assert e.counts().tolist() == [0, 0]
    assert e.to_dict() == {"x": {}, "y": {}}
    z = Results.empty([], 5)
    assert z.ids.shape == (0, 5) and z.to_dict() == {}


# -- cutoff, counts -----------------------------------------------------------------------------
def test_counts_and_cutoff():
    r = sample()
    assert r.counts().tolist() == [3, 1, 0]
    c = r.cutoff(2)
    check_results_contract(c, nq=3, k=2)
    assert c.counts().tolist() == [2, 1, 0]
    assert np.array_equal(c.ids, r.ids[:, :2]) and c.queries == r.queries and c.docnos is r.docnos
    c.ids[0, 0] = 99  # a copy, not a view
    assert r.ids[0, 0] == 2
    assert r.cutoff(0).ids.shape == (3, 0)
    assert r.cutoff(10).k == 3  # never wider than what there is
    with pytest.raises(ValueError, match="cutoff k must be >= 0"):
        r.cutoff(-1)


# -- dict ---------------------------------------------------------------------------------------
def test_to_dict_skips_padding():
    assert sample().to_dict() == {
        "q1": {"doc-c": 3.5, "doc-a": 1.25, "doc-b": np.float32(0.1).item()},
        "q2": {"doc-b": 7.0},
        "q3": {},
    }


def test_from_dict_sorts_and_pads():
    r = Results.from_dict({"a": {"x": 1.0, "y": 3.0, "z": 2.0}, "b": {}, "c": {"y": 5.0}})
    check_results_contract(r, nq=3, k=3)
    assert r.to_dict() == {"a": {"y": 3.0, "z": 2.0, "x": 1.0}, "b": {}, "c": {"y": 5.0}}
    assert [r.docnos[i] for i in r.ids[0]] == ["y", "z", "x"]
    assert r.counts().tolist() == [3, 0, 1]
    assert r.queries is None


def test_from_dict_k_ties_and_queries():
    run = {"a": {"x": 1.0, "y": 1.0, "z": 2.0}}
    r = Results.from_dict(run, k=2, queries={"a": "text"})
    assert r.k == 2 and r.docnos.lookup(r.ids[0]) == ["z", "x"]  # tie x/y: order of appearance
    assert r.queries == ["text"]
    wide = Results.from_dict(run, k=5)
    check_results_contract(wide, nq=1, k=5)
    assert wide.counts().tolist() == [3]
    assert Results.from_dict({}).ids.shape == (0, 0)


def test_dict_round_trip():
    r = sample()
    back = Results.from_dict(r.to_dict(), k=r.k)
    assert back.to_dict() == r.to_dict()
    assert np.array_equal(back.scores, r.scores)


# -- TREC run -------------------------------------------------------------------------------------
def test_trec_round_trip_exact(tmp_path):
    rng = np.random.default_rng(0)
    scores = np.sort(rng.standard_normal((4, 6)).astype(np.float32) * 10, axis=1)[:, ::-1].copy()
    scores[1, 2] = scores[1, 1]  # a tie
    ids = np.tile(np.arange(6), (4, 1))
    ids[2, 4:] = PAD_ID
    scores[2, 4:] = -np.inf
    ids[3, :] = PAD_ID
    scores[3, :] = -np.inf
    r = Results(["1", "2", "3", "4"], ids, scores, [f"D{i}" for i in range(6)])
    path = tmp_path / "run.txt"
    r.to_trec(path, tag="mytag")
    lines = path.read_text().splitlines()
    assert len(lines) == 6 + 6 + 4  # padding and the empty query write nothing
    qid, q0, docno, rank, score, tag = lines[0].split()
    assert (qid, q0, docno, rank, tag) == ("1", "Q0", "D0", "1", "mytag")
    assert np.float32(score) == scores[0, 0]
    back = Results.from_trec(path, k=6)
    assert back.qids == ["1", "2", "3"]  # a query without hits is absent from a run file
    assert np.array_equal(back.scores, scores[:3])  # float32 exact, padding preserved
    for qi in range(3):
        assert back.docnos.lookup(back.ids[qi][back.ids[qi] >= 0]) == r.docnos.lookup(ids[qi][ids[qi] >= 0])
    assert back.counts().tolist() == [6, 6, 4]


def test_trec_to_stream(capsys):
    import sys

    sample().to_trec(sys.stdout)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "q1 Q0 doc-c 1 3.5 winnow"
    assert out[-1] == "q2 Q0 doc-b 1 7.0 winnow"
    assert len(out) == 4


# -- DataFrame ---------------------------------------------------------------------------------
def test_dataframe_round_trip():
    r = sample()
    df = r.to_dataframe()
    assert list(df.columns) == ["qid", "query", "docno", "score", "rank"]
    assert len(df) == 4
    assert df.iloc[0].tolist()[:3] == ["q1", "first query", "doc-c"] and df.iloc[0]["rank"] == 0
    back = Results.from_dataframe(df, k=3)
    check_results_contract(back, nq=2, k=3)
    assert back.to_dict() == {q: d for q, d in r.to_dict().items() if d}
    assert np.array_equal(back.scores, r.scores[:2])  # padding preserved
    assert back.queries == ["first query", "second"]
    no_query = Results.from_dataframe(pd.DataFrame({"qid": [1], "docno": ["d"], "score": [0.5]}))
    assert no_query.qids == ["1"] and no_query.queries is None


def test_dataframe_missing_columns():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['score'\]"):
        Results.from_dataframe(pd.DataFrame({"qid": ["1"], "docno": ["d"]}))


# -- DocnoTable -----------------------------------------------------------------------------------
def test_docno_table():
    t = DocnoTable.from_list(["a", "bé", "", "ccc"])
    assert len(t) == 4 and t[1] == "bé" and t[2] == "" and t[-1] == "ccc"
    assert t.lookup(np.array([3, 0])) == ["ccc", "a"]
    assert t.index_of("bé") == 1 and t.index_of("") == 2
    assert t.to_list() == ["a", "bé", "", "ccc"]
    assert t == DocnoTable.from_list(["a", "bé", "", "ccc"]) and t != DocnoTable.from_list(["a"])
    with pytest.raises(IndexError, match="document id 4 out of range for 4"):
        t[4]
    with pytest.raises(IndexError, match="out of range"):
        t.lookup([0, 7])
    with pytest.raises(KeyError, match="'zz'"):
        t.index_of("zz")
    with pytest.raises(ValueError, match="offsets"):
        DocnoTable(np.zeros(0, np.uint8), np.zeros(0, np.uint64))
    empty = DocnoTable.from_list([])
    assert len(empty) == 0 and empty.to_list() == []


def test_docno_lookup_rejects_padding_id():
    t = DocnoTable.from_list(["a", "b"])
    with pytest.raises(IndexError):
        t.lookup([-1])  # the padding id names no document


def test_docno_builder():
    b = DocnoTable.builder()
    assert [b.add(d) for d in ["x", "y", "x", "z"]] == [0, 1, 0, 2]
    assert b.build().to_list() == ["x", "y", "z"]


# -- stages ------------------------------------------------------------------------------------
class Fixed(Stage):
    def __init__(self, res):
        self.res = res

    def transform(self, queries, results):
        return self.res


class Negate(Stage):
    """Reverses every row's order (a toy reranker)."""

    def transform(self, queries, results):
        n = results.counts()
        ids, scores = results.ids.copy(), results.scores.copy()
        for qi, c in enumerate(n):
            ids[qi, :c] = ids[qi, :c][::-1]
            scores[qi, :c] = -scores[qi, :c][::-1]
        return Results(results.qids, ids, scores, results.docnos, results.queries)


def test_composition_operators():
    a, b = Fixed(sample()), Negate()
    p = a >> b
    assert isinstance(p, Pipeline) and p.stages == [a, b]
    out = p({"q1": "", "q2": "", "q3": ""})
    check_results_contract(out, nq=3, k=3)
    assert out.docnos.lookup(out.ids[0]) == ["doc-b", "doc-a", "doc-c"]
    cut = a % 1
    assert isinstance(cut.stages[1], Cutoff) and cut.stages[1].k == 1
    assert cut(["x"]).k == 1
    assert repr(a >> b % 2) == "Fixed >> Negate >> % 2"


def test_pipeline_flattening():
    a, b, c = Fixed(sample()), Negate(), Negate()
    p = (a >> b) >> (c >> Cutoff(2))
    assert [type(s) for s in p.stages] == [Fixed, Negate, Negate, Cutoff]
    assert Pipeline([Pipeline([a]), Pipeline([b, c])]).stages == [a, b, c]
    out = p([])
    assert np.array_equal(out.ids, sample().ids[:, :2])


def test_composition_errors():
    with pytest.raises(ValueError, match="compose a Stage with a Stage"):
        Negate() >> 3
    with pytest.raises(ValueError, match="cutoff k must be >= 0"):
        Negate() % -1
    with pytest.raises(ValueError, match="earlier stage"):
        Cutoff(3)({"q": "x"})


# -- as_queries -----------------------------------------------------------------------------------
def test_as_queries_forms():
    assert as_queries({"a": "x", 2: "y"}) == (["a", "2"], ["x", "y"])
    assert as_queries(["x", "y"]) == (["0", "1"], ["x", "y"])
    assert as_queries(("x",)) == (["0"], ["x"])
    assert as_queries("just text") == (["0"], ["just text"])
    assert as_queries({}) == ([], [])
    assert as_queries([]) == ([], [])


def test_as_queries_dataframe():
    df = pd.DataFrame({"qid": [3, 1], "query": ["c", "a"], "other": [0, 0]})
    assert as_queries(df) == (["3", "1"], ["c", "a"])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['query'\]"):
        as_queries(pd.DataFrame({"qid": [1]}))


@pytest.mark.parametrize("bad", [42, 3.5, None, {"a", "b"}])
def test_as_queries_bad_type(bad):
    with pytest.raises(ValueError, match="queries must be a dict, a list of texts or a DataFrame"):
        as_queries(bad)
