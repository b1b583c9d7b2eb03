"""Exact oracles of the dense indexes (DESIGN.md section 5), at the Python level.

Flat == numpy brute force; IVF with nprobe == nlist == exhaustive search over the same payload;
ADC (look-up table) score == inner product with the decoded vector; 4-bit fast-scan with
re-scoring recovers the exact 4-bit ADC top-100; faiss indexes imported with ``from_faiss``
give faiss's own results (faiss-cpu is in the test extra, so these run in CI).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import assert_same_hits, clustered, numpy_topk  # noqa: E402

from winnow.index.flat import FlatIndex  # noqa: E402
from winnow.index.ivf import IVFIndex  # noqa: E402
from winnow.index.pq_index import PQIndex  # noqa: E402

METRICS = ["ip", "l2"]


@pytest.fixture(scope="module")
def data():
    return clustered(3000, 32, seed=0, nq=25)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("threads", [1, 2])
def test_flat_equals_numpy(data, metric, threads):
    x, q = data
    index = FlatIndex(32, metric)
    index.add(x)
    scores, ids = index.search_vectors(q, 20, threads=threads)
    ref_s, ref_i = numpy_topk(x, q, 20, metric)
    np.testing.assert_array_equal(ids, ref_i)
    np.testing.assert_allclose(scores, ref_s, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", METRICS)
def test_ivf_flat_full_probe_equals_flat(data, metric):
    x, q = data
    flat = FlatIndex(32, metric)
    flat.add(x)
    ivf = IVFIndex(32, 16, "flat", metric=metric).train(x, niter=5, seed=0)
    ivf.add(x)
    s1, i1 = flat.search_vectors(q, 30)
    s2, i2 = ivf.search_vectors(q, 30, nprobe=16)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-5)
    # fewer probes is a subset search: every returned score is an exact score
    s3, i3 = ivf.search_vectors(q, 30, nprobe=2)
    exact = np.einsum("qd,qkd->qk", q, x[i3]) if metric == "ip" else -((x[i3] - q[:, None]) ** 2).sum(-1)
    np.testing.assert_allclose(s3, exact, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("payload,nbits", [("pq", 8), ("pq", 4), ("fastscan", 4)])
@pytest.mark.parametrize("metric", METRICS)
def test_ivf_pq_nonresidual_full_probe_equals_pq(data, payload, nbits, metric):
    x, q = data
    ivf = IVFIndex(32, 8, payload, M=8, nbits=nbits, metric=metric, residual=False).train(x, niter=5, seed=0)
    ivf.add(x)
    pq = PQIndex(32, 8, nbits, metric)
    pq.set_codebooks(ivf.pq.centroids)
    pq.add(x)
    # fast-scan re-scores its candidates exactly; rescoring all of them makes it exact ADC
    extra = {"rescore_k": len(x)} if nbits == 4 else {}
    s1, i1 = pq.search_vectors(q, 25, **extra)
    s2, i2 = ivf.search_vectors(q, 25, nprobe=8, **extra)
    assert_same_hits(s1, i1, s2, i2)


@pytest.mark.parametrize("payload", ["pq", "fastscan"])
@pytest.mark.parametrize("metric", METRICS)
def test_ivf_pq_residual_full_probe_equals_adc_over_reconstructions(data, payload, metric):
    x, q = data
    ivf = IVFIndex(32, 8, payload, M=8, nbits=8 if payload == "pq" else 4, metric=metric).train(x, niter=5, seed=0)
    ivf.add(x)
    lists = np.repeat(np.arange(8), ivf.list_sizes())
    recon = ivf.centroids[lists] + ivf.pq.decode(np.ascontiguousarray(ivf.rows()))
    ref = FlatIndex(32, metric)
    ref.add(recon, ids=ivf.ids)
    extra = {"rescore_k": len(x)} if payload == "fastscan" else {}
    s1, i1 = ref.search_vectors(q, 25)
    s2, i2 = ivf.search_vectors(q, 25, nprobe=8, **extra)
    assert_same_hits(s1, i1, s2, i2, tol=1e-4)


@pytest.mark.parametrize("nbits", [8, 4])
@pytest.mark.parametrize("metric", METRICS)
def test_lut_score_equals_decoded_inner_product(data, nbits, metric):
    x, q = data
    index = PQIndex(32, 8, nbits, metric).train(x, niter=5, seed=0)
    index.add(x)
    codes = np.ascontiguousarray(index.codes)
    decoded = index.pq.decode(codes)
    for qi in q[:5]:
        lut = index.pq.compute_lut(qi, metric)
        adc = index.pq.adc(lut, codes)
        if metric == "ip":
            ref = decoded @ qi
        else:
            ref = -((decoded - qi) ** 2).sum(1)
        np.testing.assert_allclose(adc, ref, rtol=1e-5, atol=1e-5)
    # and the index's own scores are those of the decoded vectors
    scores, ids = index.search_vectors(q, 10, rescore_k=len(x)) if nbits == 4 else index.search_vectors(q, 10)
    dec = decoded[ids]
    ref = np.einsum("qd,qkd->qk", q, dec) if metric == "ip" else -((dec - q[:, None]) ** 2).sum(-1)
    np.testing.assert_allclose(scores, ref, rtol=1e-5, atol=1e-5)


def test_fastscan_rescored_recall_of_exact_4bit_adc_top100():
    x, q = clustered(20000, 64, seed=3, n_clusters=50, nq=30)
    index = PQIndex(64, 16, 4, "ip").train(x, niter=10, seed=0)
    index.add(x)
    exact = index.pq.decode(np.ascontiguousarray(index.codes)) @ q.T  # (n, nq) exact 4-bit ADC
    truth = np.argsort(-exact, axis=0, kind="stable")[:100].T
    _, ids = index.search_vectors(q, 100)  # default rescore_k = 4 k
    recall = np.mean([len(set(a) & set(b)) / 100 for a, b in zip(ids.tolist(), truth.tolist())])
    assert recall >= 0.99  # observed 1.000 (seed 3, n=20000, M=16, rescore_k=400)


def test_refine_rescores_exactly(data):
    x, q = data
    flat = FlatIndex(32, "ip")
    flat.add(x)
    for index, kw in [(PQIndex(32, 8, 8, "ip", refine=True), {}),
                      (PQIndex(32, 8, 4, "ip", refine=True), {}),
                      (IVFIndex(32, 8, "pq", M=8, refine=True), {"nprobe": 8}),
                      (IVFIndex(32, 8, "fastscan", M=8, refine=True), {"nprobe": 8})]:
        index.train(x, niter=5, seed=0)
        index.add(x)
        s, i = index.search_vectors(q, 10, refine_k=40, **kw)
        # every score is the exact inner product of the returned vector
        np.testing.assert_allclose(s, np.einsum("qd,qkd->qk", q, x[i]), rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(s, axis=1) <= 0)
        # refining every vector is exact search
        extra = {"rescore_k": len(x)} if "fastscan" in repr(index) or getattr(index, "nbits", 8) == 4 else {}
        s_all, i_all = index.search_vectors(q, 10, refine_k=len(x), **kw, **extra)
        s_ref, i_ref = flat.search_vectors(q, 10)
        np.testing.assert_array_equal(i_all, i_ref)
        np.testing.assert_allclose(s_all, s_ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- faiss interop
@pytest.fixture(scope="module")
def faiss():
    import faiss as module  # the test extra installs faiss-cpu: missing, it fails

    return module


def _faiss_search(faiss, index, q, k, metric):
    d, i = index.search(q, k)
    return (d if metric == "ip" else -d), i


def _faiss_cases(faiss, x, metric):
    m = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
    d = x.shape[1]
    faiss.omp_set_num_threads(1)
    out = []
    flat = faiss.IndexFlat(d, m)
    out.append(("flat", flat, {}))
    out.append(("pq", faiss.IndexPQ(d, 8, 8, m), {}))
    quant = faiss.IndexFlat(d, m)
    ivf = faiss.IndexIVFPQ(quant, d, 8, 8, 8, m)
    ivf.nprobe = 8
    out.append(("ivfpq", ivf, {"nprobe": 8}))
    quant2 = faiss.IndexFlat(d, m)
    ivf_nores = faiss.IndexIVFPQ(quant2, d, 8, 8, 8, m)
    ivf_nores.by_residual = False
    ivf_nores.nprobe = 3
    out.append(("ivfpq_nores", ivf_nores, {"nprobe": 3}))
    opq = faiss.index_factory(d, "OPQ8,PQ8np", m)  # np: no polysemous training (slow)
    opq_matrix = faiss.downcast_VectorTransform(faiss.downcast_index(opq).chain.at(0))
    opq_matrix.niter, opq_matrix.niter_pq = 5, 2  # speed; the oracle does not need a good rotation
    out.append(("opq_pq", opq, {}))
    for _, index, _ in out:
        index.train(x)
        index.add(x)
    return out, (quant, quant2)  # keep the coarse quantizers alive


@pytest.mark.parametrize("metric", METRICS)
def test_from_faiss_gives_faiss_results_and_to_faiss_round_trips(data, faiss, metric):
    from winnow.index.faiss_io import from_faiss, to_faiss

    x, q = data
    cases, _keep = _faiss_cases(faiss, x[:2000], metric)
    for name, findex, kw in cases:
        fs, fi = _faiss_search(faiss, findex, q, 20, metric)
        ours = from_faiss(findex)
        ws, wi = ours.search_vectors(q, 20, **kw)
        tol = 1e-5 if name == "flat" else 1e-4
        assert_same_hits(fs, fi, ws, wi, tol=tol), name
        back = to_faiss(ours)
        if hasattr(faiss.downcast_index(back), "nprobe"):
            faiss.downcast_index(back).nprobe = kw["nprobe"]
        bs, bi = _faiss_search(faiss, back, q, 20, metric)
        assert_same_hits(fs, fi, bs, bi, tol=tol), name


def test_faiss_idmap_and_ids_round_trip(data, faiss):
    from winnow.index.faiss_io import from_faiss, to_faiss

    x, q = data
    ids = np.arange(len(x), dtype=np.int64) * 7 + 3
    fidx = faiss.IndexIDMap(faiss.IndexFlatIP(32))
    fidx.add_with_ids(x, ids)
    fs, fi = fidx.search(q, 10)
    ours = from_faiss(fidx)
    ws, wi = ours.search_vectors(q, 10)
    np.testing.assert_array_equal(wi, fi)
    bs, bi = to_faiss(ours).search(q, 10)
    np.testing.assert_array_equal(bi, fi)
