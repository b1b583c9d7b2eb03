"""Scalar quantizer core (_core.ScalarQuantizer): float32 / float16 / SQ8 codec and CodeScorer.

Oracles: numpy float16, faiss's ScalarQuantizer (QT_8bit, QT_fp16), numpy scoring of the
decoded vectors; then the refusals (bad names, shapes, non-finite input).
"""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from winnow import _core

DIMS = [1, 7, 8, 31, 32, 33, 100, 384]


def _rand(rng, *shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _trained(codec, x):
    sq = _core.ScalarQuantizer(x.shape[1], codec)
    sq.train(x)
    return sq


# ----------------------------------------------------------------------------- codec


@pytest.mark.parametrize("codec,size", [("float32", 4), ("float16", 2), ("sq8", 1)])
def test_code_size_and_training_state(codec, size):
    sq = _core.ScalarQuantizer(10, codec)
    assert sq.d == 10 and sq.codec == codec and sq.code_size == 10 * size
    assert sq.is_trained == (codec != "sq8")
    if codec != "sq8":
        assert sq.vmin.shape == (0,) and sq.vdiff.shape == (0,)


@pytest.mark.parametrize("d", DIMS)
def test_sq8_decode_error_within_half_a_step(d):
    rng = np.random.default_rng(d)
    x = _rand(rng, 500, d) * rng.uniform(0.01, 10, d).astype(np.float32) + _rand(rng, d)
    sq = _trained("sq8", x)
    np.testing.assert_array_equal(sq.vmin, x.min(0))
    np.testing.assert_array_equal(sq.vdiff, x.max(0) - x.min(0))
    codes = sq.encode(x)
    assert codes.shape == (500, d) and codes.dtype == np.uint8
    err = np.abs(sq.decode(codes) - x)
    half_step = sq.vdiff / 255 / 2
    assert np.all(err <= half_step * (1 + 1e-4) + 1e-6 * np.abs(x).max())
    # the extremes land in the end buckets
    assert np.all(codes.min(0) == 0) and np.all(codes.max(0) == 255)


def test_sq8_clamps_out_of_range_and_constant_dimension():
    x = np.array([[0.0, 5.0], [1.0, 5.0]], dtype=np.float32)
    sq = _trained("sq8", x)
    assert sq.vdiff[1] == 0
    codes = sq.encode(np.array([[-3.0, 7.0], [9.0, 5.0]], dtype=np.float32))
    np.testing.assert_array_equal(codes, [[0, 0], [255, 0]])
    np.testing.assert_array_equal(sq.decode(codes)[:, 1], [5.0, 5.0])  # an empty range decodes to vmin


@pytest.mark.parametrize("d", [3, 64, 384])
def test_sq8_matches_faiss_qt_8bit(d):
    rng = np.random.default_rng(d + 1)
    x = _rand(rng, 2000, d)
    sq = _trained("sq8", x)
    ref = faiss.ScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit)
    ref.train(x)
    trained = faiss.vector_to_array(ref.trained)
    np.testing.assert_array_equal(sq.vmin, trained[:d])
    np.testing.assert_array_equal(sq.vdiff, trained[d:])
    y = _rand(rng, 300, d, scale=1.2)  # some values outside the trained range
    codes = sq.encode(y)
    np.testing.assert_array_equal(codes, ref.compute_codes(y))
    # faiss's scalar decode is our formula; its SIMD decode (d % 8 == 0) multiplies by 1/255
    # and may fuse, so it differs by float rounding only
    np.testing.assert_allclose(sq.decode(codes), ref.decode(codes), rtol=0, atol=4e-7 * np.abs(x).max())
    if d % 8:
        np.testing.assert_array_equal(sq.decode(codes), ref.decode(codes))


def test_sq8_set_ranges_round_trip():
    rng = np.random.default_rng(5)
    x = _rand(rng, 100, 12)
    a = _trained("sq8", x)
    b = _core.ScalarQuantizer(12, "sq8")
    b.set_ranges(a.vmin, a.vdiff)
    assert b.is_trained
    np.testing.assert_array_equal(b.encode(x), a.encode(x))


def _float16_cases(rng):
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    finite = halves[np.isfinite(halves)].astype(np.float32)
    # exact ties between neighbouring halves, values just around them, subnormals, the max
    with np.errstate(over="ignore"):
        nxt = np.nextafter(finite[:-1].astype(np.float16), np.float16(np.inf)).astype(np.float32)
    ok = np.isfinite(nxt)
    mids = ((finite[:-1][ok].astype(np.float64) + nxt[ok]) / 2).astype(np.float32)
    return np.concatenate([
        finite, mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf)),
        _rand(rng, 10000), _rand(rng, 1000, scale=1e-6), _rand(rng, 1000, scale=1e4),
        np.float32([65504.0, 65519.99, -65519.99, 1e-8, -1e-8, 0.0, -0.0]),
    ]).astype(np.float32)


def test_float16_round_trip_equals_numpy():
    rng = np.random.default_rng(6)
    v = _float16_cases(rng)
    v = v[: (len(v) // 8) * 8].reshape(-1, 8)  # rows of 8: the F16C path
    for d in (8, 5):  # and a scalar tail
        x = np.ascontiguousarray(v[:, :d])
        sq = _core.ScalarQuantizer(d, "float16")
        codes = sq.encode(x)
        np.testing.assert_array_equal(codes.view(np.uint16), x.astype(np.float16).view(np.uint16))
        np.testing.assert_array_equal(sq.decode(codes), x.astype(np.float16).astype(np.float32))


def test_float16_portable_conversion_equals_numpy():
    rng = np.random.default_rng(7)
    v = _float16_cases(rng)
    halves, back = _core.float16_portable_round_trip(v)
    np.testing.assert_array_equal(halves, v.astype(np.float16).view(np.uint16))
    np.testing.assert_array_equal(back, v.astype(np.float16).astype(np.float32))
    every = np.arange(1 << 16, dtype=np.uint16)
    every = every[np.isfinite(every.view(np.float16))]
    _, back = _core.float16_portable_round_trip(every.view(np.float16).astype(np.float32))
    np.testing.assert_array_equal(back.view(np.uint32), every.view(np.float16).astype(np.float32).view(np.uint32))


def test_float16_matches_faiss_qt_fp16():
    rng = np.random.default_rng(8)
    x = _rand(rng, 200, 40)
    ref = faiss.ScalarQuantizer(40, faiss.ScalarQuantizer.QT_fp16)
    sq = _core.ScalarQuantizer(40, "float16")
    codes = sq.encode(x)
    # same layout; faiss's software float->half rounding is off by one ulp on rare near-ties
    # (ours is numpy's round to nearest even), decoding is exact on both sides
    diff = codes.view(np.uint16).astype(np.int64) - ref.compute_codes(x).view(np.uint16)
    assert np.abs(diff).max() <= 1 and np.count_nonzero(diff) <= 5
    np.testing.assert_array_equal(sq.decode(codes), ref.decode(codes))


def test_float32_codes_are_the_bytes():
    x = _rand(np.random.default_rng(9), 20, 9)
    sq = _core.ScalarQuantizer(9, "float32")
    codes = sq.encode(x, threads=2)
    np.testing.assert_array_equal(codes.view(np.float32), x)
    np.testing.assert_array_equal(sq.decode(codes), x)


@pytest.mark.parametrize("codec", ["float16", "sq8"])
def test_encode_threads_identical(codec):
    x = _rand(np.random.default_rng(10), 5000, 24)
    sq = _trained(codec, x)
    np.testing.assert_array_equal(sq.encode(x, threads=1), sq.encode(x, threads=3))


# ----------------------------------------------------------------------------- CodeScorer


@pytest.mark.parametrize("codec", ["float32", "float16", "sq8"])
@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("d", DIMS)
def test_code_scorer_equals_numpy_on_decoded(codec, metric, d):
    rng = np.random.default_rng(d * 7 + len(codec))
    x = _rand(rng, 300, d) + 0.5
    sq = _trained(codec, x)
    codes = sq.encode(x)
    dec = sq.decode(codes).astype(np.float64)
    for q in (_rand(rng, d), x[3]):
        q64 = q.astype(np.float64)
        ref = dec @ q64 if metric == "ip" else -((dec - q64) ** 2).sum(1)
        tol = 1e-5 * (np.abs(dec) @ np.abs(q64) if metric == "ip" else np.abs(ref)) + 1e-5
        for simd in (True, False):
            many = sq.score(q, codes, metric, simd=simd)
            one = sq.score(q, codes, metric, one_by_one=True, simd=simd)
            assert many.dtype == np.float32 and many.shape == (300,)
            np.testing.assert_array_equal(many, one)
            assert np.all(np.abs(many - ref) <= tol), (simd, np.abs(many - ref).max())


def test_code_scorer_kernels():
    assert _core.scalar_quantizer_kernel(simd=False) == "scalar"
    assert _core.scalar_quantizer_kernel() in ("avx2", "scalar")


def test_code_scorer_empty_codes():
    sq = _core.ScalarQuantizer(4, "float32")
    out = sq.score(np.ones(4, np.float32), np.zeros((0, 16), np.uint8))
    assert out.shape == (0,)


# ----------------------------------------------------------------------------- refusals


def test_bad_names_and_dims_refused():
    with pytest.raises(ValueError, match="int8"):
        _core.ScalarQuantizer(4, "int8")
    with pytest.raises(ValueError, match="dimension d"):
        _core.ScalarQuantizer(0, "sq8")
    sq = _core.ScalarQuantizer(4, "float32")
    with pytest.raises(ValueError, match="cosine"):
        sq.score(np.ones(4, np.float32), np.zeros((1, 16), np.uint8), "cosine")


@pytest.mark.parametrize("codec", ["float32", "float16", "sq8"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_refused(codec, bad):
    x = _rand(np.random.default_rng(11), 10, 4)
    x[3, 2] = bad
    sq = _core.ScalarQuantizer(4, codec)
    with pytest.raises(ValueError, match=r"\[3, 2\].*not finite"):
        sq.train(x)
    if codec == "sq8":
        sq.train(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[3, 2\].*not finite"):
        sq.encode(x)


def test_float16_overflow_refused():
    sq = _core.ScalarQuantizer(2, "float16")
    sq.encode(np.float32([[65504.0, -65519.0]]))
    with pytest.raises(ValueError, match="float16 range"):
        sq.encode(np.float32([[1.0, 70000.0]]))


def test_sq8_untrained_and_bad_ranges_refused():
    sq = _core.ScalarQuantizer(3, "sq8")
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="not trained"):
        sq.encode(x)
    with pytest.raises(ValueError, match="not trained"):
        sq.decode(np.zeros((1, 3), np.uint8))
    with pytest.raises(ValueError, match="not trained"):
        sq.score(np.zeros(3, np.float32), np.zeros((1, 3), np.uint8))
    with pytest.raises(ValueError, match="not finite"):
        sq.set_ranges(np.float32([0, np.nan, 0]), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=">= 0"):
        sq.set_ranges(np.zeros(3, np.float32), np.float32([1, -1, 1]))
    with pytest.raises(ValueError, match="vdiff has 2 entries"):
        sq.set_ranges(np.zeros(3, np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="no ranges"):
        _core.ScalarQuantizer(3, "float16").set_ranges(np.zeros(3, np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="at least 1"):
        sq.train(np.zeros((0, 3), np.float32))


def test_shapes_and_dtypes_refused():
    sq = _trained("sq8", np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="x has 4 columns"):
        sq.encode(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="float32"):
        sq.encode(np.zeros((2, 3), np.float64))
    with pytest.raises(ValueError, match="codes have 4 columns"):
        sq.decode(np.zeros((2, 4), np.uint8))
    with pytest.raises(ValueError, match="q has 2 entries"):
        sq.score(np.zeros(2, np.float32), np.zeros((1, 3), np.uint8))
