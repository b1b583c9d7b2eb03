"""``Results``: the one result type every index and stage produces.

Layout: ``qids`` (nq,) query ids; ``ids`` (nq, k) int64 internal document ids and
``scores`` (nq, k) float32, best first, padded with id -1 and score -inf; ``docnos`` maps
internal ids to external document ids; ``queries`` (nq,) optional query texts.
Higher score is better everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from winnow.docnos import DocnoTable, as_docno_table

PAD_ID = -1
PAD_SCORE = -np.inf


@dataclass
class Results:
    qids: list[str]
    ids: np.ndarray
    scores: np.ndarray
    docnos: DocnoTable = field(default_factory=lambda: DocnoTable.from_list([]))
    queries: list[str] | None = None

    def __post_init__(self) -> None:
        self.qids = [str(q) for q in self.qids]
        self.ids = np.asarray(self.ids)
        self.scores = np.asarray(self.scores)
        if self.ids.ndim != 2 or self.scores.ndim != 2:
            raise ValueError(f"ids and scores must be 2-D (nq, k), got {self.ids.shape} and {self.scores.shape}")
        if self.ids.shape != self.scores.shape:
            raise ValueError(f"ids {self.ids.shape} and scores {self.scores.shape} differ in shape")
        if self.ids.shape[0] != len(self.qids):
            raise ValueError(f"{len(self.qids)} query ids for {self.ids.shape[0]} result rows")
        if self.ids.dtype != np.int64:
            self.ids = self.ids.astype(np.int64)
        if self.scores.dtype != np.float32:
            self.scores = self.scores.astype(np.float32)
        self.docnos = as_docno_table(self.docnos)
        if self.queries is not None:
            self.queries = [str(q) for q in self.queries]
            if len(self.queries) != len(self.qids):
                raise ValueError(f"{len(self.queries)} query texts for {len(self.qids)} query ids")

    # -- shape -----------------------------------------------------------------------------
    @property
    def nq(self) -> int:
        return len(self.qids)

    @property
    def k(self) -> int:
        return int(self.ids.shape[1])

    def __len__(self) -> int:
        return self.nq

    def counts(self) -> np.ndarray:
        """(nq,) number of real (non-padding) hits per query."""
        return (self.ids >= 0).sum(axis=1)

    def cutoff(self, k: int) -> "Results":
        """The first ``k`` hits of every query (fewer columns if k < current k)."""
        if k < 0:
            raise ValueError(f"cutoff k must be >= 0, got {k}")
        return Results(self.qids, self.ids[:, :k].copy(), self.scores[:, :k].copy(), self.docnos, self.queries)

    @classmethod
    def empty(cls, qids: Sequence[str], k: int, docnos=None, queries=None) -> "Results":
        nq = len(qids)
        return cls(list(qids), np.full((nq, k), PAD_ID, np.int64), np.full((nq, k), PAD_SCORE, np.float32),
                   docnos if docnos is not None else DocnoTable.from_list([]), queries)

    # -- conversions -----------------------------------------------------------------------
    def iter_rows(self) -> Iterable[tuple[str, str, int, float]]:
        """Yield (qid, docno, rank starting at 1, score) for every real hit, best first."""
        for qi, qid in enumerate(self.qids):
            row_ids = self.ids[qi]
            valid = row_ids >= 0
            names = self.docnos.lookup(row_ids[valid])
            for rank, (docno, score) in enumerate(zip(names, self.scores[qi][valid]), start=1):
                yield qid, docno, rank, float(score)

    def to_dict(self) -> dict[str, dict[str, float]]:
        """{qid: {docno: score}}, the shape evaluation tools take."""
        out: dict[str, dict[str, float]] = {qid: {} for qid in self.qids}
        for qid, docno, _rank, score in self.iter_rows():
            out[qid][docno] = score
        return out

    @classmethod
    def from_dict(cls, run: Mapping[str, Mapping[str, float]], k: int | None = None,
                  queries: Mapping[str, str] | None = None) -> "Results":
        """Build from {qid: {docno: score}}; hits sorted by score (ties: docno order of appearance)."""
        qids = list(run)
        table = DocnoTable.builder()
        rows = []
        for qid in qids:
            items = sorted(run[qid].items(), key=lambda kv: -kv[1])
            rows.append([(table.add(d), s) for d, s in items])
        width = max((len(r) for r in rows), default=0) if k is None else k
        res = cls.empty(qids, width, table.build(), [queries[q] for q in qids] if queries else None)
        for qi, row in enumerate(rows):
            row = row[:width]
            if row:
                res.ids[qi, : len(row)] = [i for i, _ in row]
                res.scores[qi, : len(row)] = [s for _, s in row]
        return res

    def to_trec(self, path, tag: str = "winnow", score_format: str = "exact", overwrite: bool = False) -> None:
        """Write a TREC run file ``qid Q0 docno rank score tag`` (atomic: temporary sibling,
        fsync, rename). An existing run file at ``path`` is replaced only with
        ``overwrite=True``; anything else there is refused (``ValueError``).

        ``score_format``: ``exact`` writes the float32 scores; ``anserini`` writes them as
        Anserini does (rounded to 1e-4, ties perturbed by 1e-6 so that trec_eval keeps the
        rank order), for runs byte-comparable with pyserini's. A query without hits (e.g. one
        that analyzes to no terms) has no lines, since the format cannot hold it: an
        :class:`~winnow.errors.InputWarning` names such queries instead.
        """
        from winnow.readers import check_run_output, write_run

        if score_format not in ("exact", "anserini"):
            raise ValueError(f"score_format must be 'exact' or 'anserini', got {score_format!r}")
        if not hasattr(path, "write"):
            check_run_output(path, overwrite)  # before any work
        empty = [q for q, n in zip(self.qids, self.counts()) if n == 0]
        if empty:  # a run file has no way to hold a query without lines: this warning is the record
            import warnings

            from winnow.errors import InputWarning
            from winnow.validation import name_some

            warnings.warn(f"{len(empty)} of {self.nq} queries have no results, so the run file has no lines "
                          f"for them (evaluation scores a judged query without lines 0): {name_some(empty)}",
                          InputWarning, stacklevel=2)
        if score_format == "anserini":  # Anserini prints "%.6f"
            rows = ((q, d, r, f"{s:.6f}") for q, d, r, s in _anserini_rows(self.iter_rows()))
        else:  # float32 scalars print in their shortest exact form
            rows = ((q, d, r, np.float32(s)) for q, d, r, s in self.iter_rows())
        write_run(path, rows, tag=tag, overwrite=overwrite)

    @classmethod
    def from_trec(cls, path, k: int | None = None) -> "Results":
        from winnow.readers import read_run

        return cls.from_dict(read_run(path), k=k)

    def to_dataframe(self):
        """PyTerrier-style DataFrame with columns qid, query, docno, score, rank (rank from 0)."""
        import pandas as pd

        texts = self.queries or [""] * self.nq
        text_of = dict(zip(self.qids, texts))
        rows = [(qid, text_of[qid], docno, score, rank - 1) for qid, docno, rank, score in self.iter_rows()]
        return pd.DataFrame(rows, columns=["qid", "query", "docno", "score", "rank"])

    def with_text(self, index=None):
        """:meth:`to_dataframe` plus ``title`` and ``text`` columns, from a document store.

        The store is the one of the index these Results came from (kept through stages that
        keep its docnos); pass ``index`` (an index built with ``store="text"``) for Results
        from elsewhere: its documents are then found by docno. ``LookupError`` when there is
        no store; ``KeyError`` for a docno the index does not have.
        """
        df = self.to_dataframe()
        if index is None:
            store = self.docnos.doc_store
            if store is None:
                raise LookupError("these Results carry no document store (the index was built without "
                                  "--store text, or a stage made new docnos): pass with_text(index)")
            ids = [int(i) for i in self.ids[self.ids >= 0]]  # iter_rows order: row by row, best first
            fields = [store.get(i) for i in ids]
        else:
            fields = [(d["title"], d["text"]) for d in map(index.doc, df["docno"])]
        df["title"] = [t for t, _ in fields]
        df["text"] = [x for _, x in fields]
        return df

    @classmethod
    def from_dataframe(cls, df, k: int | None = None) -> "Results":
        """Inverse of :meth:`to_dataframe`; needs columns qid, docno, score (query optional)."""
        missing = [c for c in ("qid", "docno", "score") if c not in df.columns]
        if missing:
            raise ValueError(f"DataFrame lacks column(s) {missing}; found {list(df.columns)}")
        run: dict[str, dict[str, float]] = {}
        queries: dict[str, str] = {}
        for row in df.itertuples(index=False):
            qid = str(row.qid)
            run.setdefault(qid, {})[str(row.docno)] = float(row.score)
            if "query" in df.columns:
                queries[qid] = str(row.query)
        return cls.from_dict(run, k=k, queries=queries or None)


def anserini_adjust(scores: Sequence[float]) -> np.ndarray:
    """Anserini's ScoreTiesAdjusterReranker on one ranked list (best first), in float32:
    round to 1e-4 (Java Math.round), then subtract 1e-6 per position inside a run of scores
    that the rounding made (nearly) equal. Returns float32 scores of the same length."""
    s = np.asarray(scores, dtype=np.float32)
    # The float score times 1e4 is rounded in double precision (half up), as observed in
    # pyserini 0.21.0 runs: e.g. 2.34795f (= 2.3479499816...) becomes 2.3479, not 2.3480.
    product = s.astype(np.float64) * 1e4
    rounded = (np.floor(product + 0.5) / 1e4).astype(np.float32)
    out = rounded.copy()
    dup = 0
    step, gap = np.float32(1e-6), np.float32(1e-4)
    for i in range(1, len(out)):
        if out[i - 1] - out[i] > gap:
            dup = 0
        else:
            dup += 1
            out[i] = np.float32(out[i] - np.float32(step * np.float32(dup)))
    return out


def _anserini_rows(rows):
    """Group iter_rows() output per query and apply :func:`anserini_adjust`."""
    current, batch = None, []
    for row in rows:
        if row[0] != current and batch:
            yield from _adjusted(batch)
            batch = []
        current = row[0]
        batch.append(row)
    if batch:
        yield from _adjusted(batch)


def _adjusted(batch):
    adjusted = anserini_adjust([r[3] for r in batch])
    for (qid, docno, rank, _), score in zip(batch, adjusted):
        yield qid, docno, rank, float(score)
