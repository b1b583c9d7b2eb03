"""RepCONC: constrained-clustering PQ trained with a ranking loss (Zhan et al., "Learning
Discrete Representations via Constrained Clustering for Effective and Efficient Dense
Retrieval", WSDM 2022; spec: shared/reference/algorithms.md §0-§1). Two modes:

``mode="full"`` (default): the published method, after the authors' 2022 toolbox
(jingtaozhan/RepCONC at 64f3f8a, ``src/repconc/models/repconc/finetune_repconc.py`` and
``models/jpq/finetune_jpq.py``), with its sentence-BERT example's hyper-parameters
(``examples/sentence-bert/repconc/7_run_conc_train.sh``, ``9_run_jpq_train.sh``):

1. warm-up: encode the corpus with the base model, train an OPQ rotation (``train_opq``,
   faiss's ``OPQMatrix::train``) and plain PQ on the rotated embeddings (faiss
   ``OPQ{M},PQ{M}x8``); the rotation ``R`` is fixed from then on;
2. hard negatives: the top ``hard_topk`` (200) of each training query in that warm-up PQ
   index, relevant documents removed (``hard_negative_source="exact"``: exact search instead);
3. stage 1: one sentence-transformers model encodes queries and documents; per batch, the
   documents are coded by the Sinkhorn-balanced assignment over the batch, and the ranking
   loss reaches the encoder through the straight-through estimator (details and the
   GradCache chunking: ``winnow.index.repconc_train``);
4. stage 2 (JPQ): document codes fixed to the nearest centroid of the selected stage-1
   encoder's corpus embeddings; the query encoder and the centroids are trained against
   negatives retrieved each step from the current index;
5. checkpoint selection on a dev split carved from the training queries (``dev_fraction``);
   the index codes documents by nearest centroid (the authors' index-time coding).

``mode="centroids"``: the cheaper variant on fixed embeddings (no encoder is loaded or
trained). Everything above runs the same way, except that queries and documents are the given
vectors: the straight-through estimator then only reaches the centroids, stage 2 trains only
the centroids, and the corpus is never re-encoded. Closer to supervised centroid tuning than to
RepCONC; costs seconds instead of encoder passes.

Defaults (2022 toolbox, sentence-BERT example): temperature 1; Sinkhorn epsilon 0.003 and 100
iterations on costs scaled to [-1, 1] per sub-space (``scale_costs``); MSE weight 1e-4;
encoder LR 2e-5, centroid LR 5e-4, 4 epochs, 4096 queries per step (``batch_size``), encoder
forward in chunks of 64 (``chunk_size``, the toolbox's ``cache_chunk_size``), 11 hard
negatives per query with only the 11 hardest in-batch negatives kept
(``dynamic_topk_hard_negative``); query length 16, document length 128 in training; stage 2:
query-encoder LR 2e-6, centroid LR 2e-5, 128 queries per step, 4 epochs, top-200 dynamic
negatives; AdamW, no weight decay, constant LR. The WSDM'22 release (d18a015) differs:
epsilon 0.05 / 30 iterations on mean-centred, unscaled costs (``scale_costs=False``), MSE
weight 0.05, encoder LR 5e-6, centroid LR 2e-4, 1 hard negative per query.

Our choices, named: the encoder runs without dropout (the no-gradient and the gradient pass of
GradCache then agree without replaying RNG states); Sinkhorn is log-domain (no float64 or
NaN fallback needed); retrieved positives are masked in stage 2 (``mask_retrieved_positives``,
as the WSDM release; the toolbox computes the mask but does not apply it); selection includes
the warm-up checkpoint and evaluates once per epoch (the toolbox every 40 steps); a batch larger
than the training set is the whole training set (SciFact has ~800 training queries, MS MARCO
500k: pass a smaller ``batch_size`` on small data).
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from winnow import _core
from winnow.index.dense_base import as_vectors
from winnow.index.flat import FlatIndex
from winnow.index.opq import train_opq
from winnow.index.pq_index import PQIndex
from winnow.validation import check_finite, unique_docnos

MODES = ("full", "centroids")


@dataclass
class RepCONCConfig:
    """Settings; defaults from the 2022 toolbox (see the module docstring)."""
    M: int = 48
    nbits: int = 8
    mode: str = "full"                  # "full" (encoder trained) or "centroids" (fixed vectors)
    opq: bool = True                    # warm-up rotation (faiss OPQ in the reference)
    warmup: str = "opq_pq"              # "opq_pq" (reference) or "constrained" (Sinkhorn k-means codebook)
    cpq_niter: int = 10                 # constrained k-means iterations (warmup="constrained")
    epsilon: float = 0.003              # Sinkhorn epsilon
    sinkhorn_iters: int = 100
    scale_costs: bool = True            # costs scaled to [-1, 1] per sub-space (toolbox); False = WSDM
    epochs: int = 4                     # stage 1
    stage2_epochs: int = 4              # stage 2 (JPQ)
    batch_size: int = 4096              # stage-1 queries per step
    stage2_batch_size: int = 128
    chunk_size: int = 64                # encoder rows per forward (GradCache chunk)
    hard_negatives: int = 11            # sampled per query per step from the top hard_topk
    dynamic_topk_hard_negative: int | None = 11  # only the k hardest batch negatives count (None: all)
    hard_topk: int = 200
    hard_negative_source: str = "warmup_pq"      # or "exact"
    neg_topk: int = 200                 # stage-2 dynamic negatives
    encoder_lr: float = 2e-5
    centroid_lr: float = 5e-4
    stage2_encoder_lr: float = 2e-6
    stage2_centroid_lr: float = 2e-5
    mse_weight: float = 1e-4
    temperature: float = 1.0
    max_query_len: int = 16
    max_doc_len: int = 128
    corpus_max_len: int | None = None   # document length when (re-)encoding the corpus (None: model's)
    mask_retrieved_positives: bool = True
    dev_fraction: float = 0.1           # training queries held out for checkpoint selection (0: none)
    seed: int = 1234
    threads: int = 1

    def check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.warmup not in ("opq_pq", "constrained"):
            raise ValueError(f"warmup must be 'opq_pq' or 'constrained', got {self.warmup!r}")
        if self.hard_negative_source not in ("warmup_pq", "exact"):
            raise ValueError(f"hard_negative_source must be 'warmup_pq' or 'exact', got {self.hard_negative_source!r}")
        if not 0 <= self.dev_fraction < 1:
            raise ValueError(f"dev_fraction must be in [0, 1), got {self.dev_fraction}")
        for name in ("batch_size", "stage2_batch_size", "chunk_size", "hard_topk", "neg_topk"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


@dataclass
class RepCONCResult:
    index: PQIndex
    config: RepCONCConfig
    log: list = field(default_factory=list)   # one dict per stage / epoch (loss, dev MRR@10, ...)
    query_encoder: object = None              # full mode: the trained SentenceTransformer
    encoder_path: str | None = None           # full mode: where it was saved (the index's model)
    sinkhorn_calls: int = 0                   # stage-1 batches coded by Sinkhorn

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "log": self.log, "encoder_path": self.encoder_path,
                "sinkhorn_calls": self.sinkhorn_calls}


def _relevant_rows(qids, qrels, doc_row):
    """Per query: array of corpus rows judged relevant (grade > 0)."""
    rel = []
    for q in qids:
        rows = [doc_row[d] for d, g in qrels.get(str(q), {}).items() if g > 0 and d in doc_row]
        rel.append(np.array(sorted(rows), np.int64))
    return rel


def _load_model(path, threads: int):
    """A sentence-transformers model from a local directory (nothing is downloaded)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from winnow.encoders import SentenceEncoder

    return SentenceEncoder(path, threads=threads)._model


def _warmup_codebook(xr: np.ndarray, cfg, K: int, say) -> tuple[np.ndarray, dict]:
    """Warm-up centroids (M, K, d/M) on rotated corpus embeddings xr (n, d)."""
    t = time.perf_counter()
    if cfg.warmup == "opq_pq":
        pq = _core.ProductQuantizer(xr.shape[1], cfg.M, cfg.nbits)
        pq.train(xr, seed=cfg.seed, threads=cfg.threads)
        c = pq.centroids
        near = _core.nearest_assign(xr, c, cfg.threads)
        entry = {"stage": "warmup", "codebook": "opq_pq",
                 "imbalance_nearest": float(np.mean(_core.balance_stats(near, K)["avg_imbalance"]))}
    else:
        r = _core.train_constrained_pq(xr, cfg.M, K, niter=cfg.cpq_niter, epsilon=cfg.epsilon,
                                       iterations=cfg.sinkhorn_iters, scale_costs=cfg.scale_costs,
                                       seed=cfg.seed, threads=cfg.threads)
        c = np.array(r["centroids"], np.float32)
        entry = {"stage": "warmup", "codebook": "constrained",
                 "mse": r["mse_nearest"][-1] if r["mse_nearest"] else float("nan"),
                 "imbalance_constrained": float(np.mean(r["constrained"]["avg_imbalance"])),
                 "imbalance_nearest": float(np.mean(r["nearest"]["avg_imbalance"]))}
    entry["seconds"] = time.perf_counter() - t
    say(f"[repconc] warm-up codebook ({entry['codebook']}) M={cfg.M}: avg_imbalance nearest "
        f"{entry['imbalance_nearest']:.3f}")
    return c, entry


def train_repconc(doc_vectors, query_vectors, query_ids, qrels, docnos=None, config: RepCONCConfig | None = None,
                  log=None, model: str | None = None, init=None, *, corpus_texts=None, query_texts=None,
                  encoder_output=None) -> RepCONCResult:
    """Train RepCONC and return the filled ``PQIndex`` (rotation included).

    doc_vectors (n, d), query_vectors (nq, d): float32 embeddings of the base model (full
    mode: optional, used for the warm-up and hard negatives, encoded when None; centroid-only
    mode: required, never changed). query_ids: nq ids (training queries; those with no
    relevant document in the corpus are dropped); qrels: ``{qid: {docno: grade}}`` (or a
    path); docnos: n document ids (default "0".."n-1"). ``log``: callable taking a message
    (default: stderr). Deterministic for ``config.seed`` and ``config.threads``.

    ``model``: centroid-only mode: the model name recorded in the index; full mode: the base
    sentence-transformers model directory (default: the packaged all-MiniLM-L6-v2).
    ``corpus_texts`` (n) / ``query_texts`` (nq): full mode's inputs. ``encoder_output``: full
    mode: directory where the trained query encoder is saved (``query/``), with the stage-1
    document encoder (``doc/``, needed to add documents later); the index records ``query/``.
    ``init``: ``(centroids (M, K, d/M), rotation (d, d) or None)`` to skip the warm-up
    codebook (e.g. an earlier result's).
    """
    import torch

    from winnow.evaluation import load_qrels
    from winnow.index import repconc_train as rt

    cfg = config or RepCONCConfig()
    cfg.check()
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    full = cfg.mode == "full"
    K = 1 << cfg.nbits
    qrels = load_qrels(qrels) if not isinstance(qrels, dict) else qrels
    query_ids = [str(q) for q in query_ids]
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, cfg.threads))
    rng = np.random.default_rng(cfg.seed)
    history: list[dict] = []

    st_model = None
    if full:
        if corpus_texts is None or query_texts is None:
            raise ValueError("mode='full' trains the encoder: pass corpus_texts and query_texts "
                             "(or use mode='centroids' on fixed vectors)")
        st_model = _load_model(model, cfg.threads)
        st_model.eval()
        model_max_len = st_model.max_seq_length
        corpus_texts, query_texts = list(corpus_texts), list(query_texts)
        corpus_len = cfg.corpus_max_len or model_max_len
        if len(query_texts) != len(query_ids):
            raise ValueError(f"{len(query_ids)} query ids for {len(query_texts)} query texts")
        base_doc = rt.TextEncoder(st_model, corpus_texts, corpus_len)
        base_q = rt.TextEncoder(st_model, query_texts, cfg.max_query_len)
        if doc_vectors is None:
            say(f"[repconc] encoding {len(corpus_texts):,} documents with the base model (warm-up)")
            doc_vectors = rt.encode_rows(base_doc, np.arange(len(corpus_texts)), cfg.chunk_size)
        if query_vectors is None:
            query_vectors = rt.encode_rows(base_q, np.arange(len(query_texts)), cfg.chunk_size)
    elif doc_vectors is None or query_vectors is None:
        raise ValueError("mode='centroids' needs doc_vectors and query_vectors")
    x = as_vectors(doc_vectors)
    q_all = as_vectors(query_vectors, x.shape[1], "query vectors")
    n, d = x.shape
    if d % cfg.M:
        raise ValueError(f"dim {d} is not a multiple of M={cfg.M}")
    if len(query_ids) != len(q_all):
        raise ValueError(f"{len(query_ids)} query ids for {len(q_all)} query vectors")
    if full and len(corpus_texts) != n:
        raise ValueError(f"{len(corpus_texts)} corpus texts for {n} document vectors")
    docnos = [str(i) for i in range(n)] if docnos is None else unique_docnos(docnos)
    if len(docnos) != n:
        raise ValueError(f"{len(docnos)} docnos for {n} document vectors")
    doc_row = {dn: i for i, dn in enumerate(docnos)}
    rel = _relevant_rows(query_ids, qrels, doc_row)
    keep = np.array([i for i, r in enumerate(rel) if len(r)], np.int64)
    if not len(keep):
        raise ValueError("no training query has a relevant document in the corpus (check ids and qrels)")
    # dev split carved from the training queries (never trained on), seeded
    n_dev = int(round(cfg.dev_fraction * len(keep))) if cfg.dev_fraction > 0 else 0
    order = rng.permutation(keep)
    dev_q, train_q = np.sort(order[:n_dev]), np.sort(order[n_dev:])
    if not len(train_q):
        raise ValueError("no training query left after the dev split (lower dev_fraction)")
    dev_rel = [rel[i] for i in dev_q]

    # -- warm-up: rotation, codebook, hard negatives ------------------------------------------
    t0 = time.perf_counter()
    if init is not None:
        rotation = None if init[1] is None else np.ascontiguousarray(init[1], dtype=np.float32)
        check_finite(init[0], "init centroids")
        if rotation is not None:
            check_finite(rotation, "init rotation")
    else:
        rotation = train_opq(x, cfg.M, cfg.nbits, seed=cfg.seed, threads=cfg.threads) if cfg.opq else None
    index_rotation = rotation  # None: the index stores no rotation
    if rotation is None:
        rotation = np.eye(d, dtype=np.float32)
    xr = np.ascontiguousarray(x @ rotation)
    qr = np.ascontiguousarray(q_all @ rotation)
    if init is not None:
        c0 = np.ascontiguousarray(init[0], dtype=np.float32)
        history.append({"stage": "warmup", "codebook": "given"})
    else:
        c0, entry = _warmup_codebook(xr, cfg, K, say)
        history.append(entry)
    history[-1]["opq_seconds"] = time.perf_counter() - t0
    need_hard = cfg.epochs > 0
    hard = [np.zeros(0, np.int64)] * len(rel)
    if need_hard:
        top_k = min(n, cfg.hard_topk + max(len(r) for r in rel))
        if cfg.hard_negative_source == "exact":
            searcher = FlatIndex(d)
            searcher.add(xr)
        else:  # the warm-up OPQ-PQ index, as the authors
            searcher = PQIndex(d, cfg.M, cfg.nbits)
            searcher.set_codebooks(c0)
            searcher.add_codes(searcher.pq.encode(xr, cfg.threads), np.arange(n, dtype=np.int64))
        _, top = searcher.search_vectors(qr[train_q], top_k, threads=cfg.threads)
        for i, t in zip(train_q, top):
            hard[i] = t[(t >= 0) & ~np.isin(t, rel[i])][:cfg.hard_topk]

    # -- encoders ------------------------------------------------------------------------------
    if full:
        q_enc = rt.TextEncoder(st_model, query_texts, cfg.max_query_len)
        d_enc = rt.TextEncoder(st_model, corpus_texts, cfg.max_doc_len)
        corpus_enc = rt.TextEncoder(st_model, corpus_texts, corpus_len)
    else:
        q_enc, d_enc = rt.FixedEmbeddings(q_all), rt.FixedEmbeddings(x)
    trainer = rt.Trainer(cfg, rotation, c0, q_enc, d_enc, rel, say, rng)
    dev_rows = dev_q if len(dev_q) else None

    best_score = trainer.dev_score(xr, dev_rows, dev_rel)
    best = rt.snapshot(trainer, xr)
    best_at = ("warmup", 0)
    history.append({"stage": "warmup", "dev_mrr@10": best_score})
    say(f"[repconc] {cfg.mode} mode, {len(train_q)} training / {len(dev_q)} dev queries; warm-up dev "
        f"MRR@10 {best_score:.4f}")

    # -- stage 1 -------------------------------------------------------------------------------
    if cfg.epochs > 0:
        opt = trainer._optimizer(cfg.encoder_lr, cfg.centroid_lr, d_enc)
    for epoch in range(cfg.epochs):
        te = time.perf_counter()
        entry = trainer.stage1_epoch(train_q, hard, opt)
        corpus_rot = xr if not full else rt.encode_rows(corpus_enc, np.arange(n), cfg.chunk_size, trainer.R)
        score = trainer.dev_score(corpus_rot, dev_rows, dev_rel)
        near = _core.nearest_assign(np.ascontiguousarray(corpus_rot), trainer.C.detach().numpy(), cfg.threads)
        entry.update({"stage": "rank", "epoch": epoch + 1, "dev_mrr@10": score,
                      "imbalance_nearest": float(np.mean(_core.balance_stats(near, K)["avg_imbalance"])),
                      "seconds": time.perf_counter() - te})
        history.append(entry)
        say(f"[repconc] stage 1 epoch {epoch + 1}/{cfg.epochs}: loss {entry['loss']:.4f} (rank "
            f"{entry['rank_loss']:.4f}, mse {entry['mse']:.5f}), batch avg_imbalance "
            f"{entry['imbalance_batch_constrained']:.3f}, dev MRR@10 {score:.4f}")
        if not (score <= best_score):  # NaN (no dev split): the latest wins
            best_score, best, best_at = score, rt.snapshot(trainer, corpus_rot), ("rank", epoch + 1)
    rt.restore(trainer, best)
    corpus_rot = best["corpus"]
    doc_model = None
    if full and encoder_output is not None:
        import copy

        doc_model = copy.deepcopy(st_model)  # the stage-1 encoder that coded the corpus

    # -- stage 2 (JPQ): fixed nearest codes, dynamic negatives ---------------------------------
    index = trainer.pq_index(corpus_rot)
    codes = torch.from_numpy(index.codes.astype(np.int64))
    if cfg.stage2_epochs > 0:
        opt = trainer._optimizer(cfg.stage2_encoder_lr, cfg.stage2_centroid_lr, q_enc)
    for epoch in range(cfg.stage2_epochs):
        te = time.perf_counter()
        entry = trainer.stage2_epoch(train_q, index, codes, opt)
        score = trainer.dev_score(corpus_rot, dev_rows, dev_rel, codes=index.codes)
        entry.update({"stage": "jpq", "epoch": epoch + 1, "dev_mrr@10": score, "seconds": time.perf_counter() - te})
        history.append(entry)
        say(f"[repconc] stage 2 epoch {epoch + 1}/{cfg.stage2_epochs}: loss {entry['loss']:.4f}, "
            f"dev MRR@10 {score:.4f}")
        if not (score <= best_score):
            best_score, best, best_at = score, rt.snapshot(trainer, corpus_rot), ("jpq", epoch + 1)
    rt.restore(trainer, best)
    history.append({"stage": "selected", "at": best_at[0], "epoch": best_at[1], "dev_mrr@10": best_score})
    say(f"[repconc] selected {best_at[0]} epoch {best_at[1]} (dev MRR@10 {best_score:.4f})")

    encoder_path = None
    if full and encoder_output is not None:
        out = Path(encoder_output)
        for m in (st_model, doc_model):  # search-time truncation: the model's own, not the training lengths
            m.max_seq_length = model_max_len
        st_model.save(str(out / "query"))
        doc_model.save(str(out / "doc"))
        encoder_path = str((out / "query").resolve())
    final = PQIndex(d, cfg.M, cfg.nbits, model=encoder_path if full else model)
    final.set_codebooks(trainer.C.detach().numpy(), index_rotation)
    final.add_codes(final.pq.encode(np.ascontiguousarray(corpus_rot), cfg.threads), np.arange(n, dtype=np.int64))
    final.set_docnos(docnos)
    return RepCONCResult(final, cfg, history, st_model if full else None, encoder_path, trainer.sinkhorn_calls)


def to_ivf(pq_index: PQIndex, doc_vectors=None, nlist: int = 1024, seed: int = 1234, threads: int = 1):
    """Non-residual IVF-PQ keeping the learned codes (algorithms.md §1.7, cleaner form): coarse
    k-means on the reconstructed vectors, each document listed by its reconstruction, the
    lists storing the index's own codes (full-mode codes come from the trained document
    encoder, so re-encoding the base vectors would lose them). ``doc_vectors`` is not needed
    and only checked for its shape when given."""
    from winnow.index.ivf import IVFIndex

    if doc_vectors is not None:
        as_vectors(doc_vectors, pq_index.d)
    ivf = IVFIndex(pq_index.d, nlist, "pq", pq_index.M, pq_index.nbits, pq_index.metric, residual=False,
                   model=pq_index.model)
    codes = np.ascontiguousarray(pq_index.codes)
    recon = np.ascontiguousarray(pq_index.pq.decode(codes))  # rotated space
    coarse, _, _ = _core.kmeans(recon, nlist, niter=20, seed=seed, threads=threads)
    ivf.set_quantizers(coarse, pq_index.pq.centroids, pq_index.rotation)
    ivf._rebuild(ivf._assign(recon, threads), np.asarray(pq_index.ids, np.int64), codes, None)
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
