"""Dataset detection: layouts of ../shared/data, the bundled Cranfield, tiny generated dirs."""
from __future__ import annotations

import pytest

from winnow import datasets
from winnow.errors import InputFormatError


def _pairs(qrels):
    return sum(len(v) for v in qrels.values())


@pytest.mark.parametrize("name, layout, n_docs, n_queries, splits", [
    ("scifact", "beir", 5183, 1109, {"test": (300, 339), "train": (809, 919)}),
    ("cranfield", "beir", 1400, 225, {"test": (225, 1837)}),
    ("vaswani", "trec", 11429, 93, {"test": (93, 2083)}),
    ("msmarco-dl19-pool", "msmarco", 4103, 43, {"test": (43, 4102)}),
])
def test_real_layouts(shared_data, name, layout, n_docs, n_queries, splits):
    ds = datasets.load(shared_data / name)
    assert (ds.name, ds.layout, ds.splits) == (name, layout, sorted(splits))
    assert sum(1 for _ in ds.corpus()) == n_docs
    assert sum(1 for _ in ds.corpus()) == n_docs  # corpus() gives a fresh iterator
    assert len(ds.queries()) == n_queries
    for split, (nq, npairs) in splits.items():
        queries, qrels = ds.queries(split), ds.qrels(split)
        assert (len(queries), _pairs(qrels)) == (nq, npairs)
        assert set(queries) <= set(qrels)
        assert ds.qrels_path(split).is_file() and ds.queries_path(split).is_file()


def test_scifact_split_queries_keep_file_order(shared_data):
    ds = datasets.load(shared_data / "scifact")
    everything = list(ds.queries())
    test = list(ds.queries("test"))
    assert test == [q for q in everything if q in set(test)]
    assert _pairs(ds.qrels()) == 339 + 919  # all splits merged


def test_msmarco_topics_only_dir(shared_data):
    ds = datasets.load(shared_data / "msmarco")
    assert ds.layout == "msmarco" and ds.corpus_paths == []
    assert ds.splits == ["dl19-passage", "dl20-passage", "msmarco-passage.dev-subset"]
    assert ds.queries_path("dl20-passage").name == "topics.dl20.txt"
    assert len(ds.queries("dl20-passage")) == 54  # 200 topics, 54 judged
    assert len(ds.queries("msmarco-passage.dev-subset")) == 6980
    assert _pairs(ds.qrels("dl19-passage")) == 9260
    with pytest.raises(InputFormatError, match="no corpus"):
        ds.corpus()
    with pytest.raises(InputFormatError, match="give a split"):
        ds.qrels_path()


def test_single_corpus_files(shared_data):
    ds = datasets.load(shared_data / "vaswani" / "doc-text.trec")
    assert (ds.layout, ds.name, ds.splits) == ("trec", "doc-text", [])
    assert next(iter(ds.corpus()))[0] == "1"
    assert datasets.load(shared_data / "scifact" / "corpus.jsonl").layout == "beir"
    ds = datasets.load(shared_data / "msmarco-dl19-pool" / "collection.tsv")
    assert ds.layout == "msmarco" and sum(1 for _ in ds.corpus()) == 4103
    with pytest.raises(InputFormatError, match="no query file"):
        ds.queries()


def test_bundled_cranfield():
    ds = datasets.bundled("cranfield")
    assert (ds.layout, ds.splits) == ("beir", ["test"])
    assert sum(1 for _ in ds.corpus()) == 1400
    assert len(ds.queries("test")) == 225 and _pairs(ds.qrels()) == 1837
    with pytest.raises(ValueError, match="available"):
        datasets.bundled("nope")


def test_unrecognised_and_missing(tmp_path):
    (tmp_path / "notes.md").write_text("hello\n")
    with pytest.raises(InputFormatError, match=str(tmp_path) + ".*not a recognised dataset"):
        datasets.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datasets.load(tmp_path / "nowhere")
    with pytest.raises(InputFormatError, match="not a recognised"):
        datasets.load(tmp_path / "notes.md")


def test_generated_msmarco_dir_with_splits(tmp_path):
    (tmp_path / "collection.tsv").write_text("0\tzero\n1\tone\n2\ttwo\n")
    (tmp_path / "queries.train.tsv").write_text("10\tq ten\n11\tq eleven\n")
    (tmp_path / "queries.dev.tsv").write_text("20\tq twenty\n")
    (tmp_path / "qrels.train.tsv").write_text("10\t0\t1\t1\n11\t0\t2\t1\n")
    (tmp_path / "qrels.dev.tsv").write_text("20\t0\t0\t1\n")
    ds = datasets.load(tmp_path)
    assert (ds.layout, ds.splits) == ("msmarco", ["dev", "train"])
    assert ds.queries("dev") == {"20": "q twenty"}
    assert ds.queries_path("train").name == "queries.train.tsv"
    assert list(ds.queries()) == ["20", "10", "11"]  # files in name order
    with pytest.raises(InputFormatError, match="several query files"):
        ds.queries_path()


def test_generated_beir_gz_dir(tmp_path):
    import gzip
    with gzip.open(tmp_path / "corpus.jsonl.gz", "wt") as fh:
        fh.write('{"_id": "d", "title": "T", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q", "text": "x?"}\n')
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq\td\t1\n")
    ds = datasets.load(tmp_path)
    assert list(ds.corpus()) == [("d", "T x")]
    assert ds.queries("dev") == {"q": "x?"} and ds.qrels() == {"q": {"d": 1}}
    with pytest.raises(InputFormatError, match="no split 'test'"):
        ds.qrels("test")
