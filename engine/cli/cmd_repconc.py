"""``winnow index build repconc``: RepCONC (constrained-clustering PQ trained with a ranking
loss) on your training queries and qrels; ``--mode full`` trains the encoder (the published
method), ``--mode centroids`` only the centroids on fixed vectors."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from winnow.cli.common import add_overwrite, add_threads, check_index_output, nonnegative_int, positive_int

HELP = "RepCONC: constrained-clustering PQ trained with a ranking loss (encoder + centroids, or centroids only)"


def add_repconc_parser(tsub) -> None:
    from winnow.index.repconc import RepCONCConfig

    D = RepCONCConfig()
    p = tsub.add_parser(
        "repconc", help=HELP,
        description="Train RepCONC and write a PQ (or, with --ivf, non-residual IVF-PQ) index. Warm-up: OPQ "
        "rotation + PQ on the base model's corpus vectors, hard negatives from that index; stage 1: ranking "
        "loss against Sinkhorn-balanced quantized documents per batch (+ MSE); stage 2 (JPQ): codes fixed, "
        "dynamic negatives; checkpoint chosen on a dev split of the training queries. --mode full (default, "
        "the published method) fine-tunes the sentence-transformers encoder: it needs --corpus and --queries "
        "(texts) and writes the trained encoders to --encoder-output (the index records the query encoder). "
        "--mode centroids trains only the centroids on the given vectors (cheaper; no encoder). Defaults "
        "follow the authors' 2022 toolbox (jingtaozhan/RepCONC 64f3f8a, sentence-BERT example). --vectors: a "
        "`winnow encode` output or a directory with corpus.npy + corpus_ids.txt. --train-queries: query "
        "vectors from the same model (directory, or .npy with --train-query-ids). --train-qrels: TREC or "
        "BEIR qrels whose document ids are the corpus ids.")
    p.add_argument("--mode", choices=["full", "centroids"], default="full",
                   help="full: train encoder + centroids (default); centroids: centroids only, fixed vectors")
    p.add_argument("--vectors", required=True, help="document vectors directory (the base model's)")
    p.add_argument("--train-queries", help="training query vectors: directory or .npy file (required with "
                   "--mode centroids; full mode: optional warm-up vectors, else encoded)")
    p.add_argument("--train-query-ids", help="ids file (one per line) for a .npy --train-queries")
    p.add_argument("--train-qrels", required=True, help="training qrels (TREC or BEIR tsv)")
    p.add_argument("--corpus", help="full mode: corpus file or dataset directory (texts of the --vectors ids)")
    p.add_argument("--queries", help="full mode: queries file or dataset directory (training query texts)")
    p.add_argument("--split", help="with a dataset directory for --queries: only this split's queries")
    p.add_argument("--model", help="full mode: base sentence-transformers model directory (default: the one "
                   "recorded with --vectors, else the packaged all-MiniLM-L6-v2)")
    p.add_argument("--encoder-output", help="full mode: directory for the trained encoders (query/, doc/); "
                   "default OUTPUT.encoders")
    p.add_argument("--output", required=True, help="index directory to write (must not exist, or be an "
                   "index and --overwrite be given)")
    add_overwrite(p)
    p.add_argument("--M", type=positive_int, required=True, help="sub-quantizers (must divide the dimension)")
    p.add_argument("--nbits", type=int, choices=[4, 8], default=8, help="bits per code (default 8)")
    p.add_argument("--ivf", type=positive_int, metavar="NLIST", help="also partition into NLIST lists (non-residual IVF-PQ)")
    p.add_argument("--epochs", type=nonnegative_int, default=D.epochs, help=f"stage-1 epochs (default {D.epochs})")
    p.add_argument("--stage2-epochs", type=nonnegative_int, default=D.stage2_epochs,
                   help=f"stage-2 (JPQ) epochs (default {D.stage2_epochs})")
    p.add_argument("--batch-size", type=positive_int, default=D.batch_size,
                   help=f"stage-1 queries per step (default {D.batch_size}, the toolbox's; lower it on small data)")
    p.add_argument("--stage2-batch-size", type=positive_int, default=D.stage2_batch_size,
                   help=f"stage-2 queries per step (default {D.stage2_batch_size})")
    p.add_argument("--chunk-size", type=positive_int, default=D.chunk_size,
                   help=f"encoder rows per forward pass (default {D.chunk_size})")
    p.add_argument("--hard-negatives", type=nonnegative_int, default=D.hard_negatives,
                   help=f"hard negatives per query per step; also the dynamic top-k (default {D.hard_negatives})")
    p.add_argument("--hard-negatives-from", choices=["warmup_pq", "exact"], default=D.hard_negative_source,
                   help="search that mines them: the warm-up OPQ-PQ index (default, as the authors) or exact")
    p.add_argument("--warmup", choices=["opq_pq", "constrained"], default=D.warmup,
                   help="warm-up codebook: plain PQ (default, as the authors) or Sinkhorn-constrained k-means")
    p.add_argument("--cpq-niter", type=nonnegative_int, default=D.cpq_niter,
                   help=f"constrained k-means iterations with --warmup constrained (default {D.cpq_niter})")
    p.add_argument("--epsilon", type=float, default=D.epsilon, help=f"Sinkhorn epsilon (default {D.epsilon})")
    p.add_argument("--sinkhorn-iters", type=positive_int, default=D.sinkhorn_iters,
                   help=f"Sinkhorn iterations (default {D.sinkhorn_iters})")
    p.add_argument("--no-scale-costs", action="store_true",
                   help="Sinkhorn on unscaled costs (WSDM'22 release) instead of costs scaled to [-1, 1]")
    p.add_argument("--temperature", type=float, default=D.temperature, help=f"score temperature (default {D.temperature})")
    p.add_argument("--mse-weight", type=float, default=D.mse_weight, help=f"MSE (clustering) loss weight (default {D.mse_weight})")
    p.add_argument("--encoder-lr", type=float, default=D.encoder_lr, help=f"stage-1 encoder LR (default {D.encoder_lr})")
    p.add_argument("--centroid-lr", type=float, default=D.centroid_lr, help=f"stage-1 centroid LR (default {D.centroid_lr})")
    p.add_argument("--stage2-encoder-lr", type=float, default=D.stage2_encoder_lr,
                   help=f"stage-2 query-encoder LR (default {D.stage2_encoder_lr})")
    p.add_argument("--stage2-centroid-lr", type=float, default=D.stage2_centroid_lr,
                   help=f"stage-2 centroid LR (default {D.stage2_centroid_lr})")
    p.add_argument("--max-doc-len", type=positive_int, default=D.max_doc_len,
                   help=f"document word pieces in training (default {D.max_doc_len})")
    p.add_argument("--max-query-len", type=positive_int, default=D.max_query_len,
                   help=f"query word pieces in training (default {D.max_query_len})")
    p.add_argument("--dev-fraction", type=float, default=D.dev_fraction,
                   help=f"training queries held out for checkpoint selection (default {D.dev_fraction}; 0 = none)")
    p.add_argument("--no-opq", action="store_true", help="no OPQ rotation")
    p.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    add_threads(p)
    p.set_defaults(func=run_build_repconc)


def _load_queries(args):
    import numpy as np

    from winnow.errors import InputFormatError
    from winnow.vectors import load_vectors

    path = Path(args.train_queries)
    if path.is_dir():
        return load_vectors(path, which="queries")
    if not args.train_query_ids:
        raise InputFormatError(f"{path}: a .npy --train-queries needs --train-query-ids")
    q = np.load(path, allow_pickle=False).astype(np.float32)
    ids = [line.strip() for line in Path(args.train_query_ids).read_text().splitlines() if line.strip()]
    if len(ids) != len(q):
        raise InputFormatError(f"{args.train_query_ids}: {len(ids)} ids for {len(q)} query vectors in {path}")
    return q, ids


def _full_mode_inputs(args, docnos, qrels, queries, qids):
    """Texts aligned with the vector rows: (corpus texts, query vectors or None, query ids, query texts)."""
    from winnow.cli.common import load_queries, open_corpus

    if not args.corpus or not args.queries:
        raise ValueError("--mode full trains the encoder on texts: give --corpus and --queries "
                         "(or use --mode centroids)")
    docs, _ = open_corpus(args.corpus)
    by_id = dict(docs)
    missing = [d for d in docnos if d not in by_id]
    if missing:
        raise ValueError(f"{args.corpus}: {len(missing):,} of the --vectors ids have no text (e.g. {missing[0]!r})")
    texts = [by_id[d] for d in docnos]
    qtext = load_queries(args.queries, args.split)
    if qids is None:
        qids = [q for q in qtext if q in qrels]
    lost = [q for q in qids if q not in qtext]
    if lost:
        raise ValueError(f"{args.queries}: {len(lost):,} training queries have no text (e.g. {lost[0]!r})")
    return texts, queries, qids, [qtext[q] for q in qids]


def run_build_repconc(args: argparse.Namespace) -> int:
    from winnow.evaluation import load_qrels
    from winnow.index.repconc import RepCONCConfig, to_ivf, train_repconc
    from winnow.vectors import load_vectors

    check_index_output(args.output, args.overwrite, args.vectors, args.train_queries, args.corpus, args.queries)
    start = time.perf_counter()
    vectors, docnos = load_vectors(args.vectors)
    meta_path = Path(args.vectors) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    model = meta.get("model_path") or meta.get("model")
    qrels = load_qrels(args.train_qrels)
    queries, qids = _load_queries(args) if args.train_queries else (None, None)
    cfg = RepCONCConfig(M=args.M, nbits=args.nbits, mode=args.mode, opq=not args.no_opq, warmup=args.warmup,
                        cpq_niter=args.cpq_niter, epsilon=args.epsilon, sinkhorn_iters=args.sinkhorn_iters,
                        scale_costs=not args.no_scale_costs, epochs=args.epochs, stage2_epochs=args.stage2_epochs,
                        batch_size=args.batch_size, stage2_batch_size=args.stage2_batch_size,
                        chunk_size=args.chunk_size, hard_negatives=args.hard_negatives,
                        dynamic_topk_hard_negative=args.hard_negatives or None,
                        hard_negative_source=args.hard_negatives_from, encoder_lr=args.encoder_lr,
                        centroid_lr=args.centroid_lr, stage2_encoder_lr=args.stage2_encoder_lr,
                        stage2_centroid_lr=args.stage2_centroid_lr, mse_weight=args.mse_weight,
                        temperature=args.temperature, max_query_len=args.max_query_len,
                        max_doc_len=args.max_doc_len, dev_fraction=args.dev_fraction, seed=args.seed,
                        threads=args.threads)
    cfg.check()
    if args.mode == "centroids":
        if queries is None:
            raise ValueError("--mode centroids trains on fixed vectors: give --train-queries")
        res = train_repconc(vectors, queries, qids, qrels, docnos, cfg, model=model)
    else:
        texts, queries, qids, qtexts = _full_mode_inputs(args, docnos, qrels, queries, qids)
        enc_out = Path(args.encoder_output or f"{args.output.rstrip('/')}.encoders")
        if enc_out.exists() and any(enc_out.iterdir()):
            if not args.overwrite:
                raise FileExistsError(f"{enc_out}: encoder output exists (give --overwrite or another --encoder-output)")
            # --overwrite replaces only what an earlier run wrote there (query/ and doc/ and nothing
            # else); files in any other directory are the user's
            if not enc_out.is_dir() or {p.name for p in enc_out.iterdir()} - {"query", "doc"}:
                raise FileExistsError(f"{enc_out}: exists and is not an encoder output of `winnow index build "
                                      "repconc` (only query/ and doc/); not writing into it")
        res = train_repconc(vectors, queries, qids, qrels, docnos, cfg, model=args.model or model,
                            corpus_texts=texts, query_texts=qtexts, encoder_output=enc_out)
    index = res.index if not args.ivf else to_ivf(res.index, vectors if args.mode == "centroids" else None,
                                                   args.ivf, args.seed, args.threads)
    # the training log goes inside the atomic save (meta.json "info"), never written after it
    index.save(args.output, overwrite=args.overwrite, info={"training_log": res.to_dict()})
    print(f"indexed {len(vectors):,} vectors (M={args.M}, {args.mode} mode, {len(qids):,} training queries) in "
          f"{time.perf_counter() - start:.1f} s; {index.nbytes / 1e6:.1f} MB -> {args.output} "
          f"(training log: meta.json 'info'{'; encoders: ' + res.encoder_path if res.encoder_path else ''})",
          file=sys.stderr)
    return 0
