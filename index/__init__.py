"""Index classes and the index directory format."""
from winnow.index.format import inspect, load, verify
from winnow.index.bm25 import BM25Index
from winnow.index.impact import ImpactIndex
from winnow.index.analysis import analyze
from winnow.index.flat import FlatIndex
from winnow.index.pq_index import PQIndex
from winnow.index.ivf import IVFIndex
from winnow.index.hnsw import HNSWIndex
from winnow.index.token_store import TokenStore

__all__ = ["BM25Index", "FlatIndex", "HNSWIndex", "IVFIndex", "ImpactIndex", "PQIndex", "TokenStore", "analyze", "inspect", "load", "verify"]
