"""``winnow._core`` boundaries: top-k, worker exceptions, section files, error mapping."""
from __future__ import annotations

import numpy as np
import pytest

import winnow
from winnow import _core
from winnow.errors import IndexFormatError

HEADER = 64


# -- top-k ------------------------------------------------------------------------------------
def test_topk_basic_and_ties_by_lower_id():
    s = np.array([1.0, 3.0, 2.0, 3.0, -5.0], np.float32)
    scores, ids = _core.topk(s, 3)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert ids.tolist() == [1, 3, 2] and scores.tolist() == [3.0, 3.0, 2.0]


def test_topk_matches_numpy_reference():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 20, 500).astype(np.float32)  # many ties
    scores, ids = _core.topk(s, 50)
    ref = np.lexsort((np.arange(len(s)), -s))[:50]
    assert ids.tolist() == ref.tolist() and np.array_equal(scores, s[ref])


def test_topk_k_beyond_n_pads():
    scores, ids = _core.topk(np.array([0.5, 2.0], np.float32), 5)
    assert ids.tolist() == [1, 0, -1, -1, -1]
    assert scores[:2].tolist() == [2.0, 0.5] and np.isneginf(scores[2:]).all()
    scores, ids = _core.topk(np.zeros(0, np.float32), 2)
    assert ids.tolist() == [-1, -1] and np.isneginf(scores).all()


def test_topk_k_zero():
    scores, ids = _core.topk(np.ones(4, np.float32), 0)
    assert scores.shape == (0,) and ids.shape == (0,)
    assert scores.dtype == np.float32 and ids.dtype == np.int64


def test_topk_neg_inf_scores_are_kept():
    scores, ids = _core.topk(np.array([-np.inf, 1.0], np.float32), 3)
    assert ids.tolist() == [1, 0, -1]


def test_topk_refuses_silent_copies():
    # In<T> parameters: float64, non-contiguous and non-array arguments are refused with a
    # ValueError saying what came, never copied
    with pytest.raises(ValueError, match="must be a C-contiguous float32 numpy array, got a C-contiguous float64"):
        _core.topk(np.array([1.0, 2.0]), 1)
    strided = np.arange(10, dtype=np.float32)[::2]
    with pytest.raises(ValueError, match="got a non-contiguous float32 array"):
        _core.topk(strided, 2)
    with pytest.raises(ValueError, match="got list"):
        _core.topk([1.0, 2.0], 1)
    # the documented way: convert on purpose
    scores, ids = _core.topk(np.ascontiguousarray(strided), 2)
    assert ids.tolist() == [4, 3]


def test_topk_transposed_and_readonly():
    m = np.arange(6, dtype=np.float32).reshape(2, 3)
    with pytest.raises(ValueError, match="non-contiguous"):
        _core.topk(m.T[0], 1)  # a column view: strided
    ro = np.array([1.0, 4.0, 2.0], np.float32)
    ro.flags.writeable = False
    assert _core.topk(ro, 1)[1].tolist() == [1]


def test_topk_argument_errors():
    with pytest.raises(ValueError, match="scores must have 1 dimension"):
        _core.topk(np.zeros((2, 2), np.float32), 1)
    with pytest.raises(ValueError, match="k must be >= 0, got -1"):
        _core.topk(np.zeros(3, np.float32), -1)


# -- worker exceptions -------------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("fail_at", [0, 37, 999])
def test_worker_exception_rethrown_on_caller(threads, fail_at):
    with pytest.raises(ValueError, match=f"worker failed at item {fail_at}"):
        _core._parallel_fail_at(1000, threads, fail_at)


@pytest.mark.parametrize("threads", [1, 2])
def test_parallel_loop_without_failure(threads):
    _core._parallel_fail_at(1000, threads, -1)
    _core._parallel_fail_at(0, threads, 0)  # empty loop: nothing runs, nothing fails


# -- section files -------------------------------------------------------------------------------
def payload_bytes(n=1000, seed=0):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


def write(tmp_path, payload=None, tag="POSTINGS", major=1, minor=2, name="s.bin"):
    path = tmp_path / name
    data = payload_bytes() if payload is None else payload
    _core.write_section(str(path), tag, data, major, minor, 11, 22)
    return path, data


def test_section_round_trip(tmp_path):
    path, data = write(tmp_path)
    assert path.stat().st_size == HEADER + len(data)
    header, arr = _core.read_section(str(path), "POSTINGS", 1)
    assert header == {"tag": "POSTINGS", "major": 1, "minor": 2, "count0": 11, "count1": 22,
                      "payload_bytes": len(data)}
    assert arr.dtype == np.uint8 and np.array_equal(arr, data)
    assert not arr.flags.writeable


@pytest.mark.parametrize("verify", [True, False])
def test_section_mmap_equal_and_read_only(tmp_path, verify):
    path, data = write(tmp_path)
    header, arr = _core.read_section(str(path), "POSTINGS", 1, mmap=True, verify=verify)
    assert np.array_equal(arr, data) and header["payload_bytes"] == len(data)
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = 1
    del header
    assert int(arr.sum()) == int(data.sum())  # the mapping outlives the call


def test_section_empty_payload(tmp_path):
    path, _ = write(tmp_path, payload=np.zeros(0, np.uint8))
    for mmap in (False, True):
        _, arr = _core.read_section(str(path), "POSTINGS", 1, mmap=mmap)
        assert arr.shape == (0,)


def test_section_write_refuses_bad_payload(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        _core.write_section(str(tmp_path / "x.bin"), "T", np.zeros(4, np.int32))
    with pytest.raises(ValueError, match="payload must have 1 dimension"):
        _core.write_section(str(tmp_path / "x.bin"), "T", np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="longer than 8"):
        _core.write_section(str(tmp_path / "x.bin"), "WAYTOOLONG", np.zeros(4, np.uint8))
    with pytest.raises(IndexFormatError, match="cannot create"):
        _core.write_section(str(tmp_path / "no" / "dir.bin"), "T", np.zeros(4, np.uint8))


def corrupt(path, offset, xor=0xFF):
    raw = bytearray(path.read_bytes())
    raw[offset] ^= xor
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("damage,match", [
    ("truncate", "truncated or padded"),
    ("truncate_header", "truncated file"),
    ("magic", "bad magic"),
    ("payload", "payload checksum mismatch"),
    ("header", "header checksum mismatch"),
    ("empty", "truncated file"),
])
def test_section_damage_raises_index_format_error(tmp_path, damage, match, mmap):
    path, data = write(tmp_path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-1])
    elif damage == "truncate_header":
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "magic":
        corrupt(path, 0)
    elif damage == "payload":
        corrupt(path, HEADER + 500, 0x01)
    elif damage == "header":
        corrupt(path, 24, 0x01)  # count0
    elif damage == "empty":
        path.write_bytes(b"")
    with pytest.raises(IndexFormatError, match=match) as info:
        _core.read_section(str(path), "POSTINGS", 1, mmap=mmap)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, winnow.WinnowError)


def test_section_newer_major_version(tmp_path):
    path, _ = write(tmp_path, major=3, minor=1)
    with pytest.raises(IndexFormatError, match=r"version 3\.1 is newer.*major 2") as info:
        _core.read_section(str(path), "POSTINGS", 2)
    assert str(path) in str(info.value)
    assert _core.read_section(str(path), "POSTINGS", 3)[0]["major"] == 3  # same major reads


def test_section_wrong_tag(tmp_path):
    path, _ = write(tmp_path, tag="TERMS")
    with pytest.raises(IndexFormatError, match="section tag is 'TERMS', expected 'POSTINGS'") as info:
        _core.read_section(str(path), "POSTINGS", 1)
    assert str(path) in str(info.value)


def test_section_missing_file(tmp_path):
    path = tmp_path / "absent.bin"
    with pytest.raises(IndexFormatError, match="cannot open") as info:
        _core.read_section(str(path), "POSTINGS", 1)
    assert str(path) in str(info.value)


def test_checksum64():
    data = payload_bytes(333)
    c = _core.checksum64(data)
    assert isinstance(c, int) and c == _core.checksum64(data.copy())
    flipped = data.copy()
    flipped[100] ^= 1
    assert _core.checksum64(flipped) != c
    assert _core.checksum64(data[:-1].copy()) != c
    assert _core.checksum64(np.zeros(0, np.uint8)) != _core.checksum64(np.zeros(1, np.uint8))


# -- build info ----------------------------------------------------------------------------------
def test_build_info():
    info = _core.BUILD_INFO
    for key in ("compiler", "flags", "simd"):
        assert key in info and isinstance(info[key], str) and info[key]
    assert info["cxx_standard"] >= 201703
