"""Text analysis from Python: the same C++ analyzers the indexes use."""
from __future__ import annotations

from functools import lru_cache

from winnow import _core


@lru_cache(maxsize=None)
def _analyzer(kind: str):
    return _core.Analyzer(kind)


def analyze(text: str, analyzer: str = "english") -> list[str]:
    """Index terms of ``text``: ``english`` (Lucene EnglishAnalyzer, the default) or ``plain``."""
    return _analyzer(analyzer).analyze(text)
