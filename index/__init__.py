"""Index classes and the index directory format."""
from winnow.index.format import inspect, load
from winnow.index.bm25 import BM25Index
from winnow.index.analysis import analyze

__all__ = ["BM25Index", "analyze", "inspect", "load"]
