"""Winnow: a dense/sparse index engine with integrated reranking.

Public API re-exports only; see the submodules for the implementations.
"""
from winnow.errors import IndexFormatError, InputFormatError, InputWarning, WinnowError

__version__ = "0.1.0"

from winnow.docnos import DocnoTable  # noqa: E402
from winnow.results import Results  # noqa: E402
from winnow.stage import Cutoff, Pipeline, Retriever, Stage, as_queries  # noqa: E402

__all__ = ["Cutoff", "DocnoTable", "IndexFormatError", "InputFormatError", "InputWarning", "Pipeline", "Results",
           "Retriever", "Stage", "WinnowError", "__version__", "as_queries"]
