"""A local multi-node Ray cluster (ray.cluster_utils.Cluster, 2 nodes of 1 CPU): build and search
across nodes, byte-identical to one index. A fresh process, since the other Ray tests share one
single-node instance in this one. Slow (two node start-ups)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_node_cluster_build_and_search(tmp_path):
    script = Path(__file__).with_name("cluster_script.py")
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "s4")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ["OK", "2"], proc.stdout[-2000:]
