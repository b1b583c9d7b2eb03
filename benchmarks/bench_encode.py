#!/usr/bin/env python
"""Encoding speed and fidelity of the packaged all-MiniLM-L6-v2 on SciFact, per encoder setting.

Settings (each a :class:`winnow.encoders.SentenceEncoder`, max length 256):

* ``old``      -- what ``winnow encode`` did before issue 16: 1 thread, batches of 32 sorted by
  character count (emulated by swapping the word-piece lengths for character counts);
* ``unsorted`` -- 1 thread, batches of 32 in input order (no sorting at all);
* ``default``  -- today's default: all cores, batches of 16 sorted by word-piece count, float32;
* ``int8``     -- the default plus ``quantize="int8"`` (dynamic int8 Linear layers).

Speed: the same texts (``--docs`` of them, every k-th document of the corpus, so all lengths
are represented; 0 = the whole corpus) are encoded by every setting in turn, for ``--rounds``
interleaved rounds (on a busy machine drift then hits all settings alike). Reported: median
texts/s and CPU seconds of each setting, and the median of the per-round speed-ups over
``old``. The models are loaded (and int8 quantized) before timing.

Fidelity: cosine of every encoded document to the reference embeddings
(``embeddings/all-MiniLM-L6-v2/corpus.npy``, float16, made with sentence-transformers at batch
size 32 on 2 threads), min and mean; with ``--docs 0`` also nDCG@10 / R@100 of exact
inner-product search on the test split with each setting's own query vectors (the
reference embeddings give nDCG@10 0.6451).

    python benchmarks/bench_encode.py --data ../shared/data/scifact --docs 500 --rounds 3
    python benchmarks/bench_encode.py --data ../shared/data/scifact --docs 0 --rounds 1   # full table

One JSON line per setting and a Markdown table on stdout; the lines are appended to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "encode.jsonl"
SETTINGS = ("old", "unsorted", "default", "int8")


def make_encoder(setting: str, batch_size: int | None = None):
    """(encoder, how its order is chosen) for one setting name; ``batch_size`` None: 32 for
    ``old`` and ``unsorted`` (the old default), the library's default otherwise."""
    from winnow.encoders import SentenceEncoder

    kw = {} if batch_size is None else {"batch_size": batch_size}
    if setting in ("old", "unsorted"):
        return SentenceEncoder(threads=1, **{"batch_size": 32, **kw}), setting
    if setting == "default":
        return SentenceEncoder(**kw), "tokens"
    if setting == "int8":
        return SentenceEncoder(quantize="int8", **kw), "tokens"
    raise ValueError(f"unknown setting {setting!r}; choose from {SETTINGS}")


def encode(encoder, sort: str, texts: list[str], queries: bool = False) -> np.ndarray:
    """Encode with the setting's batch order (the library sorts by word pieces; ``old`` and
    ``unsorted`` swap in another order for the duration of the call)."""
    import winnow.encoders as encoders

    real = encoders.token_lengths
    if sort == "old":  # character counts: the pre-issue-16 order
        encoders.token_lengths = lambda tok, ts, m: np.fromiter(map(len, ts), np.int64, len(ts))
    elif sort == "unsorted":  # every text the same length: a stable sort keeps input order
        encoders.token_lengths = lambda tok, ts, m: np.zeros(len(ts), np.int64)
    try:
        fn = encoder.encode_queries if queries else encoder.encode
        return fn(texts, show_progress=False)
    finally:
        encoders.token_lengths = real


def timed(encoder, sort: str, texts: list[str]) -> tuple[np.ndarray, float, float]:
    """(vectors, wall seconds, CPU seconds of this process)."""
    c0, t0 = time.process_time(), time.perf_counter()
    vecs = encode(encoder, sort, texts)
    return vecs, time.perf_counter() - t0, time.process_time() - c0


def retrieval_quality(doc_vecs, doc_ids, query_vecs, query_ids, qrels) -> dict:
    """nDCG@10 and R@100 of exact inner-product search (top 100 per query)."""
    from winnow.evaluation import evaluate

    scores = query_vecs @ doc_vecs.T  # (n_queries, n_docs)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :100]
    run = {q: {doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(query_ids)}
    return evaluate(run, qrels, ["nDCG@10", "R@100"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="SciFact dataset directory (../shared/data/scifact)")
    ap.add_argument("--docs", type=int, default=500, help="documents timed (every k-th; 0 = all 5,183)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="texts per forward pass, every setting (default: 32 for old and unsorted, "
                    "the library's default, 16, for the others)")
    ap.add_argument("--settings", default=",".join(SETTINGS), help=f"comma list of {SETTINGS}")
    ap.add_argument("--out", default=str(RESULTS), help="JSON lines appended here")
    args = ap.parse_args()

    from winnow import datasets
    from winnow.encoder_runtime import available_cores
    from winnow.vectors import load_vectors

    data = Path(args.data)
    ds = datasets.load(data)
    corpus = list(ds.corpus())
    ref, ref_ids = load_vectors(data / "embeddings" / "all-MiniLM-L6-v2")
    assert ref_ids == [d for d, _ in corpus], "reference rows must follow corpus.jsonl"
    step = 1 if args.docs <= 0 or args.docs >= len(corpus) else len(corpus) // args.docs
    rows = np.arange(0, len(corpus), step)[: (args.docs or len(corpus))]
    texts = [corpus[i][1] for i in rows]
    names = [s.strip() for s in args.settings.split(",") if s.strip()]
    encoders = {name: make_encoder(name, args.batch_size) for name in names}
    for enc, sort in encoders.values():  # warm-up: first-call allocations, lazy imports
        encode(enc, sort, texts[:8])

    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    vecs: dict[str, np.ndarray] = {}
    for r in range(args.rounds):
        for name in names:
            enc, sort = encoders[name]
            vecs[name], w, c = timed(enc, sort, texts)
            wall[name].append(w)
            cpu[name].append(c)
            print(f"round {r + 1}/{args.rounds} {name}: {len(texts) / w:.1f} texts/s ({w:.1f} s wall, "
                  f"{c:.1f} s CPU)", flush=True)

    full = len(rows) == len(corpus)
    quality = {}
    if full:
        split = "test"
        queries = ds.queries(split)
        qrels = ds.qrels(split)
        qids = list(queries)
        for name in names:
            enc, sort = encoders[name]
            qv = encode(enc, sort, [queries[q] for q in qids], queries=True)
            quality[name] = retrieval_quality(vecs[name], [d for d, _ in corpus], qv, qids, qrels)
        ref_q, ref_qids = load_vectors(data / "embeddings" / "all-MiniLM-L6-v2", which="queries")
        pos = {q: i for i, q in enumerate(ref_qids)}
        quality["reference"] = retrieval_quality(ref, ref_ids, ref_q[[pos[q] for q in qids]], qids, qrels)

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        sha = ""
    import torch

    env = {"cpu": platform.processor() or platform.machine(), "cores": available_cores(),
           "torch": torch.__version__, "git": sha, "load_avg_1m": os.getloadavg()[0]}
    base = "old" if "old" in names else names[0]
    lines = []
    print(f"\n{len(texts):,} SciFact documents, {args.rounds} interleaved round(s), {available_cores()} cores\n")
    print("| setting | threads | texts/s (median) | CPU s (median) | speed-up over " f"{base} | cos to reference min / mean |"
          + (" nDCG@10 | R@100 |" if full else ""))
    print("|---|---|---|---|---|---|" + ("---|---|" if full else ""))
    for name in names:
        enc, _ = encoders[name]
        speedup = statistics.median(b / w for b, w in zip(wall[base], wall[name]))
        cos = np.sum(vecs[name] * ref[rows], axis=1) / np.linalg.norm(ref[rows], axis=1)
        rec = {"bench": "encode", "setting": name, "docs": len(texts), "rounds": args.rounds,
               "threads": enc.threads, "quantize": enc.quantize, "batch_size": enc.batch_size,
               "texts_per_s": len(texts) / statistics.median(wall[name]), "wall_s": wall[name],
               "cpu_s": cpu[name], f"speedup_over_{base}": speedup,
               "cos_min": float(cos.min()), "cos_mean": float(cos.mean()), **quality.get(name, {}), "env": env}
        lines.append(rec)
        q = quality.get(name)
        print(f"| {name} | {enc.threads} | {rec['texts_per_s']:.1f} | {statistics.median(cpu[name]):.1f} | "
              f"{speedup:.2f}x | {cos.min():.5f} / {cos.mean():.5f} |"
              + (f" {q['nDCG@10']:.4f} | {q['R@100']:.4f} |" if q else ""))
    if full:
        q = quality["reference"]
        print(f"| reference (float16 file) | | | | | 1 / 1 | {q['nDCG@10']:.4f} | {q['R@100']:.4f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        for rec in lines:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
