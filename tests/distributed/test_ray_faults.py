"""Fault tolerance of RaySearcher: an actor killed during a 1,000-query batch still gives
complete, correct results; a shard lost for good is a clear error, or (allow_partial)
results marked partial; a shard damaged on disk is refused at start, by name."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from winnow.errors import IndexFormatError
from winnow.distributed import ShardedIndex
from winnow.distributed.build import build_sharded_bm25
from winnow.distributed.ray_searcher import PartialResultsWarning, RaySearcher, ShardLostError


@pytest.fixture(scope="module")
def thousand(unsharded, tmp_path_factory):
    """A 3-shard Vaswani index, 1,000 queries (the test queries, cycled) and the local results."""
    path, queries, _, _ = unsharded["vaswani"]
    texts = list(queries.values())
    many = {f"q{i}": texts[i % len(texts)] for i in range(1000)}
    out = tmp_path_factory.mktemp("faults") / "s3"
    build_sharded_bm25(str(path), out, 3)
    return out, many, ShardedIndex.load(out).search(many, k=100)


def _kill_at(searcher, n: int, shard: int, replica: int, ray, restart: bool = True):
    def hook(done: int) -> None:
        if done == n:
            ray.kill(searcher.actors[shard][replica], no_restart=not restart)
    searcher._after_call = hook


@pytest.mark.parametrize("replicas", [1, 2])
def test_actor_killed_mid_batch_gives_complete_results(ray_cluster, thousand, replicas):
    path, many, want = thousand
    with RaySearcher(path, replicas=replicas, batch_size=10) as searcher:
        _kill_at(searcher, 5, shard=1, replica=0, ray=ray_cluster)  # replicas=1: Ray restarts it
        got = searcher.search(many, k=100)
        assert searcher.stats["retries"] >= 1  # calls queued on the killed actor were sent again
    assert got.missing_shards == []
    np.testing.assert_array_equal(got.scores, want.scores)
    assert [got.docnos.lookup(r[r >= 0]) for r in got.ids[::97]] == \
        [want.docnos.lookup(r[r >= 0]) for r in want.ids[::97]]


@pytest.fixture()
def doomed(thousand, tmp_path):
    """A copy of the index whose shard 2 will vanish from disk (so a restart cannot load it)."""
    path, many, want = thousand
    shutil.copytree(path, tmp_path / "s3")
    return tmp_path / "s3", many, want


def test_permanently_lost_shard_is_a_clear_error(ray_cluster, doomed):
    path, many, _ = doomed
    with RaySearcher(path, replicas=1, batch_size=50) as searcher:
        shutil.rmtree(path / "shard_002")
        _kill_at(searcher, 1, shard=2, replica=0, ray=ray_cluster)
        with pytest.raises(ShardLostError, match="shard_002 is lost"):
            searcher.search(many, k=100)


def test_permanently_lost_shard_with_allow_partial_is_marked(ray_cluster, doomed):
    path, many, want = doomed
    offset = ShardedIndex.load(path).offsets[2]
    with RaySearcher(path, replicas=1, batch_size=50, allow_partial=True) as searcher:
        shutil.rmtree(path / "shard_002")
        _kill_at(searcher, 1, shard=2, replica=0, ray=ray_cluster)
        with pytest.warns(PartialResultsWarning, match="shard_002"):
            got = searcher.search(many, k=100)
    assert got.missing_shards == ["shard_002"]
    assert (got.ids < offset).all()
    for qi in range(0, 1000, 111):  # the full results without shard 2 are a prefix of these
        keep = (want.ids[qi] >= 0) & (want.ids[qi] < offset)
        n = int(keep.sum())
        np.testing.assert_array_equal(got.ids[qi, :n], want.ids[qi][keep])
        np.testing.assert_array_equal(got.scores[qi, :n], want.scores[qi][keep])


def test_shard_damaged_on_disk_is_refused_at_start(ray_cluster, doomed):
    path, _, _ = doomed
    raw = bytearray((path / "shard_001" / "meta.json").read_bytes())
    raw[40] ^= 1
    (path / "shard_001" / "meta.json").write_bytes(bytes(raw))
    with pytest.raises(IndexFormatError, match="shard_001"):
        RaySearcher(path, replicas=1)
    shutil.rmtree(path / "shard_001")
    with pytest.raises(IndexFormatError, match="shard_001 is missing"):
        RaySearcher(path, replicas=1)


def test_corrupt_shard_payload_is_refused_by_its_actor(ray_cluster, doomed):
    """A payload byte flipped: the actor's verified load fails, and the error names the file."""
    path, _, _ = doomed
    postings = path / "shard_002" / "postings.bin"
    raw = bytearray(postings.read_bytes())
    raw[-20] ^= 0x10
    postings.write_bytes(bytes(raw))
    with pytest.raises(IndexFormatError, match="shard_002/postings.bin: checksum mismatch"):
        RaySearcher(path, replicas=1, verify=True)


class FlakyDocs(list):
    """Documents whose first slice read fails with OSError (once per marker file): a shard
    build task that hits a passing file-system error."""

    def __init__(self, docs, marker):
        super().__init__(docs)
        self.marker = str(marker)

    def __getitem__(self, item):
        import os

        if isinstance(item, slice) and item.start and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            raise OSError("simulated I/O error reading the corpus")
        return super().__getitem__(item)


def test_failed_shard_build_task_is_retried(ray_cluster, tmp_path):
    import sys

    ray_cluster.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    docs = [(f"d{i}", f"alpha beta w{i % 5}") for i in range(40)]
    flaky = FlakyDocs(docs, tmp_path / "failed-once")
    build_sharded_bm25(flaky, tmp_path / "idx", 2, ray="local")
    assert (tmp_path / "failed-once").exists()  # the second shard's first attempt failed
    got = ShardedIndex.load(tmp_path / "idx").search({"q": "alpha w3"}, k=40)
    from winnow.index import BM25Index

    want = BM25Index.build(docs, progress=False).search({"q": "alpha w3"}, k=40)
    np.testing.assert_array_equal(got.scores, want.scores)
    assert got.docnos.lookup(got.ids[0]) == want.docnos.lookup(want.ids[0])
