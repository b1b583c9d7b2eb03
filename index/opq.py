"""OPQ rotation learning (Ge, He, Ke & Sun, "Optimized Product Quantization", TPAMI 2014),
non-parametric variant as faiss's OPQMatrix: alternate PQ training on the rotated data and
an orthogonal Procrustes update of the rotation. Training is not a hot loop: numpy SVD.
"""
from __future__ import annotations

import numpy as np

from winnow import _core
from winnow.validation import check_finite


def train_opq(x: np.ndarray, M: int, nbits: int = 8, niter: int = 20, niter_pq: int = 4,
              max_train: int = 65536, seed: int = 1234, threads: int = 1) -> np.ndarray:
    """Rotation R (d, d), orthogonal, so that PQ of x @ R has lower reconstruction error.

    x: (n, d) float32 training vectors; a seeded sample of at most ``max_train`` is used.
    """
    rng = np.random.default_rng(seed)
    if len(x) > max_train:
        x = x[np.sort(rng.choice(len(x), max_train, replace=False))]
    # only the sample (the caller's rows unless n > max_train): the index classes pass vectors
    # as_vectors already checked whole, so a second pass over a mapped multi-GB corpus here
    # would be work done twice
    check_finite(np.asarray(x), "x")
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    # Start from a random orthogonal matrix (QR of a Gaussian), as faiss does.
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    rotation = q.astype(np.float32)
    for it in range(niter):
        xr = np.ascontiguousarray(x @ rotation)
        pq = _core.ProductQuantizer(d, M, nbits)
        pq.train(xr, niter=niter_pq, seed=seed + it, threads=threads)
        y = pq.decode(pq.encode(xr, threads))
        # Procrustes: R = argmin ||x R - y|| over orthogonal R = U V^T, U S V^T = svd(x^T y)
        u, _, vt = np.linalg.svd(x.T.astype(np.float64) @ y.astype(np.float64))
        rotation = (u @ vt).astype(np.float32)
    return np.ascontiguousarray(rotation)
