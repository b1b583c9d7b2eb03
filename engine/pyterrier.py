"""PyTerrier interop: Winnow stages as ``pt.Transformer``s and PyTerrier transformers as Winnow stages.

Needs the optional extra ``pip install "winnow[pyterrier]"`` (python-terrier 1.x). Nothing
here touches Terrier's Java side: PyTerrier 1.x starts no JVM unless a Terrier component is
used, and ``pt.init()`` is not needed.

Column conventions (PyTerrier's):

- a *topics* frame has ``qid`` and ``query`` (further columns are carried to the output);
- a *results* frame has ``qid``, ``query``, ``docno``, ``score`` and ``rank`` (from 0, best first).

:func:`transformer` (or ``stage.to_pyterrier()``) wraps a Winnow stage: given topics, a
retriever searches; given results (a ``docno`` column), the stage re-scores them (a missing
``score`` column is made from ``rank`` or the row order, so the incoming order is kept).
:func:`from_pyterrier` wraps any PyTerrier transformer as a Winnow :class:`Stage`, so it
composes with ``>>`` in Winnow pipelines.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

try:
    import pyterrier as pt
except ImportError as exc:  # the optional extra is absent: say how to get it
    raise ImportError('winnow.pyterrier needs PyTerrier: pip install "winnow[pyterrier]"') from exc

from winnow.results import Results
from winnow.stage import Stage, as_queries

TOPIC_COLUMNS = ["qid", "query"]
RESULT_COLUMNS = ["qid", "query", "docno", "score", "rank"]


class WinnowTransformer(pt.Transformer):
    """A Winnow :class:`Stage` (retriever, reranker or pipeline) as a PyTerrier transformer."""

    def __init__(self, stage: Stage):
        if not isinstance(stage, Stage):
            raise ValueError(f"transformer() needs a Winnow Stage or index, got {type(stage).__name__}")
        self.stage = stage

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in TOPIC_COLUMNS if c not in inp.columns]
        if missing:
            raise ValueError(f"input DataFrame lacks column(s) {missing}; found {list(inp.columns)}")
        topics = inp.drop_duplicates("qid", keep="first")[TOPIC_COLUMNS]
        extra = [c for c in inp.columns if c not in RESULT_COLUMNS]
        if "docno" in inp.columns:  # results in: the stage re-scores them
            out = self.stage(topics, _results_from_frame(inp)).to_dataframe()
            keys = ["qid", "docno"]
        else:  # topics in: a retriever searches
            out = self.stage(topics, None).to_dataframe()
            keys = ["qid"]
        # the query texts of the input, also where a stage's Results dropped them
        out["query"] = out["qid"].map(dict(zip(topics["qid"].astype(str), topics["query"]))).astype(str)
        if extra:  # PyTerrier carries the input's other columns (query_0, features, ...) along
            carried = inp[keys + extra].drop_duplicates(keys).astype({k: str for k in keys})
            out = out.merge(carried, on=keys, how="left")
        return out

    def __repr__(self) -> str:
        return f"winnow({self.stage!r})"


def transformer(stage_or_index: Stage) -> WinnowTransformer:
    """``stage_or_index`` (any Winnow retriever, index, reranking stage or pipeline) as a ``pt.Transformer``."""
    return WinnowTransformer(stage_or_index)


class PyTerrierStage(Stage):
    """A PyTerrier transformer as a Winnow stage: DataFrame in, :class:`Results` out.

    First in a pipeline it gets the topics frame (qid, query); after another stage it gets
    that stage's results frame (qid, query, docno, score, rank). Its output frame needs
    qid, docno and score. The incoming Results' docno table (and with it the document
    store) is kept when every returned docno is one of its documents.
    """

    def __init__(self, transformer, k: int | None = None):
        if not isinstance(transformer, pt.Transformer):
            raise ValueError(f"from_pyterrier() needs a pt.Transformer, got {type(transformer).__name__}")
        self.transformer, self.k = transformer, k

    def transform(self, queries, results: Results | None) -> Results:
        qids, texts = as_queries(queries)
        if results is None:
            frame = pd.DataFrame({"qid": qids, "query": texts})
        else:
            frame = results.to_dataframe()
            text_of = dict(zip(qids, texts))
            frame["query"] = [text_of.get(q, t) for q, t in zip(frame["qid"], frame["query"])]
        out = self.transformer(frame)
        missing = [c for c in ("qid", "docno", "score") if c not in out.columns]
        if missing:
            raise ValueError(f"{self.transformer!r} returned a DataFrame without column(s) {missing}; "
                             f"found {list(out.columns)}")
        ranked = Results.from_dataframe(out, k=self.k)
        # qids with no returned rows still get a (padded) row, in the incoming order
        ranked = _align_qids(ranked, results.qids if results is not None else qids)
        if results is not None:
            ranked = _with_docnos_of(ranked, results)
        return ranked

    def __repr__(self) -> str:
        return f"pyterrier({self.transformer!r})"


def from_pyterrier(transformer, k: int | None = None) -> PyTerrierStage:
    """Any PyTerrier transformer as a Winnow :class:`Stage` (``k``: keep at most k hits per query)."""
    return PyTerrierStage(transformer, k=k)


# -- helpers ------------------------------------------------------------------------------------
def _results_from_frame(inp: pd.DataFrame) -> Results:
    """Results from a PyTerrier results frame; without ``score``, rank order (or row order) decides."""
    if "score" in inp.columns:
        return Results.from_dataframe(inp)
    frame = inp.copy()
    if "rank" in frame.columns:
        frame["score"] = -frame["rank"].astype(np.float64)
    else:
        frame["score"] = -frame.groupby("qid", sort=False).cumcount().astype(np.float64)
    return Results.from_dataframe(frame)


def _align_qids(ranked: Results, qids: list[str]) -> Results:
    """``ranked`` with one row per qid in ``qids`` order (queries the transformer dropped: padded)."""
    if ranked.qids == list(qids):
        return ranked
    position = {q: i for i, q in enumerate(ranked.qids)}
    aligned = Results.empty(qids, ranked.k, ranked.docnos)
    texts = ranked.queries
    for i, q in enumerate(qids):
        j = position.get(q)
        if j is not None:
            aligned.ids[i], aligned.scores[i] = ranked.ids[j], ranked.scores[j]
    if texts is not None:
        text_of = dict(zip(ranked.qids, texts))
        aligned.queries = [text_of.get(q, "") for q in qids]
    return aligned


def _with_docnos_of(ranked: Results, source: Results) -> Results:
    """Re-express ``ranked``'s ids in ``source``'s docno table when it names every document."""
    valid = ranked.ids >= 0
    names = ranked.docnos.lookup(ranked.ids[valid])
    try:
        mapped = [source.docnos.index_of(n) for n in names]
    except KeyError:
        return ranked  # the transformer brought new documents: keep its own table
    ids = ranked.ids.copy()
    ids[valid] = mapped
    return Results(ranked.qids, ids, ranked.scores, source.docnos, ranked.queries)
