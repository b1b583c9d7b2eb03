"""Experiment configuration: TOML file or dict -> validated :class:`ExperimentConfig`.

Every error is a :class:`ConfigError` whose message starts with the offending key
(``pipelines.hybrid: unknown index or pipeline 'bm2'``). Sections::

    [dataset]     path (alias root; "bundled:cranfield" for the packaged collection),
                  split | splits, queries / qrels (file, or {split = file}), missing_splits
    [indexes.N]   type = bm25 | impact | flat | pq | ivf | ivfpq | hnsw, with the type's parameters
    [pipelines]   NAME = "expression" (see parse_pipeline)
    [evaluation]  metrics, rel, baseline, k, alpha
    [output]      dir, cache, plots, score_format ("anserini": plain BM25 pipelines write
                  their runs as Anserini does, rounded scores and all, to match pyserini exactly)

Pipeline expressions are parsed with :mod:`ast` and only these forms are accepted (never
evaluated): an index or pipeline name; ``rrf(a, b, ..., rrf_k=60, depth=1000, weights=[..])``;
``score_sum(a, b, normalise="zscore")``; ``expr % 100`` (cutoff); ``expr >> stage(...)``
with a stage registered in :data:`STAGES` (``cutoff(k)``, ``cross_encoder(path=..., corpus=...)``, the late-interaction and CUR stages).
"""
from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from winnow.errors import WinnowError

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomllib is 3.11+; tomli is the same parser (setup.py installs it on older Pythons)
    import tomli as tomllib

__all__ = ["ConfigError", "ExperimentConfig", "IndexSpec", "INDEX_TYPES", "STAGES", "load_config",
           "apply_overrides", "parse_pipeline", "canonical", "register_stage"]


class ConfigError(WinnowError, ValueError):
    """A bad experiment configuration; the message starts with the offending key."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key


REQUIRED = object()
_DENSE_SOURCE = {"model": None, "vectors": None, "metric": "ip", "seed": 1234}
# type -> {parameter: default}; REQUIRED has no default. Search-time parameters are listed in
# SEARCH_PARAMS: changing them reuses the built index.
INDEX_TYPES: dict[str, dict[str, Any]] = {
    "bm25": {"k1": 0.9, "b": 0.4, "scoring": "lucene", "analyzer": "english"},
    "flat": {**_DENSE_SOURCE, "payload": "float32"},
    "pq": {**_DENSE_SOURCE, "M": REQUIRED, "nbits": 8, "opq": False, "refine": False, "refine_k": 0},
    "ivf": {**_DENSE_SOURCE, "nlist": REQUIRED, "payload": "flat", "M": 0, "nbits": 8, "opq": False,
            "residual": True, "refine": False, "nprobe": 1, "refine_k": 0},
    "ivfpq": {**_DENSE_SOURCE, "nlist": REQUIRED, "M": REQUIRED, "nbits": 8, "opq": False,
              "residual": True, "refine": False, "nprobe": 1, "refine_k": 0},
    # HNSW graph: M links per node, ef_construction and (search-time) ef candidate lists
    "hnsw": {**_DENSE_SOURCE, "M": 16, "ef_construction": 100, "payload": "float32", "refine": False,
             "ef": 64},
    # learned sparse: input = JsonVectorCollection file/dir (required), quantize = bits or "none",
    # weighted_queries = {"id", "vector"} lines looked up by qid (else the query texts, analyzed)
    "impact": {"input": None, "quantize": 8, "analyzer": "english", "weighted_queries": None},
}
SEARCH_PARAMS = {"k1", "b", "scoring", "nprobe", "refine_k", "ef", "weighted_queries"}
SPARSE_TYPES = ("bm25", "impact")
_CHOICES = {"scoring": ("lucene", "accurate", "robertson"), "analyzer": ("english", "plain"),
            "metric": ("ip", "l2"), "payload": ("flat", "pq", "fastscan"), "nbits": (4, 8)}
# Choices that differ by index type: a Flat or HNSW payload is how each vector is stored; an
# IVF payload is what its lists hold.
_TYPE_CHOICES = {("hnsw", "payload"): ("float32", "float16", "sq8"), ("flat", "payload"): ("float32", "float16", "sq8"),
                 ("ivf", "payload"): ("flat", "pq", "fastscan", "sq8", "float16")}
# Counts that must be >= 1 where the type has them (0 means "unused" for ivf's M).
_POSITIVE = {("hnsw", "M"), ("hnsw", "ef_construction"), ("hnsw", "ef")}
FUSIONS = {"rrf": {"rrf_k", "depth", "weights"}, "score_sum": {"normalise", "depth", "weights"}}
# stage name -> (factory(args, kwargs) -> Stage, allowed keyword names or None for any)
STAGES: dict[str, tuple[Callable[..., Any], frozenset[str] | None]] = {}


def register_stage(name: str, factory: Callable[..., Any], params: Sequence[str] | None = None) -> None:
    """Make ``expr >> name(...)`` available in pipeline expressions (rerankers, filters)."""
    STAGES[name] = (factory, None if params is None else frozenset(params))


def _cutoff(k: int):
    from winnow.stage import Cutoff

    return Cutoff(k)


register_stage("cutoff", _cutoff, ())


def _late(name: str):
    def factory(*args, **kwargs):
        from winnow.rerank import maxsim  # late interaction over a token store (path=...)

        return getattr(maxsim, name)(*args, **kwargs)
    return factory


register_stage("maxsim", _late("maxsim_stage"), ("path", "k", "faiss_depth", "nprobe", "threads"))
register_stage("maxsim_rerank", _late("maxsim_rerank_stage"), ("path", "k", "threads"))
register_stage("colbert_prf", _late("colbert_prf_stage"),
               ("path", "rerank", "fb_docs", "k", "fb_embs", "beta", "seed", "kmeans", "cutoff", "faiss_depth",
                "nprobe", "threads", "pool", "rerank_pool", "maxsim", "doc_maxlen"))


def _cosine_adapter(path: str, **kwargs):
    from winnow.rerank.cosine_adapter import CosineAdapter  # relevance filter (torch imported lazily)

    return CosineAdapter.load(path, **kwargs)


register_stage("cosine_adapter", _cosine_adapter, ("path", "index", "calibrate_only", "threshold"))


def _cross_encoder(path: str, **kwargs):
    from winnow.rerank.cross_encoder import cross_encoder  # torch and sentence-transformers imported lazily

    return cross_encoder(path, **kwargs)


register_stage("cross_encoder", _cross_encoder, ("path", "corpus", "k", "batch_size", "max_length"))


def _cur(path: str, **kwargs):
    from winnow.index.cur import cur_stage  # CUR kNN (ANNCUR): a retriever; input results are ignored

    return cur_stage(path, **kwargs)


register_stage("cur", _cur, ("path", "budget", "adaptive", "n_rounds", "k", "corpus", "pool", "nprobe"))


def _sharded(path: str, **kwargs):
    from winnow.distributed.stage import sharded_stage  # a sharded index as a retriever (input results ignored)

    return sharded_stage(path, **kwargs)


register_stage("sharded", _sharded, ("path", "ray", "replicas", "batch_size", "allow_partial", "k"))


@dataclass
class IndexSpec:
    name: str
    type: str
    params: dict

    @property
    def dense(self) -> bool:
        return self.type not in SPARSE_TYPES

    def build_params(self) -> dict:
        return {k: v for k, v in self.params.items() if k not in SEARCH_PARAMS}

    def search_params(self) -> dict:
        return {k: v for k, v in self.params.items() if k in SEARCH_PARAMS}


@dataclass
class ExperimentConfig:
    dataset: dict
    indexes: dict[str, IndexSpec]
    pipelines: dict[str, tuple]           # name -> expression tree
    expressions: dict[str, str]           # name -> source text
    metrics: list[str] | None             # None: the defaults per split kind
    rel: int | None
    baseline: str
    k: int
    alpha: float
    output_dir: Path
    cache_dir: Path
    plots: bool
    score_format: str = "exact"
    threads: int = 1
    name: str = "experiment"
    raw: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------- overrides

def _parse_value(text: str, key: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if text[:1] in "[{\"'" or not text.strip():
            raise ConfigError(f"--set {key}", f"value {text!r} is not a TOML value") from None
        return text  # a bare string such as a path


def apply_overrides(raw: dict, sets: Sequence[str]) -> set[str]:
    """Apply ``key.sub=value`` overrides in place; returns the dotted keys set."""
    done = set()
    for item in sets:
        if "=" not in item:
            raise ConfigError(f"--set {item}", "expected KEY=VALUE with a dotted key, e.g. evaluation.k=100")
        key, value = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not all(p.strip() for p in parts):
            raise ConfigError(f"--set {item}", f"malformed key {key!r}")
        table = raw
        for i, part in enumerate(parts[:-1]):
            nxt = table.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {key}", f"{'.'.join(parts[:i + 1])} is a value, not a table")
            table = nxt
        table[parts[-1]] = _parse_value(value.strip(), key)
        done.add(key)
    return done


# ------------------------------------------------------------------------------- pipelines

def parse_pipeline(name: str, text: str, indexes: Mapping, pipelines: Mapping[str, str],
                   _stack: tuple = ()) -> tuple:
    """Parse one pipeline expression into a tree of tuples:
    ("index", name) | ("fuse", fn, (children...), kwargs) | ("cutoff", child, k)
    | ("then", child, stage_name, args, kwargs). Pipeline references are inlined."""
    key = f"pipelines.{name}"
    if not isinstance(text, str):
        raise ConfigError(key, f"expected an expression string, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConfigError(key, f"syntax error in {text!r}: {exc.msg}") from None

    def const(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return -const(node.operand)
        if isinstance(node, ast.List):
            return tuple(const(e) for e in node.elts)
        raise ConfigError(key, f"expected a constant, got {ast.unparse(node)!r}")

    def walk(node: ast.AST) -> tuple:
        if isinstance(node, ast.Name):
            ref = node.id
            if ref in indexes:
                return ("index", ref)
            if ref in pipelines and ref != name:
                if ref in _stack:
                    raise ConfigError(key, f"pipelines refer to each other in a cycle: {' -> '.join(_stack + (ref,))}")
                return parse_pipeline(ref, pipelines[ref], indexes, pipelines, _stack + (name,))
            raise ConfigError(key, f"unknown index or pipeline {ref!r}; indexes: {sorted(indexes)}, "
                                   f"pipelines: {sorted(p for p in pipelines if p != name)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUSIONS:
            fn = node.func.id
            if not node.args:
                raise ConfigError(key, f"{fn}() needs at least one input")
            kwargs = {}
            for kw in node.keywords:
                if kw.arg not in FUSIONS[fn]:
                    raise ConfigError(key, f"{fn}() has no parameter {kw.arg!r}; "
                                           f"expected {sorted(FUSIONS[fn])}")
                kwargs[kw.arg] = const(kw.value)
            return ("fuse", fn, tuple(walk(a) for a in node.args), tuple(sorted(kwargs.items())))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            k = const(node.right)
            if not isinstance(k, int) or isinstance(k, bool) or k < 1:
                raise ConfigError(key, f"cutoff '% k' needs a positive integer, got {k!r}")
            return ("cutoff", walk(node.left), k)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            right = node.right
            if not (isinstance(right, ast.Call) and isinstance(right.func, ast.Name)):
                raise ConfigError(key, f"right of '>>' must be a stage call such as cutoff(100), "
                                       f"got {ast.unparse(right)!r}")
            stage = right.func.id
            if stage not in STAGES:
                raise ConfigError(key, f"unknown stage {stage!r}; known stages: {sorted(STAGES)}")
            allowed = STAGES[stage][1]
            kwargs = {}
            for kw in right.keywords:
                if kw.arg is None or (allowed is not None and kw.arg not in allowed):
                    raise ConfigError(key, f"stage {stage}() has no parameter {kw.arg!r}")
                kwargs[kw.arg] = const(kw.value)
            return ("then", walk(node.left), stage, tuple(const(a) for a in right.args),
                    tuple(sorted(kwargs.items())))
        if isinstance(node, ast.Call):
            fn = ast.unparse(node.func)
            raise ConfigError(key, f"unknown function {fn!r}; expected one of {sorted(FUSIONS)} "
                                   f"(stages after '>>': {sorted(STAGES)})")
        raise ConfigError(key, f"unsupported expression {ast.unparse(node)!r}; use index names, "
                               "rrf(...), score_sum(...), '% k' and '>> stage(...)'")

    return walk(tree)


def canonical(tree: tuple) -> str:
    """A stable text form of an expression tree (part of the run cache key)."""
    kind = tree[0]
    if kind == "index":
        return tree[1]
    if kind == "fuse":
        kw = "".join(f", {k}={v!r}" for k, v in tree[3])
        return f"{tree[1]}({', '.join(canonical(c) for c in tree[2])}{kw})"
    if kind == "cutoff":
        return f"({canonical(tree[1])}) % {tree[2]}"
    args = [repr(a) for a in tree[3]] + [f"{k}={v!r}" for k, v in tree[4]]
    return f"({canonical(tree[1])}) >> {tree[2]}({', '.join(args)})"


def index_names(tree: tuple) -> list[str]:
    """Index names used by a tree, in first-use order."""
    if tree[0] == "index":
        return [tree[1]]
    children = tree[2] if tree[0] == "fuse" else (tree[1],)
    out: list[str] = []
    for c in children:
        out += [n for n in index_names(c) if n not in out]
    return out


# ------------------------------------------------------------------------------- sections

def _table(raw: Mapping, key: str, required: bool = False) -> dict:
    value = raw.get(key.rsplit(".", 1)[-1], {} if not required else None)
    if value is None:
        raise ConfigError(key, "missing section")
    if not isinstance(value, dict):
        raise ConfigError(key, f"expected a table, got {type(value).__name__}")
    return value


def _check_keys(table: Mapping, key: str, allowed: Sequence[str]) -> None:
    for k in table:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}", f"unknown key; expected one of {sorted(allowed)}")


def _typed(value: Any, default: Any, key: str) -> Any:
    """``value`` checked against the type of ``default`` (None: a string); ints widen to float."""
    want = str if default is None else type(default)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
        raise ConfigError(key, f"expected {want.__name__}, got {value!r}")
    return value


def _path(value: Any, key: str, base: Path, must_exist: bool = True) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"expected a path string, got {value!r}")
    p = Path(os.path.expandvars(os.path.expanduser(value)))
    p = p if p.is_absolute() else base / p
    if must_exist and not p.exists():
        raise ConfigError(key, f"no such file or directory: {p}")
    return p.resolve() if must_exist else p


def _quantize(value: Any, key: str) -> int | str:
    from winnow.index.impact_input import parse_quantize

    try:
        bits = parse_quantize(value)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None
    return "none" if bits is None else bits


def _index_spec(name: str, table: Any, base: Path) -> IndexSpec:
    key = f"indexes.{name}"
    if not isinstance(table, dict):
        raise ConfigError(key, f"expected a table with 'type', got {table!r}")
    kind = table.get("type")
    if kind not in INDEX_TYPES:
        raise ConfigError(f"{key}.type", f"unknown index type {kind!r}; expected one of {sorted(INDEX_TYPES)}")
    spec = INDEX_TYPES[kind]
    _check_keys(table, key, ["type", *spec])
    params = {}
    for p, default in spec.items():
        if (kind, p) == ("impact", "quantize"):
            params[p] = _quantize(table.get(p, default), f"{key}.{p}")
            continue
        if p in table:
            params[p] = _typed(table[p], 0 if default is REQUIRED else default, f"{key}.{p}")
        elif default is REQUIRED:
            raise ConfigError(f"{key}.{p}", f"required for type '{kind}'")
        else:
            params[p] = default
        choices = _TYPE_CHOICES.get((kind, p), _CHOICES.get(p))
        if choices is not None and params[p] not in choices and not (p == "nbits" and kind == "ivf"):
            raise ConfigError(f"{key}.{p}", f"expected one of {choices}, got {params[p]!r}")
        if (kind, p) in _POSITIVE and params[p] < 1:
            raise ConfigError(f"{key}.{p}", f"must be a positive integer, got {params[p]!r}")
    if kind == "impact":
        if params["input"] is None:
            raise ConfigError(f"{key}.input", "required for type 'impact' (a JsonVectorCollection file or directory)")
        for p in ("input", "weighted_queries"):
            if params[p] is not None:
                params[p] = str(_path(params[p], f"{key}.{p}", base))
    elif kind != "bm25":
        if (params["model"] is None) == (params["vectors"] is None):
            raise ConfigError(key, "give exactly one of model = \"default\" | \"/model/dir\" "
                                   "or vectors = \"/precomputed/dir\"")
        if params["vectors"] is not None:
            params["vectors"] = str(_path(params["vectors"], f"{key}.vectors", base))
        elif params["model"] != "default":
            params["model"] = str(_path(params["model"], f"{key}.model", base))
    if kind == "ivf" and params["payload"] in ("pq", "fastscan") and not params["M"]:
        raise ConfigError(f"{key}.M", f"required for payload '{params['payload']}'")
    return IndexSpec(name, kind, params)


def _dataset(table: dict, base: Path, overridden: set[str]) -> dict:
    _check_keys(table, "dataset", ["path", "root", "split", "splits", "queries", "qrels",
                                   "missing_splits", "name"])
    if "path" in table and "root" in table:
        raise ConfigError("dataset.root", "give dataset.path or dataset.root, not both")
    pkey = "dataset.root" if "root" in table else "dataset.path"
    value = table.get("root", table.get("path"))
    if value is None:
        raise ConfigError("dataset.path", "missing: the dataset directory (or bundled:NAME)")
    out: dict[str, Any] = {"name": table.get("name")}
    where = Path.cwd() if pkey in overridden else base
    if isinstance(value, str) and value.startswith("bundled:"):
        out["bundled"] = value.split(":", 1)[1]
    else:
        out["path"] = _path(value, pkey, where)
    splits = table.get("splits", table.get("split"))
    if isinstance(splits, str):
        splits = [splits]
    if splits is not None and not (isinstance(splits, list) and all(isinstance(s, str) for s in splits) and splits):
        raise ConfigError("dataset.splits", f"expected a split name or a list of names, got {splits!r}")
    out["splits"] = splits
    out["missing_splits"] = table.get("missing_splits", "error")
    if out["missing_splits"] not in ("error", "skip"):
        raise ConfigError("dataset.missing_splits", f"expected 'error' or 'skip', got {out['missing_splits']!r}")
    files: dict[str, dict[str, Path]] = {}
    for what in ("queries", "qrels"):
        v = table.get(what)
        if v is None:
            continue
        if isinstance(v, str):
            v = {(splits or ["test"])[0]: v}
        if not isinstance(v, dict):
            raise ConfigError(f"dataset.{what}", f"expected a file or a table {{split = file}}, got {v!r}")
        files[what] = {s: _path(p, f"dataset.{what}.{s}" if len(v) > 1 else f"dataset.{what}",
                                Path.cwd() if f"dataset.{what}" in overridden else base) for s, p in v.items()}
    if ("queries" in files) != ("qrels" in files):
        raise ConfigError("dataset.qrels" if "queries" in files else "dataset.queries",
                          "explicit query files need qrels files too (and the other way round)")
    if files and set(files["queries"]) != set(files["qrels"]):
        raise ConfigError("dataset.qrels", f"splits {sorted(files['qrels'])} differ from dataset.queries "
                                           f"splits {sorted(files['queries'])}")
    out["files"] = files
    return out


def load_config(source: str | os.PathLike | Mapping, overrides: Sequence[str] = (), *,
                output: str | os.PathLike | None = None, threads: int | None = None,
                only: Sequence[str] | None = None, base_dir: str | os.PathLike | None = None
                ) -> ExperimentConfig:
    """Read a TOML file (or take a dict), apply ``--set`` overrides and validate everything.

    Relative input paths in a file are relative to the file's folder (to ``base_dir``, default
    the current directory, for a dict); paths given with ``--set`` and the output paths
    (``output.dir``, ``output.cache``) are relative to the current directory. ``only`` keeps these pipelines (and the indexes they use); the baseline
    defaults to the first of them.
    """
    if isinstance(source, Mapping):
        import copy

        raw, base, name = copy.deepcopy(dict(source)), Path(base_dir or Path.cwd()), "experiment"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError("config", f"no such file: {path}")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"invalid TOML: {exc}") from None
        base, name = Path(base_dir) if base_dir else path.resolve().parent, path.stem
    overridden = apply_overrides(raw, overrides)
    _check_keys(raw, "config", ["name", "description", "threads", "dataset", "indexes", "pipelines",
                                "evaluation", "output"])
    name = str(raw.get("name", name))
    dataset = _dataset(_table(raw, "dataset", required=True), base, overridden)
    idx_table = _table(raw, "indexes", required=True)
    if not idx_table:
        raise ConfigError("indexes", "declare at least one index")
    indexes = {n: _index_spec(n, t, base) for n, t in idx_table.items()}
    exprs = _table(raw, "pipelines")
    if not exprs:  # default: one pipeline per index
        exprs = {n: n for n in indexes}
    for n in exprs:
        if n in indexes and exprs[n] != n:
            raise ConfigError(f"pipelines.{n}", "a pipeline may not share its name with an index")
    pipelines = {n: parse_pipeline(n, t, indexes, exprs) for n, t in exprs.items()}
    if only:
        unknown = [n for n in only if n not in pipelines]
        if unknown:
            raise ConfigError("--only", f"unknown pipeline(s) {unknown}; pipelines: {list(pipelines)}")
        pipelines = {n: pipelines[n] for n in only}
        exprs = {n: exprs[n] for n in only}

    ev = _table(raw, "evaluation")
    _check_keys(ev, "evaluation", ["metrics", "rel", "baseline", "k", "alpha"])
    metrics = ev.get("metrics")
    if isinstance(metrics, str):
        metrics = metrics.split()
    if metrics is not None:
        if not (isinstance(metrics, list) and metrics and all(isinstance(m, str) for m in metrics)):
            raise ConfigError("evaluation.metrics", f"expected a list of ir_measures names, got {metrics!r}")
        from winnow.evaluation import resolve_metrics

        try:
            resolve_metrics(metrics)
        except ValueError as exc:
            raise ConfigError("evaluation.metrics", str(exc)) from None
    rel = ev.get("rel")
    if rel is not None and (not isinstance(rel, int) or isinstance(rel, bool) or rel < 1):
        raise ConfigError("evaluation.rel", f"expected an integer >= 1, got {rel!r}")
    baseline = ev.get("baseline", next(iter(pipelines)))
    if only and baseline not in pipelines:
        baseline = next(iter(pipelines))
    if baseline not in pipelines:
        raise ConfigError("evaluation.baseline", f"unknown pipeline {baseline!r}; pipelines: {list(pipelines)}")
    k = ev.get("k", 1000)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError("evaluation.k", f"expected a positive integer, got {k!r}")
    alpha = _typed(ev.get("alpha", 0.05), 0.05, "evaluation.alpha")
    if not 0 < alpha < 1:
        raise ConfigError("evaluation.alpha", f"expected a number in (0, 1), got {alpha}")

    out = _table(raw, "output")
    _check_keys(out, "output", ["dir", "cache", "plots", "score_format"])
    score_format = out.get("score_format", "exact")
    if score_format not in ("exact", "anserini"):
        raise ConfigError("output.score_format", f"expected 'exact' or 'anserini', got {score_format!r}")
    # output.dir and output.cache are relative to the current directory, like --output
    out_dir = Path(output) if output is not None else _path(out.get("dir", f"results/{name}"), "output.dir",
                                                            Path.cwd(), False)
    cache_dir = _path(out["cache"], "output.cache", Path.cwd(), False) if "cache" in out else out_dir / "cache"
    plots = _typed(out.get("plots", True), True, "output.plots")
    n_threads = threads if threads is not None else raw.get("threads", 1)
    if not isinstance(n_threads, int) or isinstance(n_threads, bool) or n_threads < 0:
        raise ConfigError("threads", f"expected an integer >= 0, got {n_threads!r}")
    return ExperimentConfig(dataset, indexes, pipelines, {n: str(t) for n, t in exprs.items()}, metrics, rel,
                            baseline, k, float(alpha), out_dir, cache_dir, plots, score_format, n_threads or (os.cpu_count() or 1),
                            name, raw)
