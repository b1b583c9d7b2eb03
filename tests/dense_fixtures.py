"""Shared helpers of the dense-index tests: seeded clustered data and index builders."""
from __future__ import annotations

import numpy as np

from winnow.index.flat import FlatIndex
from winnow.index.ivf import IVFIndex
from winnow.index.pq_index import PQIndex

D = 32


def clustered(n: int, d: int = D, seed: int = 0, n_clusters: int = 20, nq: int = 20):
    """(x (n, d), q (nq, d)) float32, Gaussian blobs, norms around 1."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d)).astype(np.float32)
    x = centers[rng.integers(0, n_clusters, n)] + 0.5 * rng.standard_normal((n, d))
    q = centers[rng.integers(0, n_clusters, nq)] + 0.5 * rng.standard_normal((nq, d))
    scale = np.float32(1.0 / np.sqrt(d))
    return (x * scale).astype(np.float32), (q * scale).astype(np.float32)


def numpy_topk(x, q, k, metric):
    """Exact reference: scores (higher better; l2 = -squared distance), ties by lower row."""
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    s = q64 @ x64.T if metric == "ip" else -(((q64[:, None, :] - x64[None]) ** 2).sum(-1))
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, 1), order


def assert_same_hits(s1, i1, s2, i2, tol=1e-5):
    """Same scores (to ``tol``) and the same ids except for the order among tied scores."""
    np.testing.assert_allclose(s1, s2, rtol=tol, atol=tol)
    for a_s, a_i, b_i in zip(s1, i1, i2):
        if len(a_s) == 0:
            continue
        last = a_s[-1]
        sure = a_s > last + 10 * tol  # strictly above the cut: the set must match exactly
        assert set(a_i[sure].tolist()) == set(b_i[sure].tolist())
        # within tied groups, the ids are a permutation (the cut group may differ)
        assert np.array_equal(a_i[sure] != -1, b_i[sure] != -1)


def make_index(kind: str, x, metric="ip", seed=0, refine=False):
    """Trained and filled index of a named kind over x."""
    d = x.shape[1]
    if kind == "flat":
        index = FlatIndex(d, metric)
    elif kind == "pq8":
        index = PQIndex(d, 8, 8, metric, refine=refine)
    elif kind == "pq4":
        index = PQIndex(d, 8, 4, metric, refine=refine)
    elif kind == "opq":
        index = PQIndex(d, 8, 8, metric, opq=True, refine=refine)
    elif kind == "ivf_flat":
        index = IVFIndex(d, 8, "flat", metric=metric, refine=refine)
    elif kind == "ivf_pq":
        index = IVFIndex(d, 8, "pq", M=8, metric=metric, refine=refine)
    elif kind == "ivf_pq_nores":
        index = IVFIndex(d, 8, "pq", M=8, metric=metric, residual=False, refine=refine)
    elif kind == "ivf_fastscan":
        index = IVFIndex(d, 8, "fastscan", M=8, metric=metric, refine=refine)
    elif kind in ("flat_sq8", "flat_f16"):
        index = FlatIndex(d, metric, payload="sq8" if kind == "flat_sq8" else "float16", refine=refine)
    elif kind in ("ivf_sq8", "ivf_f16"):
        index = IVFIndex(d, 8, "sq8" if kind == "ivf_sq8" else "float16", metric=metric, refine=refine)
    else:
        raise ValueError(kind)
    if kind == "flat_sq8":
        index.train(x)
    elif not kind.startswith("flat"):
        index.train(x, niter=8, seed=seed)
    index.add(x)
    return index


KINDS = ["flat", "pq8", "pq4", "opq", "ivf_flat", "ivf_pq", "ivf_pq_nores", "ivf_fastscan", "flat_sq8", "flat_f16",
         "ivf_sq8", "ivf_f16"]
