"""The two search arguments every index shares, checked the same way everywhere.

``k``: at least 1; results hold ``min(k, n)`` columns for an index of ``n`` documents, so
``k=10**9`` costs no more than ``k=n`` (the C++ core caps the same way).
``threads``: at least 1, or 0 for all cores (the core's convention, csrc/core/thread_pool.hpp).
"""
from __future__ import annotations

import operator

__all__ = ["check_k", "check_threads"]


def _integer(value, rule: str) -> int:
    """``value`` as an int (Python and numpy integers pass, floats and strings do not);
    ``ValueError`` stating ``rule`` otherwise."""
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{rule}, got {value!r}") from None


def check_k(k, n: int) -> int:
    """``min(k, n)`` for a valid ``k``; ``ValueError`` naming ``k`` when it is < 1 or not an integer."""
    k = _integer(k, "k must be an integer >= 1")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return min(k, max(int(n), 0))


def check_threads(threads) -> int:
    """``threads`` as an int; ``ValueError`` naming it unless it is >= 1 or 0 (all cores)."""
    threads = _integer(threads, "threads must be an integer >= 1, or 0 for all cores")
    if threads < 0:
        raise ValueError(f"threads must be >= 1, or 0 for all cores, got {threads}")
    return threads
