"""``winnow train cross-encoder`` and ``winnow train colbert``: rerankers and late-interaction
models trained on a dataset's training split (queries + qrels), hard negatives from a Winnow
first stage and optional inverse-cloze pseudo-queries; held-out (test) queries never reach
training (:func:`winnow.training_data.check_split`)."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from winnow.cli.common import add_overwrite, nonnegative_int, positive_int


def _common(p: argparse.ArgumentParser, negatives: int, batch: int, lr: float, depth: int = 30,
            pseudo: int = 0, epochs: float = 1.0) -> None:
    p.add_argument("--dataset", required=True, help="dataset directory with a training split (BEIR layout: "
                   "queries.jsonl, qrels/train.tsv, corpus.jsonl)")
    p.add_argument("--split", default="train", help="the split to train on (default train); every other "
                   "split is held out")
    p.add_argument("--first-stage", metavar="INDEX", help="Winnow index (BM25 or dense) whose top documents "
                   "give the hard negatives (default: BM25 over the dataset's corpus, built in memory)")
    p.add_argument("--negatives", type=nonnegative_int, default=negatives,
                   help=f"hard negatives per query (default {negatives})")
    p.add_argument("--depth", type=positive_int, default=depth, help="first-stage depth negatives are drawn "
                   f"from (default {depth})")
    p.add_argument("--pseudo-queries", type=nonnegative_int, default=pseudo, metavar="N",
                   help="inverse-cloze pseudo-queries drawn from the corpus (title -> passage, or a sentence "
                   f"-> the rest of its passage) (default {pseudo})")
    p.add_argument("--max-queries", type=positive_int, default=None, help="use only the first N training queries")
    p.add_argument("--base", metavar="PATH", default=None, help="local Hugging Face / sentence-transformers "
                   "model to start from (default: the packaged all-MiniLM-L6-v2's encoder)")
    p.add_argument("--layers", type=positive_int, default=None, help="keep only the first N transformer "
                   "layers (a smaller, faster model)")
    p.add_argument("--epochs", type=float, default=epochs, help=f"passes over the examples (default {epochs:g})")
    p.add_argument("--max-steps", type=positive_int, default=None, help="stop after N optimizer steps")
    p.add_argument("--batch-size", type=positive_int, default=batch, help=f"examples per step (default {batch})")
    p.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr:g})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=nonnegative_int, default=0, help="torch threads (default 0: all cores)")
    p.add_argument("--output", required=True, help="model directory to write (must not exist, or be a model "
                   "directory and --overwrite be given)")
    add_overwrite(p, "model directory")


def register_model_trainers(models) -> None:
    c = models.add_parser("cross-encoder", help="train a cross-encoder reranker",
                          description="Train a cross-encoder (a BERT with a new one-logit head) with "
                          "sentence-transformers' CrossEncoderTrainer on (query, passage, label) pairs: the "
                          "training split's relevant documents and hard negatives from a Winnow first stage. "
                          "Writes a standard sentence-transformers cross-encoder directory, usable as "
                          "`>> cross_encoder(path=...)` and as CUR's scorer (cross-encoder:DIR@CORPUS).")
    # the defaults are the recipe measured on SciFact (benchmarks/README.md, "Trained models"): with
    # judged pairs alone the cited documents are the only positives and a model learns which
    # documents are cited instead of relevance; pseudo-queries give 1,500 more documents a positive
    _common(c, negatives=3, batch=16, lr=8e-5, depth=50, pseudo=1500, epochs=2.0)
    c.add_argument("--max-length", type=positive_int, default=128, help="word pieces per (query, passage) "
                   "pair (default 128)")
    c.add_argument("--pooling", choices=("auto", "cls", "mean"), default="auto",
                   help="what the scoring head reads: cls (BERT's pooler on [CLS], the usual sequence-"
                   "classification head), mean (the mean token vector), auto (default: the pooling the base "
                   "model was trained with; mean for the packaged MiniLM, whose [CLS] carries almost no signal "
                   "before its last layer)")
    c.set_defaults(func=run_cross_encoder)
    b = models.add_parser("colbert", help="train a ColBERT model (PyLate layout)",
                          description="Train a ColBERT model (BERT + linear projection, [Q]/[D] markers, "
                          "[MASK] query augmentation) under the MaxSim contrastive loss with in-batch and hard "
                          "negatives. Writes a PyLate-layout directory that `winnow index build tokens "
                          "--model DIR` and PyLate load.")
    _common(b, negatives=1, batch=8, lr=3e-5)
    b.add_argument("--pseudo-corpus", action="append", default=[], metavar="PATH",
                   help="also draw --pseudo-queries inverse-cloze pseudo-queries from this corpus (repeatable; "
                   "in-batch negatives only)")
    b.add_argument("--dim", type=positive_int, default=128, help="token vector dimension (default 128)")
    b.add_argument("--query-length", type=positive_int, default=32, help="query tokens (default 32)")
    b.add_argument("--document-length", type=positive_int, default=256, help="document tokens (default 256)")
    b.add_argument("--dense-lr", type=float, default=1e-3, help="learning rate of the new projection (default 1e-3)")
    b.set_defaults(func=run_colbert)


def _prepare_output(path: str, overwrite: bool) -> Path:
    """Refuse, before any work, an output that exists unless ``overwrite`` and it is a model
    this command trained (it writes winnow_training.json): any other directory (a downloaded
    or base checkpoint) is the user's."""
    out = Path(path)
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace a model directory there")
        if out.is_symlink() or not (out.is_dir() and (out / "winnow_training.json").is_file()):
            raise FileExistsError(f"{path} exists and is not a model trained by `winnow train`; not replacing it")
    return out


def _write_model(out: Path, overwrite: bool, train) -> dict:
    """Run ``train(directory)`` into the temporary sibling ``.NAME.tmp-PID`` and move the finished
    model into place (index/safe_save.install: exchanged with the old model, which is deleted
    only then), so a failed or interrupted run never costs the model already at ``out``."""
    from winnow.index.safe_save import install, sibling

    tmp = sibling(out.absolute(), "tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.mkdir()  # fails if it exists: only a directory made here is ever removed below
    try:
        info = train(tmp)
        _prepare_output(str(out), overwrite)  # still ours (or still absent) after the training
        install(tmp, out.absolute())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def _training_set(args, pseudo_corpora=()):
    from winnow.training_data import describe, load_training_set

    first = None
    if args.first_stage:
        from winnow.index import load

        first = load(args.first_stage)
    t = time.perf_counter()
    ts = load_training_set(args.dataset, args.split, args.pseudo_queries, pseudo_corpora, first,
                           args.negatives, args.depth, args.max_queries, args.seed)
    info = describe(ts)
    print(f"training set: {json.dumps(info)} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return ts


def _threads(n: int) -> int:
    import os

    return n if n > 0 else (os.cpu_count() or 1)


def run_cross_encoder(args: argparse.Namespace) -> int:
    from winnow.rerank.ce_training import train_cross_encoder

    out = _prepare_output(args.output, args.overwrite)
    ts = _training_set(args)
    info = _write_model(out, args.overwrite, lambda d: train_cross_encoder(
        ts, d, base=args.base, layers=args.layers, max_length=args.max_length, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, max_steps=args.max_steps, seed=args.seed,
        threads=_threads(args.threads), pooling=args.pooling))
    print(f"cross-encoder: {info['steps']} steps on {info['rows']} pairs, loss {info['train_loss']:.4f}, "
          f"{info['seconds']:.0f} s -> {args.output}", file=sys.stderr)
    return 0


def run_colbert(args: argparse.Namespace) -> int:
    from winnow.rerank.colbert_training import train_colbert

    out = _prepare_output(args.output, args.overwrite)
    ts = _training_set(args, args.pseudo_corpus)
    info = _write_model(out, args.overwrite, lambda d: train_colbert(
        ts, d, base=args.base, layers=args.layers, dim=args.dim, query_length=args.query_length,
        document_length=args.document_length, epochs=args.epochs, batch_size=args.batch_size,
        n_negatives=args.negatives, lr=args.lr, dense_lr=args.dense_lr, max_steps=args.max_steps,
        seed=args.seed, threads=_threads(args.threads), log=lambda r: print(json.dumps(r), file=sys.stderr)))
    print(f"colbert: {info['steps']} steps on {info['examples']} examples, {info['seconds']:.0f} s -> {args.output}",
          file=sys.stderr)
    return 0
