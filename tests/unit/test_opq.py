"""OPQ (index/opq.py) against faiss's OPQMatrix::train: same objective reached, orthogonal,
and the faiss-like schedule (centring, hot start) matters on off-centre data."""
import faiss
import numpy as np

from winnow import _core
from winnow.index.opq import train_opq


def _data(n=1500, d=16, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, d)) * np.linspace(3, 0.1, d)  # anisotropic: rotation matters
    rot, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (base @ rot + 4.0).astype(np.float32)  # off-centre: faiss centres before training


def _pq_mse(x, M):
    pq = _core.ProductQuantizer(x.shape[1], M, 8)
    pq.train(np.ascontiguousarray(x), niter=25, seed=1, threads=1)
    return float(((pq.decode(pq.encode(np.ascontiguousarray(x), 1)) - x) ** 2).sum(1).mean())


def test_opq_matches_faiss_objective():
    x = _data()
    M = 4
    faiss.omp_set_num_threads(1)
    opq = faiss.OPQMatrix(x.shape[1], M)
    opq.verbose = False
    opq.train(x)
    a = faiss.vector_to_array(opq.A).reshape(x.shape[1], x.shape[1])  # faiss: y = A x  -> ours x @ A.T
    r = train_opq(x, M)
    np.testing.assert_allclose(r.T @ r, np.eye(x.shape[1]), atol=1e-4)
    ours, theirs, none = _pq_mse(x @ r, M), _pq_mse(x @ a.T, M), _pq_mse(x, M)
    # the same PQ on top of either rotation: ours within 3% of faiss's, both well below no rotation
    assert ours <= 1.03 * theirs, (ours, theirs)
    assert theirs <= 1.03 * ours, (ours, theirs)
    assert ours < 0.9 * none


def test_opq_codebook_is_hot_started_and_centred():
    x = _data(n=800, d=8)
    r, c = train_opq(x, 2, niter=3, return_codebook=True)
    assert c.shape == (2, 256, 4)
    # the last codebook was trained on the centred rotated sample: its mean is ~0, not ~the data mean
    xc_mean = (x @ r).mean(0)
    assert np.abs(xc_mean).max() > 1.0
    assert np.abs(c.reshape(2, 256, 4).mean(1)).max() < 0.5 * np.abs(xc_mean).max()
