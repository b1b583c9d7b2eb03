"""Docnos ``str(start + i)`` (MS MARCO's numbering) are saved as one integer, docno_range.npy,
instead of a docno table (index/bm25_layout.py, winnow.docnos.RangeDocnos)."""
from __future__ import annotations

import numpy as np
import pytest

from winnow.docnos import DocnoTable, RangeDocnos, docno_range_start
from winnow.errors import IndexFormatError
from winnow.index import BM25Index, ImpactIndex
from winnow.index import format as fmt


def table(docnos):
    t = DocnoTable.from_list(docnos)
    return t.data, t.offsets


@pytest.mark.parametrize("docnos,start", [
    ([str(i) for i in range(25)], 0),
    ([str(i) for i in range(7, 130)], 7),  # across 1 -> 2 -> 3 digits
    ([str(i) for i in range(10**12 - 3, 10**12 + 3)], 10**12 - 3),
    (["42"], 42),
])
def test_ranges_are_recognised(docnos, start):
    assert docno_range_start(*table(docnos)) == start


@pytest.mark.parametrize("docnos", [
    ["00", "01"], ["01", "2"], ["0", "2"], ["1", "0"], ["a", "b"], ["-1", "0"], ["1", "2", "3 "],
    ["1", "23"], [" 1", "2"], ["\u0661", "\u0662"], ["1" * 19, "1" * 18 + "2"], [],
])
def test_other_docnos_are_not_a_range(docnos):
    assert docno_range_start(*table(docnos)) is None


def test_same_bytes_other_boundaries_are_not_a_range():
    data, _ = table(["12", "13"])
    assert docno_range_start(data, np.array([0, 1, 4], np.uint64)) is None  # "1", "213"


def test_range_docnos_behave_like_the_table():
    r, t = RangeDocnos(98, 5), DocnoTable.from_list(["98", "99", "100", "101", "102"])
    assert len(r) == 5 and r.to_list() == t.to_list() and r.lookup([4, 0]) == ["102", "98"] and r[-1] == "102"
    assert r == t and t == r and r == RangeDocnos(98, 5) and r != RangeDocnos(97, 5)
    assert r.index_of("100") == 2
    for bad in ("0100", "97", "103", "+99", "99.0", "x"):
        with pytest.raises(KeyError):
            r.index_of(bad)
    with pytest.raises(IndexError):
        r[5]
    assert np.array_equal(r.data, t.data) and np.array_equal(r.offsets, t.offsets)


CORPUS = [(str(i), f"alpha beta {'gamma ' * (i % 5)} delta{i % 17}") for i in range(300)]
QUERIES = {"a": "gamma delta3", "b": "beta", "c": "delta16 alpha"}


@pytest.fixture(scope="module")
def built():
    return BM25Index.build(CORPUS, progress=False)


def test_range_index_saves_no_docno_table(built, tmp_path):
    assert "docno_range" in built.arrays and "docno_bytes" not in built.arrays
    assert isinstance(built.docnos, RangeDocnos)
    built.save(tmp_path / "idx")
    files = fmt.inspect(tmp_path / "idx")["files"]
    assert "docno_range.npy" in files and "docno_bytes.bin" not in files and "docno_offsets.npy" not in files
    # the same index with the docnos as a table: identical results, ties by docno included
    arrays = {k: v for k, v in built.arrays.items() if k != "docno_range"}
    arrays["docno_bytes"], arrays["docno_offsets"] = table([d for d, _ in CORPUS])
    as_table = BM25Index(arrays, built._stats, built.params)
    for mmap in (False, True):
        loaded = BM25Index.load(tmp_path / "idx", mmap=mmap)
        assert isinstance(loaded.docnos, RangeDocnos)
        for ties in ("docno", "id"):
            got, want = loaded.search(QUERIES, k=300, ties=ties), as_table.search(QUERIES, k=300, ties=ties)
            assert np.array_equal(got.ids, want.ids) and np.array_equal(got.scores, want.scores)
            assert list(got.iter_rows()) == list(want.iter_rows())
        assert loaded.doc_id("123") == 123
        with pytest.raises(KeyError):
            loaded.doc_id("0123")


def test_impact_index_with_range_docnos(tmp_path):
    docs = [(str(5 + i), {f"t{j}": float(1 + (i + j) % 5) for j in range(i % 6 + 1)}) for i in range(200)]
    index = ImpactIndex.build(docs, progress=False)
    assert "docno_range" in index.arrays
    index.save(tmp_path / "idx")
    q = {"x": {"t1": 1.0, "t4": 2.0}}
    ref = index.search(q, k=10)
    got = ImpactIndex.load(tmp_path / "idx", mmap=True).search(q, k=10)
    assert np.array_equal(got.ids, ref.ids) and got.docnos.lookup(got.ids[0]) == ref.docnos.lookup(ref.ids[0])


def _rewrite(path, name, arr):
    np.save(path / name, arr)
    meta = fmt.inspect(path)
    meta["files"][name] = (path / name).stat().st_size
    meta["checksums"].pop(name, None)
    fmt.write_meta(path, meta)


@pytest.mark.parametrize("arr,match", [(np.array([1, 2], np.uint64), "expected 1"),
                                       (np.array([2**64 - 10], np.uint64), "overflows"),
                                       (np.array([1], np.int64), "expected 1-D uint64")])
def test_damaged_docno_range_raises(built, tmp_path, arr, match):
    built.save(tmp_path / "idx")
    _rewrite(tmp_path / "idx", "docno_range.npy", arr)
    for mmap in (False, True):
        with pytest.raises(IndexFormatError, match=match):
            BM25Index.load(tmp_path / "idx", mmap=mmap, verify=False)


def test_changed_docno_range_is_caught_by_its_checksum_on_mapped_loads(built, tmp_path):
    built.save(tmp_path / "idx")
    p = tmp_path / "idx" / "docno_range.npy"
    np.save(p, np.array([7], np.uint64))  # same size, consistent, another numbering
    with pytest.raises(IndexFormatError, match="docno_range.npy: checksum mismatch"):
        BM25Index.load(tmp_path / "idx", mmap=True)
