"""BEIR formats: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

The indexed text of a document is ``title + " " + text``, exactly as pyserini builds its
BEIR "flat" indexes (``contents``); nothing else is stripped or added, so a document with
an empty title starts with a space and a fully empty one is ``" "`` (counted as empty).
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Iterator

from winnow.readers.common import BadLineReport, LinePolicy
from winnow.readers.trec import fold_qrels
from winnow.readers.unique import collect_unique, unique_documents
from winnow.validation import first_bad_text

__all__ = ["iter_beir_corpus", "read_beir_qrels", "read_beir_queries"]

# A JSON \u escape of a UTF-16 surrogate: only such a line can decode to a lone surrogate
# (valid UTF-8 never holds one), which no UTF-8 consumer (the C++ core) can take.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _records(policy: LinePolicy, fields: tuple[str, ...],
             optional: tuple[str, ...] = ()) -> Iterator[tuple[dict[str, str], int]]:
    """Yield ``({field: str}, lineno)`` for each JSON object line with the wanted fields.

    ``_id`` may be a JSON string or integer (converted to str); other fields must be
    strings. Fields in ``optional`` default to ``""``.
    """
    for lineno, line in policy.lines():
        try:
            obj: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            policy.bad(lineno, f"invalid JSON ({exc.msg} at column {exc.colno}); expected one "
                       "JSON object per line")
            continue
        if not isinstance(obj, dict):
            policy.bad(lineno, f"JSON {type(obj).__name__}; expected an object with fields "
                       f"{', '.join(fields)}")
            continue
        out: dict[str, str] = {}
        check_unicode = _SURROGATE_ESCAPE.search(line) is not None
        for name in fields + optional:
            value = obj.get(name, "" if name in optional else None)
            if name == "_id" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if value is None and name not in obj:
                policy.bad(lineno, f"missing field {name!r}; expected fields "
                           f"{', '.join(fields)}")
                break
            if not isinstance(value, str):
                policy.bad(lineno, f"field {name!r} is {type(value).__name__}; expected a "
                           "string")
                break
            why = first_bad_text(value) if check_unicode else None
            if why is not None:
                policy.bad(lineno, f"field {name!r} {why}")
                break
            out[name] = value
        else:
            if not out["_id"] or any(c.isspace() for c in out["_id"]):
                policy.bad(lineno, f"_id {out['_id']!r} is empty or contains whitespace; "
                           "expected one token")
                continue
            yield out, lineno


def iter_beir_corpus(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
                     report: BadLineReport | None = None,
                     check_duplicates: bool = True, titles: bool = False) -> Iterator[tuple]:
    """Stream ``(docid, title + " " + text)`` from a BEIR ``corpus.jsonl`` (plain or gzip).

    Parameters
    ----------
    path : str or os.PathLike
        One JSON object per line with ``_id`` and ``text`` (``title`` optional, default
        ``""``; other fields ignored).
    skip_bad_lines : bool
        Skip and count malformed lines instead of raising ``InputFormatError``.
    report : BadLineReport, optional
        Receives skipped / empty / record counts.
    check_duplicates : bool
        Refuse repeated ids (keeps the id set in memory).
    titles : bool
        Yield ``(docid, title, text)`` (the fields apart, for a document store) instead.

    Yields
    ------
    tuple of (str, str)
        ``(docid, title + " " + text)`` in file order; empty documents are yielded and
        counted.
    """
    policy = LinePolicy(path, skip_bad_lines, report)

    def records(pol: LinePolicy):
        for rec, lineno in _records(pol, ("_id", "text"), ("title",)):
            body = (rec["title"], rec["text"]) if titles else rec["title"] + " " + rec["text"]
            yield rec["_id"], body, pol.path, lineno

    for docid, body in unique_documents(
            records(policy), lambda: records(LinePolicy(path, True, BadLineReport())),
            skip_bad_lines=skip_bad_lines, report=policy.report,
            check_duplicates=check_duplicates):
        yield (docid, *body) if titles else (docid, body)
    policy.done()


def read_beir_queries(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
                      report: BadLineReport | None = None) -> dict[str, str]:
    """Read a BEIR ``queries.jsonl`` (``{"_id", "text"}`` per line) into ``{qid: text}``.

    File order is kept; the text is kept exactly as written; extra fields are ignored.
    """
    policy = LinePolicy(path, skip_bad_lines, report)
    rows = ((rec["_id"], rec["text"], n) for rec, n in _records(policy, ("_id", "text")))
    return collect_unique(rows, policy, "query id")


def read_beir_qrels(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
                    report: BadLineReport | None = None) -> dict[str, dict[str, int]]:
    """Read a BEIR ``qrels/<split>.tsv`` into ``{qid: {docid: score}}``.

    Lines are ``query-id<TAB>corpus-id<TAB>score`` with an integer score. The first line is
    taken as the header when its third column is not an integer (BEIR writes
    ``query-id corpus-id score``); a file without a header is accepted too.
    """
    policy = LinePolicy(path, skip_bad_lines, report)

    def rows():
        first = True
        for lineno, line in policy.lines():
            parts = line.split("\t")
            if len(parts) != 3:
                policy.bad(lineno, f"{len(parts)} tab-separated columns; expected 3: "
                           "query-id<TAB>corpus-id<TAB>score")
                first = False
                continue
            qid, docid, score = (p.strip() for p in parts)
            try:
                grade = int(score)
            except ValueError:
                if not first:
                    policy.bad(lineno, f"score {score!r} is not an integer; expected "
                               "query-id<TAB>corpus-id<TAB>score")
                first = False
                continue
            first = False
            if not qid or not docid:
                policy.bad(lineno, "empty query-id or corpus-id; expected "
                           "query-id<TAB>corpus-id<TAB>score")
                continue
            yield qid, docid, grade, lineno

    return fold_qrels(rows(), policy)
