"""OPQ rotation learning (Ge, He, Ke & Sun, "Optimized Product Quantization", TPAMI 2014),
non-parametric variant, following faiss's ``OPQMatrix::train`` step for step:

- the training sample (at most ``max_train`` = 65,536 rows, faiss's ``max_train_points``) is
  centred on its mean before training; the rotation itself is applied to uncentred vectors
  (faiss's OPQMatrix is a LinearTransform without bias, and so is ours: ``x @ R``);
- start from a random orthogonal matrix (QR of a Gaussian);
- ``niter`` = 50 alternations of (PQ training on the rotated sample, encode / decode,
  orthogonal Procrustes update of the rotation from the SVD of ``x^T y``);
- the first PQ training runs ``niter_pq_0`` = 40 k-means iterations from a fresh
  initialisation; every later one is *hot-started* from the previous codebook and runs
  ``niter_pq`` = 4 Lloyd iterations (faiss's ``Train_hot_start``); k-means samples at most
  1,000 points per centroid (faiss sets ``cp.max_points_per_centroid = 1000`` here).

What differs from faiss, on purpose or by necessity: the random start and the k-means seeding
use numpy / Winnow seeds, not faiss's ``float_randn(1234)``, so the rotation is not bit-equal;
in a hot-started Lloyd iteration a centroid that receives no point keeps its value (faiss
splits a large cluster into it). Training is not a hot loop: numpy SVD, the core's
nearest-centroid assignment.
"""
from __future__ import annotations

import numpy as np

from winnow import _core
from winnow.validation import check_finite

FAISS_NITER = 50          # OPQMatrix::niter
FAISS_NITER_PQ = 4        # OPQMatrix::niter_pq (hot-started iterations)
FAISS_NITER_PQ_0 = 40     # OPQMatrix::niter_pq_0 (the first, cold PQ training)
FAISS_MAX_TRAIN = 256 * 256


def _lloyd_hot_start(xr: np.ndarray, centroids: np.ndarray, niter: int, threads: int) -> np.ndarray:
    """``niter`` Lloyd iterations per sub-space from ``centroids`` (M, K, dsub); xr (n, d).
    A centroid that receives no point keeps its value."""
    M, K, dsub = centroids.shape
    c = np.array(centroids, dtype=np.float32, copy=True)
    for _ in range(niter):
        codes = _core.nearest_assign(xr, np.ascontiguousarray(c), threads)  # (n, M) int32
        for m in range(M):
            sub = xr[:, m * dsub:(m + 1) * dsub].astype(np.float64)
            counts = np.bincount(codes[:, m], minlength=K)
            sums = np.stack([np.bincount(codes[:, m], weights=sub[:, j], minlength=K) for j in range(dsub)], 1)
            used = counts > 0
            c[m, used] = (sums[used] / counts[used, None]).astype(np.float32)
    return c


def train_opq(x: np.ndarray, M: int, nbits: int = 8, niter: int = FAISS_NITER, niter_pq: int = FAISS_NITER_PQ,
              niter_pq_0: int = FAISS_NITER_PQ_0, max_train: int = FAISS_MAX_TRAIN, seed: int = 1234,
              threads: int = 1, return_codebook: bool = False):
    """Rotation R (d, d), orthogonal, so that PQ of x @ R has lower reconstruction error.

    x: (n, d) float32 training vectors; a seeded sample of at most ``max_train`` is used.
    Defaults are faiss's (see the module docstring). ``return_codebook``: also return the
    hot-started PQ centroids (M, 2**nbits, d/M) of the last iteration (trained on the
    *centred* rotated sample, as faiss's internal PQ; an index should train its own PQ on the
    rotated uncentred vectors, as faiss's ``OPQ{M},PQ{M}`` does).
    """
    if niter < 1:
        raise ValueError(f"niter must be >= 1, got {niter}")
    rng = np.random.default_rng(seed)
    if len(x) > max_train:
        x = x[np.sort(rng.choice(len(x), max_train, replace=False))]
    # only the sample (the caller's rows unless n > max_train): the index classes pass vectors
    # as_vectors already checked whole, so a second pass over a mapped multi-GB corpus here
    # would be work done twice
    check_finite(np.asarray(x), "x")
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    xc = np.ascontiguousarray(x - x.mean(axis=0, dtype=np.float64).astype(np.float32))  # faiss centres x
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    rotation = q.astype(np.float32)
    centroids = None
    for it in range(niter):
        xr = np.ascontiguousarray(xc @ rotation)
        if centroids is None:
            pq = _core.ProductQuantizer(d, M, nbits)
            pq.train(xr, niter=niter_pq_0, seed=seed, threads=threads, max_points_per_centroid=1000)
            centroids = pq.centroids
        else:
            centroids = _lloyd_hot_start(xr, centroids, niter_pq, threads)
        codes = _core.nearest_assign(xr, centroids, threads)
        y = np.concatenate([centroids[m][codes[:, m]] for m in range(M)], axis=1)  # decode (n, d)
        # Procrustes: R = argmin ||xc R - y|| over orthogonal R = U V^T, U S V^T = svd(xc^T y)
        u, _, vt = np.linalg.svd(xc.T.astype(np.float64) @ y.astype(np.float64))
        rotation = (u @ vt).astype(np.float32)
    rotation = np.ascontiguousarray(rotation)
    return (rotation, centroids) if return_codebook else rotation
