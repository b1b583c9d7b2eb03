"""Readers on the real collections of ../shared/data (exact counts from data/README.md)."""
from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from winnow.readers import (
    BadLineReport,
    RunRow,
    format_score,
    iter_beir_corpus,
    iter_collection,
    iter_qrels,
    iter_run,
    iter_trec_docs,
    read_beir_qrels,
    read_beir_queries,
    read_qrels,
    read_queries_tsv,
    read_run,
    read_trec_topics,
    write_run,
)


def _pairs(qrels):
    return sum(len(v) for v in qrels.values())


def test_scifact(shared_data):
    d = shared_data / "scifact"
    report = BadLineReport()
    docs = list(iter_beir_corpus(d / "corpus.jsonl", report=report))
    assert len(docs) == 5183 and report.total_empty == 0 and report.total_skipped == 0
    assert len({docno for docno, _ in docs}) == 5183
    queries = read_beir_queries(d / "queries.jsonl")
    assert len(queries) == 1109
    test, train = read_beir_qrels(d / "qrels/test.tsv"), read_beir_qrels(d / "qrels/train.tsv")
    assert (len(test), _pairs(test)) == (300, 339)
    assert (len(train), _pairs(train)) == (809, 919)
    assert not set(test) & set(train) and set(test) | set(train) == set(queries)


def test_beir_text_is_title_space_text(shared_data):
    path = shared_data / "scifact" / "corpus.jsonl"
    import json
    with open(path, encoding="utf-8") as fh:
        first = json.loads(fh.readline())
    docno, text = next(iter_beir_corpus(path))
    assert docno == first["_id"] and text == first["title"] + " " + first["text"]


def test_cranfield_keeps_empty_documents(shared_data):
    report = BadLineReport()
    docs = dict(iter_beir_corpus(shared_data / "cranfield" / "corpus.jsonl", report=report))
    assert len(docs) == 1400
    assert report.total_empty == 2 and docs["471"] == " " and docs["995"] == " "
    assert "2 empty documents" in str(report)
    assert len(read_beir_queries(shared_data / "cranfield" / "queries.jsonl")) == 225
    qrels = read_beir_qrels(shared_data / "cranfield" / "qrels" / "test.tsv")
    assert (len(qrels), _pairs(qrels)) == (225, 1837)
    grades = np.bincount([g for v in qrels.values() for g in v.values()])
    assert grades.tolist() == [225, 363, 734, 387, 128]


def test_vaswani(shared_data):
    d = shared_data / "vaswani"
    docs = list(iter_trec_docs(d / "doc-text.trec"))
    assert len(docs) == 11429
    assert docs[0] == ("1", "compact memories have flexible capacities a digital data storage "
                       "system with capacity up to bits and random and or sequential access "
                       "is described")
    topics = read_trec_topics(d / "query-text.trec")
    assert len(topics) == 93 and topics["4"] == "SYSTEMS OF DATA CODING FOR INFORMATION TRANSFER"
    qrels = read_qrels(d / "qrels")
    assert (len(qrels), _pairs(qrels)) == (93, 2083)
    assert {g for v in qrels.values() for g in v.values()} == {1}


def test_msmarco_pool(shared_data):
    d = shared_data / "msmarco-dl19-pool"
    report = BadLineReport()
    assert sum(1 for _ in iter_collection(d / "collection.tsv", report=report)) == 4103
    assert report.records[str(d / "collection.tsv")] == 4103
    assert len(read_queries_tsv(d / "queries.tsv")) == 43
    qrels = read_qrels(d / "qrels.dl19-passage.txt")  # "Q0" in column 2 is accepted
    assert (len(qrels), _pairs(qrels)) == (43, 4102)


@pytest.mark.parametrize("topics, n_topics, qrels, n_q, n_pairs", [
    ("topics.msmarco-passage.dev-subset.txt", 6980, "qrels.msmarco-passage.dev-subset.txt",
     6980, 7437),
    ("topics.dl19-passage.txt", 43, "qrels.dl19-passage.txt", 43, 9260),
    ("topics.dl20.txt", 200, "qrels.dl20-passage.txt", 54, 11386),
])
def test_msmarco_topics_qrels(shared_data, topics, n_topics, qrels, n_q, n_pairs):
    d = shared_data / "msmarco"
    assert len(read_queries_tsv(d / topics)) == n_topics
    judged = read_qrels(d / qrels)
    assert (len(judged), _pairs(judged)) == (n_q, n_pairs)
    assert sum(1 for _ in iter_qrels(d / qrels)) == n_pairs


def test_reference_run_gzip(shared_data):
    path = shared_data / "refs" / "pyserini-bm25" / "vaswani.run.gz"
    run = read_run(path)
    assert len(run) == 93
    first = next(iter_run(path))
    assert first == RunRow("1", "5502", 1, 8.6104, "Anserini")
    assert run["1"]["5502"] == 8.6104


def test_gzip_corpus_by_suffix_and_magic(shared_data, tmp_path):
    src = shared_data / "msmarco-dl19-pool" / "collection.tsv"
    gz = tmp_path / "collection.tsv.gz"
    with open(src, "rb") as fin, gzip.open(gz, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    no_suffix = tmp_path / "collection.tsv"
    shutil.copy(gz, no_suffix)  # gzip bytes without a .gz name: found by magic
    plain = list(iter_collection(src))
    assert list(iter_collection(gz)) == plain
    assert list(iter_collection(no_suffix)) == plain


# --- TREC run write/read round trip ---------------------------------------------------

def test_run_round_trip_keeps_scores_and_order(tmp_path):
    rng = np.random.default_rng(0)
    scores = np.sort(rng.standard_normal((3, 50)).astype(np.float32) * 10, axis=1)[:, ::-1]
    scores[1, 10:12] = scores[1, 9]  # exact ties stay ties
    rows = [(f"q{i}", f"d{j}", r + 1, scores[i, r]) for i in range(3)
            for r, j in enumerate(rng.permutation(50))]
    path = tmp_path / "run.txt"
    assert write_run(path, rows, tag="test") == 150
    back = list(iter_run(path))
    assert [(r.qid, r.docno, r.rank, r.tag) for r in back] == [
        (q, d, k, "test") for q, d, k, _ in rows]
    assert np.array_equal(np.array([r.score for r in back], dtype=np.float32),
                          np.array([s for *_, s in rows], dtype=np.float32))
    run = read_run(path)
    assert list(run) == ["q0", "q1", "q2"] and len(run["q1"]) == 50


def test_run_round_trip_float64_and_gzip(tmp_path):
    vals = [0.1 + 0.2, 1e-300, -2.5, 123456789.123456789, float(np.nextafter(1.0, 2.0))]
    rows = [RunRow("1", f"d{i}", i + 1, v, "x") for i, v in enumerate(vals)]
    path = tmp_path / "run.gz"
    write_run(path, rows)
    with gzip.open(path, "rt") as fh:
        assert fh.readline().split() == ["1", "Q0", "d0", "1", repr(0.1 + 0.2), "x"]
    assert [r.score for r in iter_run(path)] == vals


def test_format_score():
    assert format_score(np.float32(8.6104)) == "8.6104"
    assert float(np.float32(format_score(np.float32(1 / 3)))) == np.float32(1 / 3)
    assert format_score(0.5) == "0.5" and format_score(3) == "3.0"
    with pytest.raises(ValueError, match="NaN"):
        format_score(float("nan"))


def test_write_run_is_atomic_on_error(tmp_path):
    path = tmp_path / "run.txt"
    write_run(path, [("1", "a", 1, 1.0)])
    before = path.read_text()
    with pytest.raises(ValueError, match="whitespace"):
        write_run(path, [("1", "b", 1, 2.0), ("1", "bad id", 2, 1.0)], overwrite=True)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.txt"]  # no temp file left


def test_write_run_to_open_file(tmp_path):
    import io
    buf = io.StringIO()
    write_run(buf, [("7", "d1", 1, np.float32(2.5))], tag="t")
    assert buf.getvalue() == "7 Q0 d1 1 2.5 t\n"
