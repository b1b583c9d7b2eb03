"""BM25 sharded by position scores with the collection's statistics: runs of 1, 2, 3 and 7
shards are byte-identical (Anserini format, ties included) to the unsharded index's."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import COLLECTIONS, SHARD_COUNTS, anserini_run
from winnow.distributed import ShardedIndex
from winnow.distributed.build import build_sharded_bm25
from winnow.index import BM25Index, load


@pytest.mark.parametrize("name", COLLECTIONS)
def test_sharded_runs_are_byte_identical_to_unsharded(unsharded, tmp_path, name):
    path, queries, reference, results = unsharded[name]
    for n in SHARD_COUNTS:
        build_sharded_bm25(str(path), tmp_path / f"s{n}", n)
        index = load(tmp_path / f"s{n}")  # dispatches on the manifest's format
        assert isinstance(index, ShardedIndex) and index.n_shards == n
        got = index.search(queries, k=1000)
        assert anserini_run(got) == reference, f"{name}, {n} shards"
        np.testing.assert_array_equal(got.scores, results.scores)


def test_collection_statistics_are_needed(unsharded, tmp_path):
    """The oracle can fail: shards scored with their own statistics differ from unsharded."""
    path, queries, reference, _ = unsharded["vaswani"]
    build_sharded_bm25(str(path), tmp_path / "s3", 3)
    local_only = [BM25Index.load(tmp_path / "s3" / f"shard_00{i}") for i in range(3)]
    sharded = ShardedIndex.load(tmp_path / "s3")
    sharded.shards = local_only
    assert anserini_run(sharded.search(queries, k=1000)) != reference


def test_ties_by_id_follow_collection_position(tmp_path):
    """ties='id': global id = shard offset + local id, the unsharded index's internal order.
    Identical documents tie exactly; every shard holds some of them."""
    docs = [(f"d{i:03d}", "apple banana" if i % 3 == 0 else f"cherry w{i}") for i in range(60)]
    docs = docs[::-1]  # docno order is the reverse of position order: the two rules disagree
    single = BM25Index.build(docs, progress=False)
    build_sharded_bm25(docs, tmp_path / "s", 4)
    sharded = ShardedIndex.load(tmp_path / "s")
    for ties in ("id", "docno"):
        want = single.search({"q": "apple"}, k=7, ties=ties)
        got = sharded.search({"q": "apple"}, k=7, ties=ties)
        assert got.docnos.lookup(got.ids[0]) == want.docnos.lookup(want.ids[0]), ties
        np.testing.assert_array_equal(got.scores, want.scores)
    assert sharded.search({"q": "apple"}, k=3, ties="id").docnos.lookup([0]) != []


def test_other_k1_b_and_algorithms_match(unsharded, tmp_path):
    path, queries, _, _ = unsharded["vaswani"]
    build_sharded_bm25(str(path), tmp_path / "s", 3, k1=1.2, b=0.75, scoring="accurate")
    single = BM25Index.build([(d, t) for d, t in __import__("winnow").datasets.load(path).corpus()],
                             k1=1.2, b=0.75, scoring="accurate", progress=False)
    sharded = ShardedIndex.load(tmp_path / "s", mmap=True)
    for algorithm in ("maxscore", "windowed", "exhaustive"):
        assert anserini_run(sharded.search(queries, k=100, algorithm=algorithm)) == \
            anserini_run(single.search(queries, k=100))
    # with_params at load: the bounds are recomputed with the collection's statistics too
    robertson = ShardedIndex.load(tmp_path / "s", k1=0.9, b=0.4, scoring="robertson")
    assert anserini_run(robertson.search(queries, k=50)) == \
        anserini_run(single.with_params(0.9, 0.4, "robertson").search(queries, k=50))
