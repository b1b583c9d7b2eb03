"""Train a cross-encoder reranker with sentence-transformers' ``CrossEncoderTrainer``.

The model: a local BERT (default the packaged all-MiniLM-L6-v2's encoder, optionally cut to
fewer layers) with a new one-logit scoring head. Where the head reads the pair (``pooling``):

* ``"cls"``: the usual ``BertForSequenceClassification`` head (pooler + linear on [CLS]);
* ``"mean"``: a linear layer on the mean of the token vectors (sentence-transformers modules
  ``Transformer -> Pooling(mean) -> Dense(dim, 1)``, output ``scores``);
* ``"auto"`` (default): the pooling the base model was trained with (its sentence-transformers
  ``1_Pooling`` config), ``"cls"`` for a plain Hugging Face model.

Why it matters: all-MiniLM-L6-v2 was trained for mean pooling, and its [CLS] vector is nearly the
same for every input in layers 1-5 (std over inputs 0.001-0.02 per dimension, against ~0.1 for
the token mean; 0.19 only after layer 6). A [CLS] head on a MiniLM cut to 2 layers therefore sees
a constant: its logits stay near 0 and the loss at the chance level (the cause of the first
trained model's failure). The data: a
:class:`winnow.training_data.TrainingSet` (training queries and qrels, hard negatives from a
Winnow first stage, optional inverse-cloze pseudo-queries) turned into (query, passage, label)
rows: each positive once and each hard negative once, under ``BinaryCrossEntropyLoss`` with
``pos_weight`` = negatives per positive (the library's recipe for reranker training). A
pseudo-query's negatives are given without their titles, as its positive is
(:meth:`~winnow.training_data.TrainingSet.negative_texts`), so that a title is no cue. The output
is a standard sentence-transformers cross-encoder directory (``CrossEncoder(path)`` loads it).
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

__all__ = ["train_cross_encoder"]


def _rows(ts) -> dict[str, list]:
    q, p, y = [], [], []
    for ex in ts.examples:
        q.append(ex.query)
        p.append(ts.passage(ex))
        y.append(1.0)
        for text in ts.negative_texts(ex):  # body-only for pseudo-queries, like their positive
            q.append(ex.query)
            p.append(text)
            y.append(0.0)
    return {"query": q, "passage": p, "label": y}


POOLINGS = ("auto", "cls", "mean")


def base_pooling(base=None) -> str:
    """``"mean"`` or ``"cls"``: the pooling a sentence-transformers base was trained with (its
    ``1_Pooling/config.json``); ``"cls"`` for a plain Hugging Face model directory."""
    from winnow.rerank.base_model import base_model_path

    cfg = base_model_path(base) / "1_Pooling" / "config.json"
    if cfg.is_file():
        modes = json.loads(cfg.read_text())
        if modes.get("pooling_mode_mean_tokens"):
            return "mean"
    return "cls"


def _build(base, layers, max_length: int, pooling: str):
    """A fresh cross-encoder on the (cut) base: the base saved as a plain HF directory, then
    either CrossEncoder's own sequence-classification head or a mean-pooling module chain."""
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.sentence_transformer.modules import Pooling

    from winnow.rerank.base_model import load_base

    with tempfile.TemporaryDirectory(prefix="winnow-ce-base-") as tmp:
        model, tok = load_base(base, layers)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if pooling == "cls":  # CrossEncoder adds BertForSequenceClassification's pooler + 1-logit classifier
            return CrossEncoder(tmp, num_labels=1, max_length=int(max_length), device="cpu", local_files_only=True)
        encoder = Transformer(tmp, max_seq_length=int(max_length), model_kwargs={"local_files_only": True},
                              processor_kwargs={"local_files_only": True})
        dim = int(model.config.hidden_size)
        # one logit per pair from the mean token vector [batch, dim] -> [batch, 1]
        head = Dense(dim, 1, activation_function=None, module_output_name="scores")
        return CrossEncoder(modules=[encoder, Pooling(dim, "mean"), head], device="cpu")


def train_cross_encoder(ts, output, base=None, layers: int | None = None, max_length: int = 128,
                        epochs: float = 2.0, batch_size: int = 16, lr: float = 8e-5, max_steps: int | None = None,
                        seed: int = 0, threads: int | None = None, pooling: str = "auto", log=None) -> dict:
    """Train on ``ts`` and save the cross-encoder to ``output``; returns the training log
    (also written to ``output/winnow_training.json``). ``pooling``: see the module docstring. The
    defaults are the recipe measured on SciFact (benchmarks/README.md, "Trained models")."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from winnow.rerank.base_model import base_model_path

    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    start = time.perf_counter()
    rows = _rows(ts)
    n_pos = sum(1 for y in rows["label"] if y == 1.0)
    n_neg = len(rows["label"]) - n_pos
    if pooling == "auto":
        pooling = base_pooling(base)
    ce = _build(base, layers, max_length, pooling)
    loss = BinaryCrossEntropyLoss(ce, pos_weight=torch.tensor(max(1.0, n_neg / max(1, n_pos))))
    data = Dataset.from_dict(rows).shuffle(seed=seed)
    with tempfile.TemporaryDirectory(prefix="winnow-ce-run-") as run_dir:
        args = CrossEncoderTrainingArguments(
            output_dir=run_dir, num_train_epochs=float(epochs), per_device_train_batch_size=int(batch_size),
            learning_rate=float(lr), warmup_steps=max(1, int(0.1 * len(rows["label"]) / batch_size)),
            max_steps=int(max_steps) if max_steps else -1, logging_steps=10, save_strategy="no",
            report_to="none", seed=seed, use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)
        trainer = CrossEncoderTrainer(model=ce, args=args, train_dataset=data, loss=loss)
        out = trainer.train()
        history = [h for h in trainer.state.log_history if "loss" in h]
    output = Path(output)
    ce.save_pretrained(str(output))
    info = {"kind": "cross-encoder", "base": str(base_model_path(base)), "layers": int(ce.model.config.num_hidden_layers),
            "pooling": pooling, "max_length": int(max_length), "epochs": float(epochs), "batch_size": int(batch_size), "lr": float(lr),
            "rows": len(rows["label"]), "positives": n_pos, "negatives": n_neg,
            "steps": int(out.global_step), "train_loss": float(out.training_loss),
            "loss_log": [{"step": h.get("step"), "loss": h["loss"]} for h in history],
            "seconds": round(time.perf_counter() - start, 1), "threads": torch.get_num_threads()}
    (output / "winnow_training.json").write_text(json.dumps(info, indent=1))
    if log is not None:
        log(info)
    return info
