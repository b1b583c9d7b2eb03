"""Experiment runner: many pipelines over one collection, every split, one report.

``run_experiment(config)`` takes a TOML path or a dict (see :mod:`winnow.experiment_config`),
builds or reuses the indexes the pipelines use, runs or reuses every pipeline on every split,
evaluates with ir_measures names, tests each pipeline against the baseline (paired t-test,
Holm across pipelines) and writes ``table.md/.csv/.json``, ``runs/<pipeline>.<split>.run``,
``plots/*.png`` and ``experiment.log`` to the output directory. Example::

    from winnow.experiment import run_experiment
    report = run_experiment({
        "dataset": {"path": "bundled:cranfield"},
        "indexes": {"bm25": {"type": "bm25"}, "tuned": {"type": "bm25", "k1": 0.82, "b": 0.68}},
        "pipelines": {"bm25": "bm25", "tuned": "tuned", "hybrid": "rrf(bm25, tuned)"},
        "output": {"dir": "results/cranfield"},
    })
"""
from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

from winnow.errors import WinnowError
from winnow.experiment_cache import (ExperimentCache, copy_file, files_fingerprint, param_key,
                                     queries_fingerprint, read_trec)
from winnow.experiment_config import (STAGES, ConfigError, ExperimentConfig, IndexSpec, canonical,
                                      index_names, load_config)
from winnow.stage import Retriever, as_queries

__all__ = ["run_experiment", "DEFAULT_METRICS", "split_kind"]

# Field conventions per kind of split: (metrics, rel for binary measures).
DEFAULT_METRICS = {
    "msmarco-dev": (["RR@10", "R@1000"], None),
    "trec-dl": (["nDCG@10", "AP", "R@1000"], 2),
    "other": (["nDCG@10", "RR@10", "AP", "R@100", "R@1000"], None),
}
_DENSE_CORE = {"flat": ["dense_exact_search"], "pq": ["ProductQuantizer", "pq_search"],
               "ivf": ["kmeans", "ivf_search"], "ivfpq": ["kmeans", "ivf_search", "ProductQuantizer"]}


def split_kind(layout: str, split: str, qrels_name: str) -> str:
    """``trec-dl`` (DL19/DL20 qrels), ``msmarco-dev`` (MS MARCO dev) or ``other``."""
    text = f"{split} {qrels_name}".lower()
    if re.search(r"(^|[^a-z])(trec-?)?dl-?(19|20|2019|2020)([^0-9]|$)", text):
        return "trec-dl"
    if "dev" in text and (layout == "msmarco" or "msmarco" in text):
        return "msmarco-dev"
    return "other"


class _Log:
    def __init__(self, path: Path, stream: TextIO | None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "a", encoding="utf-8")
        self.stream = stream
        self.start = time.perf_counter()

    def __call__(self, msg: str) -> None:
        line = f"[{time.perf_counter() - self.start:7.1f}s] {msg}"
        self.fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        self.fh.flush()
        if self.stream is not None:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        self.fh.close()


@dataclass
class Split:
    name: str                     # as named in the config (or the dataset's split name)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    kind: str
    qrels_path: str


# ------------------------------------------------------------------------------- dataset

def _open_dataset(cfg: ExperimentConfig):
    from winnow import datasets

    d = cfg.dataset
    ds = datasets.bundled(d["bundled"]) if "bundled" in d else datasets.load(d["path"])
    splits: list[Split] = []
    if d["files"]:
        from winnow.cli.common import load_queries
        from winnow.evaluation import load_qrels

        for name, qpath in d["files"]["queries"].items():
            qrels = load_qrels(d["files"]["qrels"][name])
            queries = {q: t for q, t in load_queries(str(qpath)).items() if q in qrels}
            qname = Path(d["files"]["qrels"][name]).name
            splits.append(Split(name, queries, qrels, split_kind(ds.layout, name, qname), qname))
        return ds, splits
    if not ds.splits:
        raise ConfigError("dataset.path", f"{ds.path}: no qrels file, so nothing to evaluate; "
                                          "give dataset.queries and dataset.qrels")
    for want in d["splits"] or ds.splits:
        found = _resolve_split(ds, want)
        if found is None:
            msg = f"no split {want!r} in {ds.path}; splits: {ds.splits}"
            if d["missing_splits"] == "skip":
                splits.append(Split(want, {}, {}, "missing", msg))
                continue
            raise ConfigError("dataset.splits", msg)
        qpath = ds.qrels_path(found)
        splits.append(Split(want, ds.queries(found), ds.qrels(found), split_kind(ds.layout, want, qpath.name),
                            str(qpath)))
    return ds, splits


def _resolve_split(ds, want: str) -> str | None:
    """The dataset split ``want`` names: exact, or the one whose name ends with it or whose
    qrels file name contains it (``dl19-passage`` -> ``test`` of the DL19 pool directory)."""
    if want in ds.splits:
        return want
    found = [s for s in ds.splits if s.endswith(want) or want in ds.qrels_path(s).name]
    return found[0] if len(found) == 1 else None


# ------------------------------------------------------------------------------- indexes

def _check_dense(spec: IndexSpec) -> None:
    try:
        from winnow import _core
        import winnow.index.flat  # noqa: F401
        import winnow.index.ivf  # noqa: F401
        import winnow.index.pq_index  # noqa: F401

        missing = [f for f in _DENSE_CORE[spec.type] if not hasattr(_core, f)]
        if missing:
            raise ImportError(f"winnow._core has no {', '.join(missing)}; rebuild the C++ core")
        if spec.params["model"] is not None:
            import winnow.encoders  # noqa: F401
        else:
            import winnow.vectors  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"indexes.{spec.name}", f"type '{spec.type}' needs the dense modules "
                                                  f"(winnow.index.flat/ivf/pq_index, winnow.encoders), "
                                                  f"which are not available in this build: {exc}") from None


def _model_path(spec: IndexSpec) -> str:
    from winnow.encoders import default_model_path

    if spec.params["model"] != "default":
        return spec.params["model"]
    try:
        return str(default_model_path())
    except WinnowError as exc:
        raise ConfigError(f"indexes.{spec.name}.model", str(exc)) from None


@dataclass
class _IndexHandle:
    """An index known by key; built, loaded or left alone (when every run is cached)."""
    spec: IndexSpec
    key: str
    source: dict
    obj: Any = None
    record: dict = field(default_factory=dict)
    query_vectors: tuple | None = None


def _index_key(spec: IndexSpec, corpus_fp: str) -> tuple[str, dict]:
    source: dict[str, Any] = {"corpus": corpus_fp}
    if spec.dense:
        _check_dense(spec)
        if spec.params["vectors"] is not None:
            source["vectors"] = files_fingerprint([spec.params["vectors"]])
        else:
            from winnow.encoders import model_fingerprint

            source["model_path"] = _model_path(spec)
            source["model"] = model_fingerprint(source["model_path"])
    source_id = {k: v for k, v in source.items() if k != "model_path"}  # the fingerprint decides
    return param_key({"type": spec.type, "build": spec.build_params(), "source": source_id}), source


def _build(h: _IndexHandle, ds, cfg: ExperimentConfig, cache: ExperimentCache, log) -> Any:
    spec, p, threads = h.spec, h.spec.params, cfg.threads
    if spec.type == "bm25":
        from winnow.index import BM25Index

        return BM25Index.build(ds.corpus(), k1=p["k1"], b=p["b"], scoring=p["scoring"],
                               analyzer=p["analyzer"], threads=threads, progress=False)
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

        index = FlatIndex(d, p["metric"], model=model)
    elif spec.type == "pq":
        from winnow.index.pq_index import PQIndex

        index = PQIndex(d, p["M"], p["nbits"], p["metric"], opq=p["opq"], refine=p["refine"], model=model)
    else:
        from winnow.index.ivf import IVFIndex

        payload = "pq" if spec.type == "ivfpq" else p["payload"]
        index = IVFIndex(d, p["nlist"], payload, M=p["M"] or None, nbits=p["nbits"], metric=p["metric"],
                         residual=p["residual"], opq=p["opq"], refine=p["refine"], model=model)
    if spec.type != "flat":
        index.train(vecs, seed=p["seed"], threads=threads)
    index.add(vecs)
    index.set_docnos(list(ids))
    return index


def _ensure(h: _IndexHandle, ds, cfg: ExperimentConfig, cache: ExperimentCache, log,
            loaded: dict[str, _IndexHandle]) -> Any:
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


class _Bound(Retriever):
    """An index with its search parameters, as a retriever stage; dense indexes with
    precomputed query vectors look them up by qid instead of encoding the texts."""

    def __init__(self, index: Any, kwargs: dict, query_vectors: tuple | None, name: str):
        self.index, self.kwargs, self.qv, self.name = index, kwargs, query_vectors, name
        self.k = 1000

    def search(self, queries, k: int = 10, **_: Any):
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


def _bind(h: _IndexHandle, threads: int) -> _Bound:
    p, index = h.spec.params, h.obj
    kwargs: dict[str, Any] = {"threads": threads}
    if h.spec.type == "bm25":
        index = index.with_params(k1=p["k1"], b=p["b"], scoring=p["scoring"], threads=threads)
    else:
        if "nprobe" in p:
            kwargs["nprobe"] = p["nprobe"]
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
    return _Bound(index, kwargs, h.query_vectors, h.spec.name)


def _stage(tree: tuple, bound: Mapping[str, _Bound], k: int):
    from winnow.rerank import rrf, score_sum

    kind = tree[0]
    if kind == "index":
        return bound[tree[1]]
    if kind == "fuse":
        kw = {n: list(v) if isinstance(v, tuple) else v for n, v in tree[3]}
        fn = rrf if tree[1] == "rrf" else score_sum
        return fn(*[_stage(c, bound, k) for c in tree[2]], k=k, **kw)
    if kind == "cutoff":
        return _stage(tree[1], bound, k) % tree[2]
    return _stage(tree[1], bound, k) >> STAGES[tree[2]][0](*tree[3], **dict(tree[4]))


def _score_format(tree: tuple, cfg: ExperimentConfig) -> str:
    """Anserini's score format applies to plain BM25 pipelines only (runs comparable with pyserini's)."""
    plain_bm25 = tree[0] == "index" and cfg.indexes[tree[1]].type == "bm25"
    return cfg.score_format if plain_bm25 else "exact"


def _compute(tree, pname, split, rkey, cfg, ds, cache, handles, bound, logger, loaded) -> dict:
    """Run one pipeline on one split (building or loading its indexes first); cache the run."""
    for n in index_names(tree):
        if n not in bound:
            _ensure(handles[n], ds, cfg, cache, logger, loaded)
            bound[n] = _bind(handles[n], cfg.threads)
        bound[n].k = cfg.k
    stage = _stage(tree, bound, cfg.k)
    t0 = time.perf_counter()
    res = stage.search(split.queries, k=cfg.k) if isinstance(stage, Retriever) else stage(split.queries)
    seconds = time.perf_counter() - t0
    rec = {"pipeline": pname, "expression": cfg.expressions[pname], "split": split.name,
           "queries": len(split.queries), "k": cfg.k, "seconds": seconds, "threads": cfg.threads,
           "ms_per_query": 1000 * seconds / max(1, len(split.queries))}
    cache.save_run(rkey, res, rec, tag=pname, score_format=_score_format(tree, cfg))
    logger(f"run {pname}.{split.name}: computed in {seconds:.2f}s ({rec['ms_per_query']:.2f} ms/query)")
    return rec


# ------------------------------------------------------------------------------- runner

def run_experiment(config: str | os.PathLike | Mapping | ExperimentConfig, overrides: Sequence[str] = (), *,
                   output: str | os.PathLike | None = None, threads: int | None = None,
                   only: Sequence[str] | None = None, log: TextIO | None = sys.stderr) -> dict:
    """Run an experiment; returns the report (also written as ``table.json``).

    ``overrides``: ``key.sub=value`` strings (TOML scalars); ``output`` replaces
    ``output.dir``; ``threads`` the config's ``threads``; ``only`` keeps these pipelines;
    ``log``: stream for progress lines (None: only ``experiment.log``).
    """
    from winnow.evaluation import evaluate
    from winnow.experiment_report import recall_curve, significance, write_outputs

    cfg = config if isinstance(config, ExperimentConfig) else load_config(config, overrides, output=output,
                                                                           threads=threads, only=only)
    out = Path(cfg.output_dir)
    logger = _Log(out / "experiment.log", log)
    t_start = time.perf_counter()
    try:
        logger(f"experiment {cfg.name}: {len(cfg.pipelines)} pipelines, output {out}, threads {cfg.threads}")
        ds, splits = _open_dataset(cfg)
        for s in splits:
            if s.kind == "missing":
                logger(f"split {s.name}: skipped ({s.qrels_path})")
        splits = [s for s in splits if s.kind != "missing"]
        if not splits:
            raise ConfigError("dataset.splits", "none of the requested splits exists in the dataset")
        corpus_fp = files_fingerprint(ds.corpus_paths)
        cache = ExperimentCache(cfg.cache_dir)
        used = []
        for tree in cfg.pipelines.values():
            used += [n for n in index_names(tree) if n not in used]
        handles: dict[str, _IndexHandle] = {}
        for name in used:
            spec = cfg.indexes[name]
            key, source = _index_key(spec, corpus_fp)
            rec = cache.index_record(spec.type, key)
            handles[name] = _IndexHandle(spec, key, source, record=dict(rec or {}, cached=rec is not None))
        bound: dict[str, _Bound] = {}
        loaded: dict[str, _IndexHandle] = {}
        results: dict[str, dict] = {}
        for split in splits:
            qfp = queries_fingerprint(split.queries)
            metrics, rel = DEFAULT_METRICS[split.kind]
            metrics, rel = cfg.metrics or metrics, cfg.rel if cfg.rel is not None else rel
            logger(f"split {split.name}: {len(split.queries)} queries, {split.kind}, metrics {metrics}, rel {rel}")
            rows, per_query, curves = [], {}, {}
            for pname, tree in cfg.pipelines.items():
                names = index_names(tree)
                rkey = param_key({"expr": canonical(tree), "queries": qfp, "k": cfg.k,
                                  "format": _score_format(tree, cfg),
                                  "indexes": {n: [handles[n].key, handles[n].spec.search_params()] for n in names}})
                rec = cache.run_record(rkey)
                what = f"run {pname}.{split.name}"
                cache.note(what, reused=rec is not None)
                if rec is None:
                    rec = _compute(tree, pname, split, rkey, cfg, ds, cache, handles, bound, logger, loaded)
                else:
                    logger(f"{what}: reused {cache.run_path(rkey)}")
                dest = out / "runs" / f"{pname}.{split.name}.run"
                copy_file(cache.run_path(rkey), dest)
                run_d = read_trec(dest)
                agg, pq = evaluate(run_d, split.qrels, metrics, rel=rel, per_query=True)
                per_query[pname] = pq
                curves[pname] = recall_curve(run_d, split.qrels, rel, cfg.k)
                idx_bytes = sum(int(b) for b in {handles[n].key: handles[n].record.get("bytes") or 0
                                                 for n in names}.values())
                rows.append({"pipeline": pname, "expression": cfg.expressions[pname], "indexes": names,
                             "metrics": agg, "ms_per_query": rec["ms_per_query"], "index_bytes": idx_bytes,
                             "run": str(dest.relative_to(out)), "run_key": rkey})
            sig = significance(per_query, cfg.baseline, metrics, cfg.alpha)
            for row in rows:
                row.update(sig.get(row["pipeline"], {}))
            results[split.name] = {"split": split.name, "kind": split.kind, "queries": len(split.queries),
                                   "qrels": split.qrels_path, "metrics": metrics, "rel": rel, "rows": rows,
                                   "curves": curves}
        report = {
            "name": cfg.name, "dataset": {"name": ds.name, "layout": ds.layout, "path": str(ds.path)},
            "k": cfg.k, "baseline": cfg.baseline, "alpha": cfg.alpha, "threads": cfg.threads,
            "test": "paired t-test (two-sided), Holm-corrected across the non-baseline pipelines per metric",
            "indexes": {n: {"type": h.spec.type, "params": h.spec.params, "key": h.key,
                            "bytes": h.record.get("bytes"), "build_seconds": h.record.get("build_seconds"),
                            "reused": bool(h.record.get("cached"))} for n, h in handles.items()},
            "splits": list(results.values()),
            "cache": cache.summary(),
        }
        for n, h in handles.items():
            if h.record.get("cached") and h.obj is not None:
                cache.note(f"index {n}", True)
            elif h.obj is not None:
                cache.note(f"index {n}", False)
            else:
                cache.note(f"index {n} (not loaded: every run cached)", True)
        report["cache"] = cache.summary()
        report["wall_seconds"] = time.perf_counter() - t_start
        write_outputs(report, out, cfg.plots, logger)
        logger(f"done in {time.perf_counter() - t_start:.1f}s: reused {len(cache.reused)}, "
               f"computed {len(cache.computed)}; table {out / 'table.md'}")
        return report
    finally:
        logger.close()
