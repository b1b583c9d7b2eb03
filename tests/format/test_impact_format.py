"""Impact index directory format: save/load/mmap identical, dispatch through
winnow.index.load, and damaged files raising IndexFormatError naming the path."""
from __future__ import annotations

import json

import numpy as np
import pytest

import winnow.index
from winnow.errors import IndexFormatError
from winnow.index import ImpactIndex

DOCS = [(f"d{i}", {f"t{j}": float((i * 7 + j * 3) % 11 + 0.5) for j in range(i % 13)}) for i in range(700)]
QUERIES = {"q1": {"t1": 1.0, "t2": 0.5}, "q2": {"t0": 2.0, "t7": 1.0, "t12": 0.25}, "q3": {"zzz": 1.0}}


@pytest.fixture(scope="module")
def built():
    return ImpactIndex.build(DOCS, quantize=8, progress=False)


@pytest.fixture
def saved(built, tmp_path):
    path = tmp_path / "idx"
    built.save(path)
    return path


def same(a, b):
    assert a.qids == b.qids
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.scores, b.scores)
    assert a.docnos.to_list() == b.docnos.to_list()


def test_save_load_mmap_identical(built, saved):
    ref = built.search(QUERIES, k=10)
    assert ref.counts()[:2].min() == 10
    for mmap in (False, True):
        for loaded in (ImpactIndex.load(saved, mmap=mmap), winnow.index.load(saved, mmap=mmap)):
            assert isinstance(loaded, ImpactIndex) and loaded.params == built.params
            for algorithm in ("maxscore", "windowed", "exhaustive"):
                same(loaded.search(QUERIES, k=10, algorithm=algorithm), ref)
    meta = winnow.index.inspect(saved)
    assert meta["format"] == "winnow.impact" and meta["params"]["quantize"] == 8


def test_bm25_loader_refuses_an_impact_index(saved):
    with pytest.raises(IndexFormatError, match="winnow.impact, not winnow.bm25"):
        winnow.index.BM25Index.load(saved)


def test_damaged_files_raise_naming_the_path(saved):
    raw = bytearray((saved / "postings.bin").read_bytes())
    raw[0] ^= 0xFF  # the section magic
    (saved / "postings.bin").write_bytes(bytes(raw))
    with pytest.raises(IndexFormatError, match="postings.bin"):
        ImpactIndex.load(saved)


def test_truncated_file(saved):
    data = (saved / "block_max_x.npy").read_bytes()
    (saved / "block_max_x.npy").write_bytes(data[:-4])
    for mmap in (False, True):
        with pytest.raises(IndexFormatError, match="block_max_x"):
            ImpactIndex.load(saved, mmap=mmap)


def test_bounds_that_are_not_integer_impacts(built, tmp_path):
    arrays = dict(built.arrays)
    arrays["block_max_x"] = arrays["block_max_x"] + np.float32(0.5)
    arrays["multi_max_x"] = arrays["multi_max_x"] + np.float32(0.5)  # consistent with the blocks
    bad = ImpactIndex(arrays, built._stats, built.params)
    bad.save(tmp_path / "bad")
    with pytest.raises(IndexFormatError, match="max_x.npy: holds a bound that is not an integer impact"):
        ImpactIndex.load(tmp_path / "bad")


def test_bad_params_in_meta(saved):
    meta = json.loads((saved / "meta.json").read_text())
    meta["params"]["quantize"] = 40
    meta.pop("meta_checksum", None)
    from winnow.index.format import meta_checksum

    meta["meta_checksum"] = meta_checksum(meta)
    (saved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFormatError, match="params.quantize is 40"):
        ImpactIndex.load(saved)
