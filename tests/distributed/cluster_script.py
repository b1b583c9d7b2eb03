"""Run by test_ray_cluster.py in a fresh process: a 2-node Ray cluster in this machine
(ray.cluster_utils.Cluster, 1 CPU per node), a sharded build as Ray tasks on it and a RaySearcher
(actors scheduled with SPREAD); prints "OK <alive nodes>" when the run is identical to one index's."""
import io
import sys
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from winnow import datasets
from winnow.distributed import RaySearcher
from winnow.distributed.build import build_sharded_bm25
from winnow.index import BM25Index

out = Path(sys.argv[1])
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
ray.init(address=cluster.address, logging_level="error", log_to_driver=False)
try:
    cran = datasets.bundled()
    queries = cran.queries(split="test")
    build_sharded_bm25(str(cran.path), out, 4, ray="auto")
    with RaySearcher(out, replicas=2, num_cpus_per_actor=0.25) as searcher:
        got = searcher.search(queries, k=100)
        placed = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    want = BM25Index.build(cran.corpus(), progress=False).search(queries, k=100)
    a, b = io.StringIO(), io.StringIO()
    got.to_trec(a, score_format="anserini")
    want.to_trec(b, score_format="anserini")
    print("OK", len(placed) if a.getvalue() == b.getvalue() else "DIFFERENT")
finally:
    ray.shutdown()
    cluster.shutdown()
