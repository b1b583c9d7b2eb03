"""A sharded index as a retriever stage of experiment configs:
``first >> sharded(path=DIR, ray="local", replicas=2)`` (input results are ignored, as with
``cur``): in process (``ShardedIndex``) without ``ray``, else over Ray actors (``RaySearcher``)."""
from __future__ import annotations


def sharded_stage(path: str, ray: str | None = None, **kwargs):
    if ray is None:
        from winnow.distributed import ShardedIndex

        extra = sorted(set(kwargs) - {"k"})
        if extra:
            raise ValueError(f"sharded(...) without ray takes path and k; {extra} need ray=")
        index = ShardedIndex.load(path, mmap=True)
        index.k = kwargs.get("k", index.k)
        return index
    import atexit

    from winnow.distributed.ray_searcher import RaySearcher

    searcher = RaySearcher(path, ray=ray, **kwargs)
    atexit.register(searcher.close)  # its actors (and a Ray it started) end with the run
    return searcher
