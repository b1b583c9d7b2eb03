"""Experiment config index type ``impact``: built from a JsonVectorCollection, searched with
weighted queries looked up by qid or with the query texts; bad parameters name their key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from winnow.experiment import run_experiment
from winnow.experiment_config import ConfigError, load_config
from winnow.index import BM25Index
from winnow.index.bm25_impacts import bm25_impacts

DOCS = {"d1": "the cat sat on the mat", "d2": "a dog chased the cat", "d3": "stock markets fell today",
        "d4": "interest rates rose again", "d5": "the central bank raised interest rates",
        "d6": "cats and dogs living together"}
QUERIES = {"q1": "cat on a mat", "q2": "interest rates bank", "q3": "dog chasing cats"}
QRELS = {"q1": {"d1": 2, "d6": 1}, "q2": {"d5": 1, "d4": 1}, "q3": {"d2": 2, "d6": 1}}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    (d / "qrels").mkdir(parents=True)
    (d / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n"
                                            for k, v in DOCS.items()))
    (d / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items()))
    (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{doc}\t{g}\n" for q, j in QRELS.items() for doc, g in j.items()))
    bm25 = BM25Index.build(list(DOCS.items()), progress=False)
    (tmp_path / "vectors.jsonl").write_text("".join(json.dumps({"id": docno, "contents": "", "vector": v}) + "\n"
                                                    for docno, v in bm25_impacts(bm25)))
    weighted = {q: {t: 1.0 for t in bm25.analyze(text)} for q, text in QUERIES.items()}
    (tmp_path / "wq.jsonl").write_text("".join(json.dumps({"id": q, "vector": v}) + "\n" for q, v in weighted.items()))
    return d


def config(data: Path, **impact) -> dict:
    root = data.parent
    return {"dataset": {"path": str(data)},
            "indexes": {"bm25": {"type": "bm25"},
                        "imp": {"type": "impact", "input": str(root / "vectors.jsonl"), **impact}},
            "pipelines": {"bm25": "bm25", "imp": "imp"},
            "evaluation": {"metrics": ["nDCG@10"], "baseline": "bm25", "k": 10},
            "output": {"dir": str(root / "out"), "plots": False}}


@pytest.mark.parametrize("weighted", [False, True])
def test_impact_pipeline_ranks_like_bm25(data, weighted):
    extra = {"weighted_queries": str(data.parent / "wq.jsonl")} if weighted else {}
    report = run_experiment(config(data, **extra), log=None)
    rows = {r["pipeline"]: r for r in report["splits"][0]["rows"]}
    assert rows["imp"]["metrics"]["nDCG@10"] == pytest.approx(rows["bm25"]["metrics"]["nDCG@10"], abs=0.05)
    assert rows["imp"]["metrics"]["nDCG@10"] > 0.5


def test_bad_impact_params_name_the_key(data):
    with pytest.raises(ConfigError, match="indexes.imp.quantize: quantize must be"):
        load_config(config(data, quantize="float"))
    cfg = config(data)
    del cfg["indexes"]["imp"]["input"]
    with pytest.raises(ConfigError, match="indexes.imp.input: required"):
        load_config(cfg)
    with pytest.raises(ConfigError, match="indexes.imp.weighted_queries: no such file"):
        load_config(config(data, weighted_queries="nope.jsonl"))
    assert load_config(config(data, quantize="none")).indexes["imp"].params["quantize"] == "none"
