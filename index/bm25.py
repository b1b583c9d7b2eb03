"""``BM25Index``: the sparse retriever over the C++ inverted index.

Scoring modes (see csrc/core/sparse/bm25_scoring.hpp for the formulas and sources):
``lucene`` (default; Lucene 8+ BM25Similarity with one-byte SmallFloat lengths, what
Anserini/pyserini compute), ``accurate`` (same with exact lengths, Anserini's
``-bm25.accurate``) and ``robertson`` (classic, with the (k1 + 1) factor and
Robertson-Sparck Jones idf). Like Lucene, idf's N and the average length count only
documents with at least one indexed term; empty documents are indexed and match nothing.
"""
from __future__ import annotations

import os
import queue
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from winnow import _core
from winnow.errors import IndexFormatError, InputWarning
from winnow.limits import check_k, check_threads
from winnow.results import Results
from winnow.stage import Retriever, as_queries
from winnow.validation import first_bad_text, name_some
from winnow.index import analysis, bm25_layout, doc_store, invariants
from winnow.index.format import open_index, register_format, save_directory

FORMAT = "winnow.bm25"
# 3.0: block tables for multi-block terms only; 2.0: narrow integer tables, front-coded terms,
# no cf.npy (index/bm25_layout.py); 1.x and 2.x indexes still load
FORMAT_VERSION = bm25_layout.FORMAT_VERSION


def _batches(docs: Iterable, batch_size: int, pretokenized: bool = False) -> Iterator[tuple[list[str], list]]:
    """Batches of (docnos, texts or term lists), each document checked here (in the prefetch
    thread, overlapping the C++ analysis): None or non-str text would be indexed as the word
    "None", a lone surrogate has no UTF-8 form for the core."""
    docnos, payload = [], []
    for pos, item in enumerate(docs):
        try:
            docno, body = item
        except (TypeError, ValueError):
            raise ValueError(f"documents must be (docno, text) pairs, got {type(item).__name__}") from None
        why = "is None" if docno is None else first_bad_text(str(docno))
        if why is not None:
            raise ValueError(f"the docno of document {pos} {why}")
        docno = str(docno)
        body = _terms(docno, body) if pretokenized else body
        why = None if pretokenized else first_bad_text(body)
        if why is not None:
            raise ValueError(f"document {docno!r} text {why}")
        docnos.append(docno)
        payload.append(body)
        if len(docnos) >= batch_size:
            yield docnos, payload
            docnos, payload = [], []
    if docnos:
        yield docnos, payload


def _terms(docno: str, body, what: str = "document") -> list[str]:
    """The terms of a pretokenized document or query (str of each, so integer term ids work too)."""
    if body is None or isinstance(body, (str, bytes)):
        raise ValueError(f"{what} {docno!r} terms are {type(body).__name__}, expected a list of terms")
    terms = []
    for t in body:
        why = "is None" if t is None else first_bad_text(str(t))
        if why is not None:
            raise ValueError(f"{what} {docno!r} term {len(terms)} {why}")
        terms.append(str(t))
    return terms


def _stored(docs: Iterable, writer: "doc_store.DocStoreWriter") -> Iterator[tuple[str, str]]:
    """(docno, indexed text) of each document, storing its title and text on the way (in the
    prefetch thread, in document order, so the store's internal ids are the index's)."""
    for pos, item in enumerate(docs):
        if hasattr(item, "contents"):  # a winnow.datasets.Document
            docno, contents, title, text = item.docno, item.contents, item.title, item.text
        else:
            try:
                docno, text = item
            except (TypeError, ValueError):
                raise ValueError(f"documents must be (docno, text) pairs or Documents, got {type(item).__name__}") \
                    from None
            contents, title = text, ""
        for what, value in (("title", title), ("text", text)):
            why = first_bad_text(value)
            if why is not None:
                raise ValueError(f"document {docno!r} {what} {why}")
        writer.add(title, text)
        yield docno, contents


def _prefetch(it: Iterator, depth: int = 2) -> Iterator:
    """Run ``it`` in a background thread so reading/parsing overlaps C++ analysis."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def produce():
        try:
            for item in it:
                q.put(item)
            q.put(done)
        except BaseException as exc:  # re-raised in the consumer
            q.put(exc)

    threading.Thread(target=produce, daemon=True).start()
    while True:
        item = q.get()
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _warn_no_terms(empty: list[str], nq: int) -> None:
    """Queries that analyze to nothing stay in Results (padding only); say so once per search."""
    if empty:
        warnings.warn(f"{len(empty)} of {nq} queries analyze to no terms (only stop words or punctuation) "
                      f"and have no results: {name_some(empty)}", InputWarning, stacklevel=3)


def _ties_by_docno(ties: str) -> bool:
    if ties not in ("docno", "id"):
        raise ValueError(f"ties must be 'docno' or 'id', got {ties!r}")
    return ties == "docno"


class BM25Index(Retriever):
    """A BM25 inverted index. Build with :meth:`build`, open with :meth:`load`.

    Parameters are those the index was built with; :meth:`with_params` gives a view with
    other ``k1`` / ``b`` / ``scoring`` (recomputing the pruning bounds, no rebuild).
    """

    def __init__(self, arrays: dict, stats: dict, params: dict, path: Path | None = None, k: int = 1000):
        self.arrays = arrays
        self._stats = dict(stats)
        self.params = dict(params)
        self.path = path
        self.k = k
        self.docnos = bm25_layout.docno_table(arrays)
        self.store: doc_store.DocStore | None = None  # titles and texts, when built with store="text"
        # a pretokenized index is searched with search_terms; the core only knows real analyzers
        analyzer = "plain" if self.params["analyzer"] == "pretokenized" else self.params["analyzer"]
        # source: a damaged postings block found while searching names the index directory
        self._searcher = _core.Bm25Searcher(arrays, self._stats, self.params["k1"], self.params["b"],
                                            self.params["scoring"], analyzer, source=str(path or ""))

    # -- building --------------------------------------------------------------------------
    @classmethod
    def build(cls, docs, *, k1: float = 0.9, b: float = 0.4, scoring: str = "lucene",
              analyzer: str = "english", pretokenized: bool = False, threads: int = 1,
              batch_size: int = 8192, memory_budget_mb: float = 2048, temp_dir: str | None = None,
              progress: bool = True, total: int | None = None, store: str | None = None,
              store_block_bytes: int = doc_store.DEFAULT_BLOCK_BYTES) -> "BM25Index":
        """Index ``docs``: an iterable of (docno, text) or, with ``pretokenized``, (docno, [terms]).

        A path or dataset directory is also accepted (read with :func:`winnow.datasets.load`).
        Memory stays bounded by ``memory_budget_mb`` of in-memory postings; beyond it the
        builder writes sorted segments to ``temp_dir`` and merges them at the end.

        ``store="text"`` also keeps every document's title and text in a compressed document
        store (:mod:`winnow.index.doc_store`; :meth:`doc`, ``Results.with_text()``). ``docs``
        may then also be :class:`winnow.datasets.Document` items (``Dataset.documents()``:
        ``contents`` is indexed, ``title`` and ``text`` stored); a (docno, text) pair is
        stored with an empty title.
        """
        store = doc_store.check_kind(store)
        if store and pretokenized:
            raise ValueError("store='text' needs documents as text, not pretokenized terms")
        if isinstance(docs, (str, os.PathLike)):
            from winnow.datasets import load as load_dataset

            docs = load_dataset(docs).documents() if store else load_dataset(docs).corpus()
        writer = None
        if store:
            writer = doc_store.DocStoreWriter(store_block_bytes, temp_dir=temp_dir)
            docs = _stored(docs, writer)
        if pretokenized:
            analyzer = "pretokenized"
        builder = _core.Bm25Builder(k1, b, scoring, "plain" if pretokenized else analyzer, threads,
                                    memory_budget_mb, temp_dir or tempfile.gettempdir())
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="doc", desc="indexing", file=sys.stderr, dynamic_ncols=True,
                       mininterval=0.5)
        try:
            for docnos, payload in _prefetch(_batches(docs, batch_size, pretokenized)):
                if pretokenized:
                    builder.add_tokens(docnos, payload)
                else:
                    builder.add_texts(docnos, payload)
                if bar is not None:
                    bar.update(len(docnos))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
        arrays, stats = builder.finish()
        arrays = bm25_layout.compact(arrays)
        params = {"k1": float(k1), "b": float(b), "scoring": scoring, "analyzer": analyzer}
        index = cls(arrays, stats, params)
        if writer is not None:
            index._attach_store(writer.finish())
        return index

    def _attach_store(self, store: "doc_store.DocStore | None") -> None:
        if store is not None and len(store) != self.n_docs:
            raise ValueError(f"the document store holds {len(store)} documents, the index {self.n_docs}")
        self.store = store
        self.docnos.doc_store = store  # Results of this index carry it: Results.with_text()

    def doc(self, docno: str) -> dict:
        """{"docno", "title", "text"} of a document, from the store (``store="text"`` at build).

        ``KeyError`` naming the docno when it is unknown; ``LookupError`` when the index has no store.
        """
        if self.store is None:
            raise LookupError(f"{self.path or 'this index'} has no document store (build it with --store text)")
        title, text = self.store.get(self.doc_id(str(docno)))
        return {"docno": str(docno), "title": title, "text": text}

    def doc_id(self, docno: str) -> int:
        """Internal id of ``docno`` (``KeyError`` naming it when absent), by binary search over
        ``docno_order`` (ids sorted by docno, UTF-8 byte order = code point order): O(log n)
        docno decodes and no reverse map of every docno in memory (8.8M would cost ~1 GB)."""
        order, names = self.arrays["docno_order"], self.docnos
        lo, hi = 0, len(order)
        while lo < hi:
            mid = (lo + hi) // 2
            if names[int(order[mid])] < docno:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(order) and names[int(order[lo])] == docno:
            return int(order[lo])
        raise KeyError(f"unknown document id {docno!r}")

    # -- searching -------------------------------------------------------------------------
    def search(self, queries, k: int = 10, threads: int = 1, algorithm: str = "maxscore",
               ties: str = "docno") -> Results:
        """Top-``k`` documents per query. ``queries``: dict {qid: text}, list of texts or DataFrame.

        ``algorithm``: ``maxscore`` (document-at-a-time Block-Max MaxScore, default),
        ``windowed`` (bulk MaxScore over windows of documents, Lucene 9's approach) or
        ``exhaustive``; all return identical results. ``ties``: equal scores are ordered by docno string
        (``docno``, Anserini's rule, the default) or by internal id (``id``, input order).
        Returns :class:`Results` with (nq, k) ids and scores.
        """
        qids, texts = as_queries(queries)
        if self.params["analyzer"] == "pretokenized":
            return self.search_terms(dict(zip(qids, [t.split() for t in texts])), k, threads, algorithm, ties)
        k, threads = check_k(k, self.n_docs), check_threads(threads)
        scores, ids = self._searcher.search(texts, k, algorithm, threads, _ties_by_docno(ties))
        no_hits = np.flatnonzero(ids[:, 0] < 0) if ids.ndim == 2 and ids.shape[1] else []
        if len(no_hits):  # only these are re-analyzed, to tell "no terms" from "no match"
            kind = self.params["analyzer"]
            _warn_no_terms([qids[i] for i in no_hits if not analysis.analyze(texts[i], kind)], len(qids))
        return Results(qids, ids, scores, self.docnos, texts)

    def search_terms(self, queries: dict, k: int = 10, threads: int = 1, algorithm: str = "maxscore",
                     ties: str = "docno") -> Results:
        """Search with already-analyzed queries: {qid: [term, ...]} (repeats raise the weight)."""
        qids = [str(q) for q in queries]
        terms = [_terms(str(q), queries[q], "query") for q in queries]
        _warn_no_terms([q for q, t in zip(qids, terms) if not t], len(qids))
        k, threads = check_k(k, self.n_docs), check_threads(threads)
        scores, ids = self._searcher.search_terms(terms, k, algorithm, threads, _ties_by_docno(ties))
        return Results(qids, ids, scores, self.docnos, [" ".join(t) for t in terms])

    def analyze(self, text: str) -> list[str]:
        """The index terms this index's analyzer makes of ``text``."""
        if self.params["analyzer"] == "pretokenized":
            return text.split()
        return analysis.analyze(text, self.params["analyzer"])

    # -- term statistics (for feedback stages) ----------------------------------------------
    def term_id(self, term: str) -> int:
        """Id of an index term, or -1."""
        return int(self._searcher.find_term(term))

    def terms(self) -> list[str]:
        """Every index term, in term id order (sorted by UTF-8 bytes)."""
        return self._searcher.terms()

    def df(self, term: str) -> int:
        t = self.term_id(term)
        return 0 if t < 0 else int(self.arrays["df"][t])

    def cf(self, term: str) -> int:
        """Collection frequency: the sum of the term's frequencies over its postings (O(df);
        the index stores no cf table)."""
        return int(self.postings(term)[1].sum(dtype=np.uint64))

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(doc ids (df,) uint32, term frequencies (df,) uint32) of an index term (empty if absent)."""
        t = self.term_id(term)
        if t < 0:
            return np.zeros(0, np.uint32), np.zeros(0, np.uint32)
        return self._searcher.postings(t)

    def term_score(self, term: str, tf: int, doc: int, boost: float = 1.0) -> float:
        """BM25 contribution of one term occurring ``tf`` times in internal document ``doc``."""
        t = self.term_id(term)
        if t < 0:
            raise KeyError(f"term {term!r} is not in the index")
        return float(self._searcher.score_one(t, boost, tf, doc))

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
        """Collection statistics and parameters."""
        n = int(self._stats["n_docs_with_terms"])
        return {
            **self.params,
            "n_docs": self.n_docs,
            "n_docs_with_terms": n,
            "n_empty_docs": self.n_docs - n,
            "n_terms": self.n_terms,
            "n_postings": int(self.arrays["df"].sum(dtype=np.uint64)),
            "total_length": int(self._stats["total_length"]),
            "avg_length": float(self._stats["total_length"]) / n if n else 0.0,
            "postings_bytes": int(self.arrays["postings"].nbytes),
            "index_bytes": self.nbytes,
        }

    def with_params(self, k1: float | None = None, b: float | None = None, scoring: str | None = None,
                    threads: int = 1) -> "BM25Index":
        """The same postings scored with other parameters (pruning bounds recomputed)."""
        params = dict(self.params)
        params.update({k: v for k, v in (("k1", k1), ("b", b), ("scoring", scoring)) if v is not None})
        arrays = dict(self.arrays)
        arrays["block_max_x"], arrays["multi_max_x"] = _core.bm25_block_maxima(
            self.arrays, self._stats, params["k1"], params["b"], params["scoring"], check_threads(threads),
            source=str(self.path or ""))
        view = BM25Index(arrays, self._stats, params, self.path, self.k)
        view._attach_store(self.store)
        view.docnos.source = self.docnos.source
        return view

    def __repr__(self) -> str:
        p = self.params
        return f"BM25Index(n_docs={self.n_docs}, k1={p['k1']}, b={p['b']}, scoring={p['scoring']!r})"

    # -- files -----------------------------------------------------------------------------
    def save(self, path, overwrite: bool = False) -> None:
        """Save as an index directory (atomic: a crash never leaves a half-written index).

        An existing ``path`` must be a Winnow index and ``overwrite`` true; anything else
        is refused with ``ValueError`` (see ``winnow.index.format.save_directory``).
        """

        def write(tmp: Path) -> None:
            bm25_layout.write_arrays(tmp, self.arrays)
            if self.store is not None:
                self.store.save_into(tmp)

        meta = {"format": FORMAT, "format_version": list(FORMAT_VERSION), "params": self.params,
                "stats": {k: int(v) for k, v in self._stats.items()}, "n_terms": self.n_terms,
                "n_blocks": int(len(self.arrays["block_last_doc"]))}
        if self.store is not None:
            meta["store"] = dict(self.store.info)
        save_directory(path, write, meta, overwrite)
        self.path = Path(path)

    @classmethod
    def load(cls, path, mmap: bool = False, k1: float | None = None, b: float | None = None,
             scoring: str | None = None, verify: bool | None = None) -> "BM25Index":
        """Open a saved index; ``mmap=True`` maps the files instead of reading them.

        Every load checks meta.json (with its checksum), every file's size, the binary
        sections' headers and every offset against the array sizes before any search runs.
        ``verify`` (default ``not mmap``) also checksums every payload byte; an unverified
        mapped load never crashes on a damaged index but may return different results for
        a flipped payload byte until verified (``verify=True``, ``winnow index verify``).
        """
        path = Path(path)
        # checksums, when asked for, are taken by read_arrays as it reads each file
        meta = open_index(path, FORMAT, FORMAT_VERSION[0], mmap, verify=False)
        verify = (not mmap) if verify is None else bool(verify)
        arrays = bm25_layout.read_arrays(meta, path, mmap, verify)
        invariants.verify_structure(meta, path, mmap, verify)
        invariants.check_bm25(arrays, meta.get("stats"), meta.get("params"), path, mmap)  # O(terms + blocks + docs)
        try:
            index = cls(arrays, meta["stats"], meta["params"], path)
        except IndexFormatError:
            raise  # from the core, already naming the path
        except ValueError as exc:
            raise IndexFormatError(f"{path}: {exc}") from None
        index.docnos.source = str(path / "docno_bytes.bin")
        if "store" in meta:  # the store's files were checksummed with the others above when verifying
            index._attach_store(doc_store.DocStore.load(path, meta["store"], index.n_docs, mmap))
        if k1 is not None or b is not None or scoring is not None:
            index = index.with_params(k1, b, scoring)
        return index


register_format(FORMAT)(BM25Index)
