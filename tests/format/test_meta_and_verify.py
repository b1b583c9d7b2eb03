"""meta.json is checksummed (edits to scoring fields, a flipped byte anywhere, a missing
checksum entry are IndexFormatError naming meta.json; an older meta.json without the field
still loads), and ``verify``: mapped loads checksum on request, ``winnow.index.verify`` and
``winnow index verify`` check everything."""
from __future__ import annotations

import json

import numpy as np
import pytest

import winnow.index
from winnow.cli.main import main
from winnow.errors import IndexFormatError
from winnow.index import BM25Index, FlatIndex
from winnow.index import format as fmt

CORPUS = [(f"d{i}", f"word{i % 7} shared text number {i} " + "fox " * (i % 3)) for i in range(40)]
QUERIES = {"q1": "fox shared", "q2": "word3 text"}


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "idx"
    BM25Index.build(CORPUS, progress=False).save(path)
    return path


def meta_of(path):
    return json.loads((path / "meta.json").read_text())


def expect_meta_error(path, match="meta.json"):
    for mmap in (False, True):
        with pytest.raises(IndexFormatError, match=match) as info:
            winnow.index.load(path, mmap=mmap)
        assert str(path / "meta.json") in str(info.value)


@pytest.mark.parametrize("where, key, value", [("params", "k1", 1.2), ("params", "b", 0.75),
                                               ("stats", "total_length", 12345),
                                               ("stats", "n_docs_with_terms", 3)])
def test_edited_scoring_field_is_refused(saved, where, key, value):
    meta = meta_of(saved)
    meta[where][key] = value
    (saved / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    expect_meta_error(saved, "checksum mismatch")
    with pytest.raises(IndexFormatError, match="meta.json"):
        winnow.index.inspect(saved)


def test_every_flipped_byte_of_meta_is_refused(saved):
    """Byte flips anywhere in meta.json, the "checksums" and "meta_checksum" keys included,
    never load (and never turn verification off)."""
    raw = (saved / "meta.json").read_bytes()
    keys = [raw.index(b'"checksums"') + 3, raw.index(b'"meta_checksum"') + 3, raw.index(b'"k1"') + 1]
    rng = np.random.default_rng(0)
    for pos in keys + sorted(rng.choice(len(raw), 60, replace=False).tolist()):
        data = bytearray(raw)
        data[pos] ^= 0x01 if chr(raw[pos]).isalnum() else 0x20
        (saved / "meta.json").write_bytes(bytes(data))
        with pytest.raises(IndexFormatError, match="meta.json"):
            winnow.index.load(saved, mmap=True)
    (saved / "meta.json").write_bytes(raw)
    winnow.index.load(saved, mmap=True)


def test_missing_checksum_entry_is_an_error(saved):
    meta = meta_of(saved)
    assert set(meta["checksums"]) == set(meta["files"])  # every file, sections included
    del meta["checksums"]["doc_len.npy"]
    fmt.write_meta(saved, meta)  # consistent meta.json, still no checksum for a listed file
    with pytest.raises(IndexFormatError, match="no checksum recorded for doc_len.npy"):
        winnow.index.load(saved)
    with pytest.raises(IndexFormatError, match="no checksum recorded for doc_len.npy"):
        winnow.index.verify(saved)


@pytest.mark.parametrize("field, value", [("params", [1]), ("arrays", {"x": "float32"}),
                                          ("files", {"../etc": 1}), ("checksums", {"nope.npy": "00"})])
def test_mistyped_meta_fields_are_index_format_errors(tmp_path, field, value):
    path = tmp_path / "flat"
    index = FlatIndex(4)
    index.add(np.eye(4, dtype=np.float32))
    index.save(path)
    meta = meta_of(path)
    meta[field] = value
    fmt.write_meta(path, meta)  # even with a valid checksum: never a KeyError/TypeError
    with pytest.raises(IndexFormatError, match="meta.json"):
        winnow.index.load(path)


def test_meta_saved_before_checksums_still_loads(saved):
    """Decision: a meta.json written before meta_checksum existed (winnow 0.1.0) loads with its
    .npy checksums checked; it cannot protect its own fields. Any field such a meta.json never
    had (a damaged "meta_checksum" key, say) makes it an error instead."""
    meta = meta_of(saved)
    del meta["meta_checksum"]
    meta["checksums"] = {k: v for k, v in meta["checksums"].items() if k.endswith(".npy")}
    (saved / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    ref = BM25Index.load(saved).search(QUERIES, k=5)
    assert winnow.index.load(saved, mmap=True).search(QUERIES, k=5).to_dict() == ref.to_dict()
    winnow.index.verify(saved)
    meta["meta_chacksum"] = "sha256:00"
    (saved / "meta.json").write_text(json.dumps(meta))
    expect_meta_error(saved, "unknown field")


def test_mmap_verify_checks_payload_checksums(saved):
    post = saved / "postings.bin"
    data = bytearray(post.read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the payload: header and sizes stay valid
    post.write_bytes(bytes(data))
    for kwargs in ({"mmap": True, "verify": True}, {"mmap": False}):
        with pytest.raises(IndexFormatError, match="postings.bin") as info:
            winnow.index.load(saved, **kwargs)
        assert "checksum" in str(info.value)
    with pytest.raises(IndexFormatError, match="postings.bin"):
        BM25Index.load(saved, mmap=True, verify=True)
    with pytest.raises(IndexFormatError, match="postings.bin"):
        winnow.index.verify(saved)


def test_dense_mmap_verify(tmp_path):
    path = tmp_path / "flat"
    index = FlatIndex(4)
    index.add(np.eye(4, dtype=np.float32))
    index.save(path)
    vec = path / "vectors.npy" if (path / "vectors.npy").exists() else sorted(path.glob("*.npy"))[0]
    data = bytearray(vec.read_bytes())
    data[-1] ^= 0x40
    vec.write_bytes(bytes(data))
    winnow.index.load(path, mmap=True)  # unverified: structure only
    with pytest.raises(IndexFormatError, match=vec.name):
        winnow.index.load(path, mmap=True, verify=True)
    with pytest.raises(IndexFormatError, match=vec.name):
        FlatIndex.load(path, mmap=True, verify=True)


def test_cli_index_verify(saved, capsys):
    assert main(["index", "verify", str(saved)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {saved}: winnow.bm25") and out.count("\n") == 1
    p = saved / "norms.npy"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    assert main(["index", "verify", str(saved)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(p) in err and err.count("\n") == 1


def test_verify_every_index_kind(tmp_path):
    """verify() loads each format's structure; CUR needs no scorer (model) for it."""
    from winnow.index import IVFIndex, TokenStore
    from winnow.index.cur import CURIndex
    from winnow.rerank.scorers import CallableScorer

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    ivf = IVFIndex(8, 4)
    ivf.train(x, seed=0)
    ivf.add(x)
    ivf.save(tmp_path / "ivf")
    TokenStore(x, np.arange(64, dtype=np.int32) % 10, np.arange(0, 65, 8, dtype=np.int64)).save(tmp_path / "tok")
    M = rng.standard_normal((30, 50)).astype(np.float32)
    scorer = CallableScorer(lambda q, ids: M[int(q), ids], 50)
    CURIndex.build(scorer, [str(i) for i in range(30)], n_anchor_items=10, progress=False).save(tmp_path / "cur")
    for name in ("ivf", "tok", "cur"):
        assert winnow.index.verify(tmp_path / name)["files"]
