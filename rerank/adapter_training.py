"""Training the Cosine Adapter (see :mod:`winnow.rerank.cosine_adapter` for the model).

Data: the retriever's own top-K candidates for the training queries; label 1 when qrels
grade the (query, document) pair at least ``rel``, else 0 (unjudged = non-relevant). The
training queries are split, seeded, into a fit part and a held-out validation part.

Loss: binary cross-entropy on every (query, candidate) pair, full batch, Adam, early
stopping on the validation loss (the best weights are restored). A global warm start
(the map's parameters fitted with the network's output weights at zero) gives every
query the same sensible map before the network learns to bend it per query. These are
our design choices; the paper's training details were not available.

Threshold: one global threshold on the probabilities, chosen on the validation split as
the largest value whose kept pairs reach ``target_recall`` of the relevant candidates
(micro-averaged over pairs), or the smallest whose precision reaches ``target_precision``.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from winnow.results import Results
from winnow.rerank.cosine_adapter import CosineAdapter, check_family, map_scores, query_features
from winnow.stage import as_queries


def candidate_labels(results: Results, qrels: Mapping[str, Mapping[str, int]], rel: int = 1
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(labels (nq, k) float32, valid (nq, k) bool) for the candidates in ``results``."""
    labels = np.zeros(results.ids.shape, np.float32)
    valid = results.ids >= 0
    for qi, qid in enumerate(results.qids):
        judged = qrels.get(qid, {})
        n = int(valid[qi].sum())
        if n and judged:
            names = results.docnos.lookup(results.ids[qi, :n])
            labels[qi, :n] = [1.0 if judged.get(d, 0) >= rel else 0.0 for d in names]
    return labels, valid


def split_rows(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows), a seeded permutation of range(n)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * val_fraction)))
    if n - n_val < 1:
        raise ValueError(f"{n} training queries are too few to hold out a validation split")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def choose_threshold(probs: np.ndarray, labels: np.ndarray, *, target_recall: float | None = None,
                     target_precision: float | None = None) -> tuple[float, dict]:
    """One global threshold over pooled (probability, label) pairs; keep means ``p >= t``.

    Returns (threshold, {"recall", "precision", "kept", "target"}) measured on these pairs.
    """
    if (target_recall is None) == (target_precision is None):
        raise ValueError("give exactly one of target_recall and target_precision")
    p = np.asarray(probs, np.float32).ravel()
    y = np.asarray(labels).ravel() > 0
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("no relevant candidates to choose a threshold on (check qrels and k)")
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[ps[1:] != ps[:-1], True]  # end of each group of equal probabilities
    kept = np.arange(1, len(ps) + 1)[last]
    tp = np.cumsum(ys)[last]
    recall, precision, thresholds = tp / n_pos, tp / kept, ps[last]
    if target_recall is not None:
        if not 0.0 < target_recall <= 1.0:
            raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
        i = int(np.argmax(recall >= target_recall - 1e-12))
        target = {"recall": target_recall}
    else:
        if not 0.0 < target_precision <= 1.0:
            raise ValueError(f"target_precision must be in (0, 1], got {target_precision}")
        ok = np.flatnonzero(precision >= target_precision)
        i = int(ok[-1]) if len(ok) else int(np.argmax(precision))  # most recall at that precision
        target = {"precision": target_precision, "reached": bool(len(ok))}
    t = float(thresholds[i])
    return t, {"recall": float(recall[i]), "precision": float(precision[i]), "kept": int(kept[i]),
               "target": target}


def train_adapter(results: Results, qrels: Mapping[str, Mapping[str, int]], features: np.ndarray,
                  family: str = "power", *, feature_kinds: tuple[str, ...] = ("embedding",),
                  domain: str = "cosine", score_range: tuple[float, float] | None = None,
                  val_fraction: float = 0.2, seed: int = 0, hidden: int = 64, lr: float = 3e-3,
                  weight_decay: float = 1e-4, max_epochs: int = 3000, patience: int = 200,
                  eval_every: int = 10, target_recall: float | None = 0.95,
                  target_precision: float | None = None, rel: int = 1, index=None, query_vectors=None,
                  info: dict | None = None, threads: int = 1) -> CosineAdapter:
    """Fit an adapter on candidate lists ``results`` (nq, K) with query ``features`` (nq, f).

    Rows of ``results`` are the training queries (validation is held out of them). Returns
    the adapter with its threshold set and a training report in ``adapter.info``.
    ``threads`` pins torch's intra-op threads while training (the problem is small; more
    threads mostly wait on each other, and a fixed count keeps runs reproducible).
    """
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        return _train(torch, results, qrels, features, family, feature_kinds, domain, score_range, val_fraction,
                      seed, hidden, lr, weight_decay, max_epochs, patience, eval_every, target_recall,
                      target_precision, rel, index, query_vectors, info)
    finally:
        torch.set_num_threads(prev)


def _train(torch, results, qrels, features, family, feature_kinds, domain, score_range, val_fraction, seed,
           hidden, lr, weight_decay, max_epochs, patience, eval_every, target_recall, target_precision, rel,
           index, query_vectors, info) -> CosineAdapter:

    check_family(family)
    feats = np.asarray(features, np.float32)
    if feats.ndim != 2 or len(feats) != results.nq:
        raise ValueError(f"features must be (nq={results.nq}, f), got shape {feats.shape}")
    labels, valid = candidate_labels(results, qrels, rel)
    scores = np.where(valid, results.scores, np.nan).astype(np.float64)
    if domain == "minmax" and score_range is None:
        finite = scores[valid]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        score_range = (lo, hi if hi > lo else lo + 1.0)
    score_range = tuple(score_range or (-1.0, 1.0))
    fit, val = split_rows(results.nq, val_fraction, seed)

    torch.manual_seed(seed)
    adapter = CosineAdapter(family, feature_kinds, feats.shape[1], hidden, domain, score_range, 0.5,
                            index=index, query_vectors=query_vectors, seed=seed)
    net = adapter.net
    mean = feats[fit].mean(axis=0)
    std = np.maximum(feats[fit].std(axis=0), 1e-6)
    net.feat_mean.copy_(torch.as_tensor(mean))
    net.feat_std.copy_(torch.as_tensor(std))

    def tensors(rows):
        s = np.where(valid[rows], scores[rows], score_range[0])
        return (torch.as_tensor(feats[rows]), torch.as_tensor(s, dtype=torch.float32),
                torch.as_tensor(labels[rows]), torch.as_tensor(valid[rows], dtype=torch.float32))

    data_fit, data_val = tensors(fit), tensors(val)

    def loss_of(raw, data):
        _, s, y, m = data
        logits = map_scores(raw, s, family, domain, *score_range, xp=torch)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        return (bce * m).sum() / m.sum().clamp(min=1.0)

    # Global warm start: the output bias alone (same map for every query).
    with torch.no_grad():
        net.out.weight.zero_()
        base = float(labels[fit][valid[fit]].mean()) if valid[fit].any() else 0.01
        net.out.bias.copy_(torch.tensor([math.log(math.expm1(5.0)), math.log(base / (1 - base + 1e-9) + 1e-9),
                                         0.0][: net.out.bias.numel()]))
    bias = net.out.bias
    opt = torch.optim.Adam([bias], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = loss_of(bias.expand(len(fit), -1), data_fit)
        loss.backward()
        opt.step()

    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    best = (math.inf, 0, {k: v.clone() for k, v in net.state_dict().items()})
    history = []
    for epoch in range(1, max_epochs + 1):
        net.train()
        opt.zero_grad()
        loss = loss_of(net(data_fit[0]), data_fit)
        loss.backward()
        opt.step()
        if epoch % eval_every == 0 or epoch == max_epochs:
            net.eval()
            with torch.no_grad():
                vloss = float(loss_of(net(data_val[0]), data_val))
            history.append((epoch, float(loss.detach()), vloss))
            if vloss < best[0] - 1e-7:
                best = (vloss, epoch, {k: v.clone() for k, v in net.state_dict().items()})
            elif epoch - best[1] >= patience:
                break
    net.load_state_dict(best[2])
    net.eval()

    probs = adapter.row_probabilities(feats[val], results.scores[val], valid[val])
    threshold, achieved = choose_threshold(probs[valid[val]], labels[val][valid[val]],
                                           target_recall=target_recall, target_precision=target_precision)
    adapter.threshold = threshold
    adapter.info = dict(info or {}, seed=seed, family=family, features=list(feature_kinds),
                        n_fit_queries=len(fit), n_val_queries=len(val), k=results.k,
                        val_qids=[results.qids[i] for i in val], best_epoch=best[1],
                        best_val_loss=best[0], epochs_run=history[-1][0] if history else 0,
                        threshold_on_validation=achieved,
                        hyper={"hidden": hidden, "lr": lr, "weight_decay": weight_decay,
                               "max_epochs": max_epochs, "patience": patience, "val_fraction": val_fraction})
    return adapter


def train_for_retriever(retriever, queries, qrels: Mapping[str, Mapping[str, int]], family: str = "power", *,
                        k: int = 100, features: str = "auto", score_stats: bool = False,
                        query_vectors: Mapping[str, np.ndarray] | None = None, index_path=None,
                        **kwargs) -> CosineAdapter:
    """Retrieve the top-``k`` candidates of the judged ``queries`` with ``retriever`` and train.

    ``features``: ``"auto"`` (``embedding`` for a dense index, ``query_stats`` otherwise),
    ``"embedding"`` or ``"query_stats"``; ``query_vectors`` ({qid: vector}) replaces the
    index's encoder for dense retrievers. ``index_path`` is recorded so that a loaded adapter
    finds its feature source again.
    """
    qids, texts = as_queries(queries)
    keep = [i for i, q in enumerate(qids) if q in qrels]
    if not keep:
        raise ValueError("none of the queries has judgements in qrels")
    qids, texts = [qids[i] for i in keep], [texts[i] for i in keep]
    dense = hasattr(retriever, "search_vectors")
    if features == "auto":
        features = "embedding" if dense else "query_stats"
    if dense and query_vectors is not None:
        x = query_features("embedding", qids, texts, query_vectors=query_vectors)
        res = retriever.search(x, k=k)
        res = Results(qids, res.ids, res.scores, res.docnos, texts)
    else:
        res = retriever.search(dict(zip(qids, texts)), k=k)
    kinds = (features,) + (("score_stats",) if score_stats else ())
    feats = np.concatenate([query_features(kind, qids, texts, res, index=retriever, query_vectors=query_vectors)
                            for kind in kinds], axis=1)
    cosine = dense and getattr(retriever, "metric", "ip") == "ip"
    info = {"index": str(index_path) if index_path is not None else None, "retriever": repr(retriever)}
    return train_adapter(res, qrels, feats, family, feature_kinds=kinds, domain="cosine" if cosine else "minmax",
                         index=retriever, query_vectors=query_vectors, info=info, **kwargs)
