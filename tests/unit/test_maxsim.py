"""Weighted MaxSim in the core (float16, float32, PQ codes) against the numpy reference, its
binding's boundaries, and late-interaction retrieval / reranking stages."""
import numpy as np
import pytest

from winnow import _core
from winnow.index.token_store import TokenStore, maxsim_reference
from winnow.results import Results


def _corpus(rng, ndocs=60, dim=32, max_len=30, empty=(3,)):
    lens = rng.integers(1, max_len, ndocs)
    for e in empty:
        lens[e] = 0
    offsets = np.zeros(ndocs + 1, np.int64)
    offsets[1:] = np.cumsum(lens)
    x = rng.standard_normal((int(offsets[-1]), dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, offsets


@pytest.mark.parametrize("threads", [1, 2])
def test_f16_equals_numpy_reference(threads):
    rng = np.random.default_rng(0)
    x, off = _corpus(rng)
    tok = x.astype(np.float16)
    q = rng.standard_normal((9, 32)).astype(np.float32)
    w = rng.random(9).astype(np.float32)
    ids = rng.permutation(len(off) - 1).astype(np.int64)
    got = _core.maxsim_f16(q, w, tok, off, ids, threads)
    ref = maxsim_reference(q, w, tok, off, ids)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert got[list(ids).index(3)] == 0.0  # empty document
    # unweighted = weights of one; float32 path agrees with float16 path on the same values
    np.testing.assert_allclose(_core.maxsim_f16(q, None, tok, off, ids, threads),
                               maxsim_reference(q, None, tok, off, ids), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(_core.maxsim_f32(q, w, tok.astype(np.float32), off, ids, threads), got)


def test_thread_count_does_not_change_scores():
    rng = np.random.default_rng(1)
    x, off = _corpus(rng, ndocs=200)
    tok = x.astype(np.float16)
    q = rng.standard_normal((5, 32)).astype(np.float32)
    ids = np.arange(200, dtype=np.int64)
    np.testing.assert_array_equal(_core.maxsim_f16(q, None, tok, off, ids, 1),
                                  _core.maxsim_f16(q, None, tok, off, ids, 3))


@pytest.mark.parametrize("M,nbits", [(8, 8), (5, 8), (8, 4), (7, 4)])
def test_pq_equals_reference_to_the_decode(M, nbits):
    rng = np.random.default_rng(2)
    dim = 8 * M if M != 5 else 30
    x, off = _corpus(rng, ndocs=40, dim=dim)
    pq = _core.ProductQuantizer(dim, M, nbits)
    pq.train(x, niter=8, seed=0, threads=1, max_points_per_centroid=256)
    codes = pq.encode(x, 1)
    q = rng.standard_normal((6, dim)).astype(np.float32)
    w = rng.random(6).astype(np.float32)
    luts = np.stack([pq.compute_lut(v, "ip") for v in q])
    ids = rng.permutation(40).astype(np.int64)
    got = _core.maxsim_pq(luts, w, codes, off, ids, 2)
    np.testing.assert_allclose(got, maxsim_reference(q, w, pq.decode(codes), off, ids), rtol=1e-5, atol=1e-5)
    # exactly the ADC inner products: max over adc per query vector, weighted
    for c, t in enumerate(ids[:10]):
        a, b = off[t], off[t + 1]
        if a == b:
            assert got[c] == 0.0
            continue
        best = np.stack([pq.adc(l, codes[a:b]) for l in luts]).max(1)
        assert got[c] == np.float32((w.astype(np.float64) * best.astype(np.float64)).sum())


def test_binding_boundaries(tmp_path):
    rng = np.random.default_rng(3)
    x, off = _corpus(rng, ndocs=10)
    tok = x.astype(np.float16)
    q = rng.standard_normal((4, 32)).astype(np.float32)
    ids = np.arange(10, dtype=np.int64)
    with pytest.raises(ValueError, match="dim"):
        _core.maxsim_f16(q[:, :16].copy(), None, tok, off, ids, 1)
    with pytest.raises(ValueError, match="float16"):
        _core.maxsim_f16(q, None, x.astype(np.float64), off, ids, 1)
    with pytest.raises(ValueError, match="float16"):
        _core.maxsim_f16(q, None, tok[:, ::2], off, ids, 1)  # strided
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        _core.maxsim_f16(q.astype(np.float64), None, tok, off, ids, 1)
    with pytest.raises(ValueError, match="must be a C-contiguous"):
        _core.maxsim_f16(np.asfortranarray(q), None, tok, off, ids, 1)  # transposed layout
    with pytest.raises(ValueError, match="weights has 3 entries"):
        _core.maxsim_f16(q, np.ones(3, np.float32), tok, off, ids, 1)
    with pytest.raises(IndexError):
        _core.maxsim_f16(q, None, tok, off, np.array([10], np.int64), 1)
    bad = off.copy()
    bad[5] = bad[4] - 1
    with pytest.raises(ValueError, match="offsets"):
        _core.maxsim_f16(q, None, tok, bad, np.array([4], np.int64), 1)
    # empty candidates, empty query
    assert _core.maxsim_f16(q, None, tok, off, np.zeros(0, np.int64), 1).shape == (0,)
    np.testing.assert_array_equal(_core.maxsim_f16(q[:0], None, tok, off, ids, 1), np.zeros(10, np.float32))
    # read-only memmap passes through without a copy
    np.save(tmp_path / "t.npy", tok)
    mm = np.load(tmp_path / "t.npy", mmap_mode="r")
    np.testing.assert_array_equal(_core.maxsim_f16(q, None, mm, off, ids, 1), _core.maxsim_f16(q, None, tok, off, ids, 1))
    with pytest.raises(ValueError, match="ksub"):
        _core.maxsim_pq(np.zeros((4, 4, 10), np.float32), None, np.zeros((5, 4), np.uint8), off, ids, 1)
    with pytest.raises(ValueError, match="code_size"):
        _core.maxsim_pq(np.zeros((4, 4, 256), np.float32), None, np.zeros((int(off[-1]), 3), np.uint8), off, ids, 1)


# -- stages -------------------------------------------------------------------------------------

def _store(rng, pq_M=None, ndocs=50):
    x, off = _corpus(rng, ndocs=ndocs, dim=16, max_len=12, empty=())
    tids = rng.integers(5, 60, len(x)).astype(np.int32)
    return TokenStore(x, tids, off, [f"d{i}" for i in range(ndocs)], pq_M=pq_M, vocab_size=64,
                      special_ids=[0, 1, 2, 3, 4])


@pytest.mark.parametrize("pq_M", [None, 4])
def test_retriever_with_full_probe_is_exhaustive_maxsim(pq_M):
    from winnow.rerank.maxsim import MaxSimRetriever, build_token_ann

    rng = np.random.default_rng(4)
    store = _store(rng, pq_M)
    ann = build_token_ann(store, nlist=4, M=4)
    qv = {"q1": (rng.standard_normal((3, 16)).astype(np.float32), np.zeros(3, np.int32))}
    r = MaxSimRetriever(store, ann, query_tokens=qv, faiss_depth=store.ntokens, nprobe=4)
    res = r.search({"q1": "ignored"}, k=10)
    all_scores = store.maxsim(qv["q1"][0], np.arange(store.n_docs))
    expected = np.lexsort((np.arange(store.n_docs), -all_scores.astype(np.float64)))[:10]
    np.testing.assert_array_equal(res.ids[0], expected)
    np.testing.assert_allclose(res.scores[0], all_scores[expected], rtol=1e-6)
    assert res.docnos.lookup(res.ids[0][:1]) == [f"d{expected[0]}"]


def test_reranker_maps_foreign_docnos_and_keeps_the_candidate_set():
    from winnow.rerank.maxsim import MaxSimReranker

    rng = np.random.default_rng(5)
    store = _store(rng)
    q = rng.standard_normal((3, 16)).astype(np.float32)
    # first-pass results from "another index" whose ids are reversed docnos, one unknown docno
    foreign = [f"d{i}" for i in reversed(range(store.n_docs))] + ["zzz"]
    first = Results(["q"], np.array([[0, 5, 7, store.n_docs, -1]]), np.array([[5, 4, 3, 2, -np.inf]]), foreign)
    out = MaxSimReranker(store, query_tokens={"q": (q, np.zeros(3, np.int32))}, k=5)({"q": "x"}, first)
    kept = set(out.docnos.lookup(out.ids[0][out.ids[0] >= 0]))
    assert kept == {foreign[0], foreign[5], foreign[7]}
    assert out.ids[0][3] == -1 and np.isneginf(out.scores[0][3])
    assert np.all(np.diff(out.scores[0][:3]) <= 0)


@pytest.fixture(autouse=True)
def _quiet_fallback():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy MaxSim fallback before the rebuild
        yield
