"""Stages and pipelines (PyTerrier's habit): ``a >> b`` composes, ``a % k`` cuts off.

A stage maps ``(queries, results) -> Results``. A retriever is a stage that ignores its
input results and searches an index (``search(queries, k)``); it is also a stage, so
``bm25 >> rerank`` and ``rrf(bm25, dense) % 100`` read as pipelines.

``queries`` is anything :func:`as_queries` accepts: a dict {qid: text}, a list of texts
(qids "0", "1", ...), or a DataFrame with ``qid`` and ``query`` columns.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from winnow.results import Results
from winnow.validation import check_texts


def as_queries(queries) -> tuple[list[str], list[str]]:
    """Normalise ``queries`` to (qids, texts).

    A text that is not a ``str`` (None, a DataFrame's NaN) or holds a lone surrogate is a
    ValueError naming the query id: ``str()`` would search for the word "None" or "nan".
    """
    if isinstance(queries, str):
        qids, texts = ["0"], [queries]
    elif isinstance(queries, Mapping):
        qids, texts = [str(q) for q in queries], list(queries.values())
    elif hasattr(queries, "columns"):  # a DataFrame
        missing = [c for c in ("qid", "query") if c not in queries.columns]
        if missing:
            raise ValueError(f"queries DataFrame lacks column(s) {missing}; found {list(queries.columns)}")
        qids, texts = [str(q) for q in queries["qid"]], list(queries["query"])
    elif isinstance(queries, Sequence):
        qids, texts = [str(i) for i in range(len(queries))], list(queries)
    else:
        raise ValueError(f"queries must be a dict, a list of texts or a DataFrame, got {type(queries).__name__}")
    check_texts(qids, texts, "query")
    return qids, [str(t) for t in texts]


class Stage:
    """Base class: subclasses implement ``transform(queries, results) -> Results``."""

    def transform(self, queries, results: Results | None) -> Results:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, queries, results: Results | None = None) -> Results:
        return self.transform(queries, results)

    def __rshift__(self, other: "Stage") -> "Pipeline":
        if not isinstance(other, Stage):
            raise ValueError(f"can only compose a Stage with a Stage, got {type(other).__name__}")
        return Pipeline([self, other])

    def __mod__(self, k: int) -> "Pipeline":
        return Pipeline([self, Cutoff(k)])

    def __repr__(self) -> str:
        return type(self).__name__

    def to_pyterrier(self):
        """This stage as a ``pt.Transformer`` (needs the ``pyterrier`` extra); see :mod:`winnow.pyterrier`."""
        from winnow.pyterrier import transformer

        return transformer(self)


class Retriever(Stage):
    """A stage that searches an index; ``k`` is the depth it retrieves when used as a stage."""

    k: int = 1000

    def search(self, queries, k: int = 10) -> Results:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, queries, results: Results | None) -> Results:
        return self.search(queries, k=self.k)


class Pipeline(Stage):
    def __init__(self, stages: list[Stage]):
        flat: list[Stage] = []
        for s in stages:
            flat.extend(s.stages if isinstance(s, Pipeline) else [s])
        self.stages = flat

    def transform(self, queries, results: Results | None) -> Results:
        for stage in self.stages:
            results = stage(queries, results)
        return results

    def __repr__(self) -> str:
        return " >> ".join(repr(s) for s in self.stages)


class Cutoff(Stage):
    """Keep the first ``k`` hits of each query."""

    def __init__(self, k: int):
        if int(k) < 0:
            raise ValueError(f"cutoff k must be >= 0, got {k}")
        self.k = int(k)

    def transform(self, queries, results: Results | None) -> Results:
        if results is None:
            raise ValueError("Cutoff needs results from an earlier stage")
        return results.cutoff(self.k)

    def __repr__(self) -> str:
        return f"% {self.k}"
