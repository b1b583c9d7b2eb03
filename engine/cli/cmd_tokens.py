"""``winnow index build tokens``: a late-interaction token store (+ ANN over token vectors)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from winnow.cli.common import add_overwrite, add_threads, check_index_output, positive_int

HELP = "late-interaction token store (float16 or PQ) with an IVF-PQ index over token vectors"


def add_tokens_parser(tsub) -> None:
    p = tsub.add_parser("tokens", help=HELP,
                        description="Encode a corpus into per-token vectors with a local late-interaction "
                        "model (a sentence-transformers model, default the packaged all-MiniLM-L6-v2, or a "
                        "ColBERT checkpoint directory) and store them as float16 or PQ codes with token ids, "
                        "document offsets and document frequencies; an IVF-PQ index over all token vectors "
                        "is written to DIR/ann for end-to-end retrieval. --input may also be a directory "
                        "written by `winnow encode --tokens` (then nothing is encoded).")
    p.add_argument("--input", required=True, metavar="CORPUS",
                   help="corpus file or dataset directory, or a `winnow encode --tokens` output directory")
    p.add_argument("--model", default=None, metavar="PATH", help="local model directory (default: the "
                   "packaged all-MiniLM-L6-v2)")
    p.add_argument("--output", required=True, metavar="DIR", help="store directory to write (must not "
                   "exist, or be a store and --overwrite be given)")
    add_overwrite(p, "store")
    p.add_argument("--pq", type=positive_int, default=None, metavar="M",
                   help="store PQ codes with M sub-quantizers (8 bits each) instead of float16")
    p.add_argument("--pq-nbits", type=int, choices=[4, 8], default=8, help="bits per PQ code (default 8)")
    p.add_argument("--ann-nbits", type=int, choices=[4, 8], default=8, help="bits per ANN PQ code (default 8)")
    p.add_argument("--nlist", type=positive_int, default=None, help="IVF lists of the token ANN index "
                   "(default: by --ann-preset)")
    p.add_argument("--ann-M", type=positive_int, default=None, help="PQ sub-quantizers of the ANN index "
                   "(default: by --ann-preset, 16 or dim/8)")
    p.add_argument("--ann-preset", choices=["colbert", "winnow"], default="colbert",
                   help="token ANN configuration: colbert (default, ColBERT-PRF's reference: L2, 16 x 8-bit "
                   "PQ, 1 << ceil(log2(8 sqrt(tokens))) lists, 5%% training sample) or winnow (inner product, "
                   "dim/8 sub-quantizers, 4 sqrt(tokens) lists); --nlist and --ann-M override either")
    p.add_argument("--no-ann", action="store_true", help="do not build the ANN index (reranking only)")
    p.add_argument("--mask-punctuation", action="store_true",
                   help="drop punctuation tokens from documents (ColBERT checkpoints only). Default: keep "
                   "them, as ColBERT-PRF requires (its reference encodes feedback stores unmasked)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="texts per forward pass (default 32)")
    p.add_argument("--max-seq-length", type=positive_int, default=None, help="truncate documents to this "
                   "many word pieces (sentence-transformers models)")
    p.add_argument("--seed", type=int, default=1234, help="random seed of PQ / IVF training (default 1234)")
    add_threads(p)
    p.set_defaults(func=run_build_tokens)


def _encoded_dir(path: Path) -> bool:
    meta = path / "meta.json"
    if not meta.is_file():
        return False
    try:
        return bool(json.loads(meta.read_text()).get("tokens"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def run_build_tokens(args: argparse.Namespace) -> int:
    import os

    import numpy as np

    from winnow.index.token_store import TokenStore

    check_index_output(args.output, args.overwrite, args.input)
    start = time.perf_counter()
    threads = args.threads if args.threads > 0 else (os.cpu_count() or 1)
    src = Path(args.input)
    if not src.exists():
        raise FileNotFoundError(f"{args.input}: no such corpus file or directory")
    if _encoded_dir(src):
        from winnow.vectors import load_tokens

        if args.mask_punctuation:
            raise ValueError(f"--mask-punctuation applies when encoding; {args.input} holds encoded token vectors")

        vecs, tids, offsets, docnos = load_tokens(src, mmap=True)
        meta = json.loads((src / "meta.json").read_text())
        model = {"kind": "sentence-transformers", "model_path": meta.get("model_path"),
                 "model_name": meta.get("model_name"), "encoded": str(src.resolve())}
        from winnow.colbert import special_ids_from_vocab

        special = special_ids_from_vocab(meta.get("model_path"))
    else:
        from winnow.cli.common import open_corpus
        from winnow.colbert import load_late_encoder

        kw = {"batch_size": args.batch_size, "threads": threads, "mask_punctuation": args.mask_punctuation or None}
        if args.max_seq_length:
            kw["max_seq_length"] = args.max_seq_length
        encoder = load_late_encoder(args.model, **kw)
        docs, _ = open_corpus(args.input)
        docnos, parts, ids_parts, lens = [], [], [], []
        batch: list[tuple[str, str]] = []

        def flush():
            v, t, off = encoder.encode_documents([x for _, x in batch], show_progress=False)
            parts.append(v.astype(np.float16))
            ids_parts.append(t)
            lens.extend(np.diff(off).tolist())
            docnos.extend(d for d, _ in batch)
            batch.clear()

        for item in docs:
            batch.append(item)
            if len(batch) == 1000:
                flush()
                print(f"encoded {len(docnos):,} documents", file=sys.stderr)
        if batch:
            flush()
        vecs = np.concatenate(parts) if parts else np.zeros((0, encoder.dim), np.float16)
        tids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int32)
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        model = encoder.describe()
        special = model.pop("special_ids", [])
    store = TokenStore(vecs, tids, offsets, docnos, pq_M=args.pq, nbits=args.pq_nbits, seed=args.seed, threads=threads,
                       special_ids=special, model=model)
    store.save(args.output, overwrite=args.overwrite)
    msg = f"stored {store.ntokens:,} token vectors of {store.n_docs:,} documents ({store.storage}, " \
          f"{store.nbytes / 1e6:.1f} MB)"
    if not args.no_ann and store.ntokens:
        from winnow.rerank.maxsim import build_token_ann

        ann = build_token_ann(store, nlist=args.nlist, M=args.ann_M, nbits=args.ann_nbits, seed=args.seed,
                              threads=threads, preset=args.ann_preset)
        ann.save(Path(args.output) / "ann")
        msg += f"; ANN {args.ann_preset} nlist={ann.nlist} M={ann.M} {ann.metric} ({ann.nbytes / 1e6:.1f} MB)"
    print(f"{msg} in {time.perf_counter() - start:.1f} s -> {args.output}", file=sys.stderr)
    return 0
