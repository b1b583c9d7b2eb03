"""Winnow's public exception types (importable without the compiled core)."""


class WinnowError(Exception):
    """Base class of errors Winnow raises on purpose; the CLI prints them as one line."""


class IndexFormatError(WinnowError, ValueError):
    """An index or section file is unreadable, truncated, corrupt or of a newer format.

    The message always names the offending path.
    """


class InputFormatError(WinnowError, ValueError):
    """A corpus, query, qrels or run file is malformed; the message names file and line."""


class InputWarning(UserWarning):
    """Input that is accepted but probably not what was meant: queries that analyze to no
    terms, queries with no results (absent from a run file), qrels that share no query with
    a run, a ``rel`` grade that no judgement reaches. The CLI prints each as ``warning: ...``."""
