"""MS MARCO TSV formats: ``collection.tsv`` (``pid<TAB>text``) and queries (``qid<TAB>text``).

MS MARCO text never contains a tab, so a line must hold exactly one: no tab, more than one
tab or an empty id is malformed. The text is kept exactly as written (only the line ending
is removed); an empty text is allowed and, for passages, counted as an empty document.
Qrels are TREC 4-column files: :func:`read_qrels` is :func:`winnow.readers.trec.read_qrels`.
"""
from __future__ import annotations

import os
from typing import Iterator

from winnow.readers.common import BadLineReport, LinePolicy
from winnow.readers.trec import iter_qrels, read_qrels
from winnow.readers.unique import collect_unique, unique_documents

__all__ = ["iter_collection", "iter_qrels", "read_qrels", "read_queries_tsv"]


def _tsv_rows(policy: LinePolicy, what: str) -> Iterator[tuple[str, str, int]]:
    """Yield ``(id, text, lineno)`` for ``id<TAB>text`` lines; ``what`` names the id kind."""
    for lineno, line in policy.lines():
        n_tabs = line.count("\t")
        if n_tabs != 1:
            policy.bad(lineno, f"{n_tabs} tabs; expected exactly one: {what}<TAB>text")
            continue
        key, text = line.split("\t")
        ids = key.split()
        if len(ids) != 1:
            policy.bad(lineno, f"{what} {key!r} is empty or contains spaces; expected "
                       f"{what}<TAB>text")
            continue
        yield ids[0], text, lineno


def iter_collection(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
                    report: BadLineReport | None = None,
                    check_duplicates: bool = True) -> Iterator[tuple[str, str]]:
    """Stream ``(pid, text)`` from an MS MARCO ``collection.tsv`` (plain or gzip).

    Parameters
    ----------
    path : str or os.PathLike
        ``pid<TAB>text`` per line.
    skip_bad_lines : bool
        Skip and count malformed lines instead of raising ``InputFormatError``.
    report : BadLineReport, optional
        Receives skipped / empty / record counts.
    check_duplicates : bool
        Refuse repeated pids (keeps the id set in memory: about 100 bytes per passage).

    Yields
    ------
    tuple of (str, str)
        ``(pid, text)`` in file order; empty passages are yielded and counted.
    """
    policy = LinePolicy(path, skip_bad_lines, report)

    def records(pol: LinePolicy):
        return ((k, t, pol.path, n) for k, t, n in _tsv_rows(pol, "pid"))

    yield from unique_documents(
        records(policy), lambda: records(LinePolicy(path, True, BadLineReport())),
        skip_bad_lines=skip_bad_lines, report=policy.report,
        check_duplicates=check_duplicates)
    policy.done()


def read_queries_tsv(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
                     report: BadLineReport | None = None) -> dict[str, str]:
    """Read ``qid<TAB>text`` lines into ``{qid: text}`` in file order.

    Used for MS MARCO ``queries.*.tsv`` and the TREC/pyserini ``topics.*.txt`` TSV files.
    A repeated qid is malformed (the message names both lines).
    """
    policy = LinePolicy(path, skip_bad_lines, report)
    return collect_unique(_tsv_rows(policy, "qid"), policy, "query id")
