"""Winnow's public exception types (importable without the compiled core)."""


class WinnowError(Exception):
    """Base class of errors Winnow raises on purpose; the CLI prints them as one line."""


class IndexFormatError(WinnowError, ValueError):
    """An index or section file is unreadable, truncated, corrupt or of a newer format.

    The message always names the offending path.
    """


class InputFormatError(WinnowError, ValueError):
    """A corpus, query, qrels or run file is malformed; the message names file and line."""
