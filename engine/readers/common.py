"""Shared pieces of every reader: transparent gzip, strict UTF-8, bad-line policy.

Every reader in :mod:`winnow.readers` streams its file line by line (constant memory in
the file size; duplicate-id detection keeps only the set of ids seen) and takes
``skip_bad_lines=False``:

* ``False`` (default): the first malformed line raises
  :class:`winnow.errors.InputFormatError` with the message ``"PATH:LINE: what is wrong"``.
* ``True``: the line is skipped and counted in a :class:`BadLineReport` (pass your own
  ``report=`` to read the counts; without one a single warning per file is logged).

Lines are split on ``b"\\n"`` only (never on the Unicode line separators that
``str.splitlines`` honours, which do occur inside real passages), one trailing ``"\\r"``
is removed, and blank lines are ignored everywhere.
"""
from __future__ import annotations

import gzip
import io
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

from winnow.errors import InputFormatError

__all__ = [
    "BadLineReport",
    "LinePolicy",
    "TextFile",
    "is_gzip",
    "iter_lines",
    "open_text",
    "reject",
]

log = logging.getLogger("winnow.readers")

_GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """Return True when ``path`` ends in ``.gz`` or starts with the gzip magic bytes."""
    if os.fspath(path).endswith(".gz"):
        return True
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


class TextFile:
    """A text file opened for reading, gzip-transparent and strictly UTF-8.

    Iterating yields lines without their line ending; ``lineno`` is the 1-based number of
    the line last yielded. Invalid UTF-8 raises :class:`InputFormatError` naming the file
    and line, unless ``on_bad_utf8`` is given, in which case it is called with the line
    number and the line is skipped.

    Parameters
    ----------
    path : str or os.PathLike
        File to read; ``*.gz`` or gzip-magic files are decompressed on the fly.
    on_bad_utf8 : callable, optional
        ``f(lineno, message)`` called instead of raising on an undecodable line.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        on_bad_utf8: Callable[[int, str], None] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.lineno = 0
        self._on_bad_utf8 = on_bad_utf8
        raw = open(self.path, "rb")
        try:
            gz = self.path.endswith(".gz") or raw.peek(2)[:2] == _GZIP_MAGIC
        except Exception:
            raw.close()
            raise
        self._fh: io.BufferedIOBase = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        self._raw = raw

    def __iter__(self) -> Iterator[str]:
        try:
            for raw_line in self._fh:
                self.lineno += 1
                try:
                    line = raw_line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    msg = (f"invalid UTF-8 at byte {exc.start} of the line "
                           f"({raw_line[exc.start:exc.start + 4]!r}); expected UTF-8 text")
                    if self._on_bad_utf8 is None:
                        raise InputFormatError(f"{self.path}:{self.lineno}: {msg}") from None
                    self._on_bad_utf8(self.lineno, msg)
                    continue
                if line.endswith("\n"):
                    line = line[:-1]
                if line.endswith("\r"):
                    line = line[:-1]
                if self.lineno == 1 and line.startswith("\ufeff"):
                    line = line[1:]  # UTF-8 byte-order mark written by some editors
                yield line
        except (OSError, EOFError) as exc:  # truncated or corrupt gzip stream
            raise InputFormatError(
                f"{self.path}:{self.lineno + 1}: cannot read ({exc}); expected a complete "
                "plain or gzip text file") from None

    def close(self) -> None:
        """Close the underlying file(s)."""
        self._fh.close()
        self._raw.close()

    def __enter__(self) -> "TextFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_text(path: str | os.PathLike[str]) -> TextFile:
    """Open ``path`` for reading text, gzip-transparent, UTF-8 strict.

    Parameters
    ----------
    path : str or os.PathLike
        Plain or gzip-compressed (by ``.gz`` suffix or magic bytes) UTF-8 file.

    Returns
    -------
    TextFile
        Context manager; iterating yields lines without line endings. Invalid UTF-8 raises
        :class:`winnow.errors.InputFormatError` naming the file and line number.
    """
    return TextFile(path)


@dataclass
class BadLineReport:
    """What the readers skipped (malformed lines) and kept but flagged (empty documents).

    All counters are keyed by file path (as a string). Pass one instance as ``report=`` to
    one or several readers and read it afterwards; ``str(report)`` is a printable summary.

    Attributes
    ----------
    skipped : dict[str, int]
        Malformed lines skipped per file (only with ``skip_bad_lines=True``).
    examples : dict[str, list[str]]
        The first ``max_examples`` messages (``"PATH:LINE: ..."``) per file.
    empty : dict[str, int]
        Documents whose text is empty or only whitespace, per file. They are yielded,
        never dropped; an index sees them as documents with no terms.
    records : dict[str, int]
        Records (documents, queries, qrels rows) yielded per file.
    """

    max_examples: int = 5
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    empty: dict[str, int] = field(default_factory=dict)
    empty_examples: dict[str, list[str]] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)

    def add_bad(self, path: str, lineno: int, what: str) -> None:
        """Count one skipped line of ``path`` and keep its message if among the first few."""
        self.skipped[path] = self.skipped.get(path, 0) + 1
        ex = self.examples.setdefault(path, [])
        if len(ex) < self.max_examples:
            ex.append(f"{path}:{lineno}: {what}")

    def add_empty(self, path: str, docno: str) -> None:
        """Count one empty document of ``path`` (kept in the output)."""
        self.empty[path] = self.empty.get(path, 0) + 1
        ex = self.empty_examples.setdefault(path, [])
        if len(ex) < self.max_examples:
            ex.append(docno)

    def add_record(self, path: str, n: int = 1) -> None:
        """Count ``n`` records yielded from ``path``."""
        self.records[path] = self.records.get(path, 0) + n

    @property
    def total_skipped(self) -> int:
        """Malformed lines skipped over all files."""
        return sum(self.skipped.values())

    @property
    def total_empty(self) -> int:
        """Empty documents kept over all files."""
        return sum(self.empty.values())

    @property
    def total_records(self) -> int:
        """Records yielded over all files."""
        return sum(self.records.values())

    def summary(self) -> str:
        """Multi-line human-readable summary, one block per file."""
        lines = []
        for path in sorted(set(self.records) | set(self.skipped) | set(self.empty)):
            n, s, e = self.records.get(path, 0), self.skipped.get(path, 0), self.empty.get(path, 0)
            line = f"{path}: {n:,} records"
            if e:
                ids = ", ".join(self.empty_examples.get(path, []))
                line += f", {e:,} empty documents kept (e.g. {ids})"
            if s:
                line += f", {s:,} malformed lines skipped"
            lines.append(line)
            lines.extend("  " + m for m in self.examples.get(path, []) if s)
        return "\n".join(lines) if lines else "no records read"

    def __str__(self) -> str:
        return self.summary()


def reject(path: str, lineno: int, what: str, skip_bad_lines: bool,
           report: BadLineReport | None) -> None:
    """Apply the bad-line policy to one malformed line.

    Raises
    ------
    InputFormatError
        ``"PATH:LINE: what"`` when ``skip_bad_lines`` is False.
    """
    if not skip_bad_lines:
        raise InputFormatError(f"{path}:{lineno}: {what}")
    if report is not None:
        report.add_bad(path, lineno, what)


class LinePolicy:
    """The bad-line policy of one reader call over one file.

    Parameters
    ----------
    path : str or os.PathLike
        File being read (named in every message).
    skip_bad_lines : bool
        Skip and count malformed lines instead of raising.
    report : BadLineReport, optional
        Where to count; without one a private report is used and :meth:`done` logs one
        warning when lines were skipped.
    """

    def __init__(self, path: str | os.PathLike[str], skip_bad_lines: bool = False,
                 report: BadLineReport | None = None) -> None:
        self.path = os.fspath(path)
        self.skip_bad_lines = skip_bad_lines
        self.own = report is None
        self.report = report if report is not None else BadLineReport()
        self._before = self.report.skipped.get(self.path, 0)

    def bad(self, lineno: int, what: str) -> None:
        """Raise, or skip and count, one malformed line (see :func:`reject`)."""
        reject(self.path, lineno, what, self.skip_bad_lines, self.report)

    def lines(self) -> Iterator[tuple[int, str]]:
        """Yield ``(lineno, line)`` for every non-blank line; bad UTF-8 goes to :meth:`bad`."""
        with TextFile(self.path, self.bad) as fh:
            for line in fh:
                if line.strip():
                    yield fh.lineno, line

    def done(self) -> None:
        """Log one warning if lines were skipped and the caller passed no report."""
        n = self.report.skipped.get(self.path, 0) - self._before
        if self.own and n:
            log.warning("%s: skipped %d malformed lines (first: %s)", self.path, n,
                        self.report.examples[self.path][0])


def iter_lines(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
               report: BadLineReport | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(lineno, line)`` for every non-blank line of a (gzip) UTF-8 text file.

    Undecodable lines go through the bad-line policy (see :func:`reject`).
    """
    policy = LinePolicy(path, skip_bad_lines, report)
    yield from policy.lines()
    policy.done()
