"""``ImpactIndex``: an inverted index of precomputed term weights (learned sparse retrieval:
SPLADE, uniCOIL, DeepImpact), as Anserini's impact indexes and PISA's quantized scores.

It is the BM25 index's machinery with the integer impact in the postings' frequency slot
(same builder, block codec, block tables and files) and the largest impact per block and
per multi-block term as pruning bounds (``block_max_x``, ``multi_max_x``; a single-block
term's bound comes from its decoded block). A document scores

    score(d) = sum over query terms t of w_q(t) * impact(d, t)

with the query weights used as given (float32, not quantized; PISA does the same; text
queries weigh each term by its count) and the impacts as stored (integers, see
:mod:`winnow.index.impact_input` for the quantization), so scores are in impact units.
The exact pruned top-k algorithms (``maxscore``, ``windowed``) return exactly the top-k of
``exhaustive``; ties go to the lower internal id (input order).
"""
from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Iterator

import numpy as np

from winnow import _core
from winnow.errors import IndexFormatError
from winnow.limits import check_k, check_threads
from winnow.results import Results
from winnow.stage import Retriever, as_queries
from winnow.index import bm25_layout, invariants
from winnow.index.bm25 import _prefetch
from winnow.index.format import open_index, register_format, save_directory
from winnow.index.impact_input import (as_integer_impacts, check_vector, is_vector_path, linear_scale,
                                       parse_quantize, quantize_linear, read_json_vectors, read_pairs)

FORMAT = "winnow.impact"
# 3.0 / 2.0: the BM25 index's format 3 / 2 files (index/bm25_layout.py); 1.x and 2.x indexes still load
FORMAT_VERSION = bm25_layout.FORMAT_VERSION


def _impact_batches(items: Iterator, bits: int | None, scale, batch_size: int):
    """(docnos, terms, impacts uint32, offsets int64) batches for Bm25Builder.add_impacts."""
    docnos, terms, impacts, offsets = [], [], [], [0]
    for docno, t, w in items:
        q = quantize_linear(w, scale) if bits is not None else as_integer_impacts(w, f"document {docno!r}", t)
        docnos.append(docno)
        terms.extend(t)
        impacts.append(q)
        offsets.append(offsets[-1] + len(t))
        if len(docnos) >= batch_size:
            yield docnos, terms, np.concatenate(impacts).astype(np.uint32), np.asarray(offsets, np.int64)
            docnos, terms, impacts, offsets = [], [], [], [0]
    if docnos:
        yield docnos, terms, np.concatenate(impacts).astype(np.uint32), np.asarray(offsets, np.int64)


def weighted_queries(queries) -> tuple[list[str], list[tuple[list[str], np.ndarray]]] | None:
    """(qids, [(terms, float32 weights)]) when ``queries`` are weighted ({qid: {term: w}} or a
    list of {term: w}), None when they are texts."""
    if isinstance(queries, Mapping) and queries and all(isinstance(v, Mapping) for v in queries.values()):
        qids = [str(q) for q in queries]
        return qids, [check_vector(dict(v), f"query {q!r}") for q, v in zip(qids, queries.values())]
    if (isinstance(queries, Sequence) and not isinstance(queries, str) and queries
            and all(isinstance(v, Mapping) for v in queries)):
        qids = [str(i) for i in range(len(queries))]
        return qids, [check_vector(dict(v), f"query {q!r}") for q, v in zip(qids, queries)]
    return None


class ImpactIndex(Retriever):
    """An impact index. Build with :meth:`build`, open with :meth:`load` (or ``winnow.index.load``)."""

    FORMAT = FORMAT

    def __init__(self, arrays: dict, stats: dict, params: dict, path: Path | None = None, k: int = 1000):
        self.arrays = arrays
        self._stats = dict(stats)
        self.params = dict(params)
        self.path = path
        self.k = k
        self.docnos = bm25_layout.docno_table(arrays)
        self._searcher = _core.ImpactSearcher(arrays, self._stats, self.params["analyzer"], source=str(path or ""))

    # -- building --------------------------------------------------------------------------
    @classmethod
    def build(cls, docs, *, quantize=8, analyzer: str = "english", threads: int = 1, batch_size: int = 8192,
              memory_budget_mb: float = 2048, temp_dir: str | None = None, progress: bool = True,
              total: int | None = None) -> "ImpactIndex":
        """Index term-weight vectors.

        ``docs``: a JsonVectorCollection file or directory (``.jsonl``, ``.jsonl.gz``), or an
        iterable of (docno, {term: weight}). ``quantize``: bits of PISA's linear quantization
        with a global maximum (default 8: impacts 1..255), or ``"none"`` for weights that
        already are integers (Anserini). A file is read twice when quantizing (the global
        maximum first); an iterable is held in memory. ``analyzer`` (``english`` or ``plain``)
        is only used for text queries.
        """
        bits = parse_quantize(quantize)
        _core.Analyzer(analyzer)  # a bad analyzer name fails before any document is read
        threads = check_threads(threads)
        if is_vector_path(docs):
            def source():
                return read_json_vectors(docs)
        else:
            items = list(read_pairs(docs))

            def source():
                return iter(items)
        scale, max_weight = None, None
        if bits is not None:
            max_weight = max((float(w.max()) for _, _, w in source() if len(w)), default=0.0)
            scale = linear_scale(max_weight, bits) if max_weight > 0 else np.float32(1.0)
        builder = _core.Bm25Builder(0.9, 0.4, "lucene", analyzer, threads, memory_budget_mb,
                                    temp_dir or tempfile.gettempdir())
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="doc", desc="indexing", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
        try:
            for docnos, terms, impacts, offsets in _prefetch(_impact_batches(source(), bits, scale, batch_size)):
                builder.add_impacts(docnos, terms, impacts, offsets)
                if bar is not None:
                    bar.update(len(docnos))
        finally:
            if bar is not None:
                bar.close()
        arrays, stats = builder.finish()
        arrays = bm25_layout.compact(arrays)
        arrays["block_max_x"], arrays["multi_max_x"], max_impact = _core.impact_maxima(arrays, stats, threads)
        params = {"quantize": "none" if bits is None else bits, "analyzer": analyzer,
                  "max_weight": max_weight, "scale": None if scale is None else float(scale), "max_impact": max_impact}
        return cls(arrays, stats, params)

    # -- searching -------------------------------------------------------------------------
    def search(self, queries, k: int = 10, threads: int = 1, algorithm: str = "maxscore") -> Results:
        """Top-``k`` documents per query.

        ``queries``: weighted, {qid: {term: weight}} or a list of {term: weight} (weights finite
        and >= 0, used as float32); or texts, {qid: text}, a list of texts or a DataFrame,
        analyzed with the index's analyzer (each term weighs its count). ``algorithm``:
        ``maxscore`` (default), ``windowed`` or ``exhaustive``, all with identical results.
        Returns :class:`Results` with (nq, min(k, n_docs)) ids and scores, padded -1 / -inf.
        """
        weighted = weighted_queries(queries)
        k, threads = check_k(k, self.n_docs), check_threads(threads)
        if weighted is None:
            qids, texts = as_queries(queries)
            scores, ids = self._searcher.search(texts, k, algorithm, threads)
            return Results(qids, ids, scores, self.docnos, texts)
        qids, vectors = weighted
        terms = [t for ts, _ in vectors for t in ts]
        weights = np.concatenate([w for _, w in vectors] + [np.zeros(0, np.float32)]).astype(np.float32)
        offsets = np.concatenate([[0], np.cumsum([len(ts) for ts, _ in vectors])]).astype(np.int64)
        scores, ids = self._searcher.search_weighted(terms, weights, offsets, k, algorithm, threads)
        return Results(qids, ids, scores, self.docnos, [" ".join(ts) for ts, _ in vectors])

    def search_file(self, path, k: int = 10, threads: int = 1, algorithm: str = "maxscore") -> Results:
        """Search the weighted queries of a JsonVectorCollection-like file (``{"id", "vector"}`` per line)."""
        queries = {qid: dict(zip(t, w.tolist())) for qid, t, w in read_json_vectors(path, what="query")}
        return self.search(queries, k, threads, algorithm)

    def term_id(self, term: str) -> int:
        return int(self._searcher.find_term(term))

    def terms(self) -> list[str]:
        """Every index term, in term id order (sorted by UTF-8 bytes)."""
        return self._searcher.terms()

    @property
    def n_docs(self) -> int:
        return int(self._stats["n_docs"])

    @property
    def n_terms(self) -> int:
        return int(len(self.arrays["df"]))

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    def stats(self) -> dict:
        n = int(self._stats["n_docs_with_terms"])
        return {**self.params, "n_docs": self.n_docs, "n_docs_with_terms": n, "n_empty_docs": self.n_docs - n,
                "n_terms": self.n_terms, "n_postings": int(self.arrays["df"].sum(dtype=np.uint64)),
                "max_impact": float(self._max_impact()),
                "postings_bytes": int(self.arrays["postings"].nbytes), "index_bytes": self.nbytes}

    def _max_impact(self) -> int:
        """The largest stored impact: recorded at build (format 3), else found by decoding."""
        if "max_impact" not in self.params:  # an index saved by an earlier winnow
            self.params["max_impact"] = int(_core.impact_maxima(self.arrays, self._stats)[2])
        return int(self.params["max_impact"])

    def __repr__(self) -> str:
        return f"ImpactIndex(n_docs={self.n_docs}, n_terms={self.n_terms}, quantize={self.params['quantize']!r})"

    # -- files (the BM25 index's files; block_max_x / multi_max_x hold max impacts) ----------
    def save(self, path, overwrite: bool = False) -> None:
        """Save as an index directory (atomic, as :meth:`BM25Index.save`)."""

        def write(tmp: Path) -> None:
            bm25_layout.write_arrays(tmp, self.arrays)

        meta = {"format": FORMAT, "format_version": list(FORMAT_VERSION), "params": self.params,
                "stats": {k: int(v) for k, v in self._stats.items()}, "n_terms": self.n_terms,
                "n_blocks": int(len(self.arrays["block_last_doc"]))}
        save_directory(path, write, meta, overwrite)
        self.path = Path(path)

    @classmethod
    def load(cls, path, mmap: bool = False, verify: bool | None = None) -> "ImpactIndex":
        """Open a saved index (checks as :meth:`BM25Index.load`: meta.json, sizes, headers,
        offsets, block tables and bounds; ``verify`` (default ``not mmap``) checksums every byte)."""
        path = Path(path)
        # checksums, when asked for, are taken by read_arrays as it reads each file
        meta = open_index(path, FORMAT, FORMAT_VERSION[0], mmap, verify=False)
        verify = (not mmap) if verify is None else bool(verify)
        arrays = bm25_layout.read_arrays(meta, path, mmap, verify)
        invariants.verify_structure(meta, path, mmap, verify)
        invariants.check_impact(arrays, meta.get("stats"), meta.get("params"), path, mmap)
        try:
            index = cls(arrays, meta["stats"], meta["params"], path)
        except IndexFormatError:
            raise
        except ValueError as exc:
            raise IndexFormatError(f"{path}: {exc}") from None
        index.docnos.source = str(path / "docno_bytes.bin")
        return index


register_format(FORMAT)(ImpactIndex)
