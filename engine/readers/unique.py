"""Duplicate-id checks shared by the readers: documents (streaming) and queries (dict)."""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

from winnow.readers.common import BadLineReport, LinePolicy, reject

__all__ = ["collect_unique", "unique_documents"]

Record = tuple[str, str, str, int]  # (docno, text, path, lineno)


def unique_documents(records: Iterable[Record], rescan: Callable[[], Iterable[Record]], *,
                     skip_bad_lines: bool, report: BadLineReport | None,
                     check_duplicates: bool = True) -> Iterator[tuple[str, str]]:
    """Yield ``(docno, text)`` from ``records`` refusing duplicate ids, counting empty docs.

    Only the set of ids is kept in memory (roughly 100 bytes per document). On a duplicate
    the input is scanned again (``rescan()``) to name the line of the first occurrence.

    Parameters
    ----------
    records : iterable of (docno, text, path, lineno)
        Parsed documents in file order.
    rescan : callable
        Returns a fresh iterable over the same records (used only on a duplicate).
    skip_bad_lines, report
        Bad-line policy; a duplicate is skipped (the first occurrence kept) when skipping.
    check_duplicates : bool
        False turns the check (and its memory) off.
    """
    seen: set[str] = set()
    for docno, text, path, lineno in records:
        if check_duplicates:
            if docno in seen:
                first = next(((p, n) for d, _, p, n in rescan() if d == docno), None)
                where = f"{first[0]}:{first[1]}" if first and first[0] != path else (
                    f"line {first[1]}" if first else "an earlier line")
                reject(path, lineno, f"duplicate document id {docno!r} (first seen at {where}); "
                       "expected unique ids", skip_bad_lines, report)
                continue
            seen.add(docno)
        if report is not None:
            report.add_record(path)
            # text may be a (title, text) pair (iter_beir_corpus(titles=True)): empty if every field is
            if not "".join(text if isinstance(text, tuple) else (text,)).strip():
                report.add_empty(path, docno)
        yield docno, text


def collect_unique(records: Iterable[tuple[str, str, int]], policy: LinePolicy,
                   what: str = "query id") -> dict[str, str]:
    """Build ``{id: text}`` in file order from ``(id, text, lineno)``, refusing duplicate ids.

    A duplicate names the id and both line numbers; with ``skip_bad_lines`` the later one is
    skipped and the first kept.
    """
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for key, text, lineno in records:
        if key in out:
            policy.bad(lineno, f"duplicate {what} {key!r} (first at line {first_line[key]}); "
                       f"expected unique {what}s")
            continue
        out[key] = text
        first_line[key] = lineno
    policy.report.add_record(policy.path, len(out))
    policy.done()
    return out
