"""TREC formats: SGML documents and topics, qrels, and run files (read and write).

* Documents: ``<DOC> <DOCNO>id</DOCNO> ... </DOC>``; the text is everything between
  ``</DOCNO>`` and ``</DOC>`` with tags (``<TEXT>``, ``<HEADLINE>`` ...) removed and
  whitespace collapsed to single spaces. Content before ``<DOCNO>`` is not text.
* Topics: ``<top> <num> Number: 401 <title> Topic: ... </top>``; field close tags are
  optional (as in the classic TREC topic files), ``Number:``/``Topic:`` prefixes dropped.
* Qrels: ``qid iter docno grade``, whitespace separated, integer grade.

Run files are in :mod:`winnow.readers.run`.
"""
from __future__ import annotations

import os
import re
from typing import Iterable, Iterator, Sequence

from winnow.readers.common import BadLineReport, LinePolicy
from winnow.readers.unique import collect_unique, unique_documents

__all__ = ["iter_qrels", "iter_trec_docs", "read_qrels", "read_trec_topics"]

_DOC_OPEN = re.compile(r"<DOC(?:\s[^>]*)?>", re.I)   # <DOC> but never <DOCNO>/<DOCHDR>
_DOC_CLOSE = re.compile(r"</DOC>", re.I)
_DOCNO = re.compile(r"<DOCNO>\s*(.*?)\s*</DOCNO>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")
_WS = re.compile(r"\s+")
# A single document larger than this means a missing </DOC>; refuse instead of eating memory.
MAX_DOC_CHARS = 64 * 1024 * 1024


def _doc_records(path: str, policy: LinePolicy) -> Iterator[tuple[str, str, str, int]]:
    """Yield ``(docno, text, path, lineno of <DOC>)`` for each SGML document of ``path``."""
    buf: list[str] | None = None  # pieces of the current document, None outside one
    size = start = 0
    for lineno, line in policy.lines():
        pos = 0
        while pos < len(line):
            if buf is None:
                m = _DOC_OPEN.search(line, pos)
                if line[pos:m.start() if m else len(line)].strip():
                    policy.bad(lineno, "text outside <DOC>...</DOC>; expected <DOC>")
                if m is None:
                    break
                buf, size, start, pos = [], 0, lineno, m.end()
                continue
            close = _DOC_CLOSE.search(line, pos)
            reopen = _DOC_OPEN.search(line, pos)
            if reopen and (close is None or reopen.start() < close.start()):
                policy.bad(start, "<DOC> without </DOC> before the next <DOC>; expected </DOC>")
                buf, size, start, pos = [], 0, lineno, reopen.end()
                continue
            piece = line[pos:close.start() if close else len(line)]
            buf.append(piece)
            size += len(piece) + 1
            if close is None:
                if size > MAX_DOC_CHARS:
                    policy.bad(start, f"document longer than {MAX_DOC_CHARS:,} characters; "
                               "expected </DOC>")
                    buf = None
                break
            pos = close.end()
            body = "\n".join(buf)
            buf = None
            m = _DOCNO.search(body)
            if m is None or not m.group(1):
                policy.bad(start, "document without <DOCNO>id</DOCNO>; expected one")
                continue
            if _DOCNO.search(body, m.end()):
                policy.bad(start, "document with two <DOCNO>; expected one")
                continue
            docno = m.group(1)
            if _WS.search(docno):
                policy.bad(start, f"DOCNO {docno!r} contains whitespace; expected one token")
                continue
            text = _WS.sub(" ", _TAG.sub(" ", body[m.end():])).strip()
            yield docno, text, path, start
    if buf is not None:
        policy.bad(start, "<DOC> not closed at end of file; expected </DOC>")


def iter_trec_docs(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
                   skip_bad_lines: bool = False, report: BadLineReport | None = None,
                   check_duplicates: bool = True) -> Iterator[tuple[str, str]]:
    """Stream ``(docno, text)`` from one or several TREC SGML document files.

    Parameters
    ----------
    paths : path or sequence of paths
        ``<DOC>`` files (plain or gzip), read in the given order; ids must be unique over
        all of them.
    skip_bad_lines : bool
        Skip and count malformed documents instead of raising ``InputFormatError``.
    report : BadLineReport, optional
        Receives skipped / empty / record counts.
    check_duplicates : bool
        Refuse repeated DOCNOs (keeps the id set in memory).

    Yields
    ------
    tuple of (str, str)
        ``(docno, text)`` in file order; empty documents are yielded and counted.
    """
    plist = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [
        os.fspath(p) for p in paths]
    policies = [LinePolicy(p, skip_bad_lines, report) for p in plist]
    rep = policies[0].report if policies else report
    for pol in policies[1:]:
        pol.report, pol.own = rep, report is None

    def records(skip: bool):
        for pol in policies:
            if skip:  # rescans re-read silently: errors were already reported
                pol = LinePolicy(pol.path, True, BadLineReport())
            yield from _doc_records(pol.path, pol)

    yield from unique_documents(records(False), lambda: records(True),
                                skip_bad_lines=skip_bad_lines, report=rep,
                                check_duplicates=check_duplicates)
    for pol in policies:
        pol.done()


_TOP_OPEN, _TOP_CLOSE = re.compile(r"<top>", re.I), re.compile(r"</top>", re.I)
_NUM = re.compile(r"<num>\s*(?:Number\s*:)?\s*([^\s<]+)", re.I)
_PREFIX = {"title": r"(?:Topic\s*:)?", "desc": r"(?:Description\s*:)?",
           "narr": r"(?:Narrative\s*:)?"}


def read_trec_topics(path: str | os.PathLike[str], field: str = "title", *,
                     skip_bad_lines: bool = False,
                     report: BadLineReport | None = None) -> dict[str, str]:
    """Read a TREC SGML topic file into ``{qid: text}`` in file order.

    Parameters
    ----------
    path : str or os.PathLike
        ``<top>`` file (plain or gzip).
    field : {"title", "desc", "narr"}
        Which field is the query text; whitespace is collapsed to single spaces.
    skip_bad_lines, report
        Bad-line policy (a topic without ``<num>`` or the field is malformed).

    Returns
    -------
    dict[str, str]
        Query id (as written after ``Number:``, leading zeros kept) to text.
    """
    if field not in _PREFIX:
        raise ValueError(f"field must be one of {sorted(_PREFIX)}, got {field!r}")
    field_re = re.compile(rf"<{field}>\s*{_PREFIX[field]}(.*?)(?=<|\Z)", re.I | re.S)
    policy = LinePolicy(path, skip_bad_lines, report)

    def topics() -> Iterator[tuple[str, str, int]]:
        buf: list[str] | None = None
        start = 0
        for lineno, line in policy.lines():
            if buf is None:
                m = _TOP_OPEN.search(line)
                if m is None:
                    policy.bad(lineno, "text outside <top>...</top>; expected <top>")
                    continue
                buf, start, line = [], lineno, line[m.end():]
            close = _TOP_CLOSE.search(line)
            buf.append(line[:close.start()] if close else line)
            if close is None:
                continue
            body, buf = "\n".join(buf), None
            num, text = _NUM.search(body), field_re.search(body)
            if num is None:
                policy.bad(start, "topic without <num>; expected <num> Number: ID")
            elif text is None:
                policy.bad(start, f"topic {num.group(1)} has no <{field}>; expected one")
            else:
                yield num.group(1), _WS.sub(" ", text.group(1)).strip(), start
        if buf is not None:
            policy.bad(start, "<top> not closed at end of file; expected </top>")

    return collect_unique(topics(), policy, "topic id")


def qrels_rows(policy: LinePolicy) -> Iterator[tuple[str, str, int, int]]:
    """Yield ``(qid, docno, grade, lineno)`` from the TREC qrels file of ``policy``."""
    for lineno, line in policy.lines():
        parts = line.split()
        if len(parts) != 4:
            policy.bad(lineno, f"{len(parts)} columns; expected 4: qid iter docno grade")
            continue
        try:
            grade = int(parts[3])
        except ValueError:
            policy.bad(lineno, f"grade {parts[3]!r} is not an integer; expected qid iter "
                       "docno grade")
            continue
        yield parts[0], parts[2], grade, lineno


def fold_qrels(rows: Iterable[tuple[str, str, int, int]], policy: LinePolicy,
               ) -> dict[str, dict[str, int]]:
    """Fold ``(qid, docno, grade, lineno)`` into ``{qid: {docno: grade}}``, refusing repeats."""
    out: dict[str, dict[str, int]] = {}
    n = 0
    for qid, docno, grade, lineno in rows:
        judged = out.setdefault(qid, {})
        if docno in judged:
            policy.bad(lineno, f"query {qid!r} judges document {docno!r} twice (grades "
                       f"{judged[docno]} and {grade}); expected one judgement per pair")
            continue
        judged[docno] = grade
        n += 1
    policy.report.add_record(policy.path, n)
    policy.done()
    return out


def iter_qrels(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
               report: BadLineReport | None = None) -> Iterator[tuple[str, str, int]]:
    """Stream ``(qid, docno, grade)`` from a TREC qrels file (``qid iter docno grade``).

    The second column (``0`` or ``Q0``) is ignored; the grade must be an integer (it may be
    negative or 0: judged non-relevant). Repeated pairs are not checked here.
    """
    policy = LinePolicy(path, skip_bad_lines, report)
    for qid, docno, grade, _ in qrels_rows(policy):
        policy.report.add_record(policy.path)
        yield qid, docno, grade
    policy.done()


def read_qrels(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
               report: BadLineReport | None = None) -> dict[str, dict[str, int]]:
    """Read a TREC qrels file into ``{qid: {docno: grade}}``.

    Parameters
    ----------
    path : str or os.PathLike
        ``qid iter docno grade`` lines, whitespace separated (plain or gzip).
    skip_bad_lines, report
        Bad-line policy; a pair judged twice is malformed.

    Returns
    -------
    dict[str, dict[str, int]]
        Queries in order of first appearance, documents in file order.
    """
    policy = LinePolicy(path, skip_bad_lines, report)
    return fold_qrels(qrels_rows(policy), policy)
