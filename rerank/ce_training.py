"""Train a cross-encoder reranker with sentence-transformers' ``CrossEncoderTrainer``.

The model: a local BERT (default the packaged all-MiniLM-L6-v2's encoder, optionally cut to
fewer layers) with a new one-logit scoring head on [CLS] (``num_labels=1``). The data: a
:class:`winnow.training_data.TrainingSet` (training queries and qrels, hard negatives from a
Winnow first stage, optional inverse-cloze pseudo-queries) turned into (query, passage, label)
rows: each positive once and each hard negative once, under ``BinaryCrossEntropyLoss`` with
``pos_weight`` = negatives per positive (the library's recipe for reranker training). The output
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
        for d in ex.negatives:
            q.append(ex.query)
            p.append(ts.texts[d])
            y.append(0.0)
    return {"query": q, "passage": p, "label": y}


def train_cross_encoder(ts, output, base=None, layers: int | None = None, max_length: int = 256,
                        epochs: float = 1.0, batch_size: int = 16, lr: float = 5e-5, max_steps: int | None = None,
                        seed: int = 0, threads: int | None = None, log=None) -> dict:
    """Train on ``ts`` and save the cross-encoder to ``output``; returns the training log
    (also written to ``output/winnow_training.json``)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (CrossEncoder, CrossEncoderTrainer,
                                                     CrossEncoderTrainingArguments)
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from winnow.rerank.base_model import base_model_path, load_base

    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    start = time.perf_counter()
    rows = _rows(ts)
    n_pos = sum(1 for y in rows["label"] if y == 1.0)
    n_neg = len(rows["label"]) - n_pos
    with tempfile.TemporaryDirectory(prefix="winnow-ce-base-") as tmp:
        # the (cut) BERT saved as a plain HF directory: CrossEncoder adds a fresh 1-logit head
        model, tok = load_base(base, layers)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        ce = CrossEncoder(tmp, num_labels=1, max_length=int(max_length), device="cpu", local_files_only=True)
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
            "max_length": int(max_length), "epochs": float(epochs), "batch_size": int(batch_size), "lr": float(lr),
            "rows": len(rows["label"]), "positives": n_pos, "negatives": n_neg,
            "steps": int(out.global_step), "train_loss": float(out.training_loss),
            "loss_log": [{"step": h.get("step"), "loss": h["loss"]} for h in history],
            "seconds": round(time.perf_counter() - start, 1), "threads": torch.get_num_threads()}
    (output / "winnow_training.json").write_text(json.dumps(info, indent=1))
    if log is not None:
        log(info)
    return info
