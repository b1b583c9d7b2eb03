"""BM25 index directory format: save/load/mmap, meta.json, dispatch, damage, atomic saves."""
from __future__ import annotations

import json

import numpy as np
import pytest

import winnow
import winnow.index
from winnow.errors import IndexFormatError
from winnow.index import BM25Index
from winnow.index import format as fmt

CORPUS = [
    ("d1", "The quick brown fox jumps over the lazy dog"),
    ("d2", "A lazy dog sleeps all day long"),
    ("d3", "Quick quick foxes and quick rabbits run"),
    ("d4", ""),
    ("d5", "Brown bears eat fish in the river"),
    ("d6", "Fox hunting is banned; the fox is quick"),
] + [(f"x{i}", f"filler text number {i} about dogs and rivers {'fox ' * (i % 4)}") for i in range(60)]
QUERIES = {"q1": "quick fox", "q2": "lazy dog", "q3": "brown river", "q4": "zebra"}


@pytest.fixture(scope="module")
def built():
    return BM25Index.build(CORPUS, progress=False)


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
    assert ref.counts().sum() > 0
    for mmap in (False, True):
        loaded = BM25Index.load(saved, mmap=mmap)
        same(loaded.search(QUERIES, k=10), ref)
        same(loaded.search(QUERIES, k=10, algorithm="exhaustive"), ref)
        assert loaded.stats() == built.stats()
        assert loaded.path == saved
    via_dispatch = winnow.index.load(saved)
    assert isinstance(via_dispatch, BM25Index)
    same(via_dispatch.search(QUERIES, k=10), ref)


def test_mmap_arrays_are_read_only(saved):
    idx = BM25Index.load(saved, mmap=True)
    for name, arr in idx.arrays.items():
        assert not arr.flags.writeable, name


def test_load_with_other_params(built, saved):
    a = BM25Index.load(saved, k1=1.2, b=0.75, scoring="robertson")
    b = built.with_params(k1=1.2, b=0.75, scoring="robertson")
    same(a.search(QUERIES, k=10), b.search(QUERIES, k=10))


def test_meta_json(built, saved):
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["format"] == "winnow.bm25"
    assert meta["format_version"] == [3, 0]
    assert meta["winnow_version"] == winnow.__version__
    assert meta["params"] == {"k1": 0.9, "b": 0.4, "scoring": "lucene", "analyzer": "english"}
    assert meta["stats"]["n_docs"] == len(CORPUS)
    assert meta["n_terms"] == built.n_terms
    # every payload file listed with its byte count, and nothing else in the directory
    on_disk = {p.name: p.stat().st_size for p in saved.iterdir() if p.name != "meta.json"}
    assert meta["files"] == on_disk
    assert {"postings.bin", "term_dict.bin", "docno_bytes.bin", "df.npy"} <= set(on_disk)
    assert winnow.index.inspect(saved) == meta


def test_npy_files_are_plain_and_aligned(saved):
    for p in saved.glob("*.npy"):
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
        assert arr.ndim == 1
        assert arr.offset % 64 == 0, p.name  # memory-mappable at an aligned offset


def test_save_replaces_existing_index(built, saved):
    other = BM25Index.build(CORPUS[:3], progress=False)
    with pytest.raises(ValueError, match="--overwrite"):  # replacing an index needs overwrite
        other.save(saved)
    other.save(saved, overwrite=True)
    assert BM25Index.load(saved).n_docs == 3
    assert [p.name for p in saved.parent.iterdir()] == ["idx"]  # no temp or old dirs left


# -- damage -------------------------------------------------------------------------------------------
def check_error(path, match, blame, mmap=False):
    with pytest.raises(IndexFormatError, match=match) as info:
        winnow.index.load(path, mmap=mmap)
    assert str(blame) in str(info.value)
    assert isinstance(info.value, ValueError)


def truncate(p, n=1):
    p.write_bytes(p.read_bytes()[:-n])


def flip(p, offset, xor=0xFF):
    raw = bytearray(p.read_bytes())
    raw[offset] ^= xor
    p.write_bytes(bytes(raw))


@pytest.mark.parametrize("name", ["df.npy", "docno_offsets.npy", "postings.bin", "term_dict.bin"])
def test_truncated_file(saved, name):
    truncate(saved / name)
    check_error(saved, "truncated", saved / name)


@pytest.mark.parametrize("mmap", [False, True])
def test_flipped_magic_byte_in_postings(saved, mmap):
    flip(saved / "postings.bin", 0)
    with pytest.raises(IndexFormatError, match="bad magic") as info:
        BM25Index.load(saved, mmap=mmap)
    assert str(saved / "postings.bin") in str(info.value)


def test_flipped_payload_byte_in_postings(saved):
    p = saved / "postings.bin"
    flip(p, 64 + p.stat().st_size // 2 - 32, 0x10)
    check_error(saved, "checksum", p)


def test_truncated_npy_with_matching_meta(saved):
    """A .npy cut short whose size meta.json agrees with: np.load's error becomes IndexFormatError."""
    p = saved / "doc_len.npy"
    truncate(p, 8)
    meta = json.loads((saved / "meta.json").read_text())
    meta["files"][p.name] = p.stat().st_size
    fmt.write_meta(saved, meta)  # meta.json consistent with the damage: the .npy checks must catch it
    check_error(saved, "checksum mismatch", p)
    check_error(saved, "unreadable array", p, mmap=True)  # mapped loads skip checksums


def test_wrong_dtype_npy(saved):
    p = saved / "df.npy"
    np.save(p, np.load(p).astype(np.int64))
    meta = json.loads((saved / "meta.json").read_text())
    meta["files"][p.name] = p.stat().st_size
    fmt.write_meta(saved, meta)
    check_error(saved, "checksum mismatch", p)
    check_error(saved, "expected 1-D uint8 or uint16 or uint32", p, mmap=True)


def test_flipped_byte_in_npy_payload(saved):
    p = saved / "norms.npy"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    check_error(saved, "checksum mismatch", p)


def edit_meta(path, **changes):
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    fmt.write_meta(path, meta)  # a consistent meta.json: the field checks behind it must catch it


def test_newer_format_version(saved):
    edit_meta(saved, format_version=[4, 5])
    check_error(saved, r"version 4\.5 is newer.*up to 3\.x", saved)


def test_unknown_format(saved):
    edit_meta(saved, format="winnow.graph-of-the-future")
    check_error(saved, "unknown index format 'winnow.graph-of-the-future'", saved)
    with pytest.raises(IndexFormatError, match="not winnow.bm25"):
        BM25Index.load(saved)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"a string"', "\xff\xfe", "{}",
                                  '{"format": "winnow.bm25", "format_version": "1.0", "files": {}}',
                                  '{"format": "winnow.bm25", "format_version": [1, 0], "files": []}'])
def test_garbage_meta_json(saved, text):
    meta = saved / "meta.json"
    meta.write_bytes(text.encode("latin-1"))
    with pytest.raises(IndexFormatError) as info:
        winnow.index.inspect(saved)
    assert str(meta) in str(info.value)
    check_error(saved, None, meta)


def test_missing_payload_file(saved):
    (saved / "norms.npy").unlink()
    check_error(saved, "missing index file", saved / "norms.npy")


def test_missing_meta_and_directory(tmp_path, saved):
    (saved / "meta.json").unlink()
    check_error(saved, "missing", saved / "meta.json")
    absent = tmp_path / "nothing-here"
    check_error(absent, "not an index directory", absent)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    check_error(a_file, "not an index directory", a_file)


# -- atomic saves -----------------------------------------------------------------------------------
def test_failed_save_leaves_old_index(built, saved, monkeypatch):
    ref = built.search(QUERIES, k=10)
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    calls = []
    real = winnow._core.write_section

    def failing(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # the first section is written, then the disk "fails"
            raise OSError(28, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(winnow._core, "write_section", failing)
    smaller = BM25Index.build(CORPUS[:2], progress=False)
    with pytest.raises(OSError, match="No space left"):
        smaller.save(saved, overwrite=True)
    assert len(calls) == 2
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["idx"]  # no temp dir behind
    same(BM25Index.load(saved).search(QUERIES, k=10), ref)


def test_failed_first_save_leaves_nothing(built, tmp_path, monkeypatch):
    def boom(tmp):
        (tmp / "partial.npy").write_bytes(b"xx")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fmt.save_directory(tmp_path / "new", boom, {"format": "x", "format_version": [1, 0]})
    assert list(tmp_path.iterdir()) == []
