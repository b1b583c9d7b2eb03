"""Scale-out: document-partitioned sharded indexes (manifest, collection-wide BM25
statistics), building them locally or on Ray, and exact scatter-gather search
(``ShardedIndex`` in one process, ``RaySearcher`` over Ray actors). Ray is imported only
by the Ray modules (``pip install "winnow[distributed]"``)."""
from winnow.distributed.merge import merge_topk
from winnow.distributed.sharded_index import ShardedIndex

__all__ = ["ShardedIndex", "merge_topk", "RaySearcher", "build_sharded_bm25", "build_sharded_dense"]


def __getattr__(name):  # Ray and the builders load on first use
    if name == "RaySearcher":
        from winnow.distributed.ray_searcher import RaySearcher

        return RaySearcher
    if name in ("build_sharded_bm25", "build_sharded_dense"):
        from winnow.distributed import build

        return getattr(build, name)
    raise AttributeError(name)
