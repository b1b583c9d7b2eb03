"""Evaluation of TREC-style runs against relevance judgements, on top of ``ir_measures``.

Conventions (the ones the reference numbers in ``shared/data/README.md`` use):

* Metric names are ``ir_measures`` names: ``nDCG@10``, ``RR@10``, ``AP``, ``R@1000``, ``P@10``,
  ``RR(rel=2)@10``, ...
* ``rel=2`` (the TREC DL binarisation, Anserini's ``-l 2``) is applied to every *binary* measure
  that takes a ``rel`` parameter (AP, RR, R, P, Success, ...) unless the name already sets one;
  it is **not** applied to nDCG, which keeps using all grades.
* Queries are the queries of the **qrels** (every qid with at least one judgement row, whatever
  its grade). A qrels query that the run does not answer scores 0 on every measure (trec_eval
  ``-c``). Run queries with no judgements are ignored. Each aggregate is the arithmetic mean over
  the qrels queries. ``ir_measures`` 0.4.3 already fills absent queries with the measure's
  default (0); this module does it itself as well, so the convention does not depend on it.
  A query a search kept with no results (e.g. one that analyzes to no terms) has no lines in a
  run file and scores 0 the same way.
* Cutoffs must be integers >= 1 (``P@0`` is a ValueError; pytrec_eval would abort the process).
  An :class:`~winnow.errors.InputWarning` is issued when the run answers no qrels query and
  when a measure's ``rel`` exceeds every grade in the qrels: all zeros by construction.
* Ties in score are broken as trec_eval does for **every** measure: score descending, then docno
  descending (the rank column of a run file is ignored). ``ir_measures`` alone is not
  consistent here: its pytrec_eval backend (AP, R, P, nDCG, RR without cutoff) follows trec_eval
  but its msmarco backend (``RR@k``) puts tied documents in ascending docno order. A query with
  tied scores is therefore re-scored by its trec_eval rank before it reaches ``ir_measures``
  (queries without ties are passed unchanged). The reference runs have no ties.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

from winnow.errors import InputFormatError, InputWarning

__all__ = [
    "DEFAULT_METRICS",
    "Run",
    "Qrels",
    "evaluate",
    "resolve_metrics",
    "load_run",
    "load_qrels",
]

#: Metrics used when the caller gives none (the CLI's defaults too).
DEFAULT_METRICS: Tuple[str, ...] = ("nDCG@10", "RR@10", "AP", "R@1000")

Run = Dict[str, Dict[str, float]]
Qrels = Dict[str, Dict[str, int]]
PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------- metrics


def resolve_metrics(metrics: Union[str, Iterable[str]], rel: Optional[int] = None) -> Dict[str, object]:
    """Parse metric names into ``ir_measures`` measures, applying ``rel`` to binary measures.

    Parameters
    ----------
    metrics : str or iterable of str
        ``ir_measures`` names, e.g. ``["nDCG@10", "RR(rel=2)@10", "AP"]``.
    rel : int, optional
        Minimum grade counted as relevant by binary measures whose name does not set ``rel``
        itself. nDCG (graded) is never changed.

    Returns
    -------
    dict
        ``{name as given: ir_measures.Measure}``, in the given order.

    Raises
    ------
    ValueError
        Unknown or malformed metric name, no metric, a duplicate name, a measure no installed
        backend computes, or a bad ``rel``.
    """
    import ir_measures

    if isinstance(metrics, str):
        metrics = [metrics]
    names = [str(m).strip() for m in metrics]
    if not names:
        raise ValueError("no metric given")
    if rel is not None:
        if isinstance(rel, bool) or not isinstance(rel, int) or rel < 1:
            raise ValueError(f"rel must be an integer >= 1, got {rel!r}")
    out: Dict[str, object] = {}
    for name in names:
        if name in out:
            raise ValueError(f"metric {name!r} given twice")
        try:
            measure = ir_measures.parse_measure(name)
        except (NameError, ValueError, SyntaxError, TypeError) as exc:
            raise ValueError(
                f"unknown metric {name!r} ({exc}); expected ir_measures names such as "
                "nDCG@10, RR@10, AP, R@1000, P@10, RR(rel=2)@10"
            ) from None
        cutoff = measure.params.get("cutoff")
        if cutoff is not None and (isinstance(cutoff, bool) or not isinstance(cutoff, (int, float))
                                   or cutoff < 1 or cutoff != int(cutoff)):
            # checked here: pytrec_eval aborts the whole process (an assertion) on a cutoff of 0
            raise ValueError(f"metric {name!r}: cutoff must be an integer >= 1, got {cutoff!r}")
        if rel is not None and "rel" in measure.SUPPORTED_PARAMS and "rel" not in measure.params:
            measure = measure(rel=rel)
        try:
            measure.validate_params()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"invalid metric {name!r}: {exc}") from None
        if not _computable(measure):
            raise ValueError(f"metric {name!r} is not computed by any installed ir_measures backend")
        out[name] = measure
    return out


def _computable(measure) -> bool:
    import ir_measures

    for provider in ir_measures.DefaultPipeline.providers:
        try:
            if provider.supports(measure) and provider.is_available():
                return True
        except Exception:  # a provider with a broken optional dependency: skip it
            continue
    return False


# --------------------------------------------------------------------------- readers


def _check_file(path: PathLike, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputFormatError(f"{what} file not found: {p}")
    if not p.is_file():
        raise InputFormatError(f"{what} path is not a file: {p}")
    return p


def _read_run_file(path: PathLike) -> Run:
    """TREC run ``qid Q0 docno rank score tag`` (gzip or plain) -> ``{qid: {docno: score}}``.

    Uses :func:`winnow.readers.read_run` (rank column ignored, a document repeated within a
    query is an error); falls back to ir_measures' reader if the readers are unavailable.
    """
    p = _check_file(path, "run")
    try:
        from winnow.readers import read_run
    except ImportError:  # pragma: no cover - the readers ship with winnow
        return _ir_measures_read(p, qrels=False)
    return read_run(p)


def _read_qrels_file(path: PathLike) -> Qrels:
    """Qrels -> ``{qid: {docno: grade}}``: BEIR tsv (3 tab-separated columns, header optional)
    when the first non-blank line has 3 tab-separated fields, TREC ``qid 0 docno grade`` else."""
    p = _check_file(path, "qrels")
    try:
        from winnow.readers import open_text, read_beir_qrels, read_qrels
    except ImportError:  # pragma: no cover
        qrels = _ir_measures_read(p, qrels=True)
    else:
        beir = False
        with open_text(p) as fh:
            for line in fh:
                if line.strip():
                    beir = len(line.split("\t")) == 3
                    break
        qrels = read_beir_qrels(p) if beir else read_qrels(p)
    if not qrels:
        raise InputFormatError(f"{p}: qrels file has no judgements")
    return qrels


def _ir_measures_read(p: Path, qrels: bool):  # pragma: no cover - fallback only
    import ir_measures

    out: dict = {}
    if qrels:
        for q in ir_measures.read_trec_qrels(str(p)):
            out.setdefault(q.query_id, {})[q.doc_id] = int(q.relevance)
    else:
        for r in ir_measures.read_trec_run(str(p)):
            out.setdefault(r.query_id, {})[r.doc_id] = float(r.score)
    return out


def load_run(run: Union[PathLike, Mapping]) -> Run:
    """Return a run as ``{qid: {docno: score}}`` (str keys, float scores).

    ``run`` is a path to a TREC run file (gzip or plain) or such a mapping already.
    """
    if isinstance(run, (str, os.PathLike)):
        return _read_run_file(run)
    if isinstance(run, Mapping):
        out: Run = {}
        for qid, docs in run.items():
            if not isinstance(docs, Mapping):
                raise ValueError(f"run[{qid!r}] must map docno -> score, got {type(docs).__name__}")
            conv = {}
            for docno, score in docs.items():
                value = float(score)
                if math.isnan(value):
                    raise ValueError(f"run[{qid!r}][{docno!r}] score is nan")
                conv[str(docno)] = value
            out[str(qid)] = conv
        return out
    raise TypeError(f"run must be a path or a dict {{qid: {{docno: score}}}}, got {type(run).__name__}")


def load_qrels(qrels: Union[PathLike, Mapping]) -> Qrels:
    """Return qrels as ``{qid: {docno: grade}}`` (str keys, int grades).

    ``qrels`` is a path (TREC qrels or BEIR tsv, header optional, gzip or plain) or a mapping.
    """
    if isinstance(qrels, (str, os.PathLike)):
        return _read_qrels_file(qrels)
    if isinstance(qrels, Mapping):
        out: Qrels = {}
        for qid, docs in qrels.items():
            if not isinstance(docs, Mapping):
                raise ValueError(f"qrels[{qid!r}] must map docno -> grade, got {type(docs).__name__}")
            conv = {}
            for docno, grade in docs.items():
                if isinstance(grade, float) and not grade.is_integer():
                    raise ValueError(f"qrels[{qid!r}][{docno!r}] grade {grade!r} is not an integer")
                conv[str(docno)] = int(grade)
            if conv:
                out[str(qid)] = conv
        if not out:
            raise ValueError("qrels has no judgements")
        return out
    raise TypeError(f"qrels must be a path or a dict {{qid: {{docno: grade}}}}, got {type(qrels).__name__}")


# --------------------------------------------------------------------------- evaluate


def _break_ties(docs: Dict[str, float]) -> Dict[str, float]:
    """Scores that order ``docs`` as trec_eval does (score desc, then docno desc), tie-free.

    Returned unchanged when no two scores are equal; otherwise each document's score becomes
    ``n - rank`` (rank 0-based in trec_eval's order).
    """
    if len(set(docs.values())) == len(docs):
        return docs
    ordered = sorted(docs.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    n = len(ordered)
    return {docno: float(n - i) for i, (docno, _) in enumerate(ordered)}



def _warn_pointless(run_d: Run, qrels_d: Qrels, run_judged: Run, measures: Dict[str, object]) -> None:
    """Warn (InputWarning) when every value is 0 by construction rather than by ranking: the
    run answers no qrels query, or a measure's ``rel`` exceeds every grade in the qrels."""
    if not run_judged:
        answered = [q for q, d in run_d.items() if d]
        if not answered:
            why = "the run has no results"
        else:
            one = len(answered) == 1
            some_run = ", ".join(repr(q) for q in answered[:3])
            some_qrels = ", ".join(repr(q) for q in list(qrels_d)[:3])
            why = (f"the run's {len(answered)} {'query' if one else 'queries'} (e.g. {some_run}) "
                   f"{'shares' if one else 'share'} none with the qrels' {len(qrels_d)} (e.g. {some_qrels})")
        warnings.warn(f"{why}: every measure is 0; check that run and qrels use the same query ids",
                      InputWarning, stacklevel=3)
    top = max(g for docs in qrels_d.values() for g in docs.values())
    unreached = [str(m) for m in measures.values() if getattr(m, "params", {}).get("rel") is not None
                 and m.params["rel"] > top]
    if unreached:
        verb = "is" if len(unreached) == 1 else "are"
        warnings.warn(f"no judgement reaches the relevance grade of {', '.join(unreached)} (the highest grade in "
                      f"the qrels is {top}): {verb} 0 for every query", InputWarning, stacklevel=3)


def evaluate(
    run: Union[PathLike, Mapping],
    qrels: Union[PathLike, Mapping],
    metrics: Union[str, Sequence[str]] = DEFAULT_METRICS,
    rel: Optional[int] = None,
    per_query: bool = False,
) -> Union[Dict[str, float], Tuple[Dict[str, float], Dict[str, Dict[str, float]]]]:
    """Evaluate a run against qrels.

    Parameters
    ----------
    run : path or dict
        TREC run file (``qid Q0 docno rank score tag``; gzip or plain) or ``{qid: {docno: score}}``.
    qrels : path or dict
        TREC qrels / BEIR qrels tsv (header optional), or ``{qid: {docno: grade}}``.
    metrics : str or sequence of str
        ``ir_measures`` names; default ``nDCG@10 RR@10 AP R@1000``.
    rel : int, optional
        Relevance threshold for binary measures (AP, RR, R, P, ...), e.g. 2 for TREC DL.
        Not applied to nDCG, nor to a name that sets ``rel`` itself.
    per_query : bool
        Also return the per-query values.

    Returns
    -------
    dict or (dict, dict)
        ``{metric: mean}`` keyed by the names as given; with ``per_query`` also
        ``{metric: {qid: value}}`` over every qrels query (0 where the run has no entry),
        qids in qrels order.
    """
    import ir_measures

    measures = resolve_metrics(metrics, rel)
    run_d = load_run(run)
    qrels_d = load_qrels(qrels)

    by_measure = {m: name for name, m in measures.items()}
    if len(by_measure) != len(measures):
        raise ValueError("two metric names resolve to the same measure: " + ", ".join(measures))
    values: Dict[str, Dict[str, float]] = {name: {} for name in measures}
    qids = list(qrels_d)
    # Only the judged queries matter; dropping the others also keeps ir_measures from
    # evaluating queries it would discard anyway.
    run_judged = {q: _break_ties(d) for q, d in run_d.items() if q in qrels_d and d}
    _warn_pointless(run_d, qrels_d, run_judged, measures)
    if run_judged:
        for metric in ir_measures.iter_calc(list(measures.values()), qrels_d, run_judged):
            name = by_measure[metric.measure]
            values[name][metric.query_id] = float(metric.value)
    per_q: Dict[str, Dict[str, float]] = {}
    agg: Dict[str, float] = {}
    for name in measures:
        got = values[name]
        # trec_eval -c: a judged query the run does not answer counts as 0.
        column = {q: got.get(q, 0.0) for q in qids}
        per_q[name] = column
        agg[name] = math.fsum(column.values()) / len(column)
    if per_query:
        return agg, per_q
    return agg
