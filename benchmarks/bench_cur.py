"""CUR (ANNCUR) k-NN search with a MaxSim scorer vs retrieve-then-score baselines.

The pairwise scorer is MaxSim (ColBERT late interaction, sum over query tokens of the max
cosine to a document token) over all-MiniLM-L6-v2 token vectors (no [CLS]/[SEP], L2-normed,
256 word pieces max). Ground truth: the scorer's own exact top-k from scoring every
document. Every method gets the same budget B of scorer calls per query:

* CUR (ANNCUR), reference pool (the default, iesl/anncur's evaluation protocol): k_i anchor
  items scored, then the top k_r = B - k_i items of *all* items by approximate score, anchors
  included, scored exactly (anchors in the pool cost no second call); top-k of that pool.
* CUR, merged pool (ours, the only protocol before issue 18): the best k_r non-anchor items
  plus every anchor's known score.
* CUR envelope (the paper's equal-cost curves): at each cost B = k_i + k_r the best split
  (k_i from ``--envelope-k-i``), chosen per k on a seeded dev split of the held-out queries
  (``--dev-frac``), reported on the remaining test queries, never chosen on test.
* adaptive CUR (AdaCUR): B calls over 5 rounds, round 1 a seeded random subset
  (``CURIndex.search_adaptive``)
* dense: top-B by all-MiniLM-L6-v2 pooled cosine (FlatIndex), then exact MaxSim
* BM25: top-B by Winnow BM25 (Lucene scoring), then exact MaxSim

Metric: top-k recall = |exact top-k ∩ returned top-k| / k (ANNCUR's Top-k-Recall).
The exact MaxSim matrix (anchor and test queries x all documents) is computed once with a
vectorised numpy MaxSim; the scorers used by the methods look scores up in it (the same
numbers MaxSim would give) and count every pair. Token vectors are cached in
``benchmarks/.cache/cur``. Anchor queries: a seeded random split of the collection's
queries (Cranfield: 100 anchor / 125 held out; SciFact: anchors from the train split, held-out
queries from the test split). Every row reports the test part of the held-out queries (80%,
seeded); the dev part (20%) only chooses the envelope's splits.

With ``--scorer cross-encoder:MODEL_DIR`` the scorer is a cross-encoder (e.g. one trained by
``winnow train cross-encoder``) instead: its exact matrix is computed pair by pair (cached per
query row in ``benchmarks/.cache/cur/ce``, so an interrupted run resumes), the baselines become
dense (MiniLM pooled) then CE and BM25 then CE, and the dense model is no longer the scorer.

    nice python benchmarks/bench_cur.py --dataset /path/to/cranfield --n-anchor 100
    nice python benchmarks/bench_cur.py --dataset /path/to/cranfield --scorer cross-encoder:MODEL_DIR
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from winnow.index.cur import CURIndex
from winnow.rerank.scorers import CallableScorer

HERE = Path(__file__).resolve().parent


def encode(dataset: Path, cache: Path, maxlen: int):
    """Pooled and token vectors of documents and queries (cached npz)."""
    out = cache / f"{dataset.name}_{maxlen}.npz"
    if not out.is_file():
        from winnow.datasets import load
        from winnow.encoders import SentenceEncoder

        ds = load(dataset)
        docs = list(ds.corpus())
        qs: dict[str, str] = {}
        for split in (["train", "test"] if (dataset / "qrels" / "train.tsv").is_file() else [None]):
            qs.update(ds.queries(split))
        t = time.time()
        enc = SentenceEncoder(max_seq_length=maxlen, batch_size=32)
        qpool, qtok, _, qoff = enc.encode_with_tokens([qs[q] for q in qs], queries=True)
        dpool, dtok, _, doff = enc.encode_with_tokens([x for _, x in docs], show_progress=True)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(out, docnos=np.array([d for d, _ in docs]), qids=np.array(list(qs)),
                 qtexts=np.array([qs[q] for q in qs]), dpool=dpool, qpool=qpool, dtok=dtok.astype(np.float16),
                 doff=doff, qtok=qtok.astype(np.float16), qoff=qoff, seconds=time.time() - t)
    return dict(np.load(out))


def pooled_only(dataset: Path, cache: Path, maxlen: int):
    """Documents, queries and all-MiniLM-L6-v2 pooled vectors (no token vectors: the scorer is a
    cross-encoder): the shared precomputed embeddings when the dataset has them, else encoded
    and cached."""
    from winnow.datasets import load

    ds = load(dataset)
    docs = list(ds.corpus())
    qs: dict[str, str] = {}
    for split in (["train", "test"] if (dataset / "qrels" / "train.tsv").is_file() else [None]):
        qs.update(ds.queries(split))
    emb = dataset / "embeddings" / "all-MiniLM-L6-v2"
    out = cache / f"{dataset.name}_{maxlen}_pooled.npz"
    if (emb / "corpus.npy").is_file():
        dids = (emb / "corpus_ids.txt").read_text().split()
        qids_all = (emb / "query_ids.txt").read_text().split()
        dpos, qpos = {d: i for i, d in enumerate(dids)}, {q: i for i, q in enumerate(qids_all)}
        dpool = np.load(emb / "corpus.npy").astype(np.float32)[[dpos[d] for d, _ in docs]]
        qpool = np.load(emb / "queries.npy").astype(np.float32)[[qpos[q] for q in qs]]
        seconds = float(json.loads((emb / "meta.json").read_text()).get("seconds", 0) or 0)
    elif out.is_file():
        z = np.load(out)
        dpool, qpool, seconds = z["dpool"], z["qpool"], float(z["seconds"])
    else:
        from winnow.encoders import SentenceEncoder

        t = time.time()
        enc = SentenceEncoder(max_seq_length=maxlen, batch_size=32)
        qpool = enc.encode([qs[q] for q in qs])
        dpool = enc.encode([x for _, x in docs], show_progress=True)
        seconds = time.time() - t
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(out, dpool=dpool, qpool=qpool, seconds=seconds)
    return {"docnos": np.array([d for d, _ in docs]), "doc_texts": [x for _, x in docs], "qids": np.array(list(qs)),
            "qtexts": np.array([qs[q] for q in qs]), "dpool": dpool, "qpool": qpool, "seconds": seconds}


def ce_matrix(model: str, qtexts: list[str], doc_texts: list[str], cache: Path, max_length: int | None,
              batch_size: int = 64) -> tuple[np.ndarray, float]:
    """Exact cross-encoder scores (len(qtexts), n_docs), one cached .npy row per query text
    (an interrupted run resumes), and CPU seconds per query row of the rows computed now."""
    import hashlib

    from winnow.rerank.scorers import CrossEncoderScorer

    cache.mkdir(parents=True, exist_ok=True)
    scorer = None
    out = np.zeros((len(qtexts), len(doc_texts)), np.float32)
    spent, fresh = 0.0, 0
    for i, q in enumerate(qtexts):
        f = cache / (hashlib.sha1(q.encode()).hexdigest()[:16] + ".npy")
        if f.is_file():
            out[i] = np.load(f)
            continue
        if scorer is None:
            scorer = CrossEncoderScorer(model, doc_texts, batch_size=batch_size, max_length=max_length)
        t = time.process_time()
        out[i] = scorer.score(q, np.arange(len(doc_texts)))
        spent += time.process_time() - t
        fresh += 1
        np.save(f, out[i])
        print(f"CE row {i + 1}/{len(qtexts)} ({fresh} computed, {spent / fresh:.1f} CPU s/row)", file=sys.stderr)
    return out, (spent / fresh if fresh else float("nan"))


def maxsim_matrix(qtok, qoff, rows, dtok, doff, block: int = 200_000) -> tuple[np.ndarray, float]:
    """Exact MaxSim (len(rows), n_docs) and seconds per query row (vectorised numpy)."""
    n = len(doff) - 1
    lens = np.diff(doff)
    nonempty = lens > 0
    starts = doff[:-1][nonempty]
    out = np.zeros((len(rows), n), np.float32)
    d32 = dtok.astype(np.float32)
    t0 = time.perf_counter()
    for j, r in enumerate(rows):
        q = qtok[qoff[r]:qoff[r + 1]].astype(np.float32)
        if not len(q):
            continue
        sims = q @ d32.T  # (t, T)
        mx = np.maximum.reduceat(sims, starts, axis=1)  # (t, docs with tokens)
        out[j, nonempty] = mx.sum(axis=0)
    return out, (time.perf_counter() - t0) / max(1, len(rows))


def recall(ids: np.ndarray, exact_rows: np.ndarray, k: int) -> float:
    vals = []
    for got, ex in zip(ids, exact_rows):
        top = np.argsort(-ex, kind="stable")[:k]
        vals.append(len(set(got[:k].tolist()) & set(top.tolist())) / k)
    return float(np.mean(vals))


def retrieve_then_score(cand: np.ndarray, S_test: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Score each query's candidates (padding -1 skipped) exactly; top-k ids; mean calls."""
    out, calls = np.full((len(cand), k), -1, np.int64), 0
    for qi, row in enumerate(cand):
        row = row[row >= 0]
        calls += len(row)
        s = S_test[qi, row]
        order = np.lexsort((row, -s))[:k]
        out[qi, :len(order)] = row[order]
    return out, calls / len(cand)


def env() -> dict:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=HERE).stdout.strip()
    except OSError:
        sha = None
    return {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
            "git": sha}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, help="BEIR-layout dataset directory (cranfield, scifact)")
    ap.add_argument("--n-anchor", type=int, default=100, help="anchor queries (default 100)")
    ap.add_argument("--n-test", type=int, default=None, help="test queries (default: all the rest)")
    ap.add_argument("--budgets", default="50,100,150,200,300,500", help="scorer calls per query")
    ap.add_argument("--k-i", default="25,50,100", help="anchor item counts for the fixed-k_i CUR columns")
    ap.add_argument("--envelope-k-i", default="10,20,30,40,50,60,75",
                    help="anchor item counts the envelope chooses from (per cost and k, on dev)")
    ap.add_argument("--dev-frac", type=float, default=0.2,
                    help="share of the held-out queries used as dev for the envelope (default 0.2)")
    ap.add_argument("--ks", default="1,10,100")
    ap.add_argument("--rounds", type=int, default=5, help="adaptive CUR rounds (default 5)")
    ap.add_argument("--maxlen", type=int, default=256, help="word pieces per text (default 256)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=str(HERE / ".cache" / "cur"))
    ap.add_argument("--out", default=str(HERE / "results" / "cur.jsonl"))
    ap.add_argument("--plot", default=None, help="PNG path (default results/cur_<dataset>.png)")
    ap.add_argument("--scorer", default="maxsim", help="maxsim (MiniLM token MaxSim, the default) or "
                    "cross-encoder:MODEL_DIR (e.g. a `winnow train cross-encoder` model)")
    ap.add_argument("--ce-max-length", type=int, default=None, help="cross-encoder word pieces per pair "
                    "(default: the model's)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the cross-encoder")
    args = ap.parse_args(argv)
    dataset = Path(args.dataset)
    budgets = [int(b) for b in args.budgets.split(",")]
    kis = [int(b) for b in args.k_i.split(",")]
    env_kis = [int(b) for b in args.envelope_k_i.split(",")]
    ks = [int(k) for k in args.ks.split(",")]

    use_ce = args.scorer.startswith("cross-encoder:")
    if use_ce:
        import torch

        torch.set_num_threads(args.threads)
        ce_model = args.scorer.partition(":")[2]
        data = pooled_only(dataset, Path(args.cache), args.maxlen)
        n = len(data["docnos"])
        scorer_name = "CE " + Path(ce_model).name
    else:
        data = encode(dataset, Path(args.cache), args.maxlen)
        n = len(data["doff"]) - 1
        scorer_name = "MaxSim"
    qids, qtexts = [str(q) for q in data["qids"]], [str(t) for t in data["qtexts"]]
    rng = np.random.default_rng(args.seed)
    test_split = dataset / "qrels" / "test.tsv"
    train_file = dataset / "qrels" / "train.tsv"
    if train_file.is_file():  # anchors from train queries, test queries from the test qrels
        train_q = {l.split("\t")[0] for l in train_file.read_text().splitlines()[1:]}
        test_q = {l.split("\t")[0] for l in test_split.read_text().splitlines()[1:]}
        pool_a = [i for i, q in enumerate(qids) if q in train_q]
        pool_t = [i for i, q in enumerate(qids) if q in test_q]
        anchor_rows = sorted(rng.choice(pool_a, min(args.n_anchor, len(pool_a)), replace=False).tolist())
        test_rows = sorted(rng.choice(pool_t, min(args.n_test or len(pool_t), len(pool_t)), replace=False).tolist())
    else:
        perm = rng.permutation(len(qids))
        anchor_rows = sorted(perm[:args.n_anchor].tolist())
        rest = perm[args.n_anchor:]
        test_rows = sorted(rest[:args.n_test or len(rest)].tolist())
    held_out = np.array(test_rows)
    dev_mask = np.zeros(len(held_out), bool)
    n_dev = int(round(args.dev_frac * len(held_out)))
    dev_mask[np.random.default_rng(args.seed + 1).permutation(len(held_out))[:n_dev]] = True
    dev_rows, test_rows = sorted(held_out[dev_mask].tolist()), sorted(held_out[~dev_mask].tolist())
    print(f"{dataset.name}: {n} docs, {len(anchor_rows)} anchor queries, {len(dev_rows)} dev / {len(test_rows)} "
          f"test queries", file=sys.stderr)

    t0 = time.perf_counter()
    rows = anchor_rows + test_rows + dev_rows
    if use_ce:
        tag = f"{Path(ce_model).name}_{args.ce_max_length or 'default'}"
        S, per_query_s = ce_matrix(ce_model, [qtexts[r] for r in rows], data["doc_texts"],
                                   Path(args.cache) / "ce" / dataset.name / tag, args.ce_max_length)
    else:
        S, per_query_s = maxsim_matrix(data["qtok"], data["qoff"], rows, data["dtok"], data["doff"])
    print(f"exact {scorer_name} matrix in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    na, nt = len(anchor_rows), len(test_rows)
    R, S_test, S_dev = S[:na], S[na:na + nt], S[na + nt:]
    test_texts = [qtexts[r] for r in test_rows]
    dev_texts = [qtexts[r] for r in dev_rows]
    row_of = {t: i for i, t in enumerate(test_texts)}
    dev_of = {t: i for i, t in enumerate(dev_texts)}
    assert len(row_of) == len(test_texts) and len(dev_of) == len(dev_texts), "duplicate held-out query texts"
    table = {t: i for i, t in enumerate([qtexts[r] for r in anchor_rows])}

    def lookup(q, ids):  # exact MaxSim, looked up: anchor texts -> R, test -> S_test, dev -> S_dev
        if q in row_of:
            return S_test[row_of[q]][ids]
        return (S_dev[dev_of[q]] if q in dev_of else R[table[q]])[ids]

    scorer = CallableScorer(lookup, n)
    records = []
    E = env()

    def emit(method, budget, ids, calls, extra=None):
        rec = {"bench": "cur", "dataset": dataset.name, "scorer": args.scorer, "method": method, "budget": budget,
               "calls_per_query": round(calls, 2), "n_docs": n, "n_anchor_queries": len(anchor_rows),
               "n_test_queries": len(test_rows), "n_dev_queries": len(dev_rows),
               **{f"recall@{k}": round(recall(ids, S_test, k), 4) for k in ks},
               **(extra or {}), "env": E}
        records.append(rec)
        print(json.dumps({k: v for k, v in rec.items() if k != "env"}), file=sys.stderr)

    # indexing cost: anchor queries x all docs calls; seconds = the measured MaxSim time per query
    index_calls = len(anchor_rows) * n
    index_secs = per_query_s * len(anchor_rows)
    anchor_texts = [qtexts[r] for r in anchor_rows]
    indexes = {}
    for ki in sorted(set(kis) | set(env_kis)):
        t1 = time.perf_counter()
        indexes[ki] = CURIndex.build(scorer, anchor_texts, n_anchor_items=ki, seed=args.seed, R=R, progress=False)
        indexes[ki].factorise_s = time.perf_counter() - t1
    for pool in ("reference", "merged"):
        for ki in kis:
            idx = indexes[ki]
            for b in budgets:
                if b <= ki:
                    continue
                scorer.reset_calls()
                res = idx.search(test_texts, k=max(ks), budget=b, pool=pool)
                emit(f"CUR k_i={ki} ({pool} pool)", b, res.ids, scorer.calls / len(test_rows),
                     {"pool": pool, "k_i": ki, "index_calls": index_calls,
                      "index_seconds": round(index_secs + idx.factorise_s, 2),
                      "factorise_seconds": round(idx.factorise_s, 3)})
        # the equal-cost envelope: per budget and k, the k_i with the best dev recall, reported on test
        for b in budgets:
            cands = [ki for ki in env_kis if ki < b]
            if not cands:
                continue
            dev_rec, test_ids = {}, {}
            for ki in cands:
                res_dev = indexes[ki].search(dev_texts, k=max(ks), budget=b, pool=pool)
                dev_rec[ki] = {k: recall(res_dev.ids, S_dev, k) for k in ks}
                scorer.reset_calls()
                test_ids[ki] = (indexes[ki].search(test_texts, k=max(ks), budget=b, pool=pool).ids,
                                scorer.calls / len(test_rows))
            chosen = {k: max(cands, key=lambda ki: (dev_rec[ki][k], -ki)) for k in ks}
            rec = {"bench": "cur", "dataset": dataset.name, "method": f"CUR envelope ({pool} pool, split on dev)",
                   "budget": b, "pool": pool, "chosen_k_i": {str(k): chosen[k] for k in ks},
                   "calls_per_query": {str(k): round(test_ids[chosen[k]][1], 2) for k in ks}, "n_docs": n,
                   "n_anchor_queries": len(anchor_rows), "n_test_queries": len(test_rows),
                   "n_dev_queries": len(dev_rows), "envelope_k_i": cands,
                   **{f"recall@{k}": round(recall(test_ids[chosen[k]][0], S_test, k), 4) for k in ks},
                   "index_calls": index_calls, "env": E}
            records.append(rec)
            print(json.dumps({k: v for k, v in rec.items() if k != "env"}), file=sys.stderr)
    idx = indexes[min(kis)]
    for b in budgets:
        scorer.reset_calls()
        res = idx.search_adaptive(test_texts, k=max(ks), budget=b, n_rounds=args.rounds, seed=args.seed)
        emit(f"adaptive CUR ({args.rounds} rounds)", b, res.ids, scorer.calls / len(test_rows),
             {"index_calls": index_calls, "index_seconds": round(index_secs, 2)})

    # baselines
    from winnow.index.flat import FlatIndex
    from winnow.index.bm25 import BM25Index
    from winnow.datasets import load

    flat = FlatIndex(data["dpool"].shape[1])
    flat.add(data["dpool"])
    qv = data["qpool"][test_rows]
    docnos = [str(d) for d in data["docnos"]]
    pos = {d: i for i, d in enumerate(docnos)}
    t1 = time.perf_counter()
    bm = BM25Index.build(list(load(dataset).corpus()))
    bm_s = time.perf_counter() - t1
    for b in budgets:
        _, cand = flat.search_vectors(qv, b)
        ids, calls = retrieve_then_score(cand, S_test, max(ks))
        emit(f"dense MiniLM + {scorer_name}", b, ids, calls, {"index_calls": 0, "index_seconds": float(data["seconds"])})
        res = bm.search(dict(zip(map(str, range(len(test_texts))), test_texts)), k=b)
        cand = np.full(res.ids.shape, -1, np.int64)
        for qi in range(res.nq):
            row = res.ids[qi][res.ids[qi] >= 0]
            cand[qi, :len(row)] = [pos[d] for d in res.docnos.lookup(row)]
        ids, calls = retrieve_then_score(cand, S_test, max(ks))
        emit(f"BM25 + {scorer_name}", b, ids, calls, {"index_calls": 0, "index_seconds": round(bm_s, 2)})

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    suffix = "" if not use_ce else "_ce"
    plot(records, ks, Path(args.plot or out.parent / f"cur_{dataset.name}{suffix}.png"), dataset.name, scorer_name)
    return 0


def plot(records, ks, path: Path, name: str, scorer_name: str = "MaxSim") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ks), figsize=(5 * len(ks), 4), squeeze=False)
    # the fixed-k_i merged-pool lines stay in the JSON; the plot keeps the reference protocol
    methods = [m for m in dict.fromkeys(r["method"] for r in records) if not ("k_i=" in m and "merged" in m)]
    for ax, k in zip(axes[0], ks):
        for m in methods:
            pts = sorted((r["budget"], r[f"recall@{k}"]) for r in records if r["method"] == m)
            style = "--" if m.startswith(("dense", "BM25")) else "-"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", ms=3, label=m)
        ax.set_title(f"{name}: top-{k} recall vs {scorer_name} exact")
        ax.set_xlabel("scorer calls per query (budget)")
        ax.set_ylabel(f"top-{k} recall")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot -> {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
