"""The two search arguments every index shares, checked the same way everywhere.

``k``: at least 1; results hold ``min(k, n)`` columns for an index of ``n`` documents, so
``k=10**9`` costs no more than ``k=n`` (the C++ core caps the same way).
``threads``: at least 1, or 0 for all cores (the core's convention, csrc/core/thread_pool.hpp).
"""
from __future__ import annotations

import operator

__all__ = ["check_k", "check_threads"]


def check_k(k, n: int) -> int:
    """``min(k, n)`` for a valid ``k``; ``ValueError`` naming ``k`` when it is < 1 or not an integer."""
    try:
        k = operator.index(k)
    except TypeError:
        raise ValueError(f"k must be an integer >= 1, got {k!r}") from None
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return min(k, max(int(n), 0))


def check_threads(threads) -> int:
    """``threads`` as an int; ``ValueError`` naming it unless it is >= 1 or 0 (all cores)."""
    try:
        threads = operator.index(threads)
    except TypeError:
        raise ValueError(f"threads must be an integer >= 1, or 0 for all cores, got {threads!r}") from None
    if threads < 0:
        raise ValueError(f"threads must be >= 1, or 0 for all cores, got {threads}")
    return threads
