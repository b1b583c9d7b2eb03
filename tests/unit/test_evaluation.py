"""winnow.evaluation: reference numbers, hand-computed tiny cases, rel=2, per-query, errors."""
from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import pytest

from winnow.errors import InputFormatError
from winnow.evaluation import evaluate, load_qrels, load_run, resolve_metrics


def _shared_data() -> Path:
    env = os.environ.get("WINNOW_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


DATA = _shared_data()
needs_data = pytest.mark.skipif(
    not (DATA / "refs" / "pyserini-bm25").is_dir(),
    # the prefix .ci/run allows (tests/conftest.py): only missing shared data may skip
    reason=f"shared data not found at {DATA} (set WINNOW_SHARED_DATA to its location)",
)

# ------------------------------------------------------------------ reference numbers
# shared/data/README.md and refs/*/README.md (ir_measures 0.4.3 == trec_eval -c to 4 decimals).
M5 = ["nDCG@10", "RR@10", "AP", "R@100", "R@1000"]
REFERENCE = [
    ("refs/pyserini-bm25/scifact.run.gz", "scifact/qrels/test.tsv", None, M5,
     [0.6789, 0.6457, 0.6401, 0.9253, 0.9767]),
    ("refs/pyserini-bm25/cranfield.run.gz", "cranfield/qrels/test.tsv", None, M5,
     [0.3510, 0.5078, 0.2879, 0.7224, 0.9518]),
    ("refs/pyserini-bm25/vaswani.run.gz", "vaswani/qrels", None, M5,
     [0.4368, 0.6742, 0.2856, 0.6186, 0.9340]),
    ("refs/pyserini-bm25/msmarco-dl19-pool.run.gz", "msmarco-dl19-pool/qrels.dl19-passage.txt", None, M5,
     [0.7335, 1.0000, 0.8580, 0.7832, 0.9306]),
    # explicit rel=2 in the names, as the README writes them
    ("refs/pyserini-bm25/msmarco-dl19-pool.run.gz", "msmarco-dl19-pool/qrels.dl19-passage.txt", None,
     ["RR(rel=2)@10", "AP(rel=2)", "R(rel=2)@100", "R(rel=2)@1000"], [0.8115, 0.5526, 0.8008, 0.9415]),
    # the same through rel=2; nDCG keeps the graded qrels
    ("refs/pyserini-bm25/msmarco-dl19-pool.run.gz", "msmarco-dl19-pool/qrels.dl19-passage.txt", 2, M5,
     [0.7335, 0.8115, 0.5526, 0.8008, 0.9415]),
    ("refs/dense-minilm/scifact-test.flatip.run.gz", "scifact/qrels/test.tsv", None,
     ["nDCG@10", "R@100", "RR@10", "AP", "R@1000"], [0.6451, 0.9250, 0.6047, 0.6034, 0.9933]),
]


@needs_data
@pytest.mark.parametrize("run,qrels,rel,metrics,expected", REFERENCE,
                         ids=[f"{r[0].split('/')[-1]}-rel{r[2]}-{r[3][0]}" for r in REFERENCE])
def test_reference_numbers(run, qrels, rel, metrics, expected):
    got = evaluate(DATA / run, DATA / qrels, metrics, rel=rel)
    assert list(got) == metrics
    assert [round(got[m], 4) for m in metrics] == expected


@needs_data
def test_reference_per_query_means_and_query_sets():
    qrels = load_qrels(DATA / "vaswani" / "qrels")
    run = load_run(DATA / "refs" / "pyserini-bm25" / "vaswani.run.gz")
    agg, per_q = evaluate(run, qrels, ["AP", "nDCG@10"], per_query=True)
    assert len(qrels) == 93
    for m in ("AP", "nDCG@10"):
        assert list(per_q[m]) == list(qrels)
        assert math.fsum(per_q[m].values()) / 93 == pytest.approx(agg[m], abs=1e-15)
    # dropping a query from the run makes it count 0 (trec_eval -c), not vanish
    dropped = next(iter(qrels))
    run2 = {q: d for q, d in run.items() if q != dropped}
    agg2, per_q2 = evaluate(run2, qrels, ["AP"], per_query=True)
    assert per_q2["AP"][dropped] == 0.0
    assert agg2["AP"] == pytest.approx(agg["AP"] - per_q["AP"][dropped] / 93, abs=1e-12)


@needs_data
def test_bundled_cranfield_qrels_equal_shared():
    bundled = Path(__file__).resolve().parents[2] / "engine" / "data" / "cranfield" / "qrels" / "test.tsv"
    run = DATA / "refs" / "pyserini-bm25" / "cranfield.run.gz"
    assert round(evaluate(run, bundled, ["nDCG@10"])["nDCG@10"], 4) == 0.3510


# ------------------------------------------------------------------ tiny hand-made case
#   q1: d1 grade 2, d2 grade 1, d3 grade 0 (judged non-relevant); run ranks d1, d3, d2
#   q2: d4 grade 1; run ranks d9 (unjudged), d4
#   q3: d5 grade 1; no run entry -> 0 on every measure
#   q4: in the run only -> ignored
QRELS = {"q1": {"d1": 2, "d2": 1, "d3": 0}, "q2": {"d4": 1}, "q3": {"d5": 1}}
RUN = {"q1": {"d1": 3.0, "d3": 2.0, "d2": 1.0}, "q2": {"d9": 2.0, "d4": 1.0}, "q4": {"d1": 1.0}}
NDCG_Q1 = (2 + 1 / math.log2(4)) / (2 + 1 / math.log2(3))  # trec_eval: gain = grade
NDCG_Q2 = 1 / math.log2(3)


def test_tiny_hand_computed():
    got = evaluate(RUN, QRELS, ["AP", "RR@10", "P@2", "R@2", "nDCG@10", "nDCG@1"])
    assert got["AP"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2 + 0) / 3)
    assert got["RR@10"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert got["P@2"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert got["R@2"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert got["nDCG@10"] == pytest.approx((NDCG_Q1 + NDCG_Q2 + 0) / 3)
    assert got["nDCG@1"] == pytest.approx((1 + 0 + 0) / 3)


def test_rel2_binary_only():
    got = evaluate(RUN, QRELS, ["AP", "RR@10", "P@2", "R@2", "nDCG@10"], rel=2)
    # only q1/d1 is relevant at grade >= 2; q2 and q3 keep counting (as 0)
    assert got["AP"] == pytest.approx(1 / 3)
    assert got["RR@10"] == pytest.approx(1 / 3)
    assert got["P@2"] == pytest.approx((1 / 2) / 3)
    assert got["R@2"] == pytest.approx(1 / 3)
    assert got["nDCG@10"] == pytest.approx((NDCG_Q1 + NDCG_Q2) / 3)  # graded, untouched
    # explicit rel in a name wins over the rel argument; names as given are the keys
    got = evaluate(RUN, QRELS, ["AP(rel=1)", "AP"], rel=2)
    assert got["AP(rel=1)"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 3)
    assert got["AP"] == pytest.approx(1 / 3)
    assert {k: str(v) for k, v in resolve_metrics(["AP", "nDCG@10", "RR(rel=3)@10"], rel=2).items()} == {
        "AP": "AP(rel=2)", "nDCG@10": "nDCG@10", "RR(rel=3)@10": "RR(rel=3)@10"}


def test_per_query():
    agg, per_q = evaluate(RUN, QRELS, ["AP", "RR@10"], per_query=True)
    assert set(per_q) == {"AP", "RR@10"}
    assert per_q["RR@10"] == pytest.approx({"q1": 1.0, "q2": 0.5, "q3": 0.0})
    assert per_q["AP"] == pytest.approx({"q1": (1 + 2 / 3) / 2, "q2": 0.5, "q3": 0.0})
    assert "q4" not in per_q["AP"]
    assert agg["RR@10"] == pytest.approx(0.5)


def test_unanswered_queries_count_zero_and_empty_run():
    got = evaluate({}, QRELS, ["AP", "nDCG@10"])
    assert got == {"AP": 0.0, "nDCG@10": 0.0}
    got = evaluate({"q1": {"d1": 1.0}}, QRELS, ["RR@10"])
    assert got["RR@10"] == pytest.approx(1 / 3)


def test_ties_follow_trec_eval_for_every_measure():
    # equal scores: trec_eval orders by docno descending, so "dB" precedes "dA"
    qrels = {"1": {"dA": 1, "dB": 0}}
    run = {"1": {"dA": 1.0, "dB": 1.0}}
    got = evaluate(run, qrels, ["RR@10", "RR", "AP", "P@1", "nDCG@1"])
    assert got == pytest.approx({"RR@10": 0.5, "RR": 0.5, "AP": 0.5, "P@1": 0.0, "nDCG@1": 0.0})


# ------------------------------------------------------------------ files


def _write(path: Path, text: str, gz: bool = False) -> Path:
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


RUN_TEXT = "".join(
    f"{q} Q0 {d} {i + 1} {s} test\n" for q, docs in RUN.items() for i, (d, s) in enumerate(docs.items())
)
TREC_QRELS = "".join(f"{q} 0 {d} {g}\n" for q, docs in QRELS.items() for d, g in docs.items())
BEIR_QRELS = "query-id\tcorpus-id\tscore\n" + "".join(
    f"{q}\t{d}\t{g}\n" for q, docs in QRELS.items() for d, g in docs.items())


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("qrels_text", [TREC_QRELS, BEIR_QRELS, BEIR_QRELS.split("\n", 1)[1]],
                         ids=["trec", "beir", "beir-noheader"])
def test_files_equal_dicts(tmp_path, gz, qrels_text):
    run_path = _write(tmp_path / ("r.run.gz" if gz else "r.run"), RUN_TEXT, gz)
    qrels_path = _write(tmp_path / ("q.gz" if gz else "q.txt"), qrels_text, gz)
    assert load_run(run_path) == RUN
    assert load_qrels(qrels_path) == QRELS
    metrics = ["AP", "RR@10", "nDCG@10"]
    assert evaluate(str(run_path), qrels_path, metrics) == evaluate(RUN, QRELS, metrics)


def test_errors(tmp_path):
    with pytest.raises(InputFormatError, match="run file not found"):
        evaluate(tmp_path / "missing.run", QRELS)
    with pytest.raises(InputFormatError, match="qrels file not found"):
        evaluate(RUN, tmp_path / "missing.qrels")
    bad = _write(tmp_path / "bad.run", "q1 Q0 d1 1 notanumber tag\n")
    with pytest.raises(InputFormatError, match="bad.run:1"):
        evaluate(bad, QRELS)
    dup = _write(tmp_path / "dup.run", "q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n")
    with pytest.raises(InputFormatError, match="twice"):
        evaluate(dup, QRELS)
    empty = _write(tmp_path / "empty.qrels", "\n")
    with pytest.raises(InputFormatError, match="no judgements"):
        evaluate(RUN, empty)
    with pytest.raises(ValueError, match="unknown metric 'Foo@10'"):
        evaluate(RUN, QRELS, ["Foo@10"])
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(RUN, QRELS, ["nDCG@x"])
    with pytest.raises(ValueError, match="no metric"):
        evaluate(RUN, QRELS, [])
    with pytest.raises(ValueError, match="twice"):
        evaluate(RUN, QRELS, ["AP", "AP"])
    with pytest.raises(ValueError, match="rel"):
        evaluate(RUN, QRELS, ["AP"], rel=0)
    with pytest.raises(ValueError, match="no judgements"):
        evaluate(RUN, {})
