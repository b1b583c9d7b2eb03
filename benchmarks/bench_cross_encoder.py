"""A trained cross-encoder reranking BM25's top-K against BM25 alone, with significance.

BM25: the pyserini reference run (``shared/data/refs/pyserini-bm25/<name>.run.gz``; SciFact
test nDCG@10 0.6789). Each test query's top ``--depth`` documents are re-scored with the
cross-encoder stage (``winnow.rerank.cross_encoder``: raw logits, ties keep BM25's order).
The scores of each finished query are appended to ``--cache`` (JSON lines), so an interrupted
run resumes where it stopped, and ``--max-queries`` measures a prefix of the test queries (the
table then says how many). Paired t-test and Wilcoxon signed-rank test against BM25 on the same
queries (``winnow.significance``).

    nice -n 10 python benchmarks/bench_cross_encoder.py --dataset ../shared/data/scifact \\
        --model benchmarks/.cache/models/ce-scifact-l2 --depth 100
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, help="BEIR dataset directory (test split)")
    ap.add_argument("--model", required=True, help="cross-encoder directory (winnow train cross-encoder)")
    ap.add_argument("--bm25-run", default=None, help="BM25 TREC run (default shared refs/pyserini-bm25/<name>.run.gz)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--depth", type=int, default=100, help="BM25 documents reranked per query (default 100)")
    ap.add_argument("--max-queries", type=int, default=None, help="only the first N test queries")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default=None, help="per-query scores (default benchmarks/.cache/ce/<model>_<name>_<depth>.jsonl)")
    ap.add_argument("--out", default=str(HERE / "results" / "cross_encoder.jsonl"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from winnow import datasets
    from winnow.evaluation import evaluate
    from winnow.rerank.cross_encoder import cross_encoder
    from winnow.results import Results
    from winnow.significance import paired_t_test, wilcoxon_test

    data = Path(args.dataset)
    ds = datasets.load(data)
    queries = ds.queries(args.split)
    qrels = ds.qrels(args.split)
    run_path = args.bm25_run or (data.parent / "refs" / "pyserini-bm25" / f"{data.name}.run.gz")
    bm25 = Results.from_trec(run_path, k=1000).to_dict()
    qids = [q for q in queries if q in bm25][:args.max_queries]
    cache = Path(args.cache or HERE / ".cache" / "ce" / f"{Path(args.model).name}_{data.name}_{args.depth}.jsonl")
    cache.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if cache.is_file():
        for line in cache.read_text().splitlines():
            rec = json.loads(line)
            done[rec["qid"]] = rec["scores"]
    todo = [q for q in qids if q not in done]
    print(f"{len(qids)} queries, {len(done)} cached, {len(todo)} to score at depth {args.depth}", file=sys.stderr)
    stage = cross_encoder(args.model, corpus=data, k=args.depth, batch_size=args.batch_size) if todo else None
    t0 = time.perf_counter()
    with cache.open("a") as f:
        for n, q in enumerate(todo):
            top = dict(sorted(bm25[q].items(), key=lambda x: -x[1])[:args.depth])
            res = stage({q: queries[q]}, Results.from_dict({q: top}))
            f.write(json.dumps({"qid": q, "scores": res.to_dict()[q]}) + "\n")
            f.flush()
            if (n + 1) % 10 == 0:
                el = time.perf_counter() - t0
                print(f"{n + 1}/{len(todo)} queries, {stage.scorer.calls / el:.1f} pairs/s", file=sys.stderr)
            done[q] = res.to_dict()[q]
    secs = time.perf_counter() - t0
    pairs_s = (stage.scorer.calls / secs) if stage is not None and secs > 0 else None
    ce_run = {q: done[q] for q in qids}
    bm_run = {q: bm25[q] for q in qids}
    # reranked list, then BM25's documents below the reranked depth (R@1000 is then comparable)
    for q in qids:
        tail = {d: s for d, s in sorted(bm25[q].items(), key=lambda x: -x[1])[args.depth:]}
        low = min(ce_run[q].values()) if ce_run[q] else 0.0
        ce_run[q] = {**ce_run[q], **{d: low - 1 - i for i, d in enumerate(tail)}}
    metrics = ["nDCG@10", "AP", "RR@10", "R@100"]
    # judged queries outside the measured ones (--max-queries) would count as 0 in the means
    qrels = {q: qrels[q] for q in qids if q in qrels}
    agg_b, per_b = evaluate(bm_run, qrels, metrics, per_query=True)
    agg_c, per_c = evaluate(ce_run, qrels, metrics, per_query=True)
    rec = {"bench": "cross_encoder", "dataset": data.name, "model": str(Path(args.model).resolve()),
           "depth": args.depth, "queries": len(qids), "bm25": agg_b, "bm25+ce": agg_c,
           "pairs_per_s_this_run": pairs_s, "threads": args.threads,
           "training": json.loads((Path(args.model) / "winnow_training.json").read_text())
           if (Path(args.model) / "winnow_training.json").is_file() else None}
    rec["p_t"], rec["p_wilcoxon"] = {}, {}
    for m in metrics:
        a = [per_c[m].get(q, 0.0) for q in qids]
        b = [per_b[m].get(q, 0.0) for q in qids]
        rec["p_t"][m] = paired_t_test(a, b).pvalue
        rec["p_wilcoxon"][m] = wilcoxon_test(a, b).pvalue
    if rec["training"]:
        rec["training"].pop("loss_log", None)
    print(json.dumps(rec, indent=1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
