"""Python-level behaviour of FlatIndex / PQIndex / IVFIndex: ids, remove, allow-lists and the
boundaries of DESIGN.md section 5 (float64, strided, read-only memmap, wrong dim, k > n,
empty query set, empty index).

float64 (or strided, transposed) queries are converted on purpose by the Python layer
(``as_vectors``: ``np.ascontiguousarray(x, dtype=np.float32)``), so they give exactly the
results of the float32 copy; the C++ bindings themselves refuse them (``noconvert``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import KINDS, clustered, make_index  # noqa: E402

from winnow.index.flat import FlatIndex  # noqa: E402
from winnow.index.ivf import IVFIndex  # noqa: E402
from winnow.index.pq_index import PQIndex  # noqa: E402


def _kw(index, **extra):
    if isinstance(index, FlatIndex):
        return {}
    return {"nprobe": index.nlist, **extra} if hasattr(index, "nlist") else extra


@pytest.fixture(scope="module")
def data():
    return clustered(800, 32, seed=2, nq=12)


@pytest.fixture(scope="module")
def built(data):
    return {kind: make_index(kind, data[0]) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_allow_list_equals_search_on_subset(data, kind):
    x, q = data
    index = make_index(kind, x)
    allow = np.arange(0, len(x), 3)
    s1, i1 = index.search_vectors(q, 10, allow=allow, **_kw(index, rescore_k=len(x)))
    assert np.isin(i1, allow).all()
    # the same index with everything else removed
    index.remove(np.setdiff1d(np.arange(len(x)), allow))
    assert index.n_docs == len(allow)
    s2, i2 = index.search_vectors(q, 10, **_kw(index, rescore_k=len(x)))
    np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-5)
    for a, b, s in zip(i1, i2, s1):
        sure = s > s[-1] + 1e-4
        assert set(a[sure]) == set(b[sure])


@pytest.mark.parametrize("kind", ["flat", "pq8", "ivf_flat", "ivf_pq", "ivf_fastscan"])
def test_add_with_ids_and_remove(data, kind):
    x, q = data
    ref = make_index(kind, x)
    index = make_index(kind, x)  # same (seeded) quantizers as ref, then emptied
    assert index.remove(np.arange(len(x))) == len(x) and index.n_docs == 0
    ids = np.arange(len(x), dtype=np.int64)[::-1] * 10 + 5  # arbitrary, not sorted
    index.add(x[:400], ids=ids[:400])
    index.add(x[400:], ids=ids[400:])
    s1, i1 = ref.search_vectors(q, 10, **_kw(ref))
    s2, i2 = index.search_vectors(q, 10, **_kw(index))
    np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-5)
    assert set(ids[i1[s1 > s1[:, -1:] + 1e-4]]) == set(i2[s2 > s2[:, -1:] + 1e-4])
    with pytest.raises(ValueError, match="unique"):
        index.add(x[:1], ids=ids[:1])
    with pytest.raises(ValueError, match=">= 0"):
        index.add(x[:1], ids=[-1])
    assert index.remove([ids[0], ids[1], 123456789]) == 2
    assert not np.isin(index.search_vectors(q, 50, **_kw(index))[1], ids[:2]).any()


def test_pq_remove_and_decode_by_unsorted_ids(data):
    x, _ = data
    index = PQIndex(32, 8, 8).train(x, niter=5, seed=0)
    ids = np.arange(len(x))[::-1].astype(np.int64)
    index.add(x, ids=ids)
    np.testing.assert_array_equal(index.decode([ids[3], ids[7]]), index.decode()[[3, 7]])
    assert index.remove(ids[:5]) == 5 and index.n_docs == len(x) - 5


@pytest.mark.parametrize("kind", KINDS)
def test_query_conversions_give_float32_results(built, data, kind):
    """float64, Fortran-ordered, strided and read-only memmap queries == float32 queries."""
    index = built[kind]
    _, q = data
    ref = index.search_vectors(q, 7, **_kw(index))
    variants = [q.astype(np.float64), np.asfortranarray(q), np.repeat(q, 2, axis=1)[:, ::2],
                np.ascontiguousarray(q.T).T]
    for v in variants:
        out = index.search_vectors(v, 7, **_kw(index))
        np.testing.assert_array_equal(out[1], ref[1])
        np.testing.assert_array_equal(out[0], ref[0])
    # Results API (search) with a read-only memmap of the queries
    path = Path(__import__("tempfile").mkdtemp()) / "q.npy"
    np.save(path, q)
    mm = np.load(path, mmap_mode="r")
    assert not mm.flags.writeable
    index.search(mm, 7, **_kw(index))  # the Results path accepts it too
    np.testing.assert_array_equal(index.search_vectors(mm, 7, **_kw(index))[1], ref[1])
    # a single 1-D vector is one query
    np.testing.assert_array_equal(index.search_vectors(q[0], 7, **_kw(index))[1], ref[1][:1])


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_dimension(built, data, kind):
    index = built[kind]
    _, q = data
    with pytest.raises(ValueError, match="dim"):
        index.search_vectors(q[:, :31], 5)
    with pytest.raises(ValueError, match="dim"):
        index.add(np.zeros((2, 33), np.float32))
    with pytest.raises(ValueError):
        index.search_vectors(np.zeros((2, 3, 32), np.float32), 5)
    with pytest.raises(ValueError, match="k must be"):
        index.search(q, -1)


@pytest.mark.parametrize("kind", KINDS)
def test_k_larger_than_n_is_capped(data, kind):
    x, q = data
    index = make_index(kind, x[:300]) if kind != "flat" else make_index(kind, x[:20])
    n = index.n_docs
    s, i = index.search_vectors(q, n + 5, **_kw(index, rescore_k=n + 5))
    assert s.shape == i.shape == (len(q), n)  # min(k, ntotal) columns (issue 12)
    assert (i >= 0).all() and np.isfinite(s).all()
    assert all(len(set(row)) == n for row in i.tolist())


@pytest.mark.parametrize("kind", KINDS)
def test_empty_query_set_and_k_zero(built, kind):
    index = built[kind]
    s, i = index.search_vectors(np.zeros((0, 32), np.float32), 5, **_kw(index))
    assert s.shape == i.shape == (0, 5) and s.dtype == np.float32 and i.dtype == np.int64
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        index.search_vectors(np.zeros((3, 32), np.float32), 0, **_kw(index))


@pytest.mark.parametrize("kind", KINDS)
def test_empty_index(data, kind):
    x, q = data
    index = make_index(kind, x)
    index.remove(np.arange(len(x)))
    assert index.n_docs == 0
    s, i = index.search_vectors(q, 4, **_kw(index))
    assert s.shape == i.shape == (len(q), 0)  # k is capped at ntotal = 0


def test_untrained_and_bad_parameters():
    with pytest.raises(ValueError, match="train"):
        PQIndex(32, 8).add(np.zeros((2, 32), np.float32))
    with pytest.raises(ValueError, match="train"):
        IVFIndex(32, 4, "pq", M=8).add(np.zeros((2, 32), np.float32))
    with pytest.raises(ValueError, match="dim"):
        PQIndex(32, 5)
    with pytest.raises(ValueError, match="nbits"):
        PQIndex(32, 8, nbits=6)
    with pytest.raises(ValueError, match="metric"):
        FlatIndex(32, "cosine")
    with pytest.raises(ValueError, match="payload"):
        IVFIndex(32, 4, "hnsw")
    with pytest.raises(ValueError, match="nlist"):
        IVFIndex(32, 4).train(np.zeros((3, 32), np.float32))
