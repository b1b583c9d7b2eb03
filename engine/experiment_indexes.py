"""Indexes of an experiment: cache keys, building (BM25 from the corpus; impact indexes from a
JsonVectorCollection; Flat, PQ, IVF, HNSW from
corpus vectors encoded with a model or read from a precomputed directory), loading from the
cache, and binding search-time parameters into a retriever stage.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from winnow.errors import WinnowError
from winnow.experiment_cache import ExperimentCache, files_fingerprint, param_key
from winnow.experiment_config import ConfigError, ExperimentConfig, IndexSpec
from winnow.stage import Retriever, as_queries

__all__ = ["IndexHandle", "Bound", "index_key", "ensure", "bind"]


def _model_path(spec: IndexSpec) -> str:
    from winnow.encoders import default_model_path

    if spec.params["model"] != "default":
        return spec.params["model"]
    try:
        return str(default_model_path())
    except WinnowError as exc:
        raise ConfigError(f"indexes.{spec.name}.model", str(exc)) from None


@dataclass
class IndexHandle:
    """An index known by key; built, loaded or left alone (when every run is cached)."""
    spec: IndexSpec
    key: str
    source: dict
    obj: Any = None
    record: dict = field(default_factory=dict)
    query_vectors: tuple | None = None


def index_key(spec: IndexSpec, corpus_fp: str) -> tuple[str, dict]:
    source: dict[str, Any] = {"corpus": corpus_fp}
    if spec.type == "impact":
        source["impact_input"] = files_fingerprint([spec.params["input"]])
    if spec.dense:
        if spec.params["vectors"] is not None:
            source["vectors"] = files_fingerprint([spec.params["vectors"]])
        else:
            from winnow.encoders import model_fingerprint

            source["model_path"] = _model_path(spec)
            source["model"] = model_fingerprint(source["model_path"])
    source_id = {k: v for k, v in source.items() if k != "model_path"}  # the fingerprint decides
    return param_key({"type": spec.type, "build": spec.build_params(), "source": source_id}), source


def _build(h: IndexHandle, ds, cfg: ExperimentConfig, cache: ExperimentCache, log) -> Any:
    spec, p, threads = h.spec, h.spec.params, cfg.threads
    if spec.type == "bm25":
        from winnow.index import BM25Index

        return BM25Index.build(ds.corpus(), k1=p["k1"], b=p["b"], scoring=p["scoring"],
                               analyzer=p["analyzer"], threads=threads, progress=False)
    if spec.type == "impact":
        from winnow.index import ImpactIndex

        return ImpactIndex.build(p["input"], quantize=p["quantize"], analyzer=p["analyzer"], threads=threads,
                                 progress=False)
    import numpy as np

    if p["vectors"] is not None:
        from winnow.vectors import load_vectors

        vecs, ids = load_vectors(p["vectors"], which="corpus")
        log(f"index {spec.name}: {len(vecs)} precomputed vectors from {p['vectors']}")
    else:
        from winnow.embedding_cache import EmbeddingCache
        from winnow.encoders import SentenceEncoder

        enc = SentenceEncoder(h.source["model_path"])
        emb = EmbeddingCache(cache.root / "embeddings")
        vecs, ids = emb.encode(enc, ds.corpus(), corpus_fp=h.source["corpus"])
        log(f"index {spec.name}: corpus embeddings {'reused' if emb.hits else 'encoded'} "
            f"({len(vecs)} x {vecs.shape[1]})")
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    d, model = vecs.shape[1], h.source.get("model_path")
    if spec.type == "flat":
        from winnow.index.flat import FlatIndex

        index = FlatIndex(d, p["metric"], model=model, payload=p["payload"])
    elif spec.type == "hnsw":
        from winnow.index import HNSWIndex

        index = HNSWIndex(d, M=p["M"], ef_construction=p["ef_construction"], metric=p["metric"],
                          payload=p["payload"], refine=p["refine"], model=model, seed=p["seed"])
    elif spec.type == "pq":
        from winnow.index.pq_index import PQIndex

        index = PQIndex(d, p["M"], p["nbits"], p["metric"], opq=p["opq"], refine=p["refine"], model=model)
    else:
        from winnow.index.ivf import IVFIndex

        payload = "pq" if spec.type == "ivfpq" else p["payload"]
        index = IVFIndex(d, p["nlist"], payload, M=p["M"] or None, nbits=p["nbits"], metric=p["metric"],
                         residual=p["residual"], opq=p["opq"], refine=p["refine"], model=model)
    if spec.type == "hnsw":  # no training; the graph build is what threads speed up
        index.add(vecs, threads=threads)
    else:
        if spec.type != "flat":
            index.train(vecs, seed=p["seed"], threads=threads)
        index.add(vecs)
    index.set_docnos(list(ids))
    return index


def ensure(h: IndexHandle, ds, cfg: ExperimentConfig, cache: ExperimentCache, log,
            loaded: dict[str, IndexHandle]) -> Any:
    """Load or build the index of ``h``; indexes with the same key (BM25 variants differing
    only in k1/b/scoring) share one build."""
    if h.key in loaded:
        h.obj, h.record = loaded[h.key].obj, loaded[h.key].record
    elif h.record.get("cached"):
        from winnow.index import load

        h.obj = load(cache.index_dir(h.spec.type, h.key), mmap=True)
        log(f"index {h.spec.name}: reused {cache.index_dir(h.spec.type, h.key)}")
    else:
        log(f"index {h.spec.name}: building ({h.spec.type}, {h.spec.build_params()})")
        t0 = time.perf_counter()
        built = _build(h, ds, cfg, cache, log)
        seconds = time.perf_counter() - t0
        h.record.update(build_seconds=seconds, bytes=int(built.nbytes))
        where = cache.save_index(h.spec.type, h.key, built, {"type": h.spec.type, "params": h.spec.build_params(),
                                                             "source": h.source, **h.record})
        h.obj = built
        log(f"index {h.spec.name}: built in {seconds:.1f}s, {built.nbytes / 1e6:.1f} MB, saved to {where}")
    loaded[h.key] = h
    if h.spec.dense and h.spec.params["vectors"] is None and getattr(h.obj, "encoder", None) is None:
        from winnow.encoders import SentenceEncoder

        h.obj.encoder = SentenceEncoder(h.source["model_path"])  # loaded before the timed search
    return h.obj


class Bound(Retriever):
    """An index with its search parameters, as a retriever stage; dense indexes with
    precomputed query vectors look them up by qid instead of encoding the texts."""

    def __init__(self, index: Any, kwargs: dict, query_vectors: tuple | None, name: str,
                 weighted: dict | None = None):
        self.index, self.kwargs, self.qv, self.name = index, kwargs, query_vectors, name
        self.weighted = weighted  # impact indexes: {qid: {term: weight}} searched instead of the texts
        self.k = 1000

    def search(self, queries, k: int = 10, **_: Any):
        if self.weighted is not None:
            qids, _texts = as_queries(queries)
            missing = [q for q in qids if q not in self.weighted]
            if missing:
                raise ConfigError(f"indexes.{self.name}.weighted_queries", f"no weighted query for {missing[:5]}")
            return self.index.search({q: self.weighted[q] for q in qids}, k=k, **self.kwargs)
        if self.qv is None:
            return self.index.search(queries, k=k, **self.kwargs)
        from winnow.results import Results

        qids, texts = as_queries(queries)
        vectors, pos = self.qv
        missing = [q for q in qids if q not in pos]
        if missing:
            raise ConfigError(f"indexes.{self.name}.vectors", f"no precomputed vector for queries {missing[:5]}")
        scores, ids = self.index.search_vectors(vectors[[pos[q] for q in qids]], k, **self.kwargs)
        return Results(qids, ids, scores, self.index.docnos, texts)

    def __repr__(self) -> str:
        return self.name


def bind(h: IndexHandle, threads: int) -> Bound:
    p, index = h.spec.params, h.obj
    kwargs: dict[str, Any] = {"threads": threads}
    if h.spec.type == "bm25":
        index = index.with_params(k1=p["k1"], b=p["b"], scoring=p["scoring"], threads=threads)
    elif h.spec.type == "impact":
        weighted = None
        if p["weighted_queries"] is not None:
            from winnow.index.impact_input import read_json_vectors

            try:
                weighted = {q: dict(zip(t, w.tolist()))
                            for q, t, w in read_json_vectors(p["weighted_queries"], what="query")}
            except ValueError as exc:
                raise ConfigError(f"indexes.{h.spec.name}.weighted_queries", str(exc)) from None
        return Bound(index, kwargs, None, h.spec.name, weighted)
    else:
        for name in ("nprobe", "ef"):  # IVF lists scanned; HNSW candidate list size
            if name in p:
                kwargs[name] = p[name]
        if p.get("refine") and p.get("refine_k"):
            kwargs["refine_k"] = p["refine_k"]
        if p["vectors"] is not None and h.query_vectors is None:
            import numpy as np
            from winnow.vectors import load_vectors

            try:
                vecs, ids = load_vectors(p["vectors"], which="queries")
            except (WinnowError, ValueError, OSError) as exc:
                raise ConfigError(f"indexes.{h.spec.name}.vectors", f"no query vectors: {exc}") from None
            h.query_vectors = (np.ascontiguousarray(vecs, dtype=np.float32), {q: i for i, q in enumerate(ids)})
    return Bound(index, kwargs, h.query_vectors, h.spec.name)
