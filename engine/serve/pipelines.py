"""What ``winnow serve`` searches: named pipelines, each one index (``--index DIR``) or one
pipeline of an experiment config (``--config FILE --pipeline NAME``), plus the index whose
document store answers ``/doc`` and snippets."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from winnow.results import Results


@dataclass
class Pipeline:
    """``search(queries {qid: text}, k) -> Results``; ``docs``: an index with a document store
    (``.doc(docno)``, ``.store``) or None; ``info``: what ``GET /info`` shows."""

    name: str
    search: Callable[[dict, int], Results]
    docs: Any = None
    info: dict = field(default_factory=dict)

    def warm(self) -> None:
        """One search before serving: a dense index loads its query encoder now (seconds), not
        in the first request."""
        import warnings

        with warnings.catch_warnings():  # before any request thread exists
            warnings.simplefilter("ignore")
            self.search({"warm-up": "warm up"}, 1)

    def doc(self, docno: str) -> dict:
        if self.docs is None:
            raise LookupError(f"pipeline {self.name!r} has no document store (build the index with --store text)")
        return self.docs.doc(docno)


def pipeline_from_index(path, name: str | None = None, mmap: bool = True) -> Pipeline:
    """One index directory, searched as ``winnow search --index DIR`` searches it (same
    defaults: one thread per query batch, BM25 by Block-Max MaxScore with docno tie order)."""
    from winnow.index import load
    from winnow.index.format import inspect

    path = Path(path)
    meta = inspect(path)
    index = load(path, mmap=mmap)
    info = {"path": str(path), "format": meta["format"], "format_version": meta["format_version"],
            "params": meta.get("params", {}), "stats": meta.get("stats", {}),
            "n_docs": _n_docs(index), "store": meta.get("store")}

    def search(queries: dict, k: int) -> Results:
        return index.search(queries, k=k)

    return Pipeline(name or path.name, search, index if getattr(index, "store", None) is not None else None, info)


def pipeline_from_ray(path, ray: str | None = None, replicas: int = 1, name: str | None = None) -> Pipeline:
    """A sharded index searched over Ray (``winnow serve --ray``): a RaySearcher whose actors
    hold the shards; closed when the process exits."""
    import atexit

    from winnow.distributed.ray_searcher import RaySearcher

    path = Path(path)
    searcher = RaySearcher(path, replicas=replicas, ray=ray)
    atexit.register(searcher.close)
    info = {"path": str(path), "format": searcher.meta["format"], "params": searcher.params,
            "stats": searcher.meta.get("stats", {}), "n_docs": searcher.n_docs, "store": None,
            "ray": {"shards": len(searcher.names), "replicas": replicas}}

    def search(queries: dict, k: int) -> Results:
        return searcher.search(queries, k=k)

    return Pipeline(name or path.name, search, None, info)


def pipelines_from_config(config, names: list[str] | None = None, threads: int = 1) -> list[Pipeline]:
    """Pipelines of an experiment config, their indexes loaded from (or built into) the
    experiment's cache exactly as ``winnow experiment`` would."""
    from winnow.experiment import _open_dataset, _stage  # the runner's own pipeline assembly
    from winnow.experiment_cache import ExperimentCache, files_fingerprint
    from winnow.experiment_config import index_names, load_config
    from winnow.experiment_indexes import IndexHandle, bind, ensure, index_key
    from winnow.stage import Retriever

    cfg = load_config(config, threads=threads, only=names or None)
    ds, _splits = _open_dataset(cfg)
    cache = ExperimentCache(cfg.cache_dir)
    corpus_fp = files_fingerprint(ds.corpus_paths)
    handles, bound, loaded = {}, {}, {}
    out = []
    for pname, tree in cfg.pipelines.items():
        for n in index_names(tree):
            if n not in handles:
                spec = cfg.indexes[n]
                key, source = index_key(spec, corpus_fp)
                rec = cache.index_record(spec.type, key)
                handles[n] = IndexHandle(spec, key, source, record=dict(rec or {}, cached=rec is not None))
                ensure(handles[n], ds, cfg, cache, lambda msg: None, loaded)
                bound[n] = bind(handles[n], cfg.threads)
        stage = _stage(tree, bound, cfg.k)
        docs = next((handles[n].obj for n in index_names(tree)
                     if getattr(handles[n].obj, "store", None) is not None), None)

        def search(queries: dict, k: int, stage=stage) -> Results:
            if isinstance(stage, Retriever):
                return stage.search(queries, k=k)
            return stage(queries).cutoff(k)

        out.append(Pipeline(pname, search, docs, {"config": str(config), "expression": cfg.expressions[pname],
                                                  "indexes": index_names(tree), "dataset": str(ds.path)}))
    return out


def _n_docs(index) -> int | None:
    for attr in ("n_docs", "ntotal"):
        value = getattr(index, attr, None)
        if isinstance(value, int):
            return value
    return None
