"""The manifest guards a sharded index: a missing, replaced or damaged shard (or side file)
is an IndexFormatError naming it; builds are atomic and never replace what is not ours."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from winnow.errors import IndexFormatError
from winnow.distributed import ShardedIndex
from winnow.distributed.build import build_sharded_bm25
from winnow.index import load, verify

DOCS = [(f"doc{i}", f"word{i % 7} word{i % 11} common text {i}") for i in range(90)]


@pytest.fixture()
def sharded(tmp_path):
    build_sharded_bm25(DOCS, tmp_path / "idx", 3)
    return tmp_path / "idx"


def _flip(path, at: int = -20) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x10
    path.write_bytes(bytes(raw))


def test_manifest_lists_shards_with_checksums_stats_and_docno_ranges(sharded):
    meta = load(sharded).meta
    assert meta["params"] == {"shard_format": "winnow.bm25", "n_shards": 3, "n_docs": 90, "k1": 0.9, "b": 0.4,
                              "scoring": "lucene", "analyzer": "english"}
    assert [(e["offset"], e["n_docs"], e["first_docno"], e["last_docno"]) for e in meta["shards"]] == \
        [(0, 30, "doc0", "doc29"), (30, 30, "doc30", "doc59"), (60, 30, "doc60", "doc89")]
    assert all(e["meta_checksum"].startswith("sha256:") for e in meta["shards"])
    assert meta["stats"] == {"n_docs": 90, "n_docs_with_terms": 90, "total_length": 90 * 5}
    assert "shard_001.idf_df.npy" in meta["checksums"]


@pytest.mark.parametrize("mmap", [False, True])
def test_corrupt_shard_file_is_rejected_naming_the_shard(sharded, mmap):
    _flip(sharded / "shard_001" / "postings.bin")
    with pytest.raises(IndexFormatError, match="shard_001"):
        ShardedIndex.load(sharded, mmap=mmap, verify=True)
    with pytest.raises(IndexFormatError, match="shard_001"):
        verify(sharded)  # winnow index verify


def test_missing_shard_is_named(sharded):
    shutil.rmtree(sharded / "shard_002")
    with pytest.raises(IndexFormatError, match="shard_002 is missing"):
        ShardedIndex.load(sharded, mmap=True)


def test_replaced_shard_does_not_match_the_manifest(sharded, tmp_path):
    build_sharded_bm25(DOCS[::-1], tmp_path / "other", 3)
    shutil.rmtree(sharded / "shard_000")
    shutil.copytree(tmp_path / "other" / "shard_000", sharded / "shard_000")
    with pytest.raises(IndexFormatError, match="shard_000 does not match the manifest"):
        ShardedIndex.load(sharded, mmap=True)


def test_corrupt_side_file_is_rejected(sharded):
    _flip(sharded / "shard_001.idf_df.npy", -3)
    with pytest.raises(IndexFormatError, match="shard_001.idf_df.npy"):
        ShardedIndex.load(sharded)  # a read load checksums every file
    # an unverified mapped load still refuses a collection df the shard cannot have
    arr = np.load(sharded / "shard_001.idf_df.npy")
    arr[0] = 10**6
    np.save(sharded / "shard_001.idf_df.npy", arr)
    with pytest.raises(IndexFormatError, match="shard_001"):
        ShardedIndex.load(sharded, mmap=True, verify=False)


def test_build_never_replaces_what_is_not_ours(tmp_path, sharded):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not a Winnow index"):
        build_sharded_bm25(DOCS, mine, 2)
    assert (mine / "notes.txt").read_text() == "keep"
    with pytest.raises(ValueError, match="overwrite"):
        build_sharded_bm25(DOCS, sharded, 2)
    build_sharded_bm25(DOCS, sharded, 2, overwrite=True)
    assert ShardedIndex.load(sharded).n_shards == 2


def test_failed_build_leaves_nothing(tmp_path):
    bad = DOCS[:40] + [("doc5", None)] + DOCS[40:]
    with pytest.raises(ValueError, match="text"):
        build_sharded_bm25(bad, tmp_path / "idx", 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_duplicate_docno_across_shards_is_refused(tmp_path):
    docs = DOCS[:50] + [("doc3", "again")] + DOCS[50:]
    with pytest.raises(ValueError, match="duplicate document id 'doc3'"):
        build_sharded_bm25(docs, tmp_path / "idx", 3)
    assert not (tmp_path / "idx").exists()


def test_split_positions_rejects_bad_counts():
    from winnow.distributed.manifest import split_positions

    assert split_positions(10, 3) == [(0, 3), (3, 6), (6, 10)]
    with pytest.raises(ValueError, match="shards"):
        split_positions(10, 0)
    with pytest.raises(ValueError, match="every shard needs a document"):
        split_positions(2, 3)
