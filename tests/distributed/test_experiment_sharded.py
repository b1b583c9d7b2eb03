"""A sharded index in an experiment config: ``first >> sharded(path=..., ray=...)`` (the
input results are ignored, as with ``cur``) gives the metrics of the unsharded BM25 run."""
from __future__ import annotations

from pathlib import Path

import pytest

from winnow import datasets
from winnow.distributed.build import build_sharded_bm25
from winnow.experiment import run_experiment


@pytest.mark.parametrize("ray", [None, "local"])
def test_sharded_stage_in_a_config(ray_cluster, tmp_path: Path, ray):
    cran = datasets.bundled()
    build_sharded_bm25(str(cran.path), tmp_path / "s3", 3)
    stage = f"sharded(path={str(tmp_path / 's3')!r}" + (f", ray={ray!r}, replicas=2)" if ray else ")")
    cfg = {"dataset": {"path": "bundled:cranfield"}, "indexes": {"bm25": {"type": "bm25"}},
           "pipelines": {"bm25": "bm25", "sharded": f"bm25 >> {stage}"},
           "output": {"dir": str(tmp_path / "out"), "plots": False}}
    report = run_experiment(cfg, log=None)
    rows = {r["pipeline"]: r["metrics"] for r in report["splits"][0]["rows"]}
    assert rows["sharded"] == rows["bm25"]
