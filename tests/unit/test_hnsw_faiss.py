"""faiss IndexHNSWFlat import and export: the same graph, searched by Winnow and by faiss."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from tests.dense_fixtures import clustered, numpy_topk
from tests.unit.test_hnsw import _reachable
from winnow.index import HNSWIndex
from winnow.index.faiss_io import from_faiss, to_faiss


@pytest.fixture(scope="module")
def data():
    x, q = clustered(2000, d=24, seed=8, n_clusters=15, nq=50)
    return x / np.linalg.norm(x, axis=1, keepdims=True), q


def _faiss_hnsw(x, metric):
    index = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2)
    index.hnsw.efConstruction = 40
    index.add(x)
    return index


def _faiss_search(index, q, k, ef):
    index_hnsw = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
    index_hnsw.hnsw.efSearch = ef
    scores, ids = index.search(q, k)
    return -scores if index.metric_type == faiss.METRIC_L2 else scores, ids


@pytest.mark.parametrize("metric", ("ip", "l2"))
def test_imported_faiss_graph_gives_faiss_results(data, metric):
    x, q = data
    f = _faiss_hnsw(x, metric)
    w = from_faiss(f)
    assert isinstance(w, HNSWIndex) and w.M == 16 and w.n_docs == len(x)
    # Every node reachable on level 0 (faiss's heuristic can strand a node, and then where the
    # search enters level 0 decides whether it is found): ef covering the graph is exact in both
    assert _reachable(w._graph.arrays()["links0"], w._graph.entry).all()
    fs, fi = _faiss_search(f, q, 10, len(x))
    ws, wi = w.search_vectors(q, 10, ef=len(x))
    np.testing.assert_array_equal(wi, fi)
    np.testing.assert_allclose(ws, fs, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(wi, numpy_topk(x, q, 10, metric)[1])
    # a small ef: the same graph walked by two implementations
    _, fi = _faiss_search(f, q, 10, 16)
    _, wi = w.search_vectors(q, 10, ef=16)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(wi.tolist(), fi.tolist())])
    assert overlap >= 0.97


@pytest.mark.parametrize("metric", ("ip", "l2"))
def test_exported_graph_is_searched_by_faiss(data, metric):
    x, q = data
    w = HNSWIndex(x.shape[1], M=8, ef_construction=40, metric=metric)
    w.add(x)
    f = to_faiss(w)
    assert isinstance(f, faiss.IndexHNSWFlat) and f.ntotal == len(x)
    fs, fi = _faiss_search(f, q, 10, len(x))
    np.testing.assert_array_equal(fi, w.search_vectors(q, 10, ef=len(x))[1])
    back = from_faiss(f)  # the round trip keeps the graph
    a, b = w._graph.arrays(), back._graph.arrays()
    for name in ("upper_offsets", "codes"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # neighbour blocks: counts and neighbours in order (unused slots are not carried)
    blocks = [(a["links0"], b["links0"])] + [(a["upper_links"].reshape(-1, 9), b["upper_links"].reshape(-1, 9))]
    for ours, theirs in blocks:
        for ra, rb in zip(ours, theirs):
            assert ra[0] == rb[0] and np.array_equal(ra[1:1 + ra[0]], rb[1:1 + rb[0]])


def test_export_with_ids_and_refusals(data):
    x, q = data
    w = HNSWIndex(x.shape[1], M=8)
    w.add(x[:300], ids=np.arange(300) * 3 + 1)
    f = to_faiss(w)
    assert isinstance(f, faiss.IndexIDMap)
    np.testing.assert_array_equal(_faiss_search(f, q, 5, 300)[1], w.search_vectors(q, 5, ef=300)[1])
    np.testing.assert_array_equal(from_faiss(f).search_vectors(q, 5, ef=300)[1], w.search_vectors(q, 5, ef=300)[1])
    w.remove([4])
    with pytest.raises(ValueError, match="deleted"):
        to_faiss(w)
    sq = HNSWIndex(x.shape[1], M=8, payload="sq8")
    sq.add(x[:50])
    with pytest.raises(ValueError, match="float32"):
        to_faiss(sq)
