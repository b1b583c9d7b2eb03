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
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from winnow.experiment_cache import (ExperimentCache, copy_file, files_fingerprint, param_key,
                                     queries_fingerprint, read_trec)
from winnow.experiment_config import STAGES, ConfigError, ExperimentConfig, canonical, index_names, load_config
from winnow.experiment_indexes import Bound, IndexHandle, bind, ensure, index_key
from winnow.readers.run import check_run_output
from winnow.stage import Retriever

__all__ = ["run_experiment", "DEFAULT_METRICS", "split_kind"]

# Field conventions per kind of split: (metrics, rel for binary measures).
DEFAULT_METRICS = {
    "msmarco-dev": (["RR@10", "R@1000"], None),
    "trec-dl": (["nDCG@10", "AP", "R@1000"], 2),
    "other": (["nDCG@10", "RR@10", "AP", "R@100", "R@1000"], None),
}


def split_kind(layout: str, split: str, qrels_name: str) -> str:
    """``trec-dl`` (DL19/DL20 qrels), ``msmarco-dev`` (MS MARCO dev) or ``other``."""
    text = f"{split} {qrels_name}".lower()
    if re.search(r"(^|[^a-z])(trec-?)?dl-?(19|20|2019|2020)([^0-9]|$)", text):
        return "trec-dl"
    if "dev" in text and (layout == "msmarco" or "msmarco" in text):
        return "msmarco-dev"
    return "other"


# Written first into every experiment output directory: a directory holding it (or, from
# before the marker, an experiment.log) is ours to write tables, runs and plots into again.
OUTPUT_MARKER = ".winnow-experiment"


def check_experiment_output(out: Path) -> None:
    """Refuse (``ValueError``, one line naming ``out``) an output that is a file, or a
    non-empty directory that is not an earlier experiment's output: a re-run replaces its
    tables, runs and plots, so it must never write them into a user's folder."""
    if not os.path.lexists(out):
        return
    if not out.is_dir() or out.is_symlink():
        raise ValueError(f"{out}: exists and is not a directory; choose another experiment output")
    if any(out.iterdir()) and not ((out / OUTPUT_MARKER).is_file() or (out / "experiment.log").is_file()):
        raise ValueError(f"{out}: a non-empty directory that is not a Winnow experiment output; refusing to "
                         "write tables, runs and plots into it (choose an empty or new directory)")


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


def _stage(tree: tuple, bound: Mapping[str, Bound], k: int):
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
            ensure(handles[n], ds, cfg, cache, logger, loaded)
            bound[n] = bind(handles[n], cfg.threads)
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
    check_experiment_output(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / OUTPUT_MARKER).touch()
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
        handles: dict[str, IndexHandle] = {}
        for name in used:
            spec = cfg.indexes[name]
            key, source = index_key(spec, corpus_fp)
            rec = cache.index_record(spec.type, key)
            handles[name] = IndexHandle(spec, key, source, record=dict(rec or {}, cached=rec is not None))
        bound: dict[str, Bound] = {}
        loaded: dict[str, IndexHandle] = {}
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
                # the run-file policy: a re-run replaces its own runs (atomically), never another file
                check_run_output(dest, overwrite=True)
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
