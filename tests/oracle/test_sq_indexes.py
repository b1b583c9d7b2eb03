"""Scalar-quantized payloads (SQ8, float16) of FlatIndex and IVFIndex against oracles: numpy
search over the decoded vectors, exact search after full refinement, faiss's own results for
imported IndexScalarQuantizer / IndexIVFScalarQuantizer; allow-lists, remove, save / load / mmap.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import assert_same_hits, clustered, numpy_topk  # noqa: E402

from winnow.index import load  # noqa: E402
from winnow.index.faiss_io import from_faiss, to_faiss  # noqa: E402
from winnow.index.flat import FlatIndex  # noqa: E402
from winnow.index.format import write_meta  # noqa: E402
from winnow.index.ivf import IVFIndex  # noqa: E402

METRICS = ["ip", "l2"]
SQ = ["sq8", "float16"]


@pytest.fixture(scope="module")
def data():
    return clustered(3000, 32, seed=3, nq=25)


def _ivf_reconstructions(index: IVFIndex) -> np.ndarray:
    """Decoded rows (n, d) of an IVF-SQ index in row order (centroid added back for residuals)."""
    dec = index.sq.decode(np.ascontiguousarray(index.payload_rows))
    if index.residual:
        dec = dec + index.centroids[np.repeat(np.arange(index.nlist), np.diff(index.list_offsets))]
    return dec


@pytest.mark.parametrize("payload", SQ)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("threads", [1, 2])
def test_flat_sq_equals_numpy_over_decoded(data, payload, metric, threads):
    x, q = data
    index = FlatIndex(32, metric, payload=payload)
    index.add(x, threads=threads)
    assert index.codes.shape == (len(x), 32 if payload == "sq8" else 64)
    dec = index.reconstruct(np.arange(len(x)))
    ref_s, ref_i = numpy_topk(dec, q, 20, metric)
    batch_s, batch_i = index.search_vectors(q, 20, threads=threads)  # decode + blocked kernel
    assert_same_hits(ref_s, ref_i, batch_s, batch_i, tol=2e-5)
    for j in range(0, len(q), 6):  # one query per call: the CodeScorer path
        s, i = index.search_vectors(q[j], 20, threads=threads)
        assert_same_hits(ref_s[j:j + 1], ref_i[j:j + 1], s, i, tol=2e-5)


@pytest.mark.parametrize("payload", SQ)
@pytest.mark.parametrize("metric", METRICS)
def test_threads_never_change_results(data, payload, metric):
    x, q = data
    index = FlatIndex(32, metric, payload=payload)
    index.add(np.concatenate([x, x[::-1] * 0.5]))  # 6000 rows: one query's rows split between threads
    for qs in (q[:1], q[:3], q):  # one query, fewer queries than threads, a batch
        s1, i1 = index.search_vectors(qs, 15, threads=1)
        for threads in (2, 3):
            s2, i2 = index.search_vectors(qs, 15, threads=threads)
            np.testing.assert_array_equal(i2, i1)
            np.testing.assert_array_equal(s2, s1)


@pytest.mark.parametrize("payload", SQ)
@pytest.mark.parametrize("metric", METRICS)
def test_full_refine_is_exact(data, payload, metric):
    x, q = data
    exact = FlatIndex(32, metric)
    exact.add(x)
    ref_s, ref_i = exact.search_vectors(q, 10)
    flat = FlatIndex(32, metric, payload=payload, refine=True)
    flat.add(x)
    ivf = IVFIndex(32, 8, payload, metric=metric, refine=True)
    ivf.train(x, niter=5)
    ivf.add(x)
    for index, kw in ((flat, {}), (ivf, {"nprobe": 8})):
        s, i = index.search_vectors(q, 10, refine_k=len(x), **kw)
        assert_same_hits(ref_s, ref_i, s, i, tol=1e-5)


def test_sq8_recall_without_refine(data):
    x, q = data
    exact = FlatIndex(32, "ip")
    exact.add(x)
    _, ref_i = exact.search_vectors(q, 10)
    index = FlatIndex(32, "ip", payload="sq8")
    index.add(x)
    _, i = index.search_vectors(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i, ref_i)])
    assert recall >= 0.9


@pytest.mark.parametrize("payload", SQ)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("residual", [True, False])
def test_ivf_sq_full_probe_equals_numpy_over_reconstructions(data, payload, metric, residual):
    x, q = data
    index = IVFIndex(32, 8, payload, metric=metric, residual=residual)
    index.train(x, niter=5)
    index.add(x)
    ref_s, ref_rows = numpy_topk(_ivf_reconstructions(index), q, 20, metric)
    for threads in (1, 2):
        s, i = index.search_vectors(q, 20, nprobe=8, threads=threads)
        assert_same_hits(ref_s, index.ids[ref_rows], s, i, tol=2e-5)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
@pytest.mark.parametrize("metric", METRICS)
def test_allow_list_honoured(data, kind, metric):
    x, q = data
    if kind == "flat":
        index = FlatIndex(32, metric, payload="sq8")
        index.add(x, ids=np.arange(len(x)) * 3 + 1)
        dec = index.reconstruct(index.ids)
        ids = index.ids
        kw = {}
    else:
        index = IVFIndex(32, 8, "sq8", metric=metric)
        index.train(x, niter=5)
        index.add(x, ids=np.arange(len(x)) * 3 + 1)
        dec, ids, kw = _ivf_reconstructions(index), index.ids, {"nprobe": 8}
    allow = np.random.default_rng(1).choice(ids, 40, replace=False)
    mask = np.isin(ids, allow)
    ref_s, ref_rows = numpy_topk(dec[mask], q, 10, metric)
    for qs in (q[:1], q):  # one query, and a batch
        s, i = index.search_vectors(qs, 10, allow=allow, **kw)
        assert np.isin(i, allow).all()
        assert_same_hits(ref_s[:len(qs)], ids[mask][ref_rows[:len(qs)]], s, i, tol=2e-5)
    s, i = index.search_vectors(q, 10, allow=allow[:3], **kw)  # fewer allowed than k: padded
    assert (i[:, 3:] == -1).all() and np.isneginf(s[:, 3:]).all()


@pytest.mark.parametrize("payload", SQ)
def test_remove_and_add_again(data, payload):
    x, q = data
    index = FlatIndex(32, "ip", payload=payload, refine=True)
    index.add(x[:2000])
    index.add(x[2000:])  # SQ8 ranges from the first add; the second batch is clamped into them
    assert index.remove(np.arange(0, 3000, 2)) == 1500
    assert index.n_docs == 1500 and index.codes.shape[0] == 1500 and index.vectors.shape[0] == 1500
    s, i = index.search_vectors(q, 10)
    assert (i % 2 == 1).all()


@pytest.mark.parametrize("kind", ["flat_sq8_refine", "flat_f16", "ivf_sq8", "ivf_f16_refine"])
def test_save_load_mmap_identical(tmp_path, data, kind):
    x, q = data
    if kind.startswith("flat"):
        index = FlatIndex(32, "l2", payload="sq8" if "sq8" in kind else "float16", refine="refine" in kind)
        index.add(x)
        kw = {}
    else:
        index = IVFIndex(32, 8, "sq8" if "sq8" in kind else "float16", metric="ip", refine="refine" in kind)
        index.train(x, niter=5)
        index.add(x)
        kw = {"nprobe": 3}
    index.set_docnos([f"d{i}" for i in range(len(x))])
    s, i = index.search_vectors(q, 10, **kw)
    index.save(tmp_path / kind)
    meta = json.loads((tmp_path / kind / "meta.json").read_text())
    assert meta["format_version"] == [1, 1] and meta["params"]["payload"] == index.payload
    for mmap in (False, True):
        loaded = load(tmp_path / kind, mmap=mmap)
        assert type(loaded) is type(index) and loaded.payload == index.payload
        s2, i2 = loaded.search_vectors(q, 10, **kw)
        np.testing.assert_array_equal(i2, i)
        np.testing.assert_array_equal(s2, s)
        assert loaded.docnos.lookup(i2[0]) == index.docnos.lookup(i[0])


def test_format_1_0_float32_index_still_loads(tmp_path, data):
    x, q = data
    index = FlatIndex(32, "ip")
    index.add(x)
    index.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "meta.json").read_text())
    assert "payload" not in meta["params"]  # float32 indexes keep the 1.0 parameters
    meta["format_version"] = [1, 0]
    write_meta(tmp_path / "old", meta)
    loaded = load(tmp_path / "old")
    assert loaded.payload == "float32"
    np.testing.assert_array_equal(loaded.search_vectors(q, 5)[1], index.search_vectors(q, 5)[1])


def test_bad_payloads_refused():
    with pytest.raises(ValueError, match="sq4"):
        FlatIndex(8, payload="sq4")
    with pytest.raises(ValueError, match="refine"):
        FlatIndex(8, payload="float32", refine=True)
    with pytest.raises(ValueError, match="sq4"):
        IVFIndex(8, 4, "sq4")
    index = FlatIndex(8, payload="sq8")
    assert not index.is_trained
    with pytest.raises(ValueError, match="finite"):
        index.add(np.full((2, 8), np.nan, np.float32))
    index.add(np.ones((2, 8), np.float32))
    assert index.is_trained


# ----------------------------------------------------------------------------- faiss


def _faiss_search(findex, q, k, metric):
    d, i = findex.search(q, k)
    return (d if metric == "ip" else -d), i


@pytest.mark.parametrize("spec", ["SQ8", "SQfp16", "IVF16,SQ8", "IVF16,SQfp16"])
@pytest.mark.parametrize("metric", METRICS)
def test_from_faiss_gives_faiss_results_and_to_faiss_round_trips(data, spec, metric):
    x, q = data
    fmetric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
    findex = faiss.index_factory(32, spec, fmetric)
    findex.train(x)
    findex.add(x)
    kw = {}
    if "IVF" in spec:
        findex.nprobe = 4
        kw = {"nprobe": 4}
    fs, fi = _faiss_search(findex, q, 20, metric)
    ours = from_faiss(findex)
    assert ours.payload == ("sq8" if "SQ8" in spec else "float16")
    for qs, s_ref, i_ref in ((q, fs, fi), (q[:1], fs[:1], fi[:1])):  # batch and one-query paths
        ws, wi = ours.search_vectors(qs, 20, **kw)
        assert_same_hits(s_ref, i_ref, ws, wi, tol=2e-5)
    back = to_faiss(ours)  # (kept: a downcast wrapper alone would not keep the index alive)
    if "IVF" in spec:
        faiss.downcast_index(back).nprobe = 4
    bs, bi = _faiss_search(back, q, 20, metric)
    np.testing.assert_array_equal(bi, fi)
    np.testing.assert_array_equal(bs, fs)


def test_faiss_sq_idmap_round_trip(data):
    x, q = data
    ids = np.arange(len(x), dtype=np.int64) * 5 + 2
    findex = faiss.IndexIDMap(faiss.IndexScalarQuantizer(32, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT))
    findex.train(x)
    findex.add_with_ids(x, ids)
    fs, fi = findex.search(q, 10)
    ours = from_faiss(findex)
    ws, wi = ours.search_vectors(q, 10)
    assert_same_hits(fs, fi, ws, wi, tol=2e-5)
    bs, bi = to_faiss(ours).search(q, 10)
    np.testing.assert_array_equal(bi, fi)


def test_winnow_trained_sq8_exports_to_faiss_codes(data):
    x, q = data
    ours = FlatIndex(32, "ip", payload="sq8")
    ours.add(x)
    ref = faiss.IndexScalarQuantizer(32, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    ref.train(x)  # faiss's own min-max training on the same data: the same ranges and codes
    ref.add(x)
    np.testing.assert_array_equal(faiss.vector_to_array(ref.codes).reshape(len(x), 32), ours.codes)
    fs, fi = ref.search(q, 10)
    bs, bi = to_faiss(ours).search(q, 10)
    np.testing.assert_array_equal(bi, fi)
    np.testing.assert_array_equal(bs, fs)
