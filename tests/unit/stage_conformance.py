"""Conformance tests every stage must pass (DESIGN.md section 1: the one ``Results`` contract).

Usage: a stage's test class inherits :class:`StageConformance` and implements the hooks::

    class TestMyReranker(StageConformance):
        def make_stage(self):
            return MyReranker(...)

        def make_input(self):          # rerankers: (queries, results) to rerank
            return queries, first_stage_results

    class TestMyRetriever(StageConformance):
        QUERIES = {"q1": "text that matches", "q2": "another"}
        NO_HIT_QUERY = "text that matches nothing"

        def make_stage(self):
            return MyIndex.build(...)

A retriever (``make_input`` returns None) is driven through ``search(queries, k=k)``;
any other stage through ``stage(queries, results)``. Override :meth:`apply` for stages
that need something else.

The contract checked: (nq, k) int64 ids / float32 scores, padding id -1 / score -inf after
the real hits, scores non-increasing over real hits, no document twice in a row, qids in
input order, an empty query set, a query without hits, k beyond the candidates, and (for
rerankers) output documents drawn from the input documents of the same query.
"""
from __future__ import annotations

import numpy as np

from winnow.results import PAD_ID, Results
from winnow.stage import Retriever, Stage, as_queries


def check_results_contract(res: Results, nq: int | None = None, k: int | None = None) -> None:
    """Structural invariants of any ``Results`` (usable from any test)."""
    assert isinstance(res, Results)
    assert res.ids.dtype == np.int64, res.ids.dtype
    assert res.scores.dtype == np.float32, res.scores.dtype
    assert res.ids.ndim == 2 and res.ids.shape == res.scores.shape
    assert res.ids.shape[0] == len(res.qids)
    if nq is not None:
        assert res.nq == nq
    if k is not None:
        assert res.ids.shape == (res.nq, k), (res.ids.shape, (res.nq, k))
    if res.queries is not None:
        assert len(res.queries) == res.nq
    n_docs = len(res.docnos)
    for qi in range(res.nq):
        ids, scores = res.ids[qi], res.scores[qi]
        real = ids >= 0
        n = int(real.sum())
        # real hits first, then padding (id -1, score -inf) only
        assert real[:n].all() and not real[n:].any(), f"row {qi}: padding before a real hit: {ids}"
        assert (ids[n:] == PAD_ID).all(), f"row {qi}: padding ids {ids[n:]}"
        assert np.isneginf(scores[n:]).all(), f"row {qi}: padding scores {scores[n:]}"
        # best first
        assert not np.isnan(scores[:n]).any(), f"row {qi}: NaN score"
        assert (np.diff(scores[:n]) <= 0).all(), f"row {qi}: scores not best-first: {scores[:n]}"
        # every real id names a document, at most once per query
        assert (ids[:n] < n_docs).all(), f"row {qi}: id beyond the docno table ({n_docs})"
        assert len(set(ids[:n].tolist())) == n, f"row {qi}: a document appears twice: {ids[:n]}"


def widen(res: Results, extra: int) -> Results:
    """``res`` with ``extra`` padding columns appended (k beyond the candidates)."""
    nq = res.nq
    ids = np.concatenate([res.ids, np.full((nq, extra), PAD_ID, np.int64)], axis=1)
    scores = np.concatenate([res.scores, np.full((nq, extra), -np.inf, np.float32)], axis=1)
    return Results(res.qids, ids, scores, res.docnos, res.queries)


def select_rows(res: Results, rows: list[int]) -> Results:
    return Results([res.qids[i] for i in rows], res.ids[rows], res.scores[rows], res.docnos,
                   [res.queries[i] for i in rows] if res.queries is not None else None)


def with_empty_row(res: Results, qid: str, text: str) -> Results:
    """``res`` plus one query whose row is all padding (a query without candidates)."""
    k = res.k
    ids = np.concatenate([res.ids, np.full((1, k), PAD_ID, np.int64)])
    scores = np.concatenate([res.scores, np.full((1, k), -np.inf, np.float32)])
    queries = (res.queries + [text]) if res.queries is not None else None
    return Results(res.qids + [qid], ids, scores, res.docnos, queries)


class StageConformance:
    """Mixin of contract tests; see the module docstring for the hooks."""

    #: retrievers: queries that have hits ({qid: text}); rerankers take them from make_input
    QUERIES: dict[str, str] = {}
    #: retrievers: a query text that matches no document
    NO_HIT_QUERY: str = "zzqxj"
    #: depth used by the tests; K_LARGE must exceed every query's candidates
    K = 3
    K_LARGE = 10_000
    #: indexes cap k at their size (issue 12): min(k, documents) columns instead of k
    CAPS_K = False

    # -- hooks -------------------------------------------------------------------------------
    def make_stage(self) -> Stage:
        raise NotImplementedError

    def make_input(self) -> tuple[dict, Results] | None:
        """(queries, results) to feed a reranker; None for a retriever."""
        return None

    def apply(self, stage: Stage, queries, results: Results | None, k: int) -> Results:
        if isinstance(stage, Retriever) and results is None:
            return stage.search(queries, k=k)
        return stage(queries, results)

    # -- helpers -----------------------------------------------------------------------------
    @property
    def is_retriever(self) -> bool:
        return self.make_input() is None

    def _queries(self) -> dict[str, str]:
        if self.is_retriever:
            assert self.QUERIES, "a retriever's test class must set QUERIES"
            return dict(self.QUERIES)
        queries, _ = self.make_input()
        qids, texts = as_queries(queries)
        return dict(zip(qids, texts))

    def _run(self, queries: dict[str, str], results: Results | None, k: int) -> Results:
        out = self.apply(self.make_stage(), queries, results, k)
        width = min(k, len(out.docnos)) if self.CAPS_K else k
        check_results_contract(out, nq=len(queries), k=width if self.is_retriever else None)
        assert out.qids == list(queries)
        return out

    # -- the contract ------------------------------------------------------------------------
    def test_contract_shapes_and_dtypes(self):
        queries = self._queries()
        inp = None if self.is_retriever else self.make_input()[1]
        out = self._run(queries, inp, self.K)
        assert out.counts().sum() > 0, "the fixture queries should find something"

    def test_qids_order_preserved(self):
        queries = self._queries()
        order = list(reversed(list(queries)))
        rev = {q: queries[q] for q in order}
        if self.is_retriever:
            out = self._run(rev, None, self.K)
        else:
            res = self.make_input()[1]
            out = self._run(rev, select_rows(res, [res.qids.index(q) for q in order]), self.K)
        assert out.qids == order

    def test_empty_query_set(self):
        if self.is_retriever:
            out = self._run({}, None, self.K)
            assert out.ids.shape == (0, self.K)
        else:
            res = self.make_input()[1]
            out = self._run({}, select_rows(res, []), self.K)
            assert out.nq == 0

    def test_query_without_hits(self):
        queries = self._queries()
        nohit = "__no_hits__"
        queries[nohit] = self.NO_HIT_QUERY
        if self.is_retriever:
            out = self._run(queries, None, self.K)
        else:
            res = with_empty_row(self.make_input()[1], nohit, self.NO_HIT_QUERY)
            out = self._run(queries, res, self.K)
        row = out.qids.index(nohit)
        assert (out.ids[row] == PAD_ID).all() and np.isneginf(out.scores[row]).all()
        assert out.counts()[[i for i in range(out.nq) if i != row]].sum() > 0

    def test_k_beyond_candidates_pads(self):
        queries = self._queries()
        if self.is_retriever:
            out = self._run(queries, None, self.K_LARGE)
            assert out.k == (min(self.K_LARGE, len(out.docnos)) if self.CAPS_K else self.K_LARGE)
            assert (out.counts() < out.k).all(), "K_LARGE must exceed the candidates"
        else:  # the input carries 7 padding columns beyond its candidates
            res = widen(self.make_input()[1], 7)
            out = self._run(queries, res, self.K_LARGE)
            assert (out.counts() <= res.counts()).all()
        # check_results_contract already verified the padding is id -1 / score -inf

    def test_ids_preserved(self):
        """Rerankers only return documents they were given (compared by docno, per query)."""
        if self.is_retriever:
            return
        queries, res = self.make_input()
        out = self._run(dict(zip(*as_queries(queries))), res, self.K)
        for qi, qid in enumerate(out.qids):
            got = set(out.docnos.lookup(out.ids[qi][out.ids[qi] >= 0]))
            ri = res.qids.index(qid)
            given = set(res.docnos.lookup(res.ids[ri][res.ids[ri] >= 0]))
            assert got <= given, f"{qid}: {got - given} not among the input documents"

    def test_deterministic(self):
        queries = self._queries()
        inp = None if self.is_retriever else self.make_input()[1]
        a = self._run(queries, inp, self.K)
        b = self._run(queries, inp, self.K)
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.scores, b.scores)
