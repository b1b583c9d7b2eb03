"""Seeded synthetic MS MARCO-like passage corpus for the BM25 benchmark.

Writes ``collection.tsv`` (``docno<TAB>text``) and ``queries.tsv`` (``qid<TAB>text``) into a
cache directory (default ``benchmarks/.cache/synthetic-n<N>-q<Q>-s<seed>/``), so
``winnow.datasets.load`` reads it as an MS MARCO-layout directory. Repeated runs reuse it.

Model (numbers chosen to look like MS MARCO passage v1, 8.8M passages, ~56 words each):

* Vocabulary: ``vocab_size`` (default 2,000,000) words. Rank 1..33 are Lucene's English
  stopwords ("the", "of", ...), so the analyzers see a realistic ~27% stopword share; the
  remaining ranks are pronounceable pseudo-words made of consonant-vowel syllables
  (bijective base-100 numbering, so frequent ranks get short words: 1-4 syllables), skipping
  any that collide with a stopword.
* Token frequencies: Zipf, P(rank r) ~ r^-s with ``zipf_s`` = 1.05 over the whole
  vocabulary (word counts in English/MS MARCO follow s ~ 1.0-1.1); sampled by inverse CDF.
* Passage length (words): log-normal with mean 56 and sd 25 (mu = 3.935, sigma = 0.426),
  rounded and clipped to [5, 200] (MS MARCO passages: mean ~56 whitespace words, long right
  tail, a few near 200+).
* Queries: length from the MS MARCO dev-subset query-length histogram (6,980 queries)
  truncated to 2-8 words (mean 5.19); words sampled from a flatter Zipf (``query_zipf_s`` =
  0.9) over the top ``query_vocab`` (200,000) ranks, so queries mix stopwords, frequent and
  mid-frequency terms and most of them match documents.
* ``--real-words`` (the PISA comparison of issue 14): the vocabulary's head is real English
  words instead of pseudo-words: after the 33 stopwords, every word of the shared real
  collections' text (SciFact, Vaswani, Cranfield, the MS MARCO DL19 passage pool and the
  MS MARCO dev queries; lowercased ``[a-z0-9]+`` tokens) in order of its frequency there,
  then pseudo-words for the tail. The queries are then the first ``n_queries`` real MS MARCO
  dev-subset queries (``../shared/data/msmarco``), whose terms hit the Zipf ranks their real
  frequencies give them.

Generation is vectorised with numpy, in chunks: 1M passages take well under a minute.

    python benchmarks/synthetic_corpus.py --n-docs 1000000
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

# Lucene's EnglishAnalyzer default stopwords (also bm25s "en"), in rough frequency order.
STOPWORDS = ["the", "of", "and", "to", "a", "in", "is", "for", "that", "on", "as", "with", "by",
             "it", "are", "be", "this", "or", "was", "at", "an", "not", "from_", "they", "their",
             "if", "such", "there", "these", "then", "into", "will", "no", "but"]
STOPWORDS = [w for w in STOPWORDS if not w.endswith("_")]  # 33 words
_CONS = list("bcdfghjklmnprstvwz") + ["ch", "sh"]          # 20 onsets
_VOWS = list("aeiou")                                       # 5 nuclei -> 100 syllables
# MS MARCO dev-subset query lengths (whitespace words) 2..8: counts of 6,980 queries.
_QLEN_COUNTS = {2: 302, 3: 688, 4: 1159, 5: 1289, 6: 1164, 7: 838, 8: 579}

DEFAULTS = dict(vocab_size=2_000_000, zipf_s=1.05, len_mean=56.0, len_sd=25.0, len_min=5,
                len_max=200, n_queries=1000, query_zipf_s=0.9, query_vocab=200_000, seed=0)


SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
MSMARCO_DEV_TOPICS = SHARED / "msmarco" / "topics.msmarco-passage.dev-subset.txt"
REAL_TEXT = ("scifact", "vaswani", "cranfield", "msmarco-dl19-pool")


def real_words() -> list[bytes]:
    """Distinct words of the shared real collections and MS MARCO dev queries, most frequent
    first (ties by word), stopwords left out (they keep ranks 1..33)."""
    from collections import Counter

    from winnow.datasets import load
    counts: Counter = Counter()
    token = re.compile(rb"[a-z0-9]+")
    for name in REAL_TEXT:
        for _docno, text in load(SHARED / name).corpus():
            counts.update(token.findall(text.lower().encode()))
    counts.update(token.findall(MSMARCO_DEV_TOPICS.read_bytes().lower()))
    stop = {w.encode() for w in STOPWORDS}
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if w not in stop and len(w) <= 24]


def make_vocab(size: int, real: bool = False) -> np.ndarray:
    """``size`` words (numpy bytes array, rank order): stopwords first, then (``real``) real
    words by frequency, then pseudo-words."""
    syl = np.array([c + v for c in _CONS for v in _VOWS], dtype="S3")
    nsyl = len(syl)
    need = size - len(STOPWORDS) + 64
    # bijective base-nsyl numbering of 0..need-1: lengths 1, 2, 3, 4 syllables
    words = []
    start, length = 0, 1
    while start < need:
        count = min(nsyl ** length, need - start)
        idx = np.arange(count, dtype=np.int64)
        w = np.full(count, b"", dtype="S12")
        for _ in range(length):
            w = np.char.add(syl[idx % nsyl], w)
            idx //= nsyl
        words.append(w)
        start += count
        length += 1
    pseudo = np.concatenate(words)
    head = np.array(STOPWORDS + (real_words() if real else []), dtype="S24")
    pseudo = pseudo[~np.isin(pseudo.astype("S24"), head)]
    return np.concatenate([head, pseudo.astype("S24")])[:size]


def msmarco_dev_queries(n: int) -> list[tuple[str, str]]:
    """The first n (qid, text) of the MS MARCO dev subset, in file order."""
    out = []
    for line in MSMARCO_DEV_TOPICS.read_text(encoding="utf-8").splitlines()[:n]:
        qid, text = line.split("\t", 1)
        out.append((qid, text.strip()))
    return out


def zipf_cdf(n: int, s: float) -> np.ndarray:
    w = np.arange(1, n + 1, dtype=np.float64) ** -s
    c = np.cumsum(w)
    return c / c[-1]


def _padded(vocab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, W) uint8 matrix of the words, zero padded, and their lengths."""
    width = vocab.dtype.itemsize
    mat = np.frombuffer(vocab.tobytes(), dtype=np.uint8).reshape(len(vocab), width)
    lens = np.char.str_len(vocab).astype(np.int64)
    return mat, lens


def _render(tokens: np.ndarray, bounds: np.ndarray, mat: np.ndarray, lens: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Bytes of all lines' texts joined (a space between words, nothing between lines) and
    the end offset of each line. ``bounds``: end index (in tokens) of each line."""
    width = mat.shape[1]
    L = lens[tokens]
    last = np.zeros(len(tokens), dtype=bool)
    last[bounds - 1] = True
    sep_len = (~last).astype(np.int64)              # a space after all but a line's last word
    grid = np.zeros((len(tokens), width + 1), dtype=np.uint8)
    grid[:, :width] = mat[tokens]
    grid[np.arange(len(tokens)), L] = np.where(last, 0, ord(" "))
    keep = np.arange(width + 1)[None, :] < (L + sep_len)[:, None]
    body = grid[keep].tobytes()
    tok_end = np.cumsum(L + sep_len)
    return body, tok_end[bounds - 1]


def generate(out_dir: Path, n_docs: int, *, vocab_size: int = DEFAULTS["vocab_size"],
             zipf_s: float = DEFAULTS["zipf_s"], len_mean: float = DEFAULTS["len_mean"],
             len_sd: float = DEFAULTS["len_sd"], len_min: int = DEFAULTS["len_min"],
             len_max: int = DEFAULTS["len_max"], n_queries: int = DEFAULTS["n_queries"],
             query_zipf_s: float = DEFAULTS["query_zipf_s"], query_vocab: int = DEFAULTS["query_vocab"],
             seed: int = DEFAULTS["seed"], real: bool = False, chunk: int = 100_000,
             verbose: bool = True) -> Path:
    out_dir = Path(out_dir)
    meta_path = out_dir / "synthetic.json"
    params = dict(n_docs=n_docs, vocab_size=vocab_size, zipf_s=zipf_s, len_mean=len_mean, len_sd=len_sd,
                  len_min=len_min, len_max=len_max, n_queries=n_queries, query_zipf_s=query_zipf_s,
                  query_vocab=query_vocab, seed=seed)
    if real:  # only recorded when set, so existing pseudo-word caches stay valid
        params["real_words"] = True
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("params") == params:
            return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    vocab = make_vocab(vocab_size, real)
    mat, lens = _padded(vocab)
    cdf = zipf_cdf(vocab_size, zipf_s)
    sigma2 = np.log1p((len_sd / len_mean) ** 2)
    mu = np.log(len_mean) - sigma2 / 2
    n_tokens = 0
    tmp = out_dir / "collection.tsv.tmp"
    with open(tmp, "wb") as fh:
        for start in range(0, n_docs, chunk):
            n = min(chunk, n_docs - start)
            dl = np.clip(np.rint(rng.lognormal(mu, np.sqrt(sigma2), n)), len_min, len_max).astype(np.int64)
            tokens = np.searchsorted(cdf, rng.random(int(dl.sum())), side="right")
            np.minimum(tokens, vocab_size - 1, out=tokens)
            n_tokens += len(tokens)
            bounds = np.cumsum(dl)
            body, ends = _render(tokens, bounds, mat, lens)
            starts = np.concatenate([[0], ends[:-1]]).tolist()
            ends = ends.tolist()
            fh.write(b"".join(b"%d\t%s\n" % (start + i, body[s:e])
                              for i, (s, e) in enumerate(zip(starts, ends))))
    os.replace(tmp, out_dir / "collection.tsv")
    # queries
    qcdf = zipf_cdf(min(query_vocab, vocab_size), query_zipf_s)
    lens_k = np.array(list(_QLEN_COUNTS))
    p = np.array(list(_QLEN_COUNTS.values()), dtype=np.float64)
    ql = rng.choice(lens_k, size=n_queries, p=p / p.sum())
    qtok = np.searchsorted(qcdf, rng.random(int(ql.sum())), side="right")
    body, ends = _render(qtok, np.cumsum(ql), mat, lens)
    starts = np.concatenate([[0], ends[:-1]]).tolist()
    with open(out_dir / "queries.tsv", "wb") as fh:
        if real:
            real_queries = msmarco_dev_queries(n_queries)
            fh.write("".join(f"{q}\t{t}\n" for q, t in real_queries).encode())
            ql = np.array([len(t.split()) for _, t in real_queries])
        else:
            fh.write(b"".join(b"q%d\t%s\n" % (i, body[s:e]) for i, (s, e) in enumerate(zip(starts, ends.tolist()))))
    secs = time.perf_counter() - t0
    meta = dict(params=params, n_tokens=int(n_tokens), mean_doc_len=n_tokens / max(n_docs, 1),
                mean_query_len=float(ql.mean()), seconds=round(secs, 2))
    meta_path.write_text(json.dumps(meta, indent=1))
    if verbose:
        print(f"synthetic corpus: {n_docs} docs, {n_tokens} tokens, {n_queries} queries in {secs:.1f}s "
              f"-> {out_dir}", file=sys.stderr)
    return out_dir


def default_dir(n_docs: int, n_queries: int, seed: int, real: bool = False) -> Path:
    tag = "-real" if real else ""
    return Path(__file__).resolve().parent / ".cache" / f"synthetic{tag}-n{n_docs}-q{n_queries}-s{seed}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-docs", type=int, default=1_000_000)
    ap.add_argument("--n-queries", type=int, default=DEFAULTS["n_queries"])
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    ap.add_argument("--vocab-size", type=int, default=DEFAULTS["vocab_size"])
    ap.add_argument("--zipf-s", type=float, default=DEFAULTS["zipf_s"])
    ap.add_argument("--real-words", action="store_true",
                    help="real words at the head of the vocabulary and real MS MARCO dev queries")
    ap.add_argument("--out", type=Path, default=None, help="output dir (default benchmarks/.cache/...)")
    a = ap.parse_args(argv)
    out = a.out or default_dir(a.n_docs, a.n_queries, a.seed, a.real_words)
    generate(out, a.n_docs, n_queries=a.n_queries, seed=a.seed, vocab_size=a.vocab_size, zipf_s=a.zipf_s,
             real=a.real_words)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
