"""Log-domain Sinkhorn balanced assignment and constrained PQ training (RepCONC, issue 5).

The reference is POT's ``ot.sinkhorn`` (same update order: centroid duals then sample duals),
run for the same fixed number of iterations with ``stopThr=0``.
"""
import warnings

import numpy as np
import ot
import pytest

from winnow import _core


def _pot_plan(a, b, cost, eps, iters):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge": we fix the iteration count on purpose
        return ot.sinkhorn(a, b, cost.astype(np.float64), eps, numItermax=iters, stopThr=0.0)


@pytest.mark.parametrize("eps,iters", [(0.1, 50), (0.05, 200), (0.5, 7)])
def test_plan_matches_pot_and_marginals(eps, iters):
    rng = np.random.default_rng(0)
    n, K = 40, 8
    cost = rng.random((n, K)).astype(np.float32)
    r = _core.sinkhorn_plan(cost, eps, iters, False)
    a, b = np.full(n, 1 / n), np.full(K, 1 / K)
    ref = _pot_plan(a, b, cost, eps, iters)
    plan = r["plan"]
    assert np.abs(plan - ref).max() < 1e-6 * ref.max()  # observed ~5e-10 absolute
    # sample marginals are exact after the final sample update (relative 1e-6)
    np.testing.assert_allclose(plan.sum(1), a, rtol=1e-6, atol=0)
    # centroid marginals: the same convergence as POT's
    np.testing.assert_allclose(plan.sum(0), ref.sum(0), rtol=1e-6, atol=0)
    assert np.all(r["codes"] == plan.argmax(1))


def test_converged_centroid_marginals_and_weighted_samples():
    rng = np.random.default_rng(1)
    n, K = 60, 6
    cost = rng.random((n, K)).astype(np.float32)
    w = (rng.random(n) + 0.1).astype(np.float32)
    r = _core.sinkhorn_plan(cost, 0.2, 300, False, w)
    a = w.astype(np.float64) / w.sum()
    np.testing.assert_allclose(r["plan"].sum(1), a, rtol=1e-6, atol=0)
    np.testing.assert_allclose(r["plan"].sum(0), np.full(K, 1 / K), rtol=1e-6, atol=0)
    assert r["marginal_error"] < 1e-6
    ref = _pot_plan(a, np.full(K, 1 / K), cost, 0.2, 300)
    assert np.abs(r["plan"] - ref).max() < 1e-9


def test_scaled_costs_equal_smaller_epsilon():
    # scale_costs divides by the half-range: the same plan as eps * half-range on raw costs.
    rng = np.random.default_rng(2)
    cost = (rng.random((30, 5)) * 4 + 1).astype(np.float32)
    half = (float(cost.max()) - float(cost.min())) / 2
    r1 = _core.sinkhorn_plan(cost, 0.1, 40, True)
    r2 = _core.sinkhorn_plan(cost, 0.1 * half, 40, False)
    assert r1["cost_scale"] == pytest.approx(half)
    np.testing.assert_allclose(r1["plan"], r2["plan"], rtol=1e-9, atol=1e-15)


def test_zero_iterations_is_nearest_centroid():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((500, 32)).astype(np.float32)
    cent = rng.standard_normal((4, 16, 8)).astype(np.float32)
    codes, _ = _core.balanced_assign(x, cent, 0.003, 0, True)
    near = _core.nearest_assign(x, cent)
    np.testing.assert_array_equal(codes, near)
    pq = _core.ProductQuantizer(32, 4, 8)
    full = np.zeros((4, 256, 8), np.float32)
    full[:, :16] = cent
    full[:, 16:] = 1e3  # unused centroids far away
    pq.set_centroids(full)
    np.testing.assert_array_equal(pq.encode(x, 1).astype(np.int32), near)
    cost = rng.random((50, 7)).astype(np.float32)
    np.testing.assert_array_equal(_core.sinkhorn_plan(cost, 1e-3, 0, True)["codes"], cost.argmin(1))


def test_batched_equals_single_and_threads():
    rng = np.random.default_rng(4)
    cost = rng.random((5, 64, 16)).astype(np.float32)
    c1, e1 = _core.sinkhorn_codes(cost, 0.05, 30, True, None, 1)
    c2, e2 = _core.sinkhorn_codes(cost, 0.05, 30, True, None, 3)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(e1, e2)
    for m in range(5):
        np.testing.assert_array_equal(c1[:, m], _core.sinkhorn_plan(cost[m], 0.05, 30, True)["codes"])


def _skewed(n=3000, d=16, seed=0):
    # Unit vectors (like normalised embeddings): 80% around one direction, 20% spread over the
    # sphere. Nearest-centroid k-means gives very unequal cluster sizes on such data. (With
    # unbounded heavy tails, global [-1, 1] cost scaling lets outliers set the scale and the
    # argmax rounding of a too-smooth plan collapses; bounded data is the realistic case.)
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal(d)
    mu /= np.linalg.norm(mu)
    dense = mu + 0.6 * rng.standard_normal((int(n * 0.8), d)) / np.sqrt(d)
    x = np.concatenate([dense, rng.standard_normal((n - len(dense), d))])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x.astype(np.float32))


def test_constrained_more_balanced_than_kmeans():
    x = _skewed()
    pq = _core.ProductQuantizer(16, 2, 8)
    pq.train(x, niter=10, seed=5)
    plain = _core.balance_stats(_core.nearest_assign(x, pq.centroids), 256)
    r = _core.train_constrained_pq(x, 2, 256, niter=6, epsilon=0.01, iterations=20, seed=5)
    # observed: plain k-means avg_imbalance 0.39 / 0.32; constrained codes 0.115 / 0.118;
    # nearest-centroid codes on the constrained codebook (index time) 0.17 / 0.16
    assert r["constrained"]["avg_imbalance"].max() < 0.5 * plain["avg_imbalance"].min()
    assert r["nearest"]["avg_imbalance"].max() < 0.75 * plain["avg_imbalance"].min()
    assert r["constrained"]["entropy"].min() > plain["entropy"].max()
    assert len(r["mse_constrained"]) == 6 and r["centroids"].shape == (2, 256, 8)


def test_constrained_training_deterministic():
    x = _skewed(1200, 8, seed=1)
    a = _core.train_constrained_pq(x, 2, 256, niter=3, iterations=20, seed=9, threads=1)
    b = _core.train_constrained_pq(x, 2, 256, niter=3, iterations=20, seed=9, threads=2)
    np.testing.assert_array_equal(a["centroids"], b["centroids"])
    assert a["mse_constrained"] == b["mse_constrained"]
    c = _core.train_constrained_pq(x, 2, 256, niter=3, iterations=20, seed=10, threads=1)
    assert not np.array_equal(a["centroids"], c["centroids"])


def test_balance_stats_definition():
    codes = np.array([[0], [0], [1], [3]], np.int32)
    s = _core.balance_stats(codes, 4)
    np.testing.assert_array_equal(s["counts"], [[2, 1, 0, 1]])
    assert s["avg_imbalance"][0] == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert s["entropy"][0] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="outside"):
        _core.balance_stats(np.array([[4]], np.int32), 4)


def test_bad_input():
    cost = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="epsilon"):
        _core.sinkhorn_plan(cost, 0.0, 5)
    with pytest.raises(ValueError, match="iterations"):
        _core.sinkhorn_plan(cost, 0.1, -1)
    with pytest.raises(ValueError, match="sample_marginals has 3 entries, expected 4"):
        _core.sinkhorn_plan(cost, 0.1, 5, True, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="must be finite and > 0"):
        _core.sinkhorn_plan(cost, 0.1, 5, True, np.array([1, 0, 1, 1], np.float32))
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        _core.sinkhorn_plan(cost.astype(np.float64), 0.1, 5)
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        _core.sinkhorn_plan(np.ones((3, 4), np.float32).T, 0.1, 5)
    x = np.ones((5, 12), np.float32)
    with pytest.raises(ValueError, match="x has 12 columns"):
        _core.balanced_assign(x, np.ones((2, 4, 5), np.float32), 0.1, 5)
    with pytest.raises(ValueError, match="init has shape"):
        _core.train_constrained_pq(np.ones((300, 12), np.float32), 2, 256, init=np.ones((2, 256, 5), np.float32))
    with pytest.raises(ValueError, match="at least K=256"):
        _core.train_constrained_pq(np.ones((10, 12), np.float32), 2, 256)
    empty = _core.sinkhorn_plan(np.zeros((0, 3), np.float32), 0.1, 5)
    assert empty["plan"].shape == (0, 3) and empty["codes"].shape == (0,)
