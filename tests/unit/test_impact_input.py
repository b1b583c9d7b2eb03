"""Impact index input: JsonVectorCollection files (plain, gzipped, directories), errors that
name file:line and the term, the quantizers (PISA's linear formula, pre-quantized integers)
and weighted-query validation."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from winnow.index import ImpactIndex
from winnow.index.impact_input import (linear_scale, parse_quantize, quantize_linear, read_json_vectors)


def write_lines(path, rows, gz=False):
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


DOCS = [{"id": "d1", "contents": "x", "vector": {"cat": 1.5, "dog": 0.25}},
        {"id": "d2", "contents": "", "vector": {"dog": 3.0, "zero": 0.0}},
        {"id": "d3", "vector": {}}]


def test_file_gz_and_directory_give_the_same_index(tmp_path):
    write_lines(tmp_path / "a.jsonl", DOCS[:2])
    (tmp_path / "dir").mkdir()
    write_lines(tmp_path / "dir" / "part0.jsonl.gz", DOCS[:1], gz=True)
    write_lines(tmp_path / "dir" / "part1.jsonl", DOCS[1:2])
    (tmp_path / "dir" / "notes.txt").write_text("ignored")
    one = ImpactIndex.build(tmp_path / "a.jsonl", progress=False)
    two = ImpactIndex.build(str(tmp_path / "dir"), progress=False)
    pairs = ImpactIndex.build([(d["id"], d["vector"]) for d in DOCS[:2]], progress=False)
    for other in (two, pairs):
        for name in ("postings", "block_max_x", "df", "docno_bytes"):
            assert np.array_equal(one.arrays[name], other.arrays[name]), name
    assert one.n_terms == 2  # the zero weight is dropped


@pytest.mark.parametrize("line,message", [
    ("{not json", "not a JSON object"),
    ('{"id": "x"}', "needs fields 'id' and 'vector'"),
    ('["x"]', "needs fields"),
    ('{"id": "", "vector": {}}', "'id' is ''"),
    ('{"id": "x", "vector": [1, 2]}', "expected an object"),
    ('{"id": "x", "vector": {"a": -0.5}}', "term 'a' has weight -0.5"),
    ('{"id": "x", "vector": {"a": NaN}}', "term 'a' has weight nan"),
    ('{"id": "x", "vector": {"a": Infinity}}', "finite number >= 0"),
    ('{"id": "x", "vector": {"a": "1"}}', "expected a number"),
    ('{"id": "x", "vector": {"a": true}}', "expected a number"),
    ('{"id": "x", "vector": {"a": 1e300}}', "beyond float32"),
    ('{"id": "x", "vector": {"": 1.0}}', "not a non-empty valid string"),
])
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = write_lines(tmp_path / "c.jsonl", [DOCS[0], "", line])
    with pytest.raises(ValueError, match=message) as err:
        ImpactIndex.build(path, progress=False)
    assert f"{path}:3" in str(err.value)


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        ImpactIndex.build(tmp_path / "nope.jsonl", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .jsonl"):
        ImpactIndex.build(tmp_path / "empty", progress=False)


def test_duplicate_docno_and_bad_pairs():
    with pytest.raises(ValueError, match="duplicate document id 'a'"):
        ImpactIndex.build([("a", {"x": 1.0}), ("a", {"y": 1.0})], progress=False)
    with pytest.raises(ValueError, match="pairs"):
        ImpactIndex.build([("a", {"x": 1.0}, 3)], progress=False)
    with pytest.raises(ValueError, match="document 'b'.*weight -1"):
        ImpactIndex.build([("a", {"x": 1.0}), ("b", {"y": -1})], progress=False)


def test_linear_quantizer_is_pisas():
    scale = linear_scale(4.0, 8)
    assert scale == np.float32(254 / 4.0)
    q = quantize_linear(np.array([4.0, 2.0, 1e-9, 4.0 * 0.5 / 254, 4.0 * 1.5 / 254], np.float32), scale)
    # max -> 255, half -> 128, tiny -> 1, ties round half away from zero (std::round)
    assert q.tolist() == [255, 128, 1, 2, 3]
    index = ImpactIndex.build([("a", {"x": 4.0, "y": 2.0}), ("b", {"x": 1e-9})], quantize=8, progress=False)
    assert index.params["max_weight"] == 4.0 and index.stats()["max_impact"] == 255


def test_quantize_none_takes_integers_only():
    index = ImpactIndex.build([("a", {"x": 3, "y": 70000.0})], quantize="none", progress=False)
    assert index.stats()["max_impact"] == 70000
    with pytest.raises(ValueError, match="term 'y' has weight 0.5.*integer"):
        ImpactIndex.build([("a", {"x": 3, "y": 0.5})], quantize="none", progress=False)
    with pytest.raises(ValueError, match="integer weights in 1..16777216"):
        ImpactIndex.build([("a", {"x": 2.0 ** 25})], quantize=None, progress=False)


@pytest.mark.parametrize("bad", [0, 1, 25, "8.5", "float", True, 2.5])
def test_bad_quantize(bad):
    with pytest.raises(ValueError, match="quantize must be"):
        parse_quantize(bad)
    assert parse_quantize("8") == 8 and parse_quantize("None") is None and parse_quantize(16) == 16


def test_weighted_query_validation():
    index = ImpactIndex.build([("a", {"x": 1.0}), ("b", {"y": 2.0})], progress=False)
    for bad, message in (({"q": {"x": -1.0}}, "query 'q'.*weight -1.0"), ({"q": {"x": float("nan")}}, "finite"),
                         ({"q": {"x": "heavy"}}, "expected a number")):
        with pytest.raises(ValueError, match=message):
            index.search(bad, k=2)
    res = index.search([{"x": 1.0, "unknown": 5.0}, {"zzz": 1.0}, {}], k=2)
    assert res.qids == ["0", "1", "2"]
    assert res.ids[0].tolist() == [0, -1] and res.ids[1].tolist() == [-1, -1]
    with pytest.raises(ValueError, match="k must be"):
        index.search({"q": {"x": 1.0}}, k=0)
    with pytest.raises(ValueError, match="unknown algorithm"):
        index.search({"q": {"x": 1.0}}, k=1, algorithm="wand")


def test_query_file(tmp_path):
    index = ImpactIndex.build([("a", {"x": 1.0}), ("b", {"y": 2.0, "x": 0.5})], progress=False)
    path = write_lines(tmp_path / "q.jsonl", [{"id": "q1", "vector": {"x": 2}}, {"id": 7, "vector": {"y": 1.0}}])
    res = index.search_file(path, k=2)
    assert res.qids == ["q1", "7"]
    assert res.docnos.lookup(res.ids[1][:1]) == ["b"]
    bad = write_lines(tmp_path / "bad.jsonl", [{"id": "q1", "vector": {"x": -2}}])
    with pytest.raises(ValueError, match=f"{bad}:1: term 'x'"):
        index.search_file(bad, k=2)


def test_empty_collection_and_read_json_vectors(tmp_path):
    path = write_lines(tmp_path / "e.jsonl", [DOCS[2]])
    index = ImpactIndex.build(path, progress=False)
    assert index.n_docs == 1 and index.n_terms == 0
    assert index.search({"q": {"x": 1.0}}, k=3).ids.tolist() == [[-1]]
    rows = list(read_json_vectors(write_lines(tmp_path / "f.jsonl", DOCS[:1])))
    assert rows[0][0] == "d1" and rows[0][1] == ["cat", "dog"] and rows[0][2].dtype == np.float32
