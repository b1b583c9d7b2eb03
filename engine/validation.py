"""Checks at the boundary, before any work starts: finite vectors, text that is a valid
Unicode ``str``, unique docnos. One copy of each, shared by the indexes, readers and CLI.

Every check raises ``ValueError`` naming the offending array (or file), row, column and value,
or the document / query id, so a caller can find the bad input without a debugger.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from winnow.docnos import DocnoTable, IdentityDocnos

__all__ = ["check_finite", "check_texts", "first_bad_text", "name_some", "unique_docno_table", "unique_docnos"]

# Elements per isfinite() block: bounds the temporary bool array (256 KiB) and measured
# faster than one whole-array np.isfinite(x).all() on (200000, 384) float32 (22 vs 31 ms).
_BLOCK = 1 << 18


def check_finite(x: np.ndarray, name: str = "vectors", kind: str = "vectors") -> None:
    """Raise ``ValueError`` if ``x`` (any shape, float dtype) holds a NaN or an infinity.

    The message names the first offending entry in row-major order, e.g.
    ``"x row 17 column 3 is nan: vectors must be finite"`` (``kind`` names what must be finite).
    Integer arrays pass unchecked.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return
    rows = arr.reshape(len(arr), -1) if arr.ndim >= 2 else arr.reshape(-1, 1)
    step = max(1, _BLOCK // max(1, rows.shape[1]))
    for a in range(0, len(rows), step):
        block = rows[a:a + step]
        ok = np.isfinite(block)
        if not ok.all():
            r, c = np.argwhere(~ok)[0]
            value = block[r, c]
            where = f"row {a + int(r)}" if arr.ndim < 2 else f"row {a + int(r)} column {int(c)}"
            if arr.ndim > 2:  # name the full index of a (M, ksub, dsub)-style array
                flat = (a + int(r)) * rows.shape[1] + int(c)
                where = f"entry {tuple(int(i) for i in np.unravel_index(flat, arr.shape))}"
            raise ValueError(f"{name} {where} is {value}: {kind} must be finite")


def first_bad_text(text: object) -> str | None:
    """Why ``text`` cannot be indexed or searched (not a ``str``, or a lone surrogate that
    has no UTF-8 form), or None when it can."""
    if not isinstance(text, str):
        return f"is {type(text).__name__}, expected str"
    if text.isascii():  # O(1) in CPython: most texts stop here
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"has a lone surrogate U+{ord(text[exc.start]):04X} at character {exc.start}: "
                "text must be valid Unicode")
    return None


def check_texts(ids: Sequence[str], texts: Iterable[object], what: str = "document") -> None:
    """Raise ``ValueError`` naming the first id whose text :func:`first_bad_text` refuses,
    e.g. ``"document 'd7' text is NoneType, expected str"``."""
    for i, text in zip(ids, texts):
        why = first_bad_text(text)
        if why is not None:
            raise ValueError(f"{what} {i!r} text {why}")


def unique_docnos(docnos: Iterable[object]) -> list[str]:
    """``docnos`` as a list of str, refusing None and duplicates (which would collapse hits
    in ``Results.to_dict`` and make a docno name two documents)."""
    out = []
    for i, d in enumerate(docnos):
        if d is None:
            raise ValueError(f"docno {i} is None: every document needs an id")
        out.append(str(d))
    if len(set(out)) != len(out):
        seen: dict[str, int] = {}
        for i, d in enumerate(out):
            if d in seen:
                raise ValueError(f"duplicate docno {d!r} (positions {seen[d]} and {i}): docnos must be unique")
            seen[d] = i
    return out


def unique_docno_table(docnos) -> DocnoTable:
    """What the ``set_docnos`` methods store: a DocnoTable of ``docnos`` (a list or a table),
    ValueError naming the first duplicate."""
    if isinstance(docnos, IdentityDocnos):
        return docnos
    if isinstance(docnos, DocnoTable):
        unique_docnos(docnos.to_list())
        return docnos
    return DocnoTable.from_list(unique_docnos(docnos))


def name_some(ids: Sequence[str], first: int = 5) -> str:
    """``'q1', 'q3', ...``: the first few ids for a warning or error message."""
    shown = ", ".join(repr(str(i)) for i in ids[:first])
    return shown + (f" (and {len(ids) - first} more)" if len(ids) > first else "")
