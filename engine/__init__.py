"""Winnow: a dense/sparse index engine with integrated reranking.

Public API re-exports only; see the submodules for the implementations.
"""
from winnow.errors import IndexFormatError, InputFormatError, WinnowError

__version__ = "0.1.0"

__all__ = ["IndexFormatError", "InputFormatError", "WinnowError", "__version__"]
