"""``winnow serve --ray``: a sharded index served through RaySearcher answers exactly as the
in-process sharded index (and so the unsharded one)."""
from __future__ import annotations

import argparse

import numpy as np
from fastapi.testclient import TestClient

from winnow.cli.cmd_serve import build_app
from winnow.distributed import ShardedIndex
from winnow.distributed.build import build_sharded_bm25


def test_serve_ray_matches_in_process(ray_cluster, unsharded, tmp_path):
    path, queries, _, _ = unsharded["vaswani"]
    build_sharded_bm25(str(path), tmp_path / "s3", 3)
    args = argparse.Namespace(index=[str(tmp_path / "s3")], config=None, pipeline=None, max_k=1000,
                              max_query_chars=4096, max_batch=100, workers=2, queue=8, no_mmap=False,
                              qrels=None, ray="local", replicas=2)
    want = ShardedIndex.load(tmp_path / "s3").search(queries, k=20)
    with TestClient(build_app(args)) as client:
        info = client.get("/info").json()["pipelines"][0]
        assert info["ray"] == {"shards": 3, "replicas": 2} and info["n_docs"] == 11429
        qid, text = next(iter(queries.items()))
        hits = client.get("/search", params={"q": text, "k": 20}).json()["hits"]
        assert [h["docno"] for h in hits] == want.docnos.lookup(want.ids[0])
        np.testing.assert_array_equal(np.float32([h["score"] for h in hits]), want.scores[0])
        batch = client.post("/search", json={"queries": dict(list(queries.items())[:5]), "k": 10}).json()
        assert len(batch["results"]) == 5
