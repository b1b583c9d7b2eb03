"""On Ray: shards built as Ray tasks and searched by RaySearcher's actors give runs
byte-identical to the unsharded index (1, 2, 3 and 7 shards; SciFact, Vaswani, DL19 pool),
and RaySearcher is a Retriever that composes with ``>>``."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import COLLECTIONS, SHARD_COUNTS, anserini_run
from winnow.distributed import RaySearcher, ShardedIndex
from winnow.distributed.build import build_sharded_bm25, build_sharded_dense


# Every shard count on every collection; the default run takes one count per collection
# (each RaySearcher starts its actor processes: seconds on CI's 2 cores), the rest is slow.
DEFAULT = {("scifact", 3), ("vaswani", 7), ("vaswani", 1), ("msmarco-dl19-pool", 2)}
CASES = [pytest.param(name, n, marks=() if (name, n) in DEFAULT else pytest.mark.slow)
         for name in COLLECTIONS for n in SHARD_COUNTS]


@pytest.mark.parametrize("name,n", CASES)
def test_ray_build_and_search_are_byte_identical(ray_cluster, unsharded, tmp_path, name, n):
    path, queries, reference, _ = unsharded[name]
    build_sharded_bm25(str(path), tmp_path / "s", n, ray="local")  # Ray is up: shards are Ray tasks
    with RaySearcher(tmp_path / "s", replicas=1, batch_size=64) as searcher:
        assert anserini_run(searcher.search(queries, k=1000)) == reference, f"{name}, {n} shards"
        assert searcher.stats["retries"] == 0


def test_replicas_pipeline_and_dense_shards(ray_cluster, unsharded, tmp_path):
    path, queries, reference, results = unsharded["vaswani"]
    build_sharded_bm25(str(path), tmp_path / "bm25", 3)
    with RaySearcher(tmp_path / "bm25", replicas=2, batch_size=7) as searcher:
        got = (searcher % 10)(queries)  # Pipeline: search, then cutoff
        np.testing.assert_array_equal(got.scores, results.scores[:, :10])
        assert got.docnos.lookup(got.ids[0]) == results.docnos.lookup(results.ids[0, :10])
        assert searcher.stats["calls"] == 3 * -(-len(queries) // 7)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 16)).astype(np.float32)
    from test_sharded_dense import write_encode_dir

    write_encode_dir(tmp_path / "vec", x, chunk_size=150, dtype="float32")
    build_sharded_dense(str(tmp_path / "vec"), tmp_path / "ivf", "ivfpq", 3, options={"M": 4, "nlist": 8})
    local = ShardedIndex.load(tmp_path / "ivf")
    q = rng.standard_normal((30, 16)).astype(np.float32)
    with RaySearcher(tmp_path / "ivf", replicas=1, batch_size=8) as searcher:
        got = searcher.search(q, k=20, nprobe=3)
    want_s, want_i = local.search_vectors(q, k=20, nprobe=3)
    np.testing.assert_array_equal(got.ids, want_i)
    np.testing.assert_array_equal(got.scores, want_s)
    assert got.docnos.lookup(got.ids[0, :3]) == local.docnos.lookup(want_i[0, :3])
