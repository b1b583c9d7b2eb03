"""winnow.pyterrier: Winnow stages as pt.Transformers, PyTerrier transformers as Winnow stages."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyterrier as pt
import pytest
from pyterrier.measures import nDCG

from winnow import Cutoff, Results
from winnow.datasets import load
from winnow.evaluation import evaluate
from winnow.index import BM25Index
from winnow.pyterrier import from_pyterrier, transformer

CORPUS = [
    ("d1", "The quick brown fox jumps over the lazy dog"),
    ("d2", "A lazy dog sleeps all day"),
    ("d3", "Quick quick foxes and quick rabbits"),
    ("d4", "Brown bears eat fish in the river"),
    ("d5", "Fox hunting is banned; the fox is quick"),
]
QUERIES = {"q1": "quick fox", "q2": "lazy dog", "q3": "zebra"}  # q3 matches nothing
TOPICS = pd.DataFrame({"qid": list(QUERIES), "query": list(QUERIES.values())})


@pytest.fixture(scope="module")
def index():
    return BM25Index.build(CORPUS, progress=False)


def test_importing_pyterrier_starts_no_java():
    assert not pt.java.started()


def test_retriever_output_follows_pyterrier_columns(index):
    out = index.to_pyterrier()(TOPICS)
    assert list(out.columns) == ["qid", "query", "docno", "score", "rank"]
    assert isinstance(out, pd.DataFrame) and isinstance(index.to_pyterrier(), pt.Transformer)
    # same hits, scores and order as Winnow's own search; rank from 0 per query
    expected = index.search(QUERIES, k=index.k)
    assert out.equals(expected.to_dataframe())
    for qid, group in out.groupby("qid", sort=False):
        assert list(group["rank"]) == list(range(len(group)))
        assert (np.diff(group["score"].to_numpy()) <= 0).all()
        assert set(group["query"]) == {QUERIES[qid]}
    assert set(out["qid"]) == {"q1", "q2"}  # no rows for a query without hits (PyTerrier's habit)


def test_extra_topic_columns_are_carried(index):
    topics = TOPICS.assign(query_0=TOPICS["query"].str.upper())
    out = transformer(index)(topics)
    assert "query_0" in out.columns
    assert (out["query_0"] == out["query"].str.upper()).all()


def test_round_trip_through_dataframe_keeps_results(index):
    res = index.search(QUERIES, k=3)
    back = Results.from_dataframe(index.to_pyterrier()(TOPICS).pipe(lambda df: df[df["rank"] < 3]))
    assert back.to_dict() == {q: hits for q, hits in res.to_dict().items() if hits}


def test_reranking_stage_rescored_rows(index):
    # a Winnow stage fed a PyTerrier results frame (no score column: rank decides the order)
    frame = index.to_pyterrier()(TOPICS).drop(columns=["score"])
    out = transformer(Cutoff(1))(frame)
    assert list(out.columns) == ["qid", "query", "docno", "score", "rank"]
    firsts = frame[frame["rank"] == 0]
    assert list(out["docno"]) == list(firsts["docno"]) and list(out["qid"]) == list(firsts["qid"])


def test_winnow_pipeline_as_one_transformer(index):
    out = transformer(index % 2)(TOPICS)
    assert out.groupby("qid").size().to_dict() == {"q1": 2, "q2": 2}
    assert out.equals(index.search(QUERIES, k=2).to_dataframe())


def test_reranker_without_query_texts_gets_them_from_the_input(index):
    class DropTexts(Cutoff):
        def transform(self, queries, results):
            out = super().transform(queries, results)
            out.queries = None
            return out

    out = transformer(DropTexts(1))(index.to_pyterrier()(TOPICS))
    assert list(out["query"]) == [QUERIES["q1"], QUERIES["q2"]]


def test_winnow_then_pyterrier_pipeline(index):
    # Winnow BM25 >> a PyTerrier scorer that reverses BM25's order: the output follows the new scores
    pipeline = index.to_pyterrier() >> pt.apply.doc_score(lambda row: -row["score"])
    out = pipeline(TOPICS)
    bm25 = index.to_pyterrier()(TOPICS)
    for qid, group in out.groupby("qid"):
        want = bm25[bm25["qid"] == qid].sort_values("score", kind="stable")["docno"]
        assert list(group.sort_values("rank")["docno"]) == list(want)
    assert ((index.to_pyterrier() % 1)(TOPICS).groupby("qid").size() == 1).all()


def test_pyterrier_stage_inside_winnow_pipeline(index):
    # a PyTerrier transformer as a Winnow stage, between two Winnow stages
    boost_d2 = pt.apply.doc_score(lambda row: row["score"] + (100.0 if row["docno"] == "d2" else 0.0))
    pipeline = index >> from_pyterrier(boost_d2) >> Cutoff(1)
    out = pipeline(QUERIES)
    assert isinstance(out, Results) and out.qids == list(QUERIES)
    top = {q: list(h) for q, h in out.to_dict().items()}
    assert top["q2"] == ["d2"]  # d2 matches "lazy dog" and is boosted
    assert top["q1"] == [list(index.search(QUERIES, k=1).to_dict()["q1"])[0]]
    assert top["q3"] == []  # no hits in, a padded row out
    # the index's docno table (and document store) survives the PyTerrier stage
    assert out.docnos is index.search(QUERIES, k=1).docnos


def test_pyterrier_stage_first_gets_topics():
    seen = []

    def retrieve(topics: pd.DataFrame) -> pd.DataFrame:
        seen.append(list(topics.columns))
        return topics.assign(docno="x", score=1.0)

    out = from_pyterrier(pt.apply.generic(retrieve))(QUERIES)
    assert seen == [["qid", "query"]]
    assert out.to_dict() == {"q1": {"x": 1.0}, "q2": {"x": 1.0}, "q3": {"x": 1.0}}
    assert out.queries == list(QUERIES.values())


def test_bad_inputs_are_clear_errors(index):
    with pytest.raises(ValueError, match="Stage"):
        transformer("not a stage")
    with pytest.raises(ValueError, match="pt.Transformer"):
        from_pyterrier(lambda df: df)
    with pytest.raises(ValueError, match="query"):
        index.to_pyterrier()(pd.DataFrame({"qid": ["1"]}))
    no_score = from_pyterrier(pt.apply.generic(lambda df: df.assign(docno="x")))
    with pytest.raises(ValueError, match="score"):
        no_score(QUERIES)


def test_experiment_on_scifact_gives_lucene_bm25_ndcg(shared_data):
    ds = load(shared_data / "scifact")
    queries = ds.queries(split="test")
    qrels = ds.qrels("test")
    topics = pd.DataFrame({"qid": list(queries), "query": list(queries.values())})
    qrels_frame = pd.DataFrame([(q, d, rel) for q, docs in qrels.items() for d, rel in docs.items()],
                               columns=["qid", "docno", "label"])
    bm25 = BM25Index.build(ds.corpus(), progress=False)
    # PyTerrier reads a string metric as a trec_eval name ("ndcg_cut_10"); nDCG@10 is ir_measures'
    table = pt.Experiment([bm25.to_pyterrier()], topics, qrels_frame, eval_metrics=[nDCG@10])
    ours = evaluate(bm25.search(queries, k=bm25.k).to_dict(), qrels, ["nDCG@10"])["nDCG@10"]
    theirs = float(table["nDCG@10"].iloc[0])
    assert round(theirs, 4) == 0.6789
    assert abs(theirs - ours) < 1e-9, (theirs, ours)
