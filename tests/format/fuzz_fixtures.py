"""Tiny seeded indexes of every built-in format, the fixed queries the fuzzer runs on them,
and which bytes of each file are "payload" (values no structural check can vet).

Used by :mod:`fuzz_indexes` (the mutation fuzzer) in the parent, which builds and mutates,
and in the worker subprocesses, which load and search. Everything is a function of the
seed, so a worker rebuilds nothing: it reads the fixtures the parent saved.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

# name -> index format recorded in meta.json (every entry of index.format.BUILTIN_FORMATS
# is covered; test_fuzz checks that).
KINDS = {
    "bm25": "winnow.bm25", "bm25_store": "winnow.bm25", "bm25_range": "winnow.bm25", "impact": "winnow.impact",
    "flat": "winnow.flat",
    "pq8": "winnow.pq", "pq4": "winnow.pq",
    "ivf_flat": "winnow.ivf", "ivf_pq": "winnow.ivf", "ivf_fastscan": "winnow.ivf",
    "hnsw": "winnow.hnsw", "hnsw_sq8": "winnow.hnsw",
    "flat_sq8": "winnow.flat", "flat_f16": "winnow.flat", "ivf_sq8": "winnow.ivf",
    "tokens_f16": "winnow.tokens", "tokens_pq": "winnow.tokens", "cur": "winnow.cur",
    "sharded_bm25": "winnow.sharded",
}
DIM = 16
N_VECTORS = 300
CUR_ITEMS, CUR_QUERIES = 200, 60

# Files whose data bytes are values (vectors, codes, ids, strings, scores, pruning bounds):
# an unverified mmap load cannot tell a changed value from a real one. Everything else
# (offset tables, counts, npy and section headers, meta.json) is structure.
PAYLOAD_FILES = {
    "bm25": {"postings.bin", "term_dict.bin", "term_bytes.bin", "docno_bytes.bin", "norms.npy", "doc_len.npy",
             "block_max_x.npy", "multi_max_x.npy", "docno_order.npy", "store_frames.npy"},
    "dense": {"vectors.npy", "ids.npy", "codes.npy", "centroids.npy", "codebooks.npy", "payload_rows.npy",
              "packed.npy", "rotation.npy", "docno_bytes.npy",
              # HNSW: an in-range neighbour, a deleted flag or an SQ8 range changed is a changed value
              "links0.npy", "upper_links.npy", "deleted.npy", "refine.npy", "sq_vmin.npy", "sq_vdiff.npy"},
    "tokens": {"tokens.npy", "codes.npy", "codebooks.npy", "token_ids.npy", "df.npy", "docno_bytes.npy"},
    # a sharded index's own files (its shard directories are fuzzed as their own formats):
    # collection df, pruning bounds and docno ranks of each of its 2 shards are all values
    "sharded": {f"shard_00{i}.{n}.npy" for i in range(2) for n in ("idf_df", "block_max_x", "multi_max_x", "docno_rank")},
    "cur": {"anchor_items.npy", "R.npy", "query_bytes.npy", "docno_bytes.npy"}
    | {f"dense.{n}" for n in ("vectors.npy", "ids.npy", "centroids.npy", "payload_rows.npy")},
}


def family(kind: str) -> str:
    # an impact index has the BM25 index's files (impacts in the postings, max impacts as bounds)
    return {"winnow.bm25": "bm25", "winnow.impact": "bm25", "winnow.tokens": "tokens",
            "winnow.cur": "cur", "winnow.sharded": "sharded"}.get(KINDS[kind], "dense")


def data_offset(path: Path, raw: bytes) -> int:
    """First payload byte of a file: after the .npy header or the 64-byte section header."""
    if path.suffix == ".bin":
        return 64
    if path.suffix == ".npy" and raw[:6] == b"\x93NUMPY" and len(raw) >= 12:
        if raw[6] == 1:
            return 10 + int.from_bytes(raw[8:10], "little")
        return 12 + int.from_bytes(raw[8:12], "little")
    return len(raw)  # meta.json and unknown files: all structure


# -- data ------------------------------------------------------------------------------------
def _words(rng, n: int) -> list[str]:
    letters = np.array(list("bcdfghklmnprstvz"))
    return ["".join(letters[rng.integers(0, 16, 5)]) + "o" for _ in range(n)]


def bm25_corpus(seed: int, n_docs: int = 300):
    """(docs [(docno, text)], queries {qid: text}): Zipf-distributed words, so the common
    terms span several 128-posting blocks; a few empty documents."""
    rng = np.random.default_rng(seed)
    vocab = _words(np.random.default_rng(0), 150)  # same vocabulary for every seed (twin indexes)
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    docs = []
    for i in range(n_docs):
        n = 0 if i % 97 == 5 else int(rng.integers(3, 30))
        docs.append((f"D{i:04d}-{seed}", " ".join(vocab[j] for j in rng.choice(len(vocab), n, p=p))))
    queries = {f"q{j}": " ".join(vocab[i] for i in rng.choice(60, int(rng.integers(1, 5)), replace=False))
               for j in range(8)}
    queries["q_rare"] = f"{vocab[149]} {vocab[0]} {vocab[140]}"
    return docs, queries


def impact_corpus(seed: int, n_docs: int = 300):
    """(docs [(docno, {term: weight})], queries {qid: {term: weight}}): the BM25 fixture's
    words with gamma-distributed weights (8-bit quantized: several blocks per common term)."""
    docs, texts = bm25_corpus(seed, n_docs)
    rng = np.random.default_rng(seed + 50)
    vectors = [(d, {w: float(rng.gamma(2.0, 1.0)) for w in text.split()}) for d, text in docs]
    queries = {q: {w: float(rng.gamma(1.5, 0.5)) for w in text.split()} for q, text in texts.items()}
    return vectors, queries


def vectors(seed: int, n: int = N_VECTORS, d: int = DIM, nq: int = 6):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((12, d)).astype(np.float32)
    x = centers[rng.integers(0, 12, n)] + 0.5 * rng.standard_normal((n, d))
    q = centers[rng.integers(0, 12, nq)] + 0.5 * rng.standard_normal((nq, d))
    return (x / np.sqrt(d)).astype(np.float32), (q / np.sqrt(d)).astype(np.float32)


def token_data(seed: int, ndocs: int = 60):
    rng = np.random.default_rng(seed)
    lens = rng.integers(0, 12, ndocs)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    x = rng.standard_normal((int(off[-1]), DIM)).astype(np.float32)
    tids = rng.integers(0, 30, len(x)).astype(np.int32)
    return x, tids, off, [f"tok{i}-{seed}" for i in range(ndocs)]


def cur_matrix(seed: int) -> np.ndarray:
    """Low-rank-plus-noise scores (queries, items); a query text is its row number."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((CUR_QUERIES, 6)) @ rng.standard_normal((6, CUR_ITEMS))
    return (m + 0.05 * rng.standard_normal(m.shape)).astype(np.float32)


def cur_scorer(matrix: np.ndarray):
    from winnow.rerank.scorers import CallableScorer

    return CallableScorer(lambda q, ids: matrix[int(q), ids], matrix.shape[1])


# -- building ---------------------------------------------------------------------------------
def build(kind: str, seed: int):
    """The index of ``kind`` for data ``seed`` (not saved)."""
    from winnow.index.bm25 import BM25Index
    from winnow.index.flat import FlatIndex
    from winnow.index.hnsw import HNSWIndex
    from winnow.index.ivf import IVFIndex
    from winnow.index.pq_index import PQIndex
    from winnow.index.token_store import TokenStore

    if kind == "bm25":
        return BM25Index.build(bm25_corpus(seed)[0], progress=False)
    if kind == "bm25_range":  # docnos str(start + i): stored as docno_range.npy, no docno table
        docs = bm25_corpus(seed)[0]
        return BM25Index.build([(str(1000 * seed + i), text) for i, (_, text) in enumerate(docs)], progress=False)
    if kind == "bm25_store":  # with a document store in small blocks (many frames)
        return BM25Index.build(bm25_corpus(seed)[0], progress=False, store="text", store_block_bytes=512)
    if kind == "impact":
        from winnow.index.impact import ImpactIndex

        return ImpactIndex.build(impact_corpus(seed)[0], quantize=8, progress=False)
    if kind.startswith("tokens"):
        x, tids, off, docnos = token_data(seed)
        return TokenStore(x, tids, off, docnos, pq_M=4 if kind == "tokens_pq" else None, nbits=8, seed=seed,
                          vocab_size=32, special_ids=[0, 1], model={"kind": "fuzz"})
    if kind == "cur":
        from winnow.index.cur import CURIndex

        m = cur_matrix(seed)
        return CURIndex.build(cur_scorer(m), [str(i) for i in range(40)], n_anchor_items=15, seed=seed,
                              dense="ivf", nlist=6, progress=False, docnos=[f"item{i}" for i in range(CUR_ITEMS)],
                              budget=40)
    x, _ = vectors(seed)
    index = {
        "flat": lambda: FlatIndex(DIM, "ip"),
        "pq8": lambda: PQIndex(DIM, 4, 8, "l2", opq=True, refine=True),
        "pq4": lambda: PQIndex(DIM, 8, 4, "ip"),
        "ivf_flat": lambda: IVFIndex(DIM, 8, "flat", metric="l2"),
        "ivf_pq": lambda: IVFIndex(DIM, 8, "pq", M=4, metric="ip", refine=True),
        "ivf_fastscan": lambda: IVFIndex(DIM, 8, "fastscan", M=8, metric="ip"),
        "flat_sq8": lambda: FlatIndex(DIM, "l2", payload="sq8", refine=True),
        "flat_f16": lambda: FlatIndex(DIM, "ip", payload="float16"),
        "ivf_sq8": lambda: IVFIndex(DIM, 8, "sq8", metric="ip"),
        "hnsw": lambda: HNSWIndex(DIM, M=4, ef_construction=16, metric="ip", seed=seed),
        "hnsw_sq8": lambda: HNSWIndex(DIM, M=4, ef_construction=16, metric="l2", payload="sq8", refine=True),
    }[kind]()
    if not kind.startswith(("flat", "hnsw")):
        index.train(x, niter=6, seed=seed)
    index.add(x)
    if kind.startswith("hnsw"):
        index.remove([7, 11])  # deleted flags are part of the format
    index.set_docnos([f"v{i}-{seed}" for i in range(len(x))])
    return index


def build_all(root, seed: int, kinds=None) -> Path:
    """Save ``root/pristine/<kind>`` (data seed ``seed``) and ``root/twin/<kind>`` (data seed
    ``seed + 1``: same shapes, other values: the donor of swapped-in files), plus the CUR
    score matrices the scorer needs (outside the index directories)."""
    root = Path(root)
    for sub, s in (("pristine", seed), ("twin", seed + 1)):
        for kind in kinds or KINDS:
            if kind == "sharded_bm25":  # built straight into its directory (shards and manifest)
                from winnow.distributed.build import build_sharded_bm25

                build_sharded_bm25(bm25_corpus(s)[0], root / sub / kind, 2)
            else:
                build(kind, s).save(root / sub / kind)
    np.save(root / "cur_matrix.npy", cur_matrix(seed))
    (root / "fixtures.json").write_text(json.dumps({"seed": seed, "kinds": list(kinds or KINDS)}))
    return root


# -- the fixed searches ---------------------------------------------------------------------------
def _hits(res) -> tuple:
    names = tuple(tuple(res.docnos.lookup(row[row >= 0])) for row in res.ids)
    return res.ids.tobytes(), res.scores.tobytes(), names


def fingerprint(kind: str, index, root: Path, seed: int) -> tuple:
    """Everything the fixed query set returns, as bytes and strings: equal fingerprints mean
    bit-identical ids and scores and identical docnos."""
    if kind == "sharded_bm25":
        _, queries = bm25_corpus(seed)
        out = [_hits(index.search(queries, k=12, algorithm=a, ties=t))
               for a in ("maxscore", "windowed", "exhaustive") for t in ("docno", "id")]
        out.append(_hits(index.search(queries, k=12, algorithm="maxscore", threads=2)))
        return tuple(out)
    if kind.startswith("bm25"):
        _, queries = bm25_corpus(seed)
        out = [_hits(index.search(queries, k=12, algorithm=a)) for a in ("maxscore", "windowed", "exhaustive")]
        # worker threads too: an error inside one must reach the caller, never terminate the process
        out.append(_hits(index.search(queries, k=12, algorithm="maxscore", threads=2)))
        for term in index.analyze(queries["q0"] + " " + queries["q_rare"]):
            docs, tfs = index.postings(term)
            out.append((term, np.asarray(docs).tobytes(), np.asarray(tfs).tobytes(), index.df(term)))
        if index.store is not None:  # every stored document, decoded
            out.append(tuple(index.store.get(i) for i in range(len(index.store))))
        return tuple(out)
    if kind == "impact":
        _, queries = impact_corpus(seed)
        out = [_hits(index.search(queries, k=12, algorithm=a)) for a in ("maxscore", "windowed", "exhaustive")]
        out.append(_hits(index.search(queries, k=12, algorithm="maxscore", threads=2)))
        return tuple(out)
    if kind.startswith("tokens"):
        rng = np.random.default_rng(seed + 7)
        out = []
        for _ in range(3):
            q = rng.standard_normal((4, DIM)).astype(np.float32)
            out.append(np.asarray(index.maxsim(q, np.arange(len(index.offsets) - 1), threads=2)).tobytes())
        out.append(index.idf(np.arange(-1, 33)).tobytes())
        out.append(tuple(index.docnos.to_list()))
        return tuple(out)
    if kind == "cur":
        qs = [str(i) for i in range(40, CUR_QUERIES)]
        return (_hits(index.search(qs, k=10, budget=40, nprobe=3)),
                _hits(index.search_adaptive(qs[:5], k=10, budget=40, n_rounds=3)))
    _, q = vectors(seed)
    kw = {"nprobe": 3} if hasattr(index, "nlist") else {"ef": 20} if hasattr(index, "ef_construction") else {}
    scores, ids = index.search_vectors(q, 10, threads=2, **kw)  # worker threads: errors must reach the caller
    names = tuple(tuple(index.docnos.lookup(row[row >= 0])) for row in ids)
    return np.asarray(ids).tobytes(), np.asarray(scores).tobytes(), names


def load_kwargs(kind: str, root: Path) -> dict:
    """Extra arguments ``winnow.index.load`` needs for this kind (CUR: the scorer)."""
    if kind == "cur":
        return {"scorer": cur_scorer(np.load(Path(root) / "cur_matrix.npy"))}
    return {}
