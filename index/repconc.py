"""RepCONC-style constrained PQ (Zhan et al., WSDM 2022; spec: shared/reference/algorithms.md §1).

Pipeline for fixed document / query embeddings (the encoder is not fine-tuned here):

1. optional OPQ rotation (``train_opq``), applied to documents and queries (``x @ R``);
2. constrained codebooks: PQ k-means whose assignment step is balanced Sinkhorn
   (``_core.train_constrained_pq``);
3. stage 1, ranking-loss centroid training (torch, CPU): softmax cross-entropy of continuous
   queries against *quantized* documents (in-batch positives + hard negatives mined once by
   searching the engine's own ``FlatIndex``) plus ``mse_weight`` x the clustering loss, under
   the constrained (Sinkhorn) assignment, with the straight-through estimator
   ``quant + doc - doc.detach()`` (a no-op for the gradient when, as here, documents are fixed
   vectors; kept so that a trainable encoder gets the authors' gradient);
4. stage 2 (JPQ): codes fixed to nearest centroid (the index-time coding), centroids trained
   against negatives retrieved each step from the current ``PQIndex``.

Deviation from the authors, on purpose: the constrained assignment is computed over the whole
corpus (refreshed every epoch), not per batch; the authors all-reduce Sinkhorn over GPUs to make
the marginals global, and a small corpus fits whole. Scores use a temperature (default 0.05)
because all-MiniLM-style embeddings are cosine-normalised (STAR's raw dot products need none).
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from winnow import _core
from winnow.index.dense_base import as_vectors
from winnow.index.flat import FlatIndex
from winnow.index.opq import train_opq
from winnow.index.pq_index import PQIndex
from winnow.validation import check_finite, unique_docnos


@dataclass
class RepCONCConfig:
    """Settings; defaults are small-data choices (see benchmarks/README.md)."""
    M: int = 48
    nbits: int = 8
    opq: bool = True                 # warm-up rotation, as the authors (faiss OPQ there)
    cpq_niter: int = 10              # constrained k-means iterations
    epsilon: float = 0.01            # Sinkhorn epsilon on costs scaled to [-1, 1]
    sinkhorn_iters: int = 20
    epochs: int = 4                  # stage 1 (ranking + MSE, constrained codes)
    stage2_epochs: int = 4           # stage 2 (JPQ, fixed nearest codes, dynamic negatives)
    batch_size: int = 64             # queries per step
    hard_negatives: int = 8          # per query per step (stage 1), from the top hard_topk
    hard_topk: int = 200
    neg_topk: int = 200              # stage 2 dynamic negatives
    lr: float = 5e-4                 # stage 1 centroid learning rate (Adam)
    stage2_lr: float = 2e-4
    mse_weight: float = 0.05         # lambda (WSDM default)
    temperature: float = 0.05
    seed: int = 1234
    threads: int = 1


@dataclass
class RepCONCResult:
    index: PQIndex
    config: RepCONCConfig
    log: list = field(default_factory=list)   # one dict per epoch (stage, loss, imbalance, ...)

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "log": self.log}


def _relevant_rows(qids, qrels, doc_row):
    """Per query: array of corpus rows judged relevant (grade > 0)."""
    rel = []
    for q in qids:
        rows = [doc_row[d] for d, g in qrels.get(str(q), {}).items() if g > 0 and d in doc_row]
        rel.append(np.array(sorted(rows), np.int64))
    return rel


def _stats(codes: np.ndarray, K: int) -> tuple[float, float]:
    s = _core.balance_stats(np.ascontiguousarray(codes, dtype=np.int32), K)
    return float(np.mean(s["avg_imbalance"])), float(np.mean(s["entropy"]))


def train_repconc(doc_vectors, query_vectors, query_ids, qrels, docnos=None, config: RepCONCConfig | None = None,
                  log=None, model: str | None = None, init=None) -> RepCONCResult:
    """Train a constrained, ranking-loss PQ codebook and return the filled ``PQIndex``.

    doc_vectors (n, d), query_vectors (nq, d): float32 (converted); query_ids: nq ids;
    qrels: ``{qid: {docno: grade}}`` (or a path, via ``winnow.evaluation.load_qrels``);
    docnos: n document ids matching the qrels (default "0".."n-1"). ``log``: callable taking
    a message (default: stderr). Deterministic for ``config.seed`` and ``config.threads``.
    ``init``: ``(centroids (M, K, d/M), rotation (d, d) or None)`` (e.g. the codebook of an
    earlier result) to skip the rotation and constrained k-means.
    """
    import torch

    from winnow.evaluation import load_qrels

    cfg = config or RepCONCConfig()
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    x = as_vectors(doc_vectors)
    q_all = as_vectors(query_vectors, x.shape[1], "query vectors")
    n, d = x.shape
    K = 1 << cfg.nbits
    if d % cfg.M:
        raise ValueError(f"dim {d} is not a multiple of M={cfg.M}")
    if len(query_ids) != len(q_all):
        raise ValueError(f"{len(query_ids)} query ids for {len(q_all)} query vectors")
    qrels = load_qrels(qrels) if not isinstance(qrels, dict) else qrels
    docnos = [str(i) for i in range(n)] if docnos is None else unique_docnos(docnos)
    doc_row = {dn: i for i, dn in enumerate(docnos)}
    rel = _relevant_rows(query_ids, qrels, doc_row)
    keep = [i for i, r in enumerate(rel) if len(r)]
    if not keep:
        raise ValueError("no training query has a relevant document in the corpus (check ids and qrels)")
    q_all, rel = q_all[keep], [rel[i] for i in keep]
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, cfg.threads))
    rng = np.random.default_rng(cfg.seed)
    history: list[dict] = []
    t0 = time.perf_counter()

    if init is not None:
        rotation = None if init[1] is None else np.ascontiguousarray(init[1], dtype=np.float32)
        check_finite(init[0], "init centroids")
        if rotation is not None:
            check_finite(rotation, "init rotation")
    else:
        rotation = train_opq(x, cfg.M, cfg.nbits, seed=cfg.seed, threads=cfg.threads) if cfg.opq else None
    xr = np.ascontiguousarray(x @ rotation) if rotation is not None else x
    qr = np.ascontiguousarray(q_all @ rotation) if rotation is not None else q_all
    if init is not None:
        c0 = np.ascontiguousarray(init[0], dtype=np.float32)
        r = _core.train_constrained_pq(xr, cfg.M, K, niter=0, init=c0, epsilon=cfg.epsilon,
                                       iterations=cfg.sinkhorn_iters, seed=cfg.seed, threads=cfg.threads)
    else:
        r = _core.train_constrained_pq(xr, cfg.M, K, niter=cfg.cpq_niter, epsilon=cfg.epsilon,
                                       iterations=cfg.sinkhorn_iters, seed=cfg.seed, threads=cfg.threads)
    entry = {"stage": "constrained_pq", "epoch": cfg.cpq_niter,
             "mse": r["mse_nearest"][-1] if r["mse_nearest"] else float("nan"),
             "imbalance_constrained": float(np.mean(r["constrained"]["avg_imbalance"])),
             "imbalance_nearest": float(np.mean(r["nearest"]["avg_imbalance"])),
             "entropy_nearest": float(np.mean(r["nearest"]["entropy"])), "seconds": time.perf_counter() - t0}
    history.append(entry)
    say(f"[repconc] constrained PQ M={cfg.M} ({'given codebook' if init is not None else 'trained'}): "
        f"mse {entry['mse']:.5f}, avg_imbalance constrained "
        f"{entry['imbalance_constrained']:.3f} / nearest {entry['imbalance_nearest']:.3f}")

    X = torch.from_numpy(xr)
    Q = torch.from_numpy(qr)
    C = torch.nn.Parameter(torch.from_numpy(np.array(r["centroids"], np.float32)))
    dsub = d // cfg.M
    arange_m = torch.arange(cfg.M)

    def quantize(codes_t):  # codes (b, M) long -> (b, d)
        return C[arange_m, codes_t].reshape(len(codes_t), d)

    def rel_mask(qi_batch, doc_rows):  # (B, nd) True where doc is relevant to the query
        return torch.from_numpy(np.stack([np.isin(doc_rows, rel[qi]) for qi in qi_batch]))

    nq = len(qr)
    if cfg.epochs > 0:
        # Hard negatives, mined once with the engine's exact index (authors: warm-up model top-200).
        flat = FlatIndex(d)
        flat.add(xr)
        _, top = flat.search_vectors(qr, cfg.hard_topk + 10, threads=cfg.threads)
        hard = [t[~np.isin(t, rel[i]) & (t >= 0)][:cfg.hard_topk] for i, t in enumerate(top)]
        opt = torch.optim.Adam([C], lr=cfg.lr)
    for epoch in range(cfg.epochs):
        te = time.perf_counter()
        codes_np, _ = _core.balanced_assign(xr, np.ascontiguousarray(C.detach().numpy()), cfg.epsilon,
                                            cfg.sinkhorn_iters, True, None, cfg.threads)
        codes = torch.from_numpy(codes_np.astype(np.int64))
        perm = rng.permutation(nq)
        tot = tot_rank = tot_mse = 0.0
        steps = 0
        for s in range(0, nq, cfg.batch_size):
            qi = perm[s:s + cfg.batch_size]
            pos = np.array([rng.choice(rel[i]) for i in qi], np.int64)
            negs = [rng.choice(hard[i], min(cfg.hard_negatives, len(hard[i])), replace=False) for i in qi]
            docs = np.unique(np.concatenate([pos] + negs))
            labels = torch.from_numpy(np.searchsorted(docs, pos))
            e = X[docs]
            quant = quantize(codes[docs])
            mixed = quant + e - e.detach()  # straight-through estimator
            scores = Q[qi] @ mixed.T / cfg.temperature
            mask = rel_mask(qi, docs)
            mask[torch.arange(len(qi)), labels] = False  # the target positive stays
            scores = scores.masked_fill(mask, -1e4)
            rank_loss = torch.nn.functional.cross_entropy(scores, labels)
            mse = ((quantize(codes) - X) ** 2).sum(1).mean()
            loss = rank_loss + cfg.mse_weight * mse
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot, tot_rank, tot_mse, steps = tot + loss.item(), tot_rank + rank_loss.item(), tot_mse + mse.item(), steps + 1
        near = _core.nearest_assign(xr, np.ascontiguousarray(C.detach().numpy()), cfg.threads)
        entry = {"stage": "rank", "epoch": epoch + 1, "loss": tot / steps, "rank_loss": tot_rank / steps,
                 "mse": tot_mse / steps, "imbalance_constrained": _stats(codes_np, K)[0],
                 "imbalance_nearest": _stats(near, K)[0], "seconds": time.perf_counter() - te}
        history.append(entry)
        say(f"[repconc] stage 1 epoch {epoch + 1}/{cfg.epochs}: loss {entry['loss']:.4f} (rank "
            f"{entry['rank_loss']:.4f}, mse {entry['mse']:.5f}), avg_imbalance constrained "
            f"{entry['imbalance_constrained']:.3f} / nearest {entry['imbalance_nearest']:.3f}")

    # Stage 2 (JPQ): codes fixed to nearest centroid; dynamic negatives from the current index.
    index = PQIndex(d, cfg.M, cfg.nbits, model=model)
    index.set_codebooks(C.detach().numpy())
    codes_np = index.pq.encode(xr, cfg.threads)
    index.add_codes(codes_np, np.arange(n, dtype=np.int64))
    codes = torch.from_numpy(codes_np.astype(np.int64))
    if cfg.stage2_epochs > 0:
        opt = torch.optim.Adam([C], lr=cfg.stage2_lr)
    for epoch in range(cfg.stage2_epochs):
        te = time.perf_counter()
        perm = rng.permutation(nq)
        tot, steps = 0.0, 0
        for s in range(0, nq, cfg.batch_size):
            qi = perm[s:s + cfg.batch_size]
            index.set_codebooks(C.detach().numpy())
            _, top = index.search_vectors(qr[qi], cfg.neg_topk, threads=cfg.threads)
            pos = np.array([rng.choice(rel[i]) for i in qi], np.int64)
            cand = np.concatenate([pos[:, None], np.maximum(top, 0)], axis=1)  # (B, 1 + neg_topk)
            quant = quantize(codes[torch.from_numpy(cand.reshape(-1))]).reshape(len(qi), -1, d)
            scores = torch.einsum("bd,bkd->bk", Q[qi], quant) / cfg.temperature
            mask = torch.from_numpy(np.stack([np.isin(cand[j], rel[i]) for j, i in enumerate(qi)]) | (
                np.concatenate([np.zeros((len(qi), 1), bool), top < 0], axis=1)))
            mask[:, 0] = False
            loss = torch.nn.functional.cross_entropy(scores.masked_fill(mask, -1e4),
                                                     torch.zeros(len(qi), dtype=torch.long))
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot, steps = tot + loss.item(), steps + 1
        entry = {"stage": "jpq", "epoch": epoch + 1, "loss": tot / steps, "imbalance_nearest": _stats(codes_np, K)[0],
                 "seconds": time.perf_counter() - te}
        history.append(entry)
        say(f"[repconc] stage 2 epoch {epoch + 1}/{cfg.stage2_epochs}: loss {entry['loss']:.4f}")
    index.set_codebooks(C.detach().numpy(), rotation)
    if docnos is not None:
        index.set_docnos(docnos)
    return RepCONCResult(index, cfg, history)


def to_ivf(pq_index: PQIndex, doc_vectors, nlist: int, seed: int = 1234, threads: int = 1):
    """Non-residual IVF-PQ keeping the learned codebook (algorithms.md §1.7, cleaner form):
    coarse k-means on the reconstructed vectors, lists storing nearest-centroid codes."""
    from winnow.index.ivf import IVFIndex

    x = as_vectors(doc_vectors, pq_index.d)
    ivf = IVFIndex(pq_index.d, nlist, "pq", pq_index.M, pq_index.nbits, pq_index.metric, residual=False,
                   model=pq_index.model)
    recon = np.ascontiguousarray(pq_index.pq.decode(np.ascontiguousarray(pq_index.codes)))  # rotated space
    coarse, _, _ = _core.kmeans(recon, nlist, niter=20, seed=seed, threads=threads)
    ivf.set_quantizers(coarse, pq_index.pq.centroids, pq_index.rotation)
    ivf.add(x, threads=threads)
    ivf.docnos = pq_index.docnos
    return ivf


def load_checkpoint(path_or_state) -> tuple[np.ndarray, np.ndarray | None]:
    """``(centroids (M, K, d/M) float32, rotation (d, d) float32 or None)`` from a RepCONC / JPQ
    PyTorch state dict (path to ``pytorch_model.bin`` or the dict). Keys may carry a prefix
    (``module.``, ``model.``). The returned rotation is in Winnow's convention (``x @ R``): the
    authors apply ``e @ rotation^T``, so this is ``rotation.T``."""
    import torch

    state = path_or_state
    if not isinstance(state, dict):
        state = torch.load(str(path_or_state), map_location="cpu", weights_only=True)
    cent = [k for k in state if k == "centroids" or k.endswith(".centroids")]
    rot = [k for k in state if k == "rotation" or k.endswith(".rotation")]
    if len(cent) != 1:
        raise ValueError(f"expected one 'centroids' tensor in the state dict, found {cent or 'none'}")
    c = np.ascontiguousarray(np.asarray(state[cent[0]].detach().cpu().numpy(), np.float32))
    if c.ndim != 3:
        raise ValueError(f"centroids have shape {c.shape}, expected (M, K, d/M)")
    d = c.shape[0] * c.shape[2]
    r = None
    if rot:
        r = np.asarray(state[rot[0]].detach().cpu().numpy(), np.float32)
        if r.shape != (d, d):
            raise ValueError(f"rotation has shape {r.shape}, expected ({d}, {d})")
        r = np.ascontiguousarray(r.T)
    return c, r


def index_from_checkpoint(path_or_state, doc_vectors=None, docnos=None, model: str | None = None) -> PQIndex:
    """A ``PQIndex`` with the checkpoint's codebook (and rotation); documents (original,
    unrotated embeddings of the checkpoint's encoder) coded by nearest centroid when given."""
    c, r = load_checkpoint(path_or_state)
    K = c.shape[1]
    if K not in (16, 256):
        raise ValueError(f"checkpoint has {K} centroids per sub-space; PQIndex supports 16 or 256")
    index = PQIndex(c.shape[0] * c.shape[2], c.shape[0], 8 if K == 256 else 4, model=model)
    index.set_codebooks(c, r)
    if doc_vectors is not None:
        index.add(doc_vectors)
        if docnos is not None:
            index.set_docnos(docnos)
    return index
