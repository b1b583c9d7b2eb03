"""Impact index benchmark: BM25 weights written out as impacts (8-bit, PISA's linear
quantization with a global maximum) against the BM25 index they came from, on real
collections, and its query speed beside BM25 and (if installed) PISA's quantized scorer.

Per collection:

* BM25: ``BM25Index.build(corpus)`` (Lucene scoring, k1 0.9, b 0.4, English analyzer),
  searched with the query texts (ties by docno, Anserini's rule);
* BM25-as-impact: ``ImpactIndex.build(bm25_impacts(bm25), quantize=BITS)``, searched with the
  same texts through the same analyzer (each term weighs its count, as BM25's query boost);
* quality: nDCG@10 of both runs (``winnow.evaluation.evaluate``) and their difference
  (issue 14 target: within 0.005), plus top-10 overlap;
* speed: all queries in one batched call, 1 thread, k=10 and k=1000, best of ``--repeat``
  interleaved rounds (BM25, impact, PISA in turn), QPS and the ratio impact / BM25 and
  impact / PISA.
* PISA (``pyterrier-pisa``, a benchmark-only extra, optional): the same float BM25 weights
  Winnow's 8-bit impacts (the same integers) indexed with ``PisaIndex(...,
  stemmer="none", stops="none").toks_indexer(scale=1)``, searched with the same analyzed
  query terms as weighted token queries (``query_weighted=True, toks_scale=1``) with the
  quantized scorer (score = sum of query weight * impact, as Winnow), one batched call, its
  best of block_max_wand / maxscore / block_max_maxscore; its top-10 scores are checked
  against Winnow's (``pisa_max_score_diff_top10``).

One JSON line per collection is appended to ``benchmarks/results/impact.jsonl``; a Markdown
table goes to stdout.

Example::

    python benchmarks/bench_impact.py --collections scifact vaswani --repeat 5
    python benchmarks/bench_impact.py --collections synthetic:100000 --repeat 5   # speed only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared" / "data"


def environment() -> dict:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        sha = None
    return {"cpu": platform.processor() or platform.machine(), "n_cpus": os.cpu_count(), "threads": 1,
            "python": platform.python_version(), "numpy": np.__version__, "git_sha": sha,
            "load_avg": os.getloadavg()[0]}


def best_qps(fn, nq: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return nq / best


def pisa_runner(impacts, queries_terms: dict, tmp: Path):
    """(make(k, algorithm) -> search callable, note) over PISA's quantized scorer, or (None, why).

    PISA gets Winnow's integer impacts as token counts (``toks_indexer(scale=1)`` stores
    int(weight * scale)), so both engines score exactly sum of query weight * the same impact."""
    try:
        import pandas as pd
        from pyterrier_pisa import PisaIndex
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        return None, f"pyterrier-pisa not available ({type(exc).__name__}: {exc})"
    index = PisaIndex(str(tmp / "pisa"), stemmer="none", stops="none", threads=1)
    index.toks_indexer(scale=1.0).index({"docno": d, "toks": v} for d, v in impacts)
    frame = pd.DataFrame({"qid": list(queries_terms),
                          "query_toks": [{t: float(c) for t, c in q.items()} for q in queries_terms.values()]})

    def make(k: int, algorithm: str):
        retr = index.quantized(num_results=k, query_algorithm=algorithm, threads=1, query_weighted=True,
                               toks_scale=1.0)
        return lambda: retr(frame)

    return make, "pyterrier-pisa 0.4.9: toks_indexer(scale=1) of the same 8-bit impacts, quantized scorer"


def run_collection(name: str, path: Path, bits: int, repeat: int) -> dict:
    from winnow.datasets import load
    from winnow.evaluation import evaluate
    from winnow.index import BM25Index, ImpactIndex, analyze
    from winnow.index.bm25_impacts import bm25_impacts
    from winnow.index.impact_input import quantize_linear

    ds = load(path)
    split = "test" if "test" in ds.splits else None
    queries = ds.queries(split=split)
    qrels = ds.qrels(split=split) if ds.splits else None  # the synthetic corpus has no judgements
    t = time.perf_counter()
    bm25 = BM25Index.build(ds.corpus(), progress=False)
    bm25_build = time.perf_counter() - t
    vectors = list(bm25_impacts(bm25))
    t = time.perf_counter()
    impact = ImpactIndex.build(vectors, quantize=bits, progress=False)
    impact_build = time.perf_counter() - t
    res_bm25 = bm25.search(queries, k=1000)
    res_imp = impact.search(queries, k=1000)
    nan = {"nDCG@10": float("nan"), "R@1000": float("nan")}
    q_bm25 = evaluate(res_bm25.to_dict(), qrels, ["nDCG@10", "R@1000"]) if qrels else nan
    q_imp = evaluate(res_imp.to_dict(), qrels, ["nDCG@10", "R@1000"]) if qrels else nan
    overlap = float(np.mean([len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(res_bm25.ids, res_imp.ids)]))
    row = {"collection": name, "n_docs": bm25.n_docs, "n_queries": len(queries), "bits": bits,
           "ndcg10_bm25": q_bm25["nDCG@10"], "ndcg10_impact": q_imp["nDCG@10"],
           "ndcg10_diff": q_imp["nDCG@10"] - q_bm25["nDCG@10"], "r1000_bm25": q_bm25["R@1000"],
           "r1000_impact": q_imp["R@1000"], "top10_overlap": overlap, "bm25_build_s": bm25_build,
           "impact_build_s": impact_build, "impact_bytes": impact.nbytes, "bm25_bytes": bm25.nbytes}
    nq = len(queries)
    terms = {q: {} for q in queries}
    for q, text in queries.items():
        for t_ in analyze(text):
            terms[q][t_] = terms[q].get(t_, 0) + 1
    scale = np.float32(impact.params["scale"])
    impacts = [(d, dict(zip(v, quantize_linear(np.array(list(v.values()), np.float32), scale).tolist())))
               for d, v in vectors]
    with tempfile.TemporaryDirectory() as tmp:
        make_pisa, pisa_note = pisa_runner(impacts, terms, Path(tmp))
        if make_pisa is not None:  # same data, same scores: check PISA's top-10 scores equal ours
            top = make_pisa(10, "maxscore")()
            mine = impact.search(queries, k=10)
            pos = {q: i for i, q in enumerate(mine.qids)}
            diffs = [abs(float(r.score) - float(mine.scores[pos[str(r.qid)]][int(r.rank)]))
                     for r in top.itertuples()] if len(top) else []
            row["pisa_max_score_diff_top10"] = max(diffs) if diffs else None
        row["pisa"] = pisa_note
        for k in (10, 1000):
            runs = {"bm25": lambda k=k: bm25.search(queries, k=k, threads=1),
                    "impact": lambda k=k: impact.search(queries, k=k, threads=1)}
            qps = {s: 0.0 for s in runs}
            pisa_qps = {}
            for _ in range(repeat):  # interleaved rounds: load changes hit every system alike
                for s, fn in runs.items():
                    qps[s] = max(qps[s], best_qps(fn, nq, 1))
                if make_pisa is not None:
                    for alg in ("block_max_wand", "maxscore", "block_max_maxscore"):
                        pisa_qps[alg] = max(pisa_qps.get(alg, 0.0), best_qps(make_pisa(k, alg), nq, 1))
            row[f"qps_bm25_k{k}"], row[f"qps_impact_k{k}"] = qps["bm25"], qps["impact"]
            row[f"impact_over_bm25_k{k}"] = qps["impact"] / qps["bm25"]
            if pisa_qps:
                best_alg = max(pisa_qps, key=pisa_qps.get)
                row[f"qps_pisa_k{k}"], row[f"pisa_algorithm_k{k}"] = pisa_qps[best_alg], best_alg
                row[f"impact_over_pisa_k{k}"] = qps["impact"] / pisa_qps[best_alg]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--collections", nargs="+", default=["scifact", "vaswani"],
                    help="names under ../shared/data, dataset directories, or synthetic:N (N passages of "
                    "benchmarks/synthetic_corpus.py with its 1,000 queries; no qrels: speed only)")
    ap.add_argument("--bits", type=int, default=8, help="quantization bits (default 8)")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved timing rounds (best of; default 5)")
    ap.add_argument("--out", default=str(HERE / "results" / "impact.jsonl"))
    args = ap.parse_args()
    env = environment()
    rows = []
    for c in args.collections:
        if c.startswith("synthetic:"):  # benchmarks/synthetic_corpus.py, its 1,000 queries, no qrels
            import sys

            sys.path.insert(0, str(HERE))
            import synthetic_corpus as sc

            n = int(c.split(":", 1)[1])
            path = sc.default_dir(n, 1000, 0)
            sc.generate(path, n, n_queries=1000, seed=0)
        else:
            path = Path(c) if Path(c).exists() else SHARED / c
        row = run_collection(Path(c).name, path, args.bits, args.repeat)
        row["env"] = env
        rows.append(row)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
    print(f"| collection | nDCG@10 BM25 | nDCG@10 impact ({args.bits}-bit) | diff | top-10 overlap | "
          "QPS impact/BM25 k=10 | k=1000 | QPS impact/PISA k=10 | k=1000 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pisa = " | ".join(f"{r[f'impact_over_pisa_k{k}']:.2f}x" if f"impact_over_pisa_k{k}" in r else "n/a"
                          for k in (10, 1000))
        print(f"| {r['collection']} | {r['ndcg10_bm25']:.4f} | {r['ndcg10_impact']:.4f} | {r['ndcg10_diff']:+.4f} | "
              f"{r['top10_overlap']:.3f} | {r['impact_over_bm25_k10']:.2f}x | {r['impact_over_bm25_k1000']:.2f}x | "
              f"{pisa} |")
    print(f"\nload average {env['load_avg']:.2f}; git {str(env['git_sha'])[:10]}; PISA: {rows[0].get('pisa')}")


if __name__ == "__main__":
    main()
