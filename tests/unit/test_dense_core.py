"""Dense core (_core): exact search, k-means, assignment and product quantization.

Exact oracles against numpy first (DESIGN.md section 5), then the binding boundaries.
"""
from __future__ import annotations

import numpy as np
import pytest

from winnow import _core


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _brute_force(x, y, k, metric):
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    if metric == "ip":
        full = x64 @ y64.T
    else:
        full = -(((x64 * x64).sum(1)[:, None] + (y64 * y64).sum(1)[None, :]) - 2 * x64 @ y64.T)
    # Stable sort on -score: ties by lower id, as the core does.
    order = np.argsort(-full, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(full, order, 1), order


# ----------------------------------------------------------------------------- exact search


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("nq,nb,d", [(1, 1, 1), (7, 53, 3), (33, 517, 37), (5, 2000, 128), (70, 300, 384)])
def test_exact_search_matches_numpy(metric, nq, nb, d):
    rng = np.random.default_rng(nq * 1000 + d)
    x, y = _rand(rng, nq, d), _rand(rng, nb, d)
    k = min(10, nb)
    scores, ids = _core.dense_exact_search(x, y, k, metric=metric)
    ref_s, ref_i = _brute_force(x, y, k, metric)
    assert scores.shape == (nq, k) and scores.dtype == np.float32
    assert ids.shape == (nq, k) and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, ref_i)
    np.testing.assert_allclose(scores, ref_s, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_exact_search_threads_identical(metric):
    rng = np.random.default_rng(1)
    y = _rand(rng, 3001, 50)
    for nq in (1, 2, 3, 64, 129):  # few queries split the database, many split the queries
        x = _rand(rng, nq, 50)
        s1, i1 = _core.dense_exact_search(x, y, 17, metric=metric, threads=1)
        s2, i2 = _core.dense_exact_search(x, y, 17, metric=metric, threads=2)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(s1, s2)


def test_exact_search_y_norms_and_squared_norms():
    rng = np.random.default_rng(2)
    x, y = _rand(rng, 9, 24), _rand(rng, 100, 24)
    norms = _core.dense_squared_norms(y)
    np.testing.assert_allclose(norms, (y.astype(np.float64) ** 2).sum(1), rtol=1e-5)
    a = _core.dense_exact_search(x, y, 5, metric="l2")
    b = _core.dense_exact_search(x, y, 5, metric="l2", y_norms=norms)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="y_norms"):
        _core.dense_exact_search(x, y, 5, metric="l2", y_norms=norms[:50])


def test_exact_search_ties_by_lower_id():
    y = np.ones((20, 8), dtype=np.float32)
    x = np.ones((2, 8), dtype=np.float32)
    for threads in (1, 2):
        _, ids = _core.dense_exact_search(x, y, 5, threads=threads)
        np.testing.assert_array_equal(ids, np.tile(np.arange(5), (2, 1)))


def test_exact_search_k_larger_than_nb_pads():
    rng = np.random.default_rng(3)
    x, y = _rand(rng, 4, 16), _rand(rng, 3, 16)
    for threads in (1, 2):
        scores, ids = _core.dense_exact_search(x, y, 6, threads=threads)
        ref_s, ref_i = _brute_force(x, y, 3, "ip")
        np.testing.assert_array_equal(ids[:, :3], ref_i)
        np.testing.assert_allclose(scores[:, :3], ref_s, rtol=1e-5, atol=1e-5)
        assert (ids[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()


def test_exact_search_empty_query_and_empty_index():
    rng = np.random.default_rng(4)
    y = _rand(rng, 10, 8)
    scores, ids = _core.dense_exact_search(np.zeros((0, 8), np.float32), y, 5)
    assert scores.shape == (0, 5) and ids.shape == (0, 5)
    scores, ids = _core.dense_exact_search(_rand(rng, 3, 8), np.zeros((0, 8), np.float32), 4, metric="l2")
    assert (ids == -1).all() and np.isneginf(scores).all()
    scores, ids = _core.dense_exact_search(_rand(rng, 3, 8), y, 0)
    assert scores.shape == (3, 0)


def test_exact_search_boundaries(tmp_path):
    rng = np.random.default_rng(5)
    x, y = _rand(rng, 4, 32), _rand(rng, 50, 32)
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        _core.dense_exact_search(x.astype(np.float64), y, 3)
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        _core.dense_exact_search(x, y.astype(np.float64), 3)
    with pytest.raises(ValueError, match="dim|columns"):
        _core.dense_exact_search(_rand(rng, 4, 31), y, 3)
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        _core.dense_exact_search(_rand(rng, 32, 32).T, y, 3)  # transposed view
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        _core.dense_exact_search(_rand(rng, 4, 64)[:, ::2], y, 3)  # strided
    with pytest.raises(ValueError, match="k"):
        _core.dense_exact_search(x, y, -1)
    with pytest.raises(ValueError, match="metric"):
        _core.dense_exact_search(x, y, 3, metric="cosine")
    path = tmp_path / "y.npy"
    np.save(path, y)
    y_mm = np.load(path, mmap_mode="r")
    assert not y_mm.flags.writeable
    a = _core.dense_exact_search(x, y_mm, 3)
    b = _core.dense_exact_search(x, y, 3)
    np.testing.assert_array_equal(a[1], b[1])


# ----------------------------------------------------------------------------- k-means


def _blobs(rng, n_per, centers, d, scale=0.05):
    c = rng.standard_normal((centers, d)).astype(np.float32) * 3
    pts = np.repeat(c, n_per, axis=0) + rng.standard_normal((n_per * centers, d)).astype(np.float32) * scale
    return pts.astype(np.float32), c


@pytest.mark.parametrize("kmeanspp", [False, True])
def test_kmeans_deterministic_and_decreasing(kmeanspp):
    rng = np.random.default_rng(6)
    x, _ = _blobs(rng, 100, 8, 16, scale=0.5)
    c1, obj1, _ = _core.kmeans(x, 8, niter=15, seed=7, kmeanspp=kmeanspp, threads=1)
    c2, obj2, _ = _core.kmeans(x, 8, niter=15, seed=7, kmeanspp=kmeanspp, threads=2)
    np.testing.assert_array_equal(c1, c2)
    assert obj1 == obj2 and len(obj1) == 15
    assert c1.shape == (8, 16) and c1.dtype == np.float32
    assert all(b <= a * (1 + 1e-6) for a, b in zip(obj1, obj1[1:]))
    c3, _, _ = _core.kmeans(x, 8, niter=15, seed=8, kmeanspp=kmeanspp)
    assert not np.array_equal(c1, c3)


def test_kmeans_objective_matches_assignment():
    rng = np.random.default_rng(7)
    x = _rand(rng, 600, 12)
    c, obj, _ = _core.kmeans(x, 10, niter=5, seed=1)
    assign, dist = _core.assign_nearest(x, c)
    ref = ((x[:, None, :].astype(np.float64) - c[None].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_array_equal(assign, ref.argmin(1))
    np.testing.assert_allclose(dist, ref.min(1), rtol=1e-4, atol=1e-4)
    # objective[i] is measured at the assignment step of iteration i (faiss convention), so
    # one more assignment is at most the last recorded value.
    assert dist.astype(np.float64).sum() <= obj[-1] * (1 + 1e-5)


def test_kmeans_repairs_empty_clusters():
    # 4 distinct points each repeated 50 times but 8 clusters: at most 4 clusters can be
    # non-empty, so every iteration splits the largest ones (centroid copies perturbed by a
    # relative 1/1024, hence a tiny non-zero objective).
    rng = np.random.default_rng(8)
    base = _rand(rng, 4, 6)
    x = np.repeat(base, 50, axis=0)
    for kmeanspp in (False, True):
        c, obj, repaired = _core.kmeans(x, 8, niter=10, seed=3, kmeanspp=kmeanspp)
        assert repaired >= 4
        assert np.isfinite(c).all()
        assign, _ = _core.assign_nearest(x, c)
        assert len(set(assign[::50].tolist())) == 4  # every distinct point keeps its own centroid
        assert obj[-1] < 1e-4 * float((x.astype(np.float64) ** 2).sum())


def test_kmeans_sampling_and_spherical():
    rng = np.random.default_rng(9)
    x = _rand(rng, 5000, 8)
    c, obj, _ = _core.kmeans(x, 4, niter=3, seed=1, max_points_per_centroid=64)
    assert c.shape == (4, 8)
    c, _, _ = _core.kmeans(x, 4, niter=3, seed=1, spherical=True)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, rtol=1e-5)


def test_kmeans_boundaries():
    rng = np.random.default_rng(10)
    with pytest.raises(ValueError, match="k="):
        _core.kmeans(_rand(rng, 5, 4), 6)
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        _core.kmeans(rng.standard_normal((50, 4)), 3)
    with pytest.raises(ValueError, match="dim|columns"):
        _core.assign_nearest(_rand(rng, 5, 4), _rand(rng, 3, 5))
    assign, dist = _core.assign_nearest(np.zeros((0, 4), np.float32), _rand(rng, 3, 4))
    assert assign.shape == (0,) and dist.shape == (0,)


# ----------------------------------------------------------------------------- PQ


@pytest.fixture(scope="module")
def pq_data():
    rng = np.random.default_rng(11)
    return _rand(rng, 3000, 32), _rand(rng, 5, 32)


@pytest.mark.parametrize("nbits,M", [(8, 8), (4, 8), (4, 5), (8, 1)])
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_pq_adc_equals_decoded(pq_data, nbits, M, metric):
    x, q = pq_data
    d = 40 if M == 5 else 32
    if d != x.shape[1]:
        x = np.ascontiguousarray(np.concatenate([x, x[:, :8]], axis=1))
        q = np.ascontiguousarray(np.concatenate([q, q[:, :8]], axis=1))
    pq = _core.ProductQuantizer(d, M, nbits)
    assert not pq.is_trained
    pq.train(x, niter=10, seed=1)
    assert pq.is_trained and pq.ksub == 2**nbits and pq.dsub == d // M
    codes = pq.encode(x[:500])
    assert codes.shape == (500, pq.code_size) and codes.dtype == np.uint8
    assert pq.code_size == (M if nbits == 8 else (M + 1) // 2)
    rec = pq.decode(codes)
    assert rec.shape == (500, d) and rec.dtype == np.float32
    for qi in q:
        lut = pq.compute_lut(qi, metric)
        assert lut.shape == (M, 2**nbits)
        scores = pq.adc(lut, codes)
        if metric == "ip":
            ref = rec.astype(np.float64) @ qi.astype(np.float64)
        else:
            ref = -((rec.astype(np.float64) - qi.astype(np.float64)) ** 2).sum(1)
        np.testing.assert_allclose(scores, ref, rtol=1e-5, atol=1e-5)
        ids = np.array([499, 0, 7, 7], dtype=np.int64)
        np.testing.assert_array_equal(pq.adc_subset(lut, codes, ids), scores[ids])


def test_pq_encode_is_nearest_centroid(pq_data):
    x, _ = pq_data
    pq = _core.ProductQuantizer(32, 4, 8)
    pq.train(x, niter=5, seed=2)
    codes = pq.encode(x[:200], threads=2)
    np.testing.assert_array_equal(codes, pq.encode(x[:200], threads=1))
    cents = pq.centroids
    assert cents.shape == (4, 256, 8)
    for m in range(4):
        sub = x[:200, m * 8:(m + 1) * 8].astype(np.float64)
        dist = ((sub[:, None, :] - cents[m][None].astype(np.float64)) ** 2).sum(-1)
        chosen = dist[np.arange(200), codes[:, m]]
        np.testing.assert_allclose(chosen, dist.min(1), rtol=1e-5, atol=1e-5)


def test_pq_training_is_seeded_and_set_centroids(pq_data):
    x, q = pq_data
    a = _core.ProductQuantizer(32, 8, 4)
    b = _core.ProductQuantizer(32, 8, 4)
    a.train(x, niter=5, seed=3)
    b.train(x, niter=5, seed=3, threads=2)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    c = _core.ProductQuantizer(32, 8, 4)
    c.set_centroids(a.centroids)
    assert c.is_trained
    np.testing.assert_array_equal(c.encode(x[:50]), a.encode(x[:50]))
    with pytest.raises(ValueError, match="shape"):
        c.set_centroids(np.zeros((8, 16, 3), np.float32))


def test_pq_boundaries(pq_data, tmp_path):
    x, q = pq_data
    with pytest.raises(ValueError, match="nbits"):
        _core.ProductQuantizer(32, 8, 6)
    with pytest.raises(ValueError, match="d=30.*M=8"):
        _core.ProductQuantizer(30, 8, 8)
    pq = _core.ProductQuantizer(32, 8, 8)
    with pytest.raises(ValueError, match="trained"):
        pq.encode(x[:5])
    pq.train(x, niter=3)
    with pytest.raises(ValueError, match="dim|columns"):
        pq.encode(np.ascontiguousarray(x[:5, :16]))
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        pq.encode(x[:5].astype(np.float64))
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        pq.encode(x[:32, :32].T)
    with pytest.raises(ValueError, match="dim"):
        pq.compute_lut(q[0, :16].copy(), "ip")
    lut = pq.compute_lut(q[0], "ip")
    codes = pq.encode(x[:10])
    with pytest.raises(ValueError, match="code_size"):
        pq.adc(lut, np.ascontiguousarray(codes[:, :4]))
    with pytest.raises(ValueError, match="lut"):
        pq.adc(np.ascontiguousarray(lut[:4]), codes)
    with pytest.raises(IndexError):
        pq.adc_subset(lut, codes, np.array([10], dtype=np.int64))
    assert pq.adc(lut, np.zeros((0, 8), np.uint8)).shape == (0,)
    path = tmp_path / "x.npy"
    np.save(path, x[:100])
    x_mm = np.load(path, mmap_mode="r")
    np.testing.assert_array_equal(pq.encode(x_mm), pq.encode(x[:100]))


def test_all_finite_matches_numpy():
    """The per-call pre-check of query vectors (as_vectors) agrees with np.isfinite(x).all(),
    including FLT_MAX, subnormals and a bad entry past the first 4,096-element chunk."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((30, 384)).astype(np.float32)
    assert _core.all_finite(x) and _core.all_finite(np.zeros((0, 384), np.float32))
    x[0, 0] = np.finfo(np.float32).max
    x[0, 1] = -np.finfo(np.float32).max
    x[0, 2] = np.finfo(np.float32).smallest_subnormal
    assert _core.all_finite(x) == bool(np.isfinite(x).all()) is True
    for bad in (np.nan, np.inf, -np.inf):
        for where in ((0, 0), (12, 100), (29, 383)):  # 12 * 384 + 100 is in the second chunk
            y = x.copy()
            y[where] = bad
            assert _core.all_finite(y) is False
