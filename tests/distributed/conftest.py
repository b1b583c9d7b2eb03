"""Fixtures of the distributed tests: the collections with their unsharded BM25 runs, and
one Ray instance (2 CPUs, CI's size) shared by every Ray test."""
from __future__ import annotations

import io

import pytest

COLLECTIONS = ("scifact", "vaswani", "msmarco-dl19-pool")
SHARD_COUNTS = (1, 2, 3, 7)


def anserini_run(results) -> str:
    """The run file text as ``winnow search --score-format anserini`` writes it."""
    buf = io.StringIO()
    results.to_trec(buf, tag="Anserini", score_format="anserini")
    return buf.getvalue()


@pytest.fixture(scope="session")
def unsharded(shared_data):
    """{collection: (dataset path, queries, unsharded run text, unsharded Results)} at k=1000."""
    from winnow.datasets import load
    from winnow.index import BM25Index

    out = {}
    for name in COLLECTIONS:
        ds = load(shared_data / name)
        queries = ds.queries(split="test")
        results = BM25Index.build(ds.corpus(), progress=False).search(queries, k=1000)
        out[name] = (shared_data / name, queries, anserini_run(results), results)
    return out


@pytest.fixture(scope="session")
def ray_cluster():
    """A private Ray instance of 2 CPUs for the session (shut down at the end)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="error", log_to_driver=False)
    yield ray
    ray.shutdown()
