"""BM25 benchmark: Winnow vs pyserini 0.21.0 (Lucene 9, the anchor) vs bm25s, side by side.

One run indexes the same corpus with each system (1 and 2 threads), searches the same queries
single-threaded at k=10 and k=1000, and reports per system:

* indexing documents/s (wall clock, reading the corpus from disk to a saved index),
* query latency p50/p99 (ms, one query per call, after a warm-up) and QPS (one query per call,
  and all queries in one batched call, both single-threaded),
* index bytes on disk, peak RSS of the indexing and of the searching process,
* quality (nDCG@10, R@1000 via ``winnow.evaluation.evaluate``) where qrels exist, and
  agreement with pyserini (identical top-10 lists, max score difference) everywhere,

with ratios Winnow/anchor. Every (system, phase) runs in its own subprocess (this script
re-invokes itself with ``--worker``), so peak RSS (``ru_maxrss`` of that child via
``os.wait4``) is per system.

System settings:

* Winnow: ``BM25Index.build(..., k1=0.9, b=0.4, scoring="lucene")``, English analyzer
  (port of Lucene's EnglishAnalyzer), saved with ``idx.save``; search ``algorithm="maxscore"``.
* pyserini: docs written as a JsonCollection (``{"id", "contents"}``), indexed with
  ``python -m pyserini.index.lucene --collection JsonCollection --generator
  DefaultLuceneDocumentGenerator --threads N`` (no ``--storePositions``, ``--storeDocvectors``
  or ``--storeRaw``; no ``--optimize``); timed as a subprocess, JVM start included, and also
  reported minus a measured JVM/startup baseline (indexing a 1-document collection).
  Search: ``LuceneSearcher(index).set_bm25(0.9, 0.4)``; ``search(q, k)`` per query,
  ``batch_search(..., threads=1)`` batched.
* PISA (``pyterrier-pisa`` 0.4.9, the bench extra): ``PisaIndex(dir, stemmer="porter2",
  stops="lucene", threads=N).index(...)`` (Lucene's 33 English stopwords and porter2, so both
  engines see nearly the same query terms); ``bm25(k1=0.9, b=0.4, num_results=k, threads=1,
  query_algorithm=A)``. Per query: ``retr.search(text)`` (a one-row DataFrame per call);
  batched: one DataFrame of all queries, for each A in block_max_wand, maxscore and
  block_max_maxscore, best reported (``best_algorithm`` in the JSON). Winnow's batch point is
  likewise the best of maxscore and windowed.
* bm25s: ``bm25s.tokenize(texts, stopwords="en", stemmer=PyStemmer english)`` (if PyStemmer
  is installed), ``BM25(method="lucene", k1=0.9, b=0.4).index``, numpy backend; reading the
  corpus through winnow's reader is included in its indexing time; it has no multi-threaded
  indexing, so its 2-thread point is omitted. Per-query: tokenize + ``retrieve(k)``.

Results: one JSON line per operating point (system x {index@threads, search@k}) appended to
``benchmarks/results/bm25.jsonl``; a Markdown table on stdout.

Examples::

    python benchmarks/bench_bm25.py --corpus scifact
    python benchmarks/bench_bm25.py --corpus synthetic --n-docs 20000
    python benchmarks/bench_bm25.py --corpus /path/to/beir_or_msmarco_dir --split test
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SYSTEMS = ("winnow", "pyserini", "pisa", "bm25s")
K1, B = 0.9, 0.4
ANCHORS = ("pyserini", "pisa", "bm25s")
# Batch runs try each algorithm and keep the fastest ("each engine in its best mode").
WINNOW_ALGORITHMS = ("maxscore", "windowed")
PISA_ALGORITHMS = ("block_max_wand", "maxscore", "block_max_maxscore")


# ---------------------------------------------------------------------------------------------
# helpers
def dir_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def vm_hwm_kb() -> int:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def percentiles(lat_s: list[float]) -> dict:
    a = np.asarray(lat_s) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "mean_ms": float(a.mean()), "qps_loop": float(len(a) / (a.sum() / 1e3))}


def load_dataset(spec: dict):
    from winnow.datasets import load
    return load(spec["path"])


def save_run(path: Path, run: dict) -> None:
    with open(path, "w") as fh:
        json.dump(run, fh)


# ---------------------------------------------------------------------------------------------
# Marks a directory as bench_bm25's work dir: only there are idx-* entries ever replaced.
WORKDIR_MARKER = ".bench_bm25_workdir"


# workers (each runs in its own process)
def _stemmer():
    try:
        import Stemmer  # PyStemmer
        return Stemmer.Stemmer("english").stemWords, "PyStemmer english"
    except ImportError:
        return None, "none (PyStemmer not installed)"


def worker_index(a) -> dict:
    spec = json.loads(Path(a.spec).read_text())
    out = Path(a.index_dir)
    if out.exists():
        if not (out.parent / WORKDIR_MARKER).is_file():  # main() marks the work dirs it uses
            raise SystemExit(f"{out} exists outside a bench_bm25 work dir; not deleting it")
        shutil.rmtree(out)
    ds = load_dataset(spec)
    if a.system == "winnow":
        from winnow.index import BM25Index
        t0 = time.perf_counter()
        idx = BM25Index.build(ds.corpus(), k1=K1, b=B, scoring="lucene", threads=a.threads, progress=False)
        t1 = time.perf_counter()
        idx.save(out)
        t2 = time.perf_counter()
        return {"build_s": t1 - t0, "save_s": t2 - t1, "index_s": t2 - t0, "n_docs": idx.n_docs,
                "n_terms": idx.n_terms, "nbytes_mem": int(idx.nbytes)}
    if a.system == "bm25s":
        import bm25s
        stem, _ = _stemmer()
        t0 = time.perf_counter()
        texts = [t for _, t in ds.corpus()]
        t1 = time.perf_counter()
        tok = bm25s.tokenize(texts, stopwords="en", stemmer=stem, show_progress=False)
        t2 = time.perf_counter()
        ret = bm25s.BM25(method="lucene", k1=K1, b=B)
        ret.index(tok, show_progress=False)
        t3 = time.perf_counter()
        ret.save(out, show_progress=False)
        t4 = time.perf_counter()
        return {"read_s": t1 - t0, "tokenize_s": t2 - t1, "build_s": t3 - t2, "save_s": t4 - t3,
                "index_s": t4 - t0, "n_docs": len(texts), "n_terms": len(tok.vocab)}
    if a.system == "pisa":
        from pyterrier_pisa import PisaIndex
        t0 = time.perf_counter()
        pidx = PisaIndex(str(out), stemmer="porter2", stops="lucene", threads=a.threads)
        pidx.index({"docno": d, "text": t} for d, t in ds.corpus())
        t1 = time.perf_counter()
        return {"index_s": t1 - t0, "n_docs": pidx.num_docs(), "n_terms": pidx.num_terms()}
    raise SystemExit(f"no in-process indexer for {a.system}")


def _load_queries(a) -> tuple[list[str], list[str]]:
    q = json.loads(Path(a.queries).read_text())
    return list(q.keys()), list(q.values())


def worker_search(a) -> dict:
    qids, texts = _load_queries(a)
    nw = min(a.warmup, len(texts))
    res: dict = {}
    batch_by_algorithm: dict = {}  # set by engines with several algorithms; else batch() is used
    t0 = time.perf_counter()
    if a.system == "winnow":
        from winnow.index import BM25Index
        idx = BM25Index.load(a.index_dir, mmap=False)
        load_s = time.perf_counter() - t0

        def one(i, k):
            return idx.search({qids[i]: texts[i]}, k=k, threads=1)

        queries = dict(zip(qids, texts))
        batch_by_algorithm = {alg: (lambda k, alg=alg: idx.search(queries, k=k, threads=1, algorithm=alg))
                              for alg in WINNOW_ALGORITHMS}

        def to_run(r):
            return r.to_dict()
    elif a.system == "pyserini":
        from pyserini.search.lucene import LuceneSearcher
        s = LuceneSearcher(str(a.index_dir))
        s.set_bm25(K1, B)
        load_s = time.perf_counter() - t0

        def one(i, k):
            return s.search(texts[i], k)

        def batch(k):
            return s.batch_search(texts, qids, k, threads=1)

        def to_run(r):
            return {q: {h.docid: float(h.score) for h in hits} for q, hits in r.items()}
    elif a.system == "pisa":
        import pandas as pd
        from pyterrier_pisa import PisaIndex
        pidx = PisaIndex(str(a.index_dir), stemmer="porter2", stops="lucene", threads=1)
        frame = pd.DataFrame({"qid": qids, "query": texts})
        retrievers: dict = {}

        def retriever(k, alg="block_max_wand"):
            if (k, alg) not in retrievers:
                retrievers[(k, alg)] = pidx.bm25(k1=K1, b=B, num_results=k, threads=1, query_algorithm=alg)
            return retrievers[(k, alg)]
        load_s = time.perf_counter() - t0

        def one(i, k):
            return retriever(k).search(texts[i])

        batch_by_algorithm = {alg: (lambda k, alg=alg: retriever(k, alg)(frame)) for alg in PISA_ALGORITHMS}

        def to_run(r):
            run: dict = {}
            for q, d, sc in zip(r["qid"], r["docno"], r["score"]):
                run.setdefault(str(q), {})[str(d)] = float(sc)
            return run
    elif a.system == "bm25s":
        import bm25s
        stem, _ = _stemmer()
        ret = bm25s.BM25.load(a.index_dir, load_corpus=False, mmap=False, show_progress=False)
        vocab = ret.vocab_dict
        n = ret.scores["num_docs"]
        spec = json.loads(Path(a.spec).read_text())
        docnos = json.loads(Path(spec["docnos"]).read_text())
        load_s = time.perf_counter() - t0

        def toks(batch_texts):
            tk = bm25s.tokenize(batch_texts, stopwords="en", stemmer=stem, return_ids=False, show_progress=False)
            # keep in-vocabulary tokens (bm25s's own fallback for an all-OOV query, the "" token,
            # has an id past the score matrix in 0.3.16 and raises); empty queries match nothing
            return [[t for t in q if t in vocab] for q in tk]

        def one(i, k):
            q = toks([texts[i]])
            if not q[0]:
                return np.zeros((1, 0), np.int64), np.zeros((1, 0), np.float32)
            return ret.retrieve(q, k=min(k, n), show_progress=False, n_threads=1)

        def batch(k):
            q = toks(texts)
            keep = [j for j, x in enumerate(q) if x]
            ids, sc = ret.retrieve([q[j] for j in keep], k=min(k, n), show_progress=False, n_threads=1)
            out_ids = [np.zeros(0, np.int64)] * len(q)
            out_sc = [np.zeros(0, np.float32)] * len(q)
            for row, j in enumerate(keep):
                out_ids[j], out_sc[j] = ids[row], sc[row]
            return out_ids, out_sc

        def to_run(r):
            ids, sc = r
            return {q: {docnos[int(d)]: float(x) for d, x in zip(ids[j], sc[j]) if x > 0}
                    for j, q in enumerate(qids)}
    else:
        raise SystemExit(a.system)
    res["load_s"] = load_s
    for k in a.ks:
        for i in range(nw):  # warm-up (JIT, caches)
            one(i, k)
        lat = []
        for i in range(len(texts)):
            s0 = time.perf_counter()
            one(i, k)
            lat.append(time.perf_counter() - s0)
        r = percentiles(lat)
        algorithms = batch_by_algorithm if batch_by_algorithm else {"default": batch}
        r["batch_s_by_algorithm"] = {}
        for alg, run_batch in algorithms.items():
            run_batch(k)  # warm-up (first-call setup, caches)
            s0 = time.perf_counter()
            out = run_batch(k)
            r["batch_s_by_algorithm"][alg] = time.perf_counter() - s0
            if r["batch_s_by_algorithm"][alg] == min(r["batch_s_by_algorithm"].values()):
                br, r["best_algorithm"] = out, alg
        r["batch_s"] = min(r["batch_s_by_algorithm"].values())
        r["qps_batch"] = len(texts) / r["batch_s"]
        res[f"k{k}"] = r
        save_run(Path(a.run_prefix + f".k{k}.json"), to_run(br))
    res["vm_hwm_kb"] = vm_hwm_kb()
    return res


def worker_main(a) -> int:
    if a.phase == "index":
        out = worker_index(a)
    else:
        out = worker_search(a)
    out["vm_hwm_kb"] = vm_hwm_kb()
    Path(a.result).write_text(json.dumps(out))
    return 0


# ---------------------------------------------------------------------------------------------
# orchestrator
def run_child(cmd: list[str], log: Path, nice: int = 0) -> tuple[float, int, int]:
    """Run ``cmd``; return (wall seconds, exit code, peak RSS KiB of it and its waited children)."""
    t0 = time.perf_counter()
    with open(log, "ab") as fh:
        fh.write(("\n$ " + " ".join(cmd) + "\n").encode())
        fh.flush()
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, p.returncode, int(ru.ru_maxrss)


def prepare(a, work: Path) -> dict:
    """Resolve the corpus: dataset dir, queries, qrels, pyserini JsonCollection, docno list."""
    if a.corpus == "synthetic":
        sys.path.insert(0, str(HERE))
        import synthetic_corpus as sc
        cdir = sc.default_dir(a.n_docs, a.n_queries, a.seed, a.real_words)
        sc.generate(cdir, a.n_docs, n_queries=a.n_queries, seed=a.seed, real=a.real_words)
        name = f"synthetic{'-real' if a.real_words else ''}-{a.n_docs}"
    else:
        cdir = Path(a.corpus)
        if not cdir.exists():
            cdir = Path("/work/shared/data") / a.corpus
        if not cdir.exists():
            cdir = REPO.parent / "shared" / "data" / a.corpus
        name = cdir.name
    from winnow.datasets import load
    ds = load(cdir)
    split = a.split
    qrels = None
    if ds.splits:
        split = split if split in ds.splits else ds.splits[0]
        queries = ds.queries(split=split)
        qrels = ds.qrels(split)
        queries = {q: t for q, t in queries.items() if q in qrels}
    else:
        split = None
        queries = ds.queries()
    if a.max_queries and len(queries) > a.max_queries:
        queries = dict(list(queries.items())[: a.max_queries])
    work.mkdir(parents=True, exist_ok=True)
    (work / "queries.json").write_text(json.dumps(queries))
    if qrels is not None:
        (work / "qrels.json").write_text(json.dumps(qrels))
    # pyserini JsonCollection + docno list (cached beside the corpus cache)
    cache = HERE / ".cache" / f"{name}-jsoncollection"
    jc = cache / "docs"
    docnos_path = cache / "docnos.json"
    stamp = cache / "source.json"
    src = {"path": str(cdir), "files": [(str(p), p.stat().st_size) for p in ds.corpus_paths]}
    if not (stamp.exists() and json.loads(stamp.read_text()) == src):
        if cache.exists():
            shutil.rmtree(cache)
        jc.mkdir(parents=True)
        docnos = []
        with open(jc / "docs.jsonl", "w") as fh:
            for d, t in ds.corpus():
                docnos.append(d)
                fh.write(json.dumps({"id": d, "contents": t}) + "\n")
        docnos_path.write_text(json.dumps(docnos))
        one = cache / "one"
        one.mkdir()
        with open(one / "docs.jsonl", "w") as fh:
            fh.write(json.dumps({"id": "0", "contents": "hello world"}) + "\n")
        stamp.write_text(json.dumps(src))
    n_docs = len(json.loads(docnos_path.read_text()))
    spec = {"name": name, "path": str(cdir), "split": split, "n_docs": n_docs, "n_queries": len(queries),
            "docnos": str(docnos_path), "jsoncollection": str(jc), "jsoncollection_one": str(cache / "one"),
            "has_qrels": qrels is not None}
    if a.corpus == "synthetic":
        spec["synthetic"] = json.loads((cdir / "synthetic.json").read_text())
    (work / "spec.json").write_text(json.dumps(spec))
    return spec


def environment(threads_used) -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    vers = {}
    for mod in ("winnow", "pyserini", "bm25s", "numpy"):
        try:
            m = __import__(mod)
            vers[mod] = getattr(m, "__version__", "?")
        except Exception as exc:  # noqa: BLE001
            vers[mod] = f"unavailable ({type(exc).__name__})"
    try:
        from importlib.metadata import version
        vers["PyStemmer"] = version("PyStemmer")
    except Exception:  # noqa: BLE001
        vers["PyStemmer"] = None
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    except Exception:  # noqa: BLE001
        java = None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                    capture_output=True, text=True).stdout.strip())
    except Exception:  # noqa: BLE001
        sha, dirty = None, None
    return {"cpu": cpu, "n_cpus": os.cpu_count(), "threads": threads_used, "python": platform.python_version(),
            "java": java, "versions": vers, "git_sha": sha, "git_dirty": dirty,
            "loadavg_start": os.getloadavg(), "host": platform.node()}


def agreement(run: dict, ref: dict, depth: int = 10) -> dict:
    """How close ``run`` is to ``ref`` (pyserini): identical top-``depth`` docno lists, overlap,
    and max |score difference| at equal rank."""
    same, overlap, maxdiff, n = 0, 0.0, 0.0, 0
    for q, r in ref.items():
        a = sorted(run.get(q, {}).items(), key=lambda x: (-x[1], x[0]))[:depth]
        b = sorted(r.items(), key=lambda x: (-x[1], x[0]))[:depth]
        n += 1
        same += [d for d, _ in a] == [d for d, _ in b]
        if b:
            overlap += len({d for d, _ in a} & {d for d, _ in b}) / len(b)
        for (_, x), (_, y) in zip(a, b):
            maxdiff = max(maxdiff, abs(x - y))
    return {f"identical_top{depth}": same / max(n, 1), f"overlap@{depth}": overlap / max(n, 1),
            f"max_abs_score_diff_top{depth}": maxdiff}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="scifact",
                    help="'synthetic', a dataset name under shared/data, or a dataset directory path")
    ap.add_argument("--n-docs", type=int, default=1_000_000, help="synthetic corpus size (8800000 for MS MARCO size)")
    ap.add_argument("--n-queries", type=int, default=1000, help="synthetic query count")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="test", help="qrels split for real collections")
    ap.add_argument("--max-queries", type=int, default=0, help="cap the number of queries (0 = all)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of winnow,pyserini,pisa,bm25s")
    ap.add_argument("--real-words", action="store_true",
                    help="synthetic corpus with real words at the vocabulary head and real MS MARCO dev queries "
                         "(benchmarks/synthetic_corpus.py --real-words)")
    ap.add_argument("--index-threads", default="1,2")
    ap.add_argument("--ks", default="10,1000")
    ap.add_argument("--warmup", type=int, default=100, help="warm-up queries before each timed loop")
    ap.add_argument("--workdir", type=Path, default=None, help="where indexes go (default: a temp dir, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--reuse-indexes", action="store_true",
                    help="skip indexing where --workdir already holds an index and its result from an earlier "
                         "run (to repeat the search measurements; indexing figures are then the earlier run's)")
    ap.add_argument("--results", type=Path, default=HERE / "results" / "bm25.jsonl")
    ap.add_argument("--no-append", action="store_true", help="do not write to the results file")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--system", help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=["index", "search"], help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--queries", help=argparse.SUPPRESS)
    ap.add_argument("--index-dir", help=argparse.SUPPRESS)
    ap.add_argument("--run-prefix", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        a.ks = [int(x) for x in a.ks.split(",")]
        return worker_main(a)

    systems = [s for s in a.systems.split(",") if s]
    threads_list = [int(x) for x in a.index_threads.split(",")]
    ks = [int(x) for x in a.ks.split(",")]
    tmp_owner = None
    if a.workdir is None:
        tmp_owner = tempfile.mkdtemp(prefix="bench_bm25_", dir=HERE / ".cache" if (HERE / ".cache").exists() else None)
        work = Path(tmp_owner)
    else:
        work = a.workdir
    work.mkdir(parents=True, exist_ok=True)
    # the workers replace work/idx-*: only in a directory this script made its work dir (marker
    # inside), never in a folder of the user's that happens to hold such names
    if any(work.glob("idx-*")) and not (work / WORKDIR_MARKER).is_file():
        sys.exit(f"{work} holds idx-* entries but is not a bench_bm25 work dir (no {WORKDIR_MARKER}); "
                 "choose another --workdir")
    (work / WORKDIR_MARKER).touch()
    log = work / "log.txt"
    print(f"work dir {work} (child output in {log})", file=sys.stderr)
    spec = prepare(a, work)
    print(f"corpus {spec['name']}: {spec['n_docs']} docs, {spec['n_queries']} queries", file=sys.stderr)
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--spec", str(work / "spec.json"), "--queries", str(work / "queries.json")]
    stem_desc = _stemmer()[1]
    idx_res: dict = {}
    search_res: dict = {}
    jvm_baseline = None

    def child(cmd):
        wall, rc, rss = run_child(cmd, log)
        if rc != 0:
            raise SystemExit(f"child failed (rc={rc}): {' '.join(cmd)}; see {log}")
        return wall, rss

    # ---- indexing
    for system in systems:
        for t in threads_list:
            if system == "bm25s" and t != 1:
                continue
            idir = work / f"idx-{system}-t{t}"
            reused = work / f"reused-index-{system}-t{t}.json"
            if a.reuse_indexes and idir.exists() and reused.exists():
                idx_res[(system, t)] = json.loads(reused.read_text())
                print(f"reusing {idir} (indexing figures from the earlier run)", file=sys.stderr)
                continue
            print(f"indexing {system} threads={t} ...", file=sys.stderr, flush=True)
            if system == "pyserini":
                if jvm_baseline is None:
                    one_dir = work / "idx-pyserini-one"
                    cmd = [sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonCollection",
                           "--input", spec["jsoncollection_one"], "--index", str(one_dir), "--generator",
                           "DefaultLuceneDocumentGenerator", "--threads", "1"]
                    walls = [child(cmd)[0] for _ in range(2)]
                    shutil.rmtree(one_dir, ignore_errors=True)
                    jvm_baseline = min(walls)
                if idir.exists():
                    shutil.rmtree(idir)
                cmd = [sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonCollection",
                       "--input", spec["jsoncollection"], "--index", str(idir), "--generator",
                       "DefaultLuceneDocumentGenerator", "--threads", str(t)]
                wall, rss = child(cmd)
                inner = {"index_s": wall, "index_s_minus_startup": max(wall - jvm_baseline, 1e-9),
                         "startup_baseline_s": jvm_baseline,
                         "segments": len(list(idir.glob("*.si"))),
                         "settings": "JsonCollection, DefaultLuceneDocumentGenerator, no positions/docvectors/raw, no optimize"}
            else:
                res_path = work / f"res-index-{system}-t{t}.json"
                wall, rss = child(me + ["--worker", "--system", system, "--phase", "index", "--threads", str(t),
                                        "--index-dir", str(idir), "--result", str(res_path)] + common)
                inner = json.loads(res_path.read_text())
                inner["process_wall_s"] = wall
            inner["peak_rss_bytes"] = rss * 1024
            inner["index_bytes"] = dir_bytes(idir)
            inner["docs_per_s"] = spec["n_docs"] / inner["index_s"]
            if "index_s_minus_startup" in inner:
                inner["docs_per_s_minus_startup"] = spec["n_docs"] / inner["index_s_minus_startup"]
            idx_res[(system, t)] = inner
            reused.write_text(json.dumps(inner))
            print(f"  {inner['index_s']:.2f}s, {inner['docs_per_s']:.0f} docs/s, "
                  f"{inner['index_bytes'] / 2**20:.1f} MiB, peak RSS {rss / 1024:.0f} MiB", file=sys.stderr)
            if t != threads_list[0]:
                shutil.rmtree(idir, ignore_errors=True)  # search uses the first thread count's index

    # ---- searching
    for system in systems:
        idir = work / f"idx-{system}-t{threads_list[0]}"
        res_path = work / f"res-search-{system}.json"
        print(f"searching {system} ...", file=sys.stderr, flush=True)
        wall, rss = child(me + ["--worker", "--system", system, "--phase", "search", "--index-dir", str(idir),
                                "--run-prefix", str(work / f"run-{system}"), "--ks", ",".join(map(str, ks)),
                                "--warmup", str(a.warmup), "--result", str(res_path)] + common)
        r = json.loads(res_path.read_text())
        r["peak_rss_bytes"] = rss * 1024
        r["process_wall_s"] = wall
        search_res[system] = r
        print("  " + ", ".join(f"k={k}: p50 {r[f'k{k}']['p50_ms']:.2f} ms, QPS {r[f'k{k}']['qps_loop']:.0f}"
                               for k in ks), file=sys.stderr)

    # ---- quality and agreement
    qual: dict = {}
    kmax = max(ks)
    runs = {s: json.loads((work / f"run-{s}.k{kmax}.json").read_text()) for s in systems}
    if spec["has_qrels"]:
        from winnow.evaluation import evaluate
        qrels = json.loads((work / "qrels.json").read_text())
        for s in systems:
            qual[s] = evaluate(runs[s], qrels, metrics=["nDCG@10", f"R@{kmax}"])
    agree = {}
    if "pyserini" in systems:
        for s in systems:
            if s != "pyserini":
                agree[s] = agreement(runs[s], runs["pyserini"])
    if "pisa" in systems and "winnow" in systems:  # PISA's analyzer differs (porter2), so overlap, not identity
        pisa_overlap = agreement(runs["winnow"], runs["pisa"])["overlap@10"]
        print(f"Winnow/PISA top-10 overlap: {pisa_overlap:.3f}", file=sys.stderr)

    # ---- records
    env = environment({"index": threads_list, "search": 1})
    base = {"bench": "bm25", "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "corpus": {k: spec[k] for k in ("name", "path", "split", "n_docs", "n_queries", "has_qrels")},
            "params": {"k1": K1, "b": B, "scoring": "lucene", "winnow_analyzer": "english",
                       "bm25s_stemmer": stem_desc, "bm25s_stopwords": "en", "warmup_queries": a.warmup}}
    if "synthetic" in spec:
        base["corpus"]["synthetic"] = spec["synthetic"]
    records = []
    for (s, t), r in idx_res.items():
        rec = dict(base, system=s, op="index", threads=t, speed={k: v for k, v in r.items()
                                                                  if k not in ("index_bytes", "peak_rss_bytes")},
                   index_bytes=r["index_bytes"], peak_rss_bytes=r["peak_rss_bytes"], env=env)
        if s == "winnow":
            rec["ratio"] = {}
            for anc in ANCHORS:
                ar = idx_res.get((anc, t))
                if ar:
                    rec["ratio"][f"docs_per_s/{anc}"] = r["docs_per_s"] / ar["docs_per_s"]
                    if "docs_per_s_minus_startup" in ar:
                        rec["ratio"][f"docs_per_s/{anc}_minus_startup"] = r["docs_per_s"] / ar["docs_per_s_minus_startup"]
                    rec["ratio"][f"index_bytes/{anc}"] = r["index_bytes"] / ar["index_bytes"]
                    if ar.get("peak_rss_bytes"):  # unknown (0) for an index reused from an older run
                        rec["ratio"][f"peak_rss/{anc}"] = r["peak_rss_bytes"] / ar["peak_rss_bytes"]
        records.append(rec)
    for s, r in search_res.items():
        for k in ks:
            rec = dict(base, system=s, op="search", k=k, threads=1, speed=dict(r[f"k{k}"], load_s=r["load_s"]),
                       index_bytes=idx_res.get((s, threads_list[0]), {}).get("index_bytes"),
                       peak_rss_bytes=r["peak_rss_bytes"], env=env)
            if k == kmax:
                if s in qual:
                    rec["quality"] = qual[s]
                if s in agree:
                    rec["agreement_vs_pyserini"] = agree[s]
                if s == "winnow" and "pisa" in systems:
                    rec["overlap10_vs_pisa"] = pisa_overlap
            if s == "winnow":
                rec["ratio"] = {}
                for anc in ANCHORS:
                    if anc in search_res:
                        ar = search_res[anc][f"k{k}"]
                        me_ = r[f"k{k}"]
                        rec["ratio"][f"qps_loop/{anc}"] = me_["qps_loop"] / ar["qps_loop"]
                        rec["ratio"][f"qps_batch/{anc}"] = me_["qps_batch"] / ar["qps_batch"]
                        rec["ratio"][f"p50/{anc}"] = me_["p50_ms"] / ar["p50_ms"]
                        rec["ratio"][f"p99/{anc}"] = me_["p99_ms"] / ar["p99_ms"]
                        rec["ratio"][f"peak_rss/{anc}"] = r["peak_rss_bytes"] / search_res[anc]["peak_rss_bytes"]
            records.append(rec)
    if not a.no_append:
        a.results.parent.mkdir(parents=True, exist_ok=True)
        with open(a.results, "a") as fh:
            for rec in records:
                fh.write(json.dumps(rec, sort_keys=True) + "\n")
        print(f"appended {len(records)} records to {a.results}", file=sys.stderr)
    print(markdown(spec, systems, threads_list, ks, idx_res, search_res, qual, agree, env))
    if tmp_owner and not a.keep:
        shutil.rmtree(tmp_owner, ignore_errors=True)
    return 0


def markdown(spec, systems, threads_list, ks, idx_res, search_res, qual, agree, env) -> str:
    mib = lambda x: (f"{x / 2**20:,.1f}" if x < 2**24 else f"{x / 2**20:,.0f}") if x is not None else "–"  # noqa: E731
    f0 = lambda x: f"{x:,.0f}"  # noqa: E731
    lines = [f"**{spec['name']}**: {spec['n_docs']:,} docs, {spec['n_queries']:,} queries; "
             f"CPU {env['cpu']} ({env['n_cpus']} cores), git {str(env['git_sha'])[:10]}"
             f"{' (dirty)' if env['git_dirty'] else ''}", ""]
    # indexing
    hdr = ["system"] + [f"docs/s {t}t" for t in threads_list] + ["index MiB", "index peak RSS MiB"]
    lines += ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for s in systems:
        row = [s]
        for t in threads_list:
            r = idx_res.get((s, t))
            if r is None:
                row.append("n/a")
            elif "docs_per_s_minus_startup" in r:
                row.append(f"{f0(r['docs_per_s'])} ({f0(r['docs_per_s_minus_startup'])} w/o JVM start)")
            else:
                row.append(f0(r["docs_per_s"]))
        r1 = idx_res.get((s, threads_list[0]), {})
        row += [mib(r1.get("index_bytes")), mib(r1.get("peak_rss_bytes"))]
        lines.append("| " + " | ".join(row) + " |")
    for anc in ANCHORS:
        if anc in systems and "winnow" in systems:
            row = [f"Winnow/{anc}"]
            for t in threads_list:
                w, x = idx_res.get(("winnow", t)), idx_res.get((anc, t))
                if w and x:
                    cell = f"{w['docs_per_s'] / x['docs_per_s']:.2f}x"
                    if "docs_per_s_minus_startup" in x:
                        cell += f" ({w['docs_per_s'] / x['docs_per_s_minus_startup']:.2f}x)"
                    row.append(cell)
                else:
                    row.append("–")
            w, x = idx_res.get(("winnow", threads_list[0])), idx_res.get((anc, threads_list[0]))
            row += [f"{w['index_bytes'] / x['index_bytes']:.2f}x",
                    f"{w['peak_rss_bytes'] / x['peak_rss_bytes']:.2f}x" if x.get("peak_rss_bytes") else "–"]
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    # searching
    hdr = ["system"]
    for k in ks:
        hdr += [f"k={k} p50 ms", f"p99 ms", f"QPS", f"batch QPS"]
    hdr += ["search peak RSS MiB"]
    kmax = max(ks)
    if qual:
        hdr += ["nDCG@10", f"R@{kmax}"]
    if agree:
        hdr += ["= pyserini top-10"]
    lines += ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for s in systems:
        r = search_res[s]
        row = [s]
        for k in ks:
            x = r[f"k{k}"]
            row += [f"{x['p50_ms']:.2f}", f"{x['p99_ms']:.2f}", f0(x["qps_loop"]), f0(x["qps_batch"])]
        row.append(mib(r["peak_rss_bytes"]))
        if qual:
            row += [f"{qual[s]['nDCG@10']:.4f}", f"{qual[s][f'R@{kmax}']:.4f}"]
        if agree:
            row.append(f"{agree[s]['identical_top10']:.1%}" if s in agree else "–")
        lines.append("| " + " | ".join(row) + " |")
    for anc in ANCHORS:
        if anc in systems and "winnow" in systems:
            row = [f"Winnow/{anc}"]
            for k in ks:
                w, x = search_res["winnow"][f"k{k}"], search_res[anc][f"k{k}"]
                row += [f"{w['p50_ms'] / x['p50_ms']:.3f}x", f"{w['p99_ms'] / x['p99_ms']:.3f}x",
                        f"{w['qps_loop'] / x['qps_loop']:.1f}x", f"{w['qps_batch'] / x['qps_batch']:.1f}x"]
            row.append(f"{search_res['winnow']['peak_rss_bytes'] / search_res[anc]['peak_rss_bytes']:.2f}x")
            if qual:
                row += ["", ""]
            if agree:
                row.append("")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
