"""Train a ColBERT model (Khattab & Zaharia, SIGIR 2020) on CPU, saved in the PyLate layout.

The model: a local BERT (default the packaged all-MiniLM-L6-v2's encoder, optionally cut to
fewer layers) + a linear projection to ``dim`` (128) without bias; the query and document
markers are the tokens "[Q] " and "[D] " added to the tokenizer and inserted after [CLS];
queries are padded with [MASK] to ``query_length`` (query augmentation). Tokenization and
encoding are those of :class:`winnow.colbert_pylate.PyLateEncoder` (the reader), so what is
trained is exactly what Winnow later encodes with.

Why not PyLate itself: ``pip install --dry-run pylate`` (1.6.0) wants torch 2.11.0 (with the
CUDA 13 wheels, through fastkmeans), sentence-transformers 5.3.0 and transformers 5.3.0, i.e. it
would replace the environment's torch 2.13.0 and downgrade sentence-transformers 6.2.0. So this
is a small loop on torch, writing PyLate's layout (``modules.json``: Transformer +
``pylate.models.Dense.Dense``; ``config_sentence_transformers.json`` with the prefixes and
lengths) so that PyLate and Winnow both load the result.

The loss: for a batch of B queries, each with its positive and ``n`` hard negatives, the MaxSim
score of every query against all B * (1 + n) passages (in-batch negatives + hard negatives),
softmax cross-entropy with the query's own positive as the target (ColBERT's and PyLate's
``Contrastive`` loss). A pseudo-query's positive has no title (the title became the query), so
its hard negatives are given without titles too, and a batch holds only pseudo-queries or only
judged queries (:func:`_batches`): otherwise the title would be a cue telling negatives from the
positive.
"""
from __future__ import annotations

import json
import random
import string
import time
from pathlib import Path

__all__ = ["init_pylate_checkpoint", "train_colbert", "maxsim_scores"]


def init_pylate_checkpoint(output, base=None, layers: int | None = None, dim: int = 128, query_length: int = 32,
                           document_length: int = 180, seed: int = 0) -> Path:
    """Write an untrained PyLate checkpoint: the (cut) base encoder with the "[Q] " / "[D] "
    tokens added and a randomly initialised ``Dense`` (hidden -> dim, no bias)."""
    import torch
    from safetensors.torch import save_file

    from winnow.colbert_pylate import PYLATE_DEFAULTS
    from winnow.rerank.base_model import load_base

    out = Path(output)
    model, tok = load_base(base, layers)
    tok.add_tokens([PYLATE_DEFAULTS["query_prefix"], PYLATE_DEFAULTS["document_prefix"]])
    model.resize_token_embeddings(len(tok))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    hidden = int(model.config.hidden_size)
    torch.manual_seed(seed)
    linear = torch.nn.Linear(hidden, int(dim), bias=False)
    dense = out / "1_Dense"
    dense.mkdir(exist_ok=True)
    (dense / "config.json").write_text(json.dumps(
        {"in_features": hidden, "out_features": int(dim), "bias": False,
         "activation_function": "torch.nn.modules.linear.Identity", "use_residual": False}, indent=2))
    save_file({"linear.weight": linear.weight.detach().contiguous()}, str(dense / "model.safetensors"))
    (out / "modules.json").write_text(json.dumps(
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
         {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"}], indent=2))
    (out / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": int(document_length) - 1, "do_lower_case": False}, indent=2))
    (out / "config_sentence_transformers.json").write_text(json.dumps(
        {**PYLATE_DEFAULTS, "query_length": int(query_length), "document_length": int(document_length),
         "skiplist_words": list(string.punctuation), "similarity_fn_name": "MaxSim", "prompts": {}, "default_prompt_name": None},
        indent=2))
    return out


def maxsim_scores(q, d, d_mask):
    """MaxSim of every query against every passage: q (B, Lq, dim), d (N, Ld, dim), d_mask
    (N, Ld) bool -> (B, N) = sum_i max_j <q_i, d_j> over kept passage positions."""
    import torch

    sim = torch.einsum("bid,njd->bnij", q, d)  # (B, N, Lq, Ld)
    sim = sim.masked_fill(~d_mask[None, :, None, :], float("-inf"))
    return sim.max(dim=-1).values.sum(dim=-1)


def _save(enc, out: Path) -> None:
    from safetensors.torch import save_file

    enc.model.save_pretrained(str(out))
    enc.tokenizer.save_pretrained(str(out))
    save_file({"linear.weight": enc.dense[0].weight.detach().contiguous()}, str(out / "1_Dense" / "model.safetensors"))


def _passages(ts, batch, n_negatives: int) -> list[str]:
    """The passages of a batch: the B positives (the target of query b is passage b), then
    each example's first ``n_negatives`` hard negatives, in the positive's form
    (:meth:`~winnow.training_data.TrainingSet.negative_texts`: body-only for pseudo-queries)."""
    passages = [ts.passage(ex) for ex in batch]
    for ex in batch:
        passages += ts.negative_texts(ex, n_negatives)
    return passages


def _batches(examples, batch_size: int, rng: random.Random):
    """Endless batches, epoch after epoch, each example once per epoch in a random order; a
    batch holds only judged examples or only pseudo-queries (the last batch of each kind in an
    epoch may be smaller). Why: the other queries' positives are in-batch negatives, and a
    pseudo-query's positive has no title while a judged one's does; in a mixed batch a title
    would tell a pseudo-query's in-batch negatives from its positive (and its absence a judged
    query's)."""
    groups = [g for g in ([e for e in examples if not e.pseudo], [e for e in examples if e.pseudo]) if g]
    if not groups:
        raise ValueError("no training examples")
    while True:
        epoch = []
        for group in groups:
            group = list(group)
            rng.shuffle(group)
            epoch += [group[a:a + batch_size] for a in range(0, len(group), batch_size)]
        rng.shuffle(epoch)
        yield from epoch


def train_colbert(ts, output, base=None, layers: int | None = None, dim: int = 128, query_length: int = 32,
                  document_length: int = 256, epochs: float = 1.0, batch_size: int = 8, n_negatives: int = 1,
                  lr: float = 3e-5, dense_lr: float = 1e-3, max_steps: int | None = None, seed: int = 0,
                  threads: int | None = None, log=None) -> dict:
    """Train on ``ts`` (a :class:`winnow.training_data.TrainingSet`) and save the PyLate
    checkpoint to ``output``; returns the training log (also ``output/winnow_training.json``)."""
    import torch
    import torch.nn.functional as F

    from winnow.colbert_pylate import PyLateEncoder
    from winnow.rerank.base_model import base_model_path

    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    rng = random.Random(seed)
    start = time.perf_counter()
    out = init_pylate_checkpoint(output, base, layers, dim, query_length, document_length, seed)
    enc = PyLateEncoder(out)
    weight = torch.nn.Parameter(enc.dense[0].weight.clone())
    enc.dense[0].weight = weight
    enc.model.train()
    opt = torch.optim.AdamW([{"params": enc.model.parameters(), "lr": lr}, {"params": [weight], "lr": dense_lr}],
                            weight_decay=0.01)
    examples = list(ts.examples)
    steps_per_epoch = max(1, len(examples) // batch_size)
    total = int(max_steps) if max_steps else max(1, int(round(epochs * steps_per_epoch)))
    warmup = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)))
    history, step, batches = [], 0, _batches(examples, batch_size, rng)
    while step < total:
        batch = next(batches)
        passages = _passages(ts, batch, n_negatives)
        qf = enc.tokenize([ex.query for ex in batch], True)
        df = enc.tokenize(passages, False)
        q = enc.forward(qf)
        d = enc.forward(df)
        scores = maxsim_scores(q, d, enc.document_mask(df))
        loss = F.cross_entropy(scores, torch.arange(len(batch)))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(enc.model.parameters()) + [weight], 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % 10 == 0 or step == total:
            rec = {"step": step, "loss": round(loss.item(), 4), "seconds": round(time.perf_counter() - start, 1)}
            history.append(rec)
            if log is not None:
                log(rec)
    enc.model.eval()
    _save(enc, out)
    info = {"kind": "colbert (PyLate layout)", "base": str(base_model_path(base)),
            "layers": int(enc.model.config.num_hidden_layers), "dim": int(dim), "query_length": int(query_length),
            "document_length": int(document_length), "epochs": float(epochs), "batch_size": int(batch_size),
            "n_negatives": int(n_negatives), "lr": float(lr), "dense_lr": float(dense_lr), "steps": step,
            "examples": len(examples), "loss_log": history, "seconds": round(time.perf_counter() - start, 1),
            "threads": torch.get_num_threads()}
    (out / "winnow_training.json").write_text(json.dumps(info, indent=1))
    return info
