"""The RepCONC training loop, shared by both modes (see ``winnow.index.repconc`` for the method,
the modes and the reference each default comes from).

Stage 1 (constrained clustering + ranking loss), one step = one batch of training queries:

1. encode the batch's queries and documents (each query's positive + its sampled hard
   negatives) without gradient, in chunks of ``chunk_size`` rows, and rotate them (``e @ R``);
2. code the batch's documents with the Sinkhorn-balanced assignment over *this batch*
   (``constrained_codes``), recomputed every step (the authors' finetune_repconc.py L318);
3. loss = softmax cross-entropy of queries against the *quantized* documents, with the
   straight-through estimator ``quant + e - e.detach()`` so that the ranking gradient reaches
   both the selected centroids and the document encoder, + ``mse_weight`` x the clustering
   loss averaged over the batch documents;
4. backward to the embeddings and centroids, then (full mode) re-encode each chunk with
   gradient and back-propagate the cached embedding gradients into the encoder: the
   GradCache scheme the 2022 toolbox uses (``cache_chunk_size``), which gives the gradient of
   the whole batch with the memory of one chunk.

Stage 2 (JPQ): documents keep the nearest-centroid codes of the selected stage-1 encoder; each
step encodes the queries with gradient, retrieves ``neg_topk`` negatives from the current
``PQIndex`` (the centroids are copied back after every step, as ``synchronize_model_index``),
and trains the query encoder and the centroids with the list-wise softmax loss.

Checkpoint selection: after the warm-up and after every epoch of either stage, the dev
queries (carved from the training queries, never trained on) are searched in a ``PQIndex``
holding the nearest-centroid codes of the current document embeddings; the best dev
MRR@10 wins (ties: the earlier one).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from winnow import _core
from winnow.index.pq_index import PQIndex


def constrained_codes(embeddings: np.ndarray, centroids: np.ndarray, cfg) -> np.ndarray:
    """Sinkhorn-balanced PQ codes (b, M) int64 of one batch's rotated document embeddings
    (b, d) for centroids (M, K, d/M): the uniform-assignment constraint over this batch."""
    codes, _ = _core.balanced_assign(np.ascontiguousarray(embeddings, dtype=np.float32),
                                     np.ascontiguousarray(centroids, dtype=np.float32), cfg.epsilon,
                                     cfg.sinkhorn_iters, cfg.scale_costs, None, cfg.threads)
    return codes.astype(np.int64)


class FixedEmbeddings:
    """Centroid-only mode: rows of a fixed (n, d) float32 matrix; nothing to train."""

    trainable = False

    def __init__(self, vectors: np.ndarray):
        import torch

        self.vectors = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))

    def forward(self, rows):
        import torch

        return self.vectors[torch.as_tensor(np.asarray(rows, np.int64))]

    def parameters(self):
        return []


class TextEncoder:
    """Full mode: a sentence-transformers model over ``texts``, truncated to ``max_len`` word
    pieces. Query and document encoders may share one model (stage 1 does, as the authors).
    The model runs in eval mode (no dropout), so that the no-gradient and the gradient pass of
    a chunk compute the same embeddings (the toolbox replays RNG states instead). Embeddings
    are L2-normalised, as Winnow's ``SentenceEncoder`` encodes queries at search time (a no-op
    for all-MiniLM-L6-v2, whose last module is Normalize)."""

    trainable = True

    def __init__(self, model, texts, max_len: int):
        self.model = model
        self.texts = list(texts)
        self.max_len = int(max_len)

    def forward(self, rows):
        import torch

        self.model.max_seq_length = self.max_len  # the model is shared: set on every call
        batch = [self.texts[r] for r in np.asarray(rows, np.int64)]
        prep = getattr(self.model, "preprocess", None) or self.model.tokenize
        emb = self.model(prep(batch))["sentence_embedding"]
        return torch.nn.functional.normalize(emb, p=2, dim=-1)

    def parameters(self):
        return self.model.parameters()


def encode_rows(encoder, rows, chunk: int, rotation=None) -> np.ndarray:
    """(len(rows), d) float32 embeddings without gradient, in chunks, rotated when given."""
    import torch

    rows = np.asarray(rows, np.int64)
    out = []
    with torch.no_grad():
        for s in range(0, len(rows), chunk):
            e = encoder.forward(rows[s:s + chunk]).float()
            out.append(e @ rotation if rotation is not None else e)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def mrr_at_10(ids: np.ndarray, relevant: list[np.ndarray]) -> float:
    """Mean reciprocal rank of the first relevant row in each top-10 (0 when none)."""
    total = 0.0
    for row, rel in zip(ids, relevant):
        hit = np.flatnonzero(np.isin(row[:10], rel))
        total += 1.0 / (hit[0] + 1) if len(hit) else 0.0
    return float(total / max(1, len(relevant)))


@dataclass
class Batch:
    queries: np.ndarray   # (B,) training-query positions
    docs: np.ndarray      # (B + B * negatives,) corpus rows: positives first, then each query's negatives
    mask: np.ndarray      # (B, len(docs)) True = not a negative of that query (relevant or duplicate)


def make_batch(qi: np.ndarray, rel, hard, negatives: int, rng) -> Batch:
    """One stage-1 batch: a random positive per query and ``negatives`` hard negatives sampled
    from its list (fewer when the list is short); false negatives and repeated documents are
    masked, as the toolbox's ``_compute_mask_for_false_negative`` / ``_duplicate_negative``."""
    pos = np.array([rng.choice(rel[i]) for i in qi], np.int64)
    negs = [rng.choice(hard[i], min(negatives, len(hard[i])), replace=False) if len(hard[i]) else
            np.zeros(0, np.int64) for i in qi]
    docs = np.concatenate([pos] + negs).astype(np.int64)
    mask = np.stack([np.isin(docs, rel[i]) for i in qi])
    _, first = np.unique(docs, return_index=True)
    dup = np.ones(len(docs), bool)
    dup[first] = False
    mask |= dup[None, :]
    mask[np.arange(len(qi)), np.arange(len(qi))] = False  # each query's own positive stays
    return Batch(qi, docs, mask)


class Trainer:
    """State of one run: rotation R (d, d) torch, centroids C (M, K, dsub) torch Parameter,
    the query / document encoders, relevance rows, and the config."""

    def __init__(self, cfg, rotation: np.ndarray, centroids: np.ndarray, q_enc, d_enc, rel, say, rng):
        import torch

        self.cfg, self.say, self.rng = cfg, say, rng
        self.R = torch.from_numpy(np.ascontiguousarray(rotation, np.float32))
        self.C = torch.nn.Parameter(torch.from_numpy(np.array(centroids, np.float32)))
        self.M, self.K, self.dsub = self.C.shape
        self.d = self.M * self.dsub
        self.q_enc, self.d_enc, self.rel = q_enc, d_enc, rel
        self.sinkhorn_calls = 0

    # -- helpers ---------------------------------------------------------------------------
    def quantize(self, codes):  # codes (b, M) long -> (b, d) decoded with the current centroids
        import torch

        return self.C[torch.arange(self.M), codes].reshape(len(codes), self.d)

    def _optimizer(self, encoder_lr: float, centroid_lr: float, encoder):
        import torch

        groups = [{"params": [self.C], "lr": centroid_lr, "weight_decay": 0.0}]
        if encoder.trainable:
            groups.append({"params": [p for p in encoder.parameters() if p.requires_grad], "lr": encoder_lr,
                           "weight_decay": 0.0})
        return torch.optim.AdamW(groups, lr=centroid_lr)

    def dev_score(self, corpus_rot: np.ndarray, dev_queries, dev_rel, codes=None) -> float:
        """Dev MRR@10 of an index with the nearest-centroid codes of corpus_rot (n, d)."""
        if dev_queries is None or not len(dev_rel):
            return float("nan")
        index = self.pq_index(corpus_rot, codes)
        q = encode_rows(self.q_enc, dev_queries, self.cfg.chunk_size, self.R)
        _, ids = index.search_vectors(np.ascontiguousarray(q), 10, threads=self.cfg.threads)
        return mrr_at_10(ids, dev_rel)

    def pq_index(self, corpus_rot: np.ndarray, codes=None) -> PQIndex:
        """A rotation-free PQIndex over the rotated corpus (queries passed in rotated)."""
        index = PQIndex(self.d, self.M, self.cfg.nbits)
        index.set_codebooks(self.C.detach().numpy())
        if codes is None:
            codes = index.pq.encode(np.ascontiguousarray(corpus_rot), self.cfg.threads)
        index.add_codes(codes, np.arange(len(codes), dtype=np.int64))
        return index

    # -- stage 1 ---------------------------------------------------------------------------
    def stage1_epoch(self, train_q: np.ndarray, hard, opt) -> dict:
        import torch

        cfg = self.cfg
        perm = self.rng.permutation(train_q)
        tot = tot_rank = tot_mse = imb = 0.0
        steps = 0
        for s in range(0, len(perm), cfg.batch_size):
            b = make_batch(perm[s:s + cfg.batch_size], self.rel, hard, cfg.hard_negatives, self.rng)
            nq = len(b.queries)
            q = torch.from_numpy(encode_rows(self.q_enc, b.queries, cfg.chunk_size, self.R))
            e = torch.from_numpy(encode_rows(self.d_enc, b.docs, cfg.chunk_size, self.R))
            codes_np = constrained_codes(e.numpy(), self.C.detach().numpy(), cfg)
            self.sinkhorn_calls += 1
            codes = torch.from_numpy(codes_np)
            q.requires_grad_(self.q_enc.trainable)
            e.requires_grad_(self.d_enc.trainable)
            quant = self.quantize(codes)
            mixed = quant + e - e.detach()  # straight-through: forward = quant, gradient also to e
            scores = (q @ mixed.T) / cfg.temperature
            scores = scores.masked_fill(torch.from_numpy(b.mask), -1e4)
            labels = torch.arange(nq)
            topk = cfg.dynamic_topk_hard_negative
            if topk and scores.shape[1] - 1 > topk:  # keep only the top-k hardest negatives per query
                neg = scores.detach().clone()
                neg[labels, labels] = -1e4
                keep = torch.zeros_like(scores, dtype=torch.bool)
                keep.scatter_(1, torch.topk(neg, topk, dim=1).indices, True)
                keep[labels, labels] = True
                scores = scores.masked_fill(~keep, -1e4)
            rank = torch.nn.functional.cross_entropy(scores, labels)
            mse = ((quant - e) ** 2).sum(-1).mean()
            loss = rank + cfg.mse_weight * mse
            opt.zero_grad()
            loss.backward()
            # GradCache: replay each chunk with gradient, feeding the cached embedding gradients
            for enc, rows, emb in ((self.q_enc, b.queries, q), (self.d_enc, b.docs, e)):
                if not enc.trainable:
                    continue
                g = emb.grad
                for c in range(0, len(rows), cfg.chunk_size):
                    out = enc.forward(rows[c:c + cfg.chunk_size]).float() @ self.R
                    (out * g[c:c + cfg.chunk_size]).sum().backward()
            opt.step()
            stats = _core.balance_stats(np.ascontiguousarray(codes_np, dtype=np.int32), self.K)
            imb += float(np.mean(stats["avg_imbalance"]))
            tot, tot_rank, tot_mse, steps = tot + loss.item(), tot_rank + rank.item(), tot_mse + mse.item(), steps + 1
        return {"loss": tot / steps, "rank_loss": tot_rank / steps, "mse": tot_mse / steps,
                "imbalance_batch_constrained": imb / steps, "steps": steps}

    # -- stage 2 ---------------------------------------------------------------------------
    def stage2_epoch(self, train_q: np.ndarray, index: PQIndex, codes, opt) -> dict:
        import torch

        cfg = self.cfg
        perm = self.rng.permutation(train_q)
        tot, steps = 0.0, 0
        for s in range(0, len(perm), cfg.stage2_batch_size):
            qi = perm[s:s + cfg.stage2_batch_size]
            if self.q_enc.trainable:
                q = torch.cat([self.q_enc.forward(qi[c:c + cfg.chunk_size]).float()
                               for c in range(0, len(qi), cfg.chunk_size)]) @ self.R
            else:
                q = self.q_enc.forward(qi) @ self.R
            _, top = index.search_vectors(np.ascontiguousarray(q.detach().numpy()), cfg.neg_topk,
                                          threads=cfg.threads)
            pos = np.array([self.rng.choice(self.rel[i]) for i in qi], np.int64)
            cand = np.concatenate([pos[:, None], np.maximum(top, 0)], axis=1)  # (B, 1 + neg_topk)
            quant = self.quantize(codes[torch.from_numpy(cand.reshape(-1))]).reshape(len(qi), -1, self.d)
            scores = torch.einsum("bd,bkd->bk", q, quant) / cfg.temperature
            mask = np.concatenate([np.zeros((len(qi), 1), bool), top < 0], axis=1)
            if cfg.mask_retrieved_positives:
                mask[:, 1:] |= np.stack([np.isin(cand[j, 1:], self.rel[i]) for j, i in enumerate(qi)])
            loss = torch.nn.functional.cross_entropy(scores.masked_fill(torch.from_numpy(mask), -1e4),
                                                     torch.zeros(len(qi), dtype=torch.long))
            opt.zero_grad()
            loss.backward()
            opt.step()
            index.set_codebooks(self.C.detach().numpy())  # synchronize_model_index
            tot, steps = tot + loss.item(), steps + 1
        return {"loss": tot / steps, "steps": steps}


def snapshot(trainer: Trainer, corpus_rot: np.ndarray | None) -> dict:
    """What checkpoint selection keeps: centroids, encoder weights (full mode), corpus embeddings."""
    snap = {"C": trainer.C.detach().clone(), "corpus": corpus_rot}
    if trainer.q_enc.trainable:
        snap["encoder"] = copy.deepcopy(trainer.q_enc.model.state_dict())
    return snap


def restore(trainer: Trainer, snap: dict) -> None:
    import torch

    with torch.no_grad():
        trainer.C.copy_(snap["C"])
    if "encoder" in snap:
        trainer.q_enc.model.load_state_dict(snap["encoder"])
