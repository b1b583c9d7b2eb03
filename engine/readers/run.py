"""TREC run files: ``qid Q0 docno rank score tag``, read streaming and written atomically."""
from __future__ import annotations

import gzip
import math
import os
import tempfile
from typing import IO, Iterable, Iterator, NamedTuple

from winnow.readers.common import BadLineReport, LinePolicy

__all__ = ["RunRow", "check_run_output", "format_score", "is_run_file", "iter_run", "read_run", "write_run"]


class RunRow(NamedTuple):
    """One line of a TREC run."""

    qid: str
    docno: str
    rank: int
    score: float
    tag: str


def _run_rows(policy: LinePolicy) -> Iterator[tuple[RunRow, int]]:
    for lineno, line in policy.lines():
        parts = line.split()
        if len(parts) != 6:
            policy.bad(lineno, f"{len(parts)} columns; expected 6: qid Q0 docno rank score tag")
            continue
        qid, _, docno, rank, score, tag = parts
        try:
            r = int(rank)
        except ValueError:
            policy.bad(lineno, f"rank {rank!r} is not an integer; expected qid Q0 docno rank "
                       "score tag")
            continue
        try:
            s = float(score)
        except ValueError:
            s = math.nan
        if math.isnan(s):
            policy.bad(lineno, f"score {score!r} is not a number; expected qid Q0 docno rank "
                       "score tag")
            continue
        yield RunRow(qid, docno, r, s, tag), lineno


def iter_run(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
             report: BadLineReport | None = None) -> Iterator[RunRow]:
    """Stream the rows of a TREC run file in file order.

    Parameters
    ----------
    path : str or os.PathLike
        Run file (plain or gzip), whitespace separated ``qid Q0 docno rank score tag``.
    skip_bad_lines, report
        Bad-line policy (see :mod:`winnow.readers.common`).

    Yields
    ------
    RunRow
        ``(qid, docno, rank, score, tag)``; rank as written (not re-sorted).
    """
    policy = LinePolicy(path, skip_bad_lines, report)
    for row, _ in _run_rows(policy):
        policy.report.add_record(policy.path)
        yield row
    policy.done()


def read_run(path: str | os.PathLike[str], *, skip_bad_lines: bool = False,
             report: BadLineReport | None = None) -> dict[str, dict[str, float]]:
    """Read a TREC run into ``{qid: {docno: score}}`` (the form ir_measures/pytrec_eval take).

    A document listed twice for one query is malformed (trec_eval refuses such runs).
    Queries and documents keep file order.
    """
    policy = LinePolicy(path, skip_bad_lines, report)
    out: dict[str, dict[str, float]] = {}
    n = 0
    for row, lineno in _run_rows(policy):
        ranked = out.setdefault(row.qid, {})
        if row.docno in ranked:
            policy.bad(lineno, f"query {row.qid!r} lists document {row.docno!r} twice; "
                       "expected each document at most once per query")
            continue
        ranked[row.docno] = row.score
        n += 1
    policy.report.add_record(policy.path, n)
    policy.done()
    return out


def format_score(score: object) -> str:
    """Format a score so that reading it back gives the same value, hence the same order.

    numpy ``float32``/``float16`` scalars print as the shortest decimal that round-trips in
    their own precision (``8.6104``); anything else as Python's shortest round-trip repr
    of the float64 value. Distinct scores never print equal, equal scores always do.
    A ``str`` is taken as already formatted (checked to be a number).
    """
    if isinstance(score, str):
        float(score)  # raises ValueError on garbage
        return score
    dtype = getattr(score, "dtype", None)
    if dtype is not None and dtype.kind == "f" and dtype.itemsize <= 4:
        text = str(score)
    else:
        text = repr(float(score))  # type: ignore[arg-type]
    if text == "nan":
        raise ValueError("score is NaN; a run needs comparable scores")
    return text


def _check_token(value: object, what: str) -> str:
    s = str(value)
    if not s or any(c.isspace() for c in s):
        raise ValueError(f"{what} {s!r} is empty or contains whitespace; a TREC run "
                         "needs one token")
    return s


def _write_rows(fh: IO[str], rows: Iterable[tuple], tag: str) -> int:
    n = 0
    for row in rows:
        if len(row) == 5:
            qid, docno, rank, score, row_tag = row
        elif len(row) == 4:
            (qid, docno, rank, score), row_tag = row, tag
        else:
            raise ValueError(f"run row {row!r} has {len(row)} fields; expected "
                             "(qid, docno, rank, score[, tag])")
        fh.write(f"{_check_token(qid, 'qid')} Q0 {_check_token(docno, 'docno')} "
                 f"{int(rank)} {format_score(score)} {_check_token(row_tag, 'tag')}\n")
        n += 1
    return n


def is_run_file(path: str | os.PathLike[str]) -> bool:
    """An empty file, or one whose first line has the six columns of a TREC run line."""
    if not os.path.isfile(path):
        return False
    try:
        opener = gzip.open if os.fspath(path).endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            line = fh.readline(1 << 16)
    except (OSError, UnicodeDecodeError, EOFError):
        return False
    parts = line.split()
    if not parts:
        return not line  # empty file; a blank first line is not what we write
    try:
        int(parts[3]), float(parts[4])
    except (IndexError, ValueError):
        return False
    return len(parts) == 6


def check_run_output(path: str | os.PathLike[str], overwrite: bool = False) -> None:
    """The run-file policy, checked before any work: a run file is written where nothing is,
    or replaces a TREC run file when ``overwrite`` (``--overwrite``) is given; anything else
    (a directory, another file) is refused with ``ValueError`` naming the path."""
    if not os.path.lexists(path):
        return
    if not is_run_file(path):
        what = "a directory" if os.path.isdir(path) else "a file that is not a TREC run"
        raise ValueError(f"{path}: exists and is {what}; refusing to replace it (choose another output)")
    if not overwrite:
        raise ValueError(f"{path}: a run file exists there; pass --overwrite (overwrite=True) to replace it")


def write_run(path: str | os.PathLike[str] | IO[str], rows: Iterable[tuple],
              tag: str = "winnow", overwrite: bool = False) -> int:
    """Write a TREC run ``qid Q0 docno rank score tag``, one row per line.

    Parameters
    ----------
    path : str, os.PathLike or text file object
        Destination. A path is written atomically (temporary sibling, fsync, rename), and
        gzip-compressed when it ends in ``.gz``; an open text file (e.g. ``sys.stdout``) is
        written to directly. An existing path is replaced only when it is a run file and
        ``overwrite`` is true (:func:`check_run_output`).
    rows : iterable of tuple
        ``(qid, docno, rank, score)`` or ``(qid, docno, rank, score, tag)`` (e.g.
        :class:`RunRow`), written in the given order. Scores are formatted by
        :func:`format_score`; ids must be non-empty and free of whitespace.
    tag : str
        Run tag for rows that carry none.
    overwrite : bool
        Replace an existing run file at ``path``.

    Returns
    -------
    int
        Number of rows written.

    Raises
    ------
    ValueError
        A row with a wrong field count, a NaN score or an id containing whitespace; a path
        destination is then left untouched.
    """
    if hasattr(path, "write"):
        return _write_rows(path, rows, tag)  # type: ignore[arg-type]
    dest = os.fspath(path)  # type: ignore[arg-type]
    check_run_output(dest, overwrite)
    folder = os.path.dirname(os.path.abspath(dest))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as raw:
            if dest.endswith(".gz"):
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                    n = _write_rows(_Utf8(gz), rows, tag)
            else:
                n = _write_rows(_Utf8(raw), rows, tag)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a run is an ordinary shared file
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return n


class _Utf8:
    """Minimal text writer over a binary stream (keeps the stream open for fsync)."""

    def __init__(self, binary: IO[bytes]) -> None:
        self._binary = binary

    def write(self, text: str) -> None:
        self._binary.write(text.encode("utf-8"))
