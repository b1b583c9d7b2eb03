"""Lucene parity of Winnow's BM25 on the shared collections.

For each collection: build Winnow BM25 (lucene mode, k1=0.9, b=0.4), search the judged
queries at k=1000, evaluate, and compare with the pyserini 0.21.0 reference run in
``shared/data/refs/pyserini-bm25/``: metric differences, share of queries whose top-10 equals
the reference's (as a set and in order), and the largest per-document score difference.

    python benchmarks/parity_bm25.py [--data ../shared/data] [--json out.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from winnow.datasets import load
from winnow.evaluation import evaluate
from winnow.index import BM25Index
from winnow.readers import iter_run, read_run

METRICS = ["nDCG@10", "RR@10", "AP", "R@100", "R@1000"]
COLLECTIONS = {"scifact": "test", "cranfield": "test", "vaswani": "test",
               "msmarco-dl19-pool": "test"}


def ranked(path) -> dict[str, list[tuple[str, float]]]:
    """qid -> [(docno, score)] in the file's rank order."""
    out: dict[str, list] = {}
    for row in iter_run(path):
        out.setdefault(row.qid, []).append((row.rank, row.docno, row.score))
    return {q: [(d, s) for _, d, s in sorted(v)] for q, v in out.items()}


def parity(data: Path, name: str, split: str) -> dict:
    ds = load(data / name)
    split = split if split in ds.splits else ds.splits[0]
    index = BM25Index.build(ds.corpus(), progress=False)
    results = index.search(ds.queries(split=split), k=1000)
    qrels = ds.qrels(split)
    ref_path = data / "refs" / "pyserini-bm25" / f"{name}.run.gz"
    ref = ranked(ref_path)
    row = {"collection": name, "split": split, "queries": results.nq}
    row["reference"] = evaluate(read_run(ref_path), qrels, METRICS)
    row["winnow_exact"] = evaluate(results.to_dict(), qrels, METRICS)
    with tempfile.TemporaryDirectory() as tmp:
        run_path = Path(tmp) / "run.txt"
        results.to_trec(run_path, score_format="anserini")
        row["winnow_anserini_format"] = evaluate(read_run(run_path), qrels, METRICS)
        ours = ranked(run_path)
    same_set = same_order = 0
    max_diff = 0.0
    exact = results.to_dict()
    for qid, hits in ref.items():
        a = [d for d, _ in hits[:10]]
        b = [d for d, _ in ours.get(qid, [])[:10]]
        same_set += set(a) == set(b)
        same_order += a == b
        for docno, score in hits:
            if docno in exact[qid]:
                max_diff = max(max_diff, abs(exact[qid][docno] - score))
    row["top10_same_set"] = same_set / len(ref)
    row["top10_same_order"] = same_order / len(ref)
    row["max_abs_score_diff_vs_rounded_ref"] = max_diff
    row["max_metric_diff"] = max(abs(row["winnow_exact"][m] - row["reference"][m]) for m in METRICS)
    row["max_metric_diff_anserini_format"] = max(
        abs(row["winnow_anserini_format"][m] - row["reference"][m]) for m in METRICS)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.environ.get("WINNOW_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--data", default=default, help="shared data directory (default %(default)s)")
    parser.add_argument("--json", help="append one JSON line per collection to this file")
    args = parser.parse_args()
    print("| collection | metric | pyserini | winnow (exact scores) | winnow (anserini run format) |")
    print("|---|---|---|---|---|")
    rows = []
    for name, split in COLLECTIONS.items():
        row = parity(Path(args.data), name, split)
        rows.append(row)
        for m in METRICS:
            print(f"| {name} | {m} | {row['reference'][m]:.4f} | {row['winnow_exact'][m]:.4f} | "
                  f"{row['winnow_anserini_format'][m]:.4f} |")
    print()
    print("| collection | top-10 same set | top-10 same order | max metric diff (exact / anserini format) |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['collection']} | {row['top10_same_set']:.1%} | {row['top10_same_order']:.1%} | "
              f"{row['max_metric_diff']:.4f} / {row['max_metric_diff_anserini_format']:.4f} |")
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
