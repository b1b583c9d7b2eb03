"""Dense index directories: save / load / mmap give identical results for every index type;
damaged files (truncated .npy, flipped byte, newer format_version) raise IndexFormatError
naming the path; ``winnow.index.load`` dispatches on the recorded format."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import KINDS, clustered, make_index  # noqa: E402

import winnow  # noqa: E402
from winnow.index import load  # noqa: E402
from winnow.index.format import write_meta  # noqa: E402


def _kw(index):
    return {"nprobe": 3} if hasattr(index, "nlist") else {}


@pytest.fixture(scope="module")
def data():
    return clustered(600, 32, seed=1, nq=10)


# Flat has no refine stage: it is saved without one only.
@pytest.mark.parametrize("kind, refine", [(k, r) for k in KINDS for r in (False, True)
                                          if not (k == "flat" and r)])
def test_save_load_mmap_identical(data, kind, refine, tmp_path):
    x, q = data
    index = make_index(kind, x, metric="ip" if kind != "ivf_pq" else "l2", refine=refine)
    index.set_docnos([f"doc{i}" for i in range(len(x))])
    before = index.search_vectors(q, 15, **_kw(index))
    index.save(tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "meta.json").read_text())
    assert meta["format"] == index.FORMAT
    for mmap in (False, True):
        again = load(tmp_path / "idx", mmap=mmap)
        assert type(again) is type(index)
        after = again.search_vectors(q, 15, **_kw(index))
        np.testing.assert_array_equal(before[1], after[1])
        np.testing.assert_array_equal(before[0], after[0])
        top = int(before[1][0, 0])
        assert again.docnos[top] == f"doc{top}"
        if mmap:
            assert any(isinstance(a, np.memmap) for a in again._arrays().values())
        # a loaded (even memory-mapped) index still accepts adds and removes
        again.remove(before[1][:, 0])
        assert again.n_docs == len(x) - len(np.unique(before[1][:, 0]))


def _saved(tmp_path, data, kind="pq8"):
    x, _ = data
    make_index(kind, x).save(tmp_path / "idx")
    return tmp_path / "idx"


@pytest.mark.parametrize("mmap", [False, True])
def test_truncated_npy(tmp_path, data, mmap):
    path = _saved(tmp_path, data)
    codes = path / "codes.npy"
    codes.write_bytes(codes.read_bytes()[:-7])
    with pytest.raises(winnow.IndexFormatError, match="codes.npy"):
        load(path, mmap=mmap)


def test_flipped_payload_byte_is_caught_by_checksum(tmp_path, data):
    path = _saved(tmp_path, data)
    codes = path / "codes.npy"
    raw = bytearray(codes.read_bytes())
    raw[-3] ^= 0x40
    codes.write_bytes(bytes(raw))
    with pytest.raises(winnow.IndexFormatError, match="codes.npy"):
        load(path)


@pytest.mark.parametrize("mmap", [False, True])
def test_flipped_magic_byte(tmp_path, data, mmap):
    path = _saved(tmp_path, data, "ivf_fastscan")
    f = path / "centroids.npy"
    raw = bytearray(f.read_bytes())
    raw[1] ^= 0x01  # b"\x93NUMPY" -> not an .npy file
    f.write_bytes(bytes(raw))
    with pytest.raises(winnow.IndexFormatError, match="centroids.npy"):
        load(path, mmap=mmap)


@pytest.mark.parametrize("kind", ["flat", "pq4", "ivf_pq"])
def test_newer_major_version(tmp_path, data, kind):
    path = _saved(tmp_path, data, kind)
    meta_path = path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = [meta["format_version"][0] + 1, 0]
    write_meta(path, meta)  # a consistent meta.json: the version check must catch it
    with pytest.raises(winnow.IndexFormatError, match=r"newer.*upgrade") as err:
        load(path)
    assert str(path) in str(err.value)


def test_wrong_format_and_meta_mismatch(tmp_path, data):
    from winnow.index.flat import FlatIndex

    path = _saved(tmp_path, data, "pq8")
    with pytest.raises(winnow.IndexFormatError, match="not winnow.flat"):
        FlatIndex.load(path)
    meta = json.loads((path / "meta.json").read_text())
    meta["arrays"]["codes"][1][1] += 1  # shape recorded differs from the file
    write_meta(path, meta)
    with pytest.raises(winnow.IndexFormatError, match="codes.npy"):
        load(path, mmap=True)


def test_missing_file(tmp_path, data):
    path = _saved(tmp_path, data, "ivf_pq")
    (path / "payload_rows.npy").unlink()
    with pytest.raises(winnow.IndexFormatError, match="payload_rows.npy"):
        load(path)
