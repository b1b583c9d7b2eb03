"""Deprecated aliases of renamed public attributes (one release of warnings, then removal).

Document counts have one public name, ``n_docs``, on every index, store and scorer; the old
names (``ntotal``, ``ndocs``, ``n_items``) still read but warn.
"""
from __future__ import annotations

import warnings

__all__ = ["deprecated_alias", "renamed_argument"]


def deprecated_alias(old: str, new: str) -> property:
    """A read-only property ``old`` that warns (DeprecationWarning) and returns ``self.new``."""

    def get(self):
        warnings.warn(f"{type(self).__name__}.{old} is deprecated; use .{new}", DeprecationWarning,
                      stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"Deprecated alias of ``{new}``.")


def renamed_argument(value, old_value, old: str, new: str):
    """``value`` of the argument ``new``, or (with a DeprecationWarning) ``old_value`` passed
    under its old name ``old``; both given is a ValueError."""
    if old_value is None:
        return value
    if value is not None:
        raise ValueError(f"pass {new}= only ({old}= is its deprecated name), not both")
    warnings.warn(f"{old}= is deprecated; use {new}=", DeprecationWarning, stacklevel=3)
    return old_value
