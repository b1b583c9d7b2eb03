"""Cosine Adapter benchmark: relevance filtering on SciFact (BEIR) for dense and BM25 top-K.

Train queries (qrels/train.tsv) train the adapters (with a held-out validation split inside
them, seeded) and fit every baseline's one parameter; test queries (qrels/test.tsv) only
report. Candidates: all-MiniLM-L6-v2 exact top-K (FlatIndex over the precomputed
``corpus.npy``, query vectors from ``queries.npy``) and Winnow BM25 (k1=0.9, b=0.4) top-K.

Methods (each gives one score per (query, candidate); a global threshold sweeps it):

* ``raw``: the retriever's raw score (global raw-score threshold);
* ``topk``: ``-rank`` (a fixed top-k cutoff);
* ``zscore``: ``(s - mean_q) / std_q`` over the query's K candidates (per-query z-score cutoff);
* ``adapter:<family>[+ss]``: the Cosine Adapter probability; features are the query
  embedding (dense) or (length, summed IDF, max IDF) (BM25); ``+ss`` adds the candidate
  list's score statistics (top-1; mean and std of the top 10 and of all K scores).

Metrics on the test queries, pooling every (query, candidate) pair; relevant = qrels grade
>= 1, and recall counts the relevant documents *among the top-K candidates*:

* PR-AUC (``sklearn.metrics.average_precision_score``), P@R95 (the best precision at
  recall >= 0.95 on the test curve);
* an operating point: the threshold chosen for recall 0.95 on the training side (adapters:
  their validation split; baselines: all training queries) applied to test: recall,
  precision and mean result-list length;
* ECE (15 equal-width bins) of probabilities; baselines are given probabilities by Platt
  scaling (logistic regression on the raw score, on log(rank), on the z-score) fitted on
  the training queries; a reliability plot PNG.

Results: one JSON line per (retriever, method) in ``benchmarks/results/adapter.jsonl``, a
Markdown table on stdout.

Example::

    python benchmarks/bench_adapter.py --data ../shared/data/scifact --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FAMILIES = ("linear", "sqrt", "quadratic", "power")


def load_data(data: Path, emb: Path, k: int):
    from winnow import datasets
    from winnow.index import BM25Index, FlatIndex
    from winnow.results import Results
    from winnow.vectors import load_vectors

    ds = datasets.load(data)
    queries = ds.queries()
    qrels = {s: ds.qrels(s) for s in ("train", "test")}
    corpus, cids = load_vectors(emb, which="corpus")
    qvecs, vqids = load_vectors(emb, which="queries")
    qvec = {q: qvecs[i] for i, q in enumerate(vqids)}
    flat = FlatIndex(corpus.shape[1])
    flat.add(corpus)
    flat.set_docnos(cids)
    bm25 = BM25Index.build(ds.corpus(), k1=0.9, b=0.4, progress=False)
    out = {}
    for split in ("train", "test"):
        qids = [q for q in qrels[split] if q in qvec and q in queries]
        texts = [queries[q] for q in qids]
        r = flat.search(np.stack([qvec[q] for q in qids]), k=k)
        dense = Results(qids, r.ids, r.scores, r.docnos, texts)
        sparse = bm25.search(dict(zip(qids, texts)), k=k)
        out[split] = {"qids": qids, "texts": texts, "dense": dense, "bm25": sparse}
    return out, qrels, qvec, bm25


def pooled(results, qrels):
    from winnow.rerank.adapter_training import candidate_labels

    y, valid = candidate_labels(results, qrels)
    return y, valid


def method_scores(name, res, valid):
    s = res.scores.astype(np.float64)
    if name == "raw":
        return s
    if name == "topk":
        return -np.broadcast_to(np.arange(1, res.k + 1, dtype=np.float64), s.shape)
    if name == "zscore":
        m = np.where(valid, s, np.nan)
        mu, sd = np.nanmean(m, axis=1, keepdims=True), np.nanstd(m, axis=1, keepdims=True)
        return (s - mu) / np.where(sd > 0, sd, 1.0)
    raise ValueError(name)


def threshold_for_recall(scores, y, target):
    from winnow.rerank.adapter_training import choose_threshold

    # choose_threshold works on float32 probabilities; rank-transform other scores first.
    order = np.unique(scores)
    ranks = np.searchsorted(order, scores).astype(np.float32)
    t, _ = choose_threshold(ranks, y, target_recall=target)
    return order[int(t)]


def curve_metrics(scores, y, target=0.95):
    from sklearn.metrics import average_precision_score, precision_recall_curve

    p, r, _ = precision_recall_curve(y, scores)
    return {"pr_auc": float(average_precision_score(y, scores)),
            "p_at_r95": float(p[r >= target].max())}


def operating_point(scores_test, y_test, valid_test, t):
    kept = (scores_test >= t) & valid_test
    tp = float((kept & (y_test > 0)).sum())
    return {"op_recall": tp / max(1.0, float((y_test[valid_test] > 0).sum())),
            "op_precision": tp / max(1.0, float(kept.sum())),
            "mean_length": float(kept.sum(axis=1).mean())}


def ece(probs, y, bins=15):
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    out, curve = 0.0, []
    for b in range(bins):
        m = idx == b
        if m.any():
            conf, acc = probs[m].mean(), y[m].mean()
            out += m.mean() * abs(conf - acc)
            curve.append((float(conf), float(acc), int(m.sum())))
    return float(out), curve


def platt(train_scores, train_y, test_scores):
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(train_scores.reshape(-1, 1), train_y)
    return lr.predict_proba(test_scores.reshape(-1, 1))[:, 1]


def environment() -> dict:
    import sklearn
    import torch

    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        sha = None
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    return {"cpu": cpu, "n_cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "sklearn": sklearn.__version__, "numpy": np.__version__, "git_sha": sha,
            "loadavg_start": os.getloadavg()}


def run(args) -> int:
    from winnow.rerank.adapter_training import train_adapter
    from winnow.rerank.cosine_adapter import query_features

    t0 = time.time()
    data, qrels, qvec, bm25 = load_data(Path(args.data), Path(args.embeddings), args.k)
    print(f"data ready in {time.time() - t0:.1f}s: {len(data['train']['qids'])} train, "
          f"{len(data['test']['qids'])} test queries", file=sys.stderr)
    env = environment()
    rows, curves = [], {}
    for retr in args.retrievers:
        tr, te = data["train"][retr], data["test"][retr]
        ytr, vtr = pooled(tr, qrels["train"])
        yte, vte = pooled(te, qrels["test"])
        cover = {s: float(pooled(data[s][retr], qrels[s])[0].sum() / sum(
            sum(1 for g in qrels[s][q].values() if g >= 1) for q in data[s]["qids"])) for s in ("train", "test")}
        base = {"retriever": retr, "k": args.k, "n_train": tr.nq, "n_test": te.nq,
                "relevant_in_topk": cover, "test_pairs": int(vte.sum()), "test_positives": int(yte[vte].sum())}
        curves[retr] = {}

        def record(method, s_te, t, p_te, extra=None):
            m = {**base, "method": method, **curve_metrics(s_te[vte], yte[vte]), **operating_point(s_te, yte, vte, t)}
            m["ece"], curves[retr][method] = ece(p_te[vte], yte[vte])
            m.update(extra or {})
            rows.append(m)
            print(f"{retr:5s} {method:22s} PR-AUC {m['pr_auc']:.4f} P@R95 {m['p_at_r95']:.4f} "
                  f"len {m['mean_length']:.1f} rec {m['op_recall']:.3f} ECE {m['ece']:.4f}", file=sys.stderr)

        for name in ("raw", "topk", "zscore"):
            s_tr, s_te = method_scores(name, tr, vtr), method_scores(name, te, vte)
            t = threshold_for_recall(s_tr[vtr], ytr[vtr], args.target_recall)
            tf = (lambda s: np.log(-s)) if name == "topk" else (lambda s: s)
            p_te = np.zeros_like(s_te)
            p_te[vte] = platt(tf(s_tr[vtr]), ytr[vtr], tf(s_te[vte]))
            record(name, s_te, t, p_te)

        kind = "embedding" if retr == "dense" else "query_stats"
        for ss in ([False, True] if args.score_stats else [False]):
            kinds = (kind,) + (("score_stats",) if ss else ())

            def feats(split, res):
                d = data[split]
                return np.concatenate([query_features(kd, d["qids"], d["texts"], res, index=bm25, query_vectors=qvec)
                                       for kd in kinds], axis=1)

            f_tr, f_te = feats("train", tr), feats("test", te)
            for fam in args.families:
                per_seed = []
                for seed in args.seeds:
                    t1 = time.time()
                    ad = train_adapter(tr, qrels["train"], f_tr, fam, feature_kinds=kinds,
                                       domain="cosine" if retr == "dense" else "minmax", seed=seed,
                                       target_recall=args.target_recall)
                    secs = time.time() - t1
                    p = ad.row_probabilities(f_te, te.scores, vte).astype(np.float64)
                    per_seed.append((ad, p, secs))
                # report the first seed's curve/ECE; PR-AUC and P@R95 averaged over seeds too
                ad, p, secs = per_seed[0]
                extra = {"seeds": list(args.seeds), "train_seconds": secs, "best_epoch": ad.info["best_epoch"],
                         "threshold": ad.threshold, "val_point": ad.info["threshold_on_validation"]}
                if len(per_seed) > 1:
                    ms = [curve_metrics(pp[vte], yte[vte]) for _, pp, _ in per_seed]
                    extra["pr_auc_seeds"] = [x["pr_auc"] for x in ms]
                    extra["p_at_r95_seeds"] = [x["p_at_r95"] for x in ms]
                record(f"adapter:{fam}" + ("+ss" if ss else ""), p, np.float32(ad.threshold), p, extra)

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({**r, "environment": env, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
    plot(curves, args.plot)
    print(table(rows))
    print(f"\n{len(rows)} rows -> {out}; reliability plot -> {args.plot}; {time.time() - t0:.0f}s", file=sys.stderr)
    return 0


def plot(curves, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 5), squeeze=False)
    for ax, (retr, methods) in zip(axes[0], curves.items()):
        ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
        for name, pts in methods.items():
            if not pts:
                continue
            conf, acc, _ = zip(*pts)
            style = "--" if not name.startswith("adapter") else "-"
            ax.plot(conf, acc, style, marker="o", ms=3, label=name + ("" if name.startswith("adapter") else " (Platt)"))
        ax.set_title(f"SciFact test, {retr} top-100: reliability")
        ax.set_xlabel("predicted probability of relevance (bin mean)")
        ax.set_ylabel("fraction relevant")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def table(rows) -> str:
    head = ("| retriever | method | PR-AUC | P@R95 | thr@R95 (train): test recall | precision | mean length | ECE |\n"
            "|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        auc = f"{r['pr_auc']:.4f}"
        p95 = f"{r['p_at_r95']:.4f}"
        if "pr_auc_seeds" in r:
            auc += f" ({np.mean(r['pr_auc_seeds']):.4f}±{np.std(r['pr_auc_seeds']):.4f})"
            p95 += f" ({np.mean(r['p_at_r95_seeds']):.4f}±{np.std(r['p_at_r95_seeds']):.4f})"
        lines.append(f"| {r['retriever']} | {r['method']} | {auc} | {p95} | {r['op_recall']:.3f} | "
                     f"{r['op_precision']:.4f} | {r['mean_length']:.1f} | {r['ece']:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(REPO.parent / "shared/data/scifact"), help="BEIR SciFact directory")
    p.add_argument("--embeddings", default=None, help="precomputed embeddings (default DATA/embeddings/all-MiniLM-L6-v2)")
    p.add_argument("--k", type=int, default=100, help="candidates per query (default 100)")
    p.add_argument("--retrievers", nargs="+", default=["dense", "bm25"], choices=["dense", "bm25"])
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="adapter seeds (first one is tabulated)")
    p.add_argument("--no-score-stats", dest="score_stats", action="store_false",
                   help="skip the +ss adapters (query features plus candidate score statistics)")
    p.add_argument("--target-recall", type=float, default=0.95)
    p.add_argument("--output", default=str(HERE / "results/adapter.jsonl"))
    p.add_argument("--plot", default=str(HERE / "results/adapter_reliability.png"))
    args = p.parse_args(argv)
    if args.embeddings is None:
        args.embeddings = str(Path(args.data) / "embeddings/all-MiniLM-L6-v2")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
