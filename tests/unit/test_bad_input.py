"""Readers on tiny malformed files: messages name file and line; skip_bad_lines counts."""
from __future__ import annotations

import gzip
import json

import pytest

from winnow.errors import InputFormatError
from winnow.readers import (
    BadLineReport,
    iter_beir_corpus,
    iter_collection,
    iter_trec_docs,
    open_text,
    read_beir_qrels,
    read_beir_queries,
    read_qrels,
    read_queries_tsv,
    read_run,
    read_trec_topics,
)


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_tsv_malformed_lines_raise_with_line(tmp_path):
    p = write(tmp_path / "c.tsv", "1\tgood\n2 no tab here\n3\ta\tb\n\tno id\n")
    with pytest.raises(InputFormatError, match=r"c\.tsv:2: 0 tabs; expected exactly one"):
        list(iter_collection(p))


def test_tsv_skip_bad_lines_counts(tmp_path):
    p = write(tmp_path / "c.tsv", "1\tgood\n2 no tab here\n3\ta\tb\n\tno id\n4\t\n\n5\tlast\n")
    report = BadLineReport(max_examples=2)
    docs = list(iter_collection(p, skip_bad_lines=True, report=report))
    assert docs == [("1", "good"), ("4", ""), ("5", "last")]
    assert report.skipped == {str(p): 3}
    assert report.examples[str(p)][0].startswith(f"{p}:2: ")
    assert len(report.examples[str(p)]) == 2
    assert report.empty == {str(p): 1} and report.records == {str(p): 3}
    assert "3 malformed lines skipped" in str(report)


def test_skip_without_report_logs_warning(tmp_path, caplog):
    p = write(tmp_path / "c.tsv", "1\tgood\nbroken\n")
    with caplog.at_level("WARNING", logger="winnow.readers"):
        assert list(iter_collection(p, skip_bad_lines=True)) == [("1", "good")]
    assert "skipped 1 malformed lines" in caplog.text


def test_duplicate_doc_id_names_id_and_both_lines(tmp_path):
    p = write(tmp_path / "c.tsv", "10\ta\n11\tb\n10\tc\n")
    with pytest.raises(InputFormatError, match=r"c\.tsv:3: duplicate document id '10' "
                       r"\(first seen at line 1\)"):
        list(iter_collection(p))
    report = BadLineReport()
    assert list(iter_collection(p, skip_bad_lines=True, report=report)) == [
        ("10", "a"), ("11", "b")]
    assert report.total_skipped == 1
    assert list(iter_collection(p, check_duplicates=False))[2] == ("10", "c")


def test_duplicate_across_trec_files(tmp_path):
    a = write(tmp_path / "a.trec", "<DOC>\n<DOCNO>x</DOCNO>\none\n</DOC>\n")
    b = write(tmp_path / "b.trec", "<DOC><DOCNO>y</DOCNO>two</DOC>\n<DOC>\n<DOCNO> x </DOCNO>\n"
              "</DOC>\n")
    with pytest.raises(InputFormatError, match=r"b\.trec:2: duplicate document id 'x' "
                       r"\(first seen at .*a\.trec:1\)"):
        list(iter_trec_docs([a, b]))


def test_invalid_utf8_names_file_and_line(tmp_path):
    p = write(tmp_path / "c.tsv", b"1\tok\n2\tbad \xff byte\n3\tok\n")
    with pytest.raises(InputFormatError, match=r"c\.tsv:2: invalid UTF-8"):
        list(iter_collection(p))
    with pytest.raises(InputFormatError, match=r"c\.tsv:2: invalid UTF-8"):
        with open_text(p) as fh:
            list(fh)
    report = BadLineReport()
    assert [d for d, _ in iter_collection(p, skip_bad_lines=True, report=report)] == ["1", "3"]
    assert report.total_skipped == 1


def test_gzip_transparent_and_truncated(tmp_path):
    data = gzip.compress(b'{"_id": "a", "title": "T", "text": "x"}\n')
    assert list(iter_beir_corpus(write(tmp_path / "c.jsonl.gz", data))) == [("a", "T x")]
    assert list(iter_beir_corpus(write(tmp_path / "plain.jsonl", data))) == [("a", "T x")]
    with pytest.raises(InputFormatError, match=r"cut\.jsonl\.gz"):
        list(iter_beir_corpus(write(tmp_path / "cut.jsonl.gz", data[:-10])))


def test_unicode_line_separators_stay_inside_text(tmp_path):
    p = write(tmp_path / "c.tsv", "1\ta\u2028b\x1cc\u0085d\r\n")
    assert list(iter_collection(p)) == [("1", "a\u2028b\x1cc\u0085d")]


def test_beir_missing_and_wrong_fields(tmp_path):
    lines = [{"_id": "1", "title": "", "text": ""}, {"title": "t", "text": "x"},
             {"_id": "3", "title": "t"}, {"_id": "4", "text": None}, [1, 2],
             {"_id": 5, "text": "y"}]
    p = write(tmp_path / "corpus.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n{bad\n")
    with pytest.raises(InputFormatError, match=r"corpus\.jsonl:2: missing field '_id'"):
        list(iter_beir_corpus(p))
    report = BadLineReport()
    docs = list(iter_beir_corpus(p, skip_bad_lines=True, report=report))
    assert docs == [("1", " "), ("5", " y")]  # title optional; int ids become str
    assert report.total_skipped == 5 and report.total_empty == 1
    msgs = " | ".join(report.examples[str(p)])
    assert ":3: missing field 'text'" in msgs and ":4: field 'text' is NoneType" in msgs
    assert ":5: JSON list" in msgs


def test_beir_queries_and_qrels(tmp_path):
    q = write(tmp_path / "queries.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n')
    with pytest.raises(InputFormatError, match=r"queries\.jsonl:2: duplicate query id '1' "
                       r"\(first at line 1\)"):
        read_beir_queries(q)
    r = write(tmp_path / "test.tsv", "query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\tx\n")
    with pytest.raises(InputFormatError, match=r"test\.tsv:3: score 'x' is not an integer"):
        read_beir_qrels(r)
    no_header = write(tmp_path / "h.tsv", "1\td1\t2\n2\td1\t0\n")
    assert read_beir_qrels(no_header) == {"1": {"d1": 2}, "2": {"d1": 0}}


def test_trec_qrels_errors(tmp_path):
    p = write(tmp_path / "qrels", "1 0 d1 1\n1 0 d2\n1 0 d3 high\n1 0 d1 2\n")
    with pytest.raises(InputFormatError, match=r"qrels:2: 3 columns; expected 4"):
        read_qrels(p)
    report = BadLineReport()
    assert read_qrels(p, skip_bad_lines=True, report=report) == {"1": {"d1": 1}}
    assert report.total_skipped == 3
    assert "qrels:4: query '1' judges document 'd1' twice" in report.examples[str(p)][2]


def test_queries_tsv_duplicate(tmp_path):
    p = write(tmp_path / "q.tsv", "1\ta\n2\tb\n1\tc\n")
    with pytest.raises(InputFormatError, match=r"q\.tsv:3: duplicate query id '1'"):
        read_queries_tsv(p)


def test_trec_docs_structure(tmp_path):
    p = write(tmp_path / "d.trec", "<DOC>\n<DOCNO> A1 </DOCNO>\n<HEAD>Title</HEAD>\n<TEXT>\n"
              "body   text\n</TEXT>\n</DOC>\n<DOC>\n<DOCNO>B</DOCNO>\n</DOC>\n")
    report = BadLineReport()
    assert list(iter_trec_docs(p, report=report)) == [("A1", "Title body text"), ("B", "")]
    assert report.total_empty == 1
    for bad, msg in [("<DOC>\nno docno\n</DOC>\n", r"x\.trec:1: document without <DOCNO>"),
                     ("<DOC><DOCNO>1</DOCNO>\nopen\n", r"x\.trec:1: <DOC> not closed"),
                     ("stray\n<DOC><DOCNO>1</DOCNO></DOC>\n", r"x\.trec:1: text outside"),
                     ("<DOC><DOCNO>1</DOCNO>\n<DOC><DOCNO>2</DOCNO></DOC>\n",
                      r"x\.trec:1: <DOC> without </DOC>")]:
        with pytest.raises(InputFormatError, match=msg):
            list(iter_trec_docs(write(tmp_path / "x.trec", bad)))
    mixed = write(tmp_path / "m.trec", "<DOC><DOCNO>1</DOCNO>x</DOC>\nstray\n<DOC>\n"
                  "<DOCNO>2</DOCNO>y\n</DOC>\n")
    assert list(iter_trec_docs(mixed, skip_bad_lines=True)) == [("1", "x"), ("2", "y")]


def test_trec_topics_classic_format(tmp_path):
    p = write(tmp_path / "topics.301", "<top>\n<num> Number: 301\n<title> International "
              "Organized Crime\n\n<desc> Description:\nIdentify  organizations\n\n<narr> "
              "Narrative:\nA relevant document\n</top>\n<top>\n<num>302</num><title>Poliomyelitis"
              "</title>\n</top>\n")
    assert read_trec_topics(p) == {"301": "International Organized Crime",
                                   "302": "Poliomyelitis"}
    assert read_trec_topics(p, "desc", skip_bad_lines=True) == {"301": "Identify organizations"}
    bad = write(tmp_path / "bad", "<top>\n<title> no number\n</top>\n")
    with pytest.raises(InputFormatError, match=r"bad:1: topic without <num>"):
        read_trec_topics(bad)


def test_run_errors(tmp_path):
    p = write(tmp_path / "run", "1 Q0 a 1 2.0 t\n1 Q0 b 2 x t\n1 Q0 a 3 1.0 t\n1 Q0 c 4\n")
    with pytest.raises(InputFormatError, match=r"run:2: score 'x' is not a number"):
        read_run(p)
    report = BadLineReport()
    assert read_run(p, skip_bad_lines=True, report=report) == {"1": {"a": 2.0}}
    assert report.total_skipped == 3


def test_input_format_error_is_value_error(tmp_path):
    p = write(tmp_path / "c.tsv", "oops\n")
    with pytest.raises(ValueError):
        list(iter_collection(p))


def test_beir_lone_surrogate_escape_is_a_bad_line(tmp_path):
    """JSON can spell a lone UTF-16 surrogate (``\\ud800``) that no UTF-8 consumer can take;
    it is a malformed line like invalid UTF-8, while an escaped pair is one valid character."""
    p = write(tmp_path / "corpus.jsonl", '{"_id": "a", "text": "ok \\ud83d\\ude00"}\n'
              '{"_id": "b", "title": "\\uD800x", "text": "t"}\n{"_id": "c", "text": "fine"}\n')
    with pytest.raises(InputFormatError, match=r"corpus\.jsonl:2: field 'title' has a lone surrogate "
                       r"U\+D800 at character 0: text must be valid Unicode"):
        list(iter_beir_corpus(p))
    report = BadLineReport()
    assert list(iter_beir_corpus(p, skip_bad_lines=True, report=report)) == [("a", " ok \U0001f600"),
                                                                             ("c", " fine")]
    assert report.total_skipped == 1
    q = write(tmp_path / "queries.jsonl", '{"_id": "1", "text": "\\udfff"}\n')
    with pytest.raises(InputFormatError, match=r"queries\.jsonl:1: field 'text' has a lone surrogate U\+DFFF"):
        read_beir_queries(q)
