#!/usr/bin/env python
"""MS MARCO-size dense build from float16 `winnow encode` chunks (issue 13, item 4).

1. Generates --n x --d clustered unit vectors as float16 `winnow encode` chunks in DIR (a real
   encode directory: vectors-NNNNN.npy, ids.txt, meta.json; a rerun with the same settings keeps
   the chunks already there). The data are grown as benchmarks/bench_dense.py's `synthetic` grows
   them, but from real centres when they are available: cluster centres are --clusters rows of
   the SciFact all-MiniLM-L6-v2 corpus embeddings (--centers; Gaussian centres as in bench_dense
   when that file is absent), each vector is a centre plus Gaussian noise of 0.6 times the
   centre's norm spread over the dimensions, then L2-normalised. Generated chunk by chunk: the
   generator never holds more than one chunk either.
2. Times the CLI build, `winnow index build ivfpq|hnsw --vectors DIR` in a child process, and
   records the child's peak RSS (getrusage RUSAGE_CHILDREN: the build is this script's only
   large child) and the index size on disk.
3. Opens the index memory-mapped and measures one-thread QPS, one query per call and in one
   batch, for --nq queries grown like the corpus; recall@10 against exact search for the first
   --nq-recall of them (exact top-10 streamed over the chunks, never all vectors at once).

Prints one Markdown row per search setting and appends JSON lines to --output.

Example (the issue's target, run it on a quiet machine; ~7 GB of chunks, ~0.5 GB index):

    python benchmarks/build_large_dense.py --n 8841823 --dir /data/msmarco-synthetic \\
        --recipe IVF4096,PQ48 --nprobe 16 64 --threads 2
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "build_large_dense.jsonl"
DEFAULT_CENTERS = ROOT.parent / "shared" / "data" / "scifact" / "embeddings" / "all-MiniLM-L6-v2" / "corpus.npy"
NOISE = 0.6  # bench_dense.synthetic: centre + 0.6 * N(0, 1) per dimension for N(0, 1) centres


# ------------------------------------------------------------------------------------ data
def load_centers(path: str | None, n_clusters: int, d: int, seed: int) -> tuple[np.ndarray, str]:
    """(n_clusters, d) float32 centres: rows of a real embedding file, else Gaussian ones."""
    rng = np.random.default_rng(seed)
    p = Path(path) if path else DEFAULT_CENTERS
    if p.is_file():
        real = np.load(p).astype(np.float32)
        if real.shape[1] != d:
            raise SystemExit(f"{p}: {real.shape[1]} dimensions, --d is {d}")
        pick = rng.choice(len(real), min(n_clusters, len(real)), replace=False)
        return real[np.sort(pick)], f"{len(pick)} rows of {p}"
    if path:
        raise SystemExit(f"{p}: no such centres file")
    return rng.standard_normal((n_clusters, d), dtype=np.float32), f"{n_clusters} Gaussian centres"


def grow(centers: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """(m, d) float32 unit vectors: a random centre each plus noise scaled to the centre's norm."""
    c = centers[rng.integers(0, len(centers), m)]
    scale = NOISE * np.linalg.norm(c, axis=1, keepdims=True) / np.sqrt(c.shape[1])
    x = c + scale * rng.standard_normal(c.shape, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class SyntheticEncoder:
    """Stands in for SentenceEncoder in `encode_to_dir`: rows of docnos "a".."b-1" are grown
    from a generator seeded by (seed, a), so every chunk is the same whichever are rebuilt."""

    def __init__(self, centers: np.ndarray, seed: int, tag: str):
        self.centers, self.seed, self.dim, self.normalize = centers, seed, centers.shape[1], True
        h = hashlib.sha256(f"{tag}|{seed}|{NOISE}|".encode())
        h.update(centers.tobytes())
        self.fingerprint = h.hexdigest()[:16]  # new centres or seed: new chunks, never a stale reuse

    def settings(self) -> dict:
        return {"model_name": "synthetic-clustered", "model_path": "synthetic", "model_fingerprint": self.fingerprint,
                "dim": self.dim, "pooling": "none", "normalize": True, "max_seq_length": 0}

    def encode(self, texts, **_) -> np.ndarray:
        first = int(texts[0])
        return grow(self.centers, len(texts), np.random.default_rng([self.seed, first]))


def write_vectors(out: Path, n: int, centers: np.ndarray, seed: int, tag: str, chunk_size: int) -> float:
    from winnow.vectors import encode_to_dir

    t0 = time.perf_counter()
    rep = encode_to_dir(SyntheticEncoder(centers, seed, tag), ((str(i), str(i)) for i in range(n)), out,
                        chunk_size=chunk_size, dtype="float16", progress=False,
                        log=lambda msg: print(msg, file=sys.stderr) if "kept" not in msg else None)
    print(f"vectors: {n:,} x {centers.shape[1]} float16 in {out} ({rep.chunks_encoded} chunks written, "
          f"{rep.chunks_reused} kept, {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return time.perf_counter() - t0


def exact_top10(vec_dir: Path, q: np.ndarray, k: int = 10) -> np.ndarray:
    """(nq, k) exact inner-product top-k row ids, streamed block by block over the chunks."""
    from winnow.vector_chunks import VectorChunks

    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    for start, block in VectorChunks(vec_dir).blocks(65536):
        s = q @ block.T  # (nq, m)
        s_all = np.concatenate([best_s, s], axis=1)
        i_all = np.concatenate([best_i, np.arange(start, start + len(block))[None, :].repeat(len(q), 0)], axis=1)
        top = np.argpartition(-s_all, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s_all, top, 1), np.take_along_axis(i_all, top, 1)
    return best_i


# ----------------------------------------------------------------------------------- build
def build_command(recipe: str, vec_dir: Path, out: Path, threads: int, train_size: int) -> list[str]:
    """`winnow index build ...` for IVF<nlist>,PQ<M>[x4fs] or HNSW<M>[,SQ8|,F16]."""
    base = [sys.executable, "-m", "winnow", "index", "build"]
    m = re.fullmatch(r"IVF(\d+),PQ(\d+)(x4fs)?", recipe)
    if m:
        return base + ["ivfpq", "--vectors", str(vec_dir), "--output", str(out), "--nlist", m[1], "--M", m[2],
                       "--nbits", "4" if m[3] else "8", "--train-size", str(train_size), "--threads", str(threads)]
    m = re.fullmatch(r"HNSW(\d+)(?:,(SQ8|F16))?", recipe)
    if m:
        payload = {"SQ8": "sq8", "F16": "float16", None: "float32"}[m[2]]
        return base + ["hnsw", "--vectors", str(vec_dir), "--output", str(out), "--M", m[1],
                       "--payload", payload, "--threads", str(threads)]
    raise SystemExit(f"--recipe {recipe!r}: expected IVF<nlist>,PQ<M>[x4fs] or HNSW<M>[,SQ8|,F16]")


def run_build(cmd: list[str], out: Path) -> tuple[float, float]:
    """(seconds, peak RSS GiB of the build process)."""
    if out.exists():  # the CLI replaces it only if it is a Winnow index (check_output), never deletes here
        cmd = cmd + ["--overwrite"]
    print("$ " + " ".join(cmd), file=sys.stderr)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return seconds, peak_kib / (1 << 20)


def timed_qps(fn, q: np.ndarray, batch: int, budget: float, min_calls: int = 3) -> float:
    """Queries per second of fn(q[a:a + batch]) over at least ``budget`` seconds and ``min_calls`` calls."""
    done, calls, spent = 0, 0, 0.0
    while spent < budget or calls < min_calls:
        a = done % max(1, len(q) - batch + 1)
        t = time.perf_counter()
        fn(q[a:a + batch])
        spent += time.perf_counter() - t
        done, calls = done + batch, calls + 1
    return done / spent


def environment() -> dict:
    import winnow

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        sha = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = ""
    return {"cpu": cpu, "nproc": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "winnow": winnow.__version__, "git": sha, "load1": os.getloadavg()[0]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200_000, help="corpus vectors (default 200000; MS MARCO: 8841823)")
    p.add_argument("--d", type=int, default=384, help="dimension (default 384)")
    p.add_argument("--dir", required=True, help="directory for the float16 chunks (reused when complete)")
    p.add_argument("--index-dir", default=None, help="index directory (default DIR.index-RECIPE; an existing Winnow index there is replaced, anything else refused)")
    p.add_argument("--recipe", default="IVF4096,PQ48", help="IVF<nlist>,PQ<M>[x4fs] or HNSW<M>[,SQ8|,F16] "
                   "(default IVF4096,PQ48)")
    p.add_argument("--centers", default=None, help=f"real embeddings (.npy) to grow from (default {DEFAULT_CENTERS} "
                   "when present, else Gaussian centres)")
    p.add_argument("--clusters", type=int, default=4096, help="cluster centres (default 4096, at most the file's rows)")
    p.add_argument("--chunk-size", type=int, default=100_000, help="rows per vectors-NNNNN.npy (default 100000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="build threads (default 2); searches use 1")
    p.add_argument("--train-size", type=int, default=200_000, help="IVF-PQ training sample (default 200000)")
    p.add_argument("--nprobe", type=int, nargs="+", default=[16], help="IVF nprobe values (default 16)")
    p.add_argument("--ef", type=int, nargs="+", default=[64], help="HNSW ef values (default 64)")
    p.add_argument("--nq", type=int, default=1000, help="queries for QPS (default 1000)")
    p.add_argument("--nq-recall", type=int, default=100, help="queries with exact ground truth (default 100)")
    p.add_argument("--budget", type=float, default=3.0, help="seconds per QPS measurement (default 3)")
    p.add_argument("--output", default=str(RESULTS), help=f"JSON lines to append to (default {RESULTS})")
    args = p.parse_args(argv)

    vec_dir = Path(args.dir)
    index_dir = Path(args.index_dir or f"{str(vec_dir).rstrip('/')}.index-{args.recipe.replace(',', '-')}")
    centers, centers_from = load_centers(args.centers, args.clusters, args.d, args.seed)
    gen_s = write_vectors(vec_dir, args.n, centers, args.seed, centers_from, args.chunk_size)
    cmd = build_command(args.recipe, vec_dir, index_dir, args.threads, args.train_size)
    build_s, peak_gib = run_build(cmd, index_dir)
    index_bytes = sum(f.stat().st_size for f in index_dir.iterdir() if f.is_file())

    from winnow.index import load

    q = grow(centers, args.nq, np.random.default_rng([args.seed, args.n, 1]))  # a stream no chunk uses
    gt = exact_top10(vec_dir, q[:args.nq_recall])
    index = load(index_dir, mmap=True)
    hnsw = args.recipe.startswith("HNSW")
    settings = [("ef", e) for e in args.ef] if hnsw else [("nprobe", v) for v in args.nprobe]
    env = environment()
    print(f"\n| vectors | recipe | build s | peak RSS GiB | index MB | {'ef' if hnsw else 'nprobe'} | "
          "recall@10 | QPS 1 thread, one query per call | QPS, one batch |")
    print("|---|---|---|---|---|---|---|---|---|")
    with open(args.output, "a", encoding="utf-8") as fh:
        for name, value in settings:
            kw = {name: value, "threads": 1}
            ids = index.search_vectors(q[:args.nq_recall], 10, **kw)[1]
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), gt.tolist())]))
            single = timed_qps(lambda x: index.search_vectors(x, 10, **kw), q, 1, args.budget)
            batch = timed_qps(lambda x: index.search_vectors(x, 10, **kw), q, len(q), args.budget)
            row = {"bench": "build-large-dense", "n": args.n, "d": args.d, "recipe": args.recipe, "centers": centers_from,
                   "threads": args.threads, "generate_s": gen_s, "build_s": build_s, "peak_rss_gib": peak_gib,
                   "index_bytes": index_bytes, name: value, "recall@10": recall, "qps_single": single,
                   "qps_batch": batch, "command": " ".join(cmd[2:]), "env": env,
                   "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
            fh.write(json.dumps(row) + "\n")
            print(f"| {args.n:,} x {args.d} float16 | {args.recipe} | {build_s:,.0f} | {peak_gib:.2f} | "
                  f"{index_bytes / 1e6:,.0f} | {value} | {recall:.3f} | {single:,.0f} | {batch:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
