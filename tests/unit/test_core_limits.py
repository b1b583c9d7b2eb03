"""Limits the C++ core enforces (issue 12): decoders bounds-check what they decode, k is capped
at the index size, threads / k / k1 / b are checked with one clear message, the BM25 binding
takes its arrays without copies (no dangling pointers), binding defaults equal the core's."""
from __future__ import annotations

import gc
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from winnow import IndexFormatError, _core
from winnow.index import BM25Index

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import clustered, make_index  # noqa: E402

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
QUERIES = {"q1": "alpha beta", "q2": "gamma kappa lambda", "q3": "theta"}


@pytest.fixture(scope="module")
def bm25():
    rng = np.random.default_rng(0)
    docs = [(f"d{i}", " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12))))) for i in range(700)]
    return BM25Index.build(docs, analyzer="plain", progress=False)


def _copy(index: BM25Index) -> dict:
    return {name: np.array(a, copy=True) for name, a in index.arrays.items()}


# -- decoders: a damaged postings block is an IndexFormatError, never an out-of-range read ----

@pytest.mark.parametrize("algorithm", ["maxscore", "windowed", "exhaustive"])
def test_damaged_postings_never_read_out_of_range(bm25, algorithm):
    arrays = _copy(bm25)
    end = int(arrays["term_postings"][-1])
    reference = bm25.search(QUERIES, k=20, algorithm=algorithm)
    rng = np.random.default_rng(1)
    failures = 0
    for trial in range(150):
        pos = int(rng.integers(0, end))
        damaged = dict(arrays, postings=arrays["postings"].copy())
        damaged["postings"][pos] ^= np.uint8(1 << int(rng.integers(0, 8)))
        index = BM25Index(damaged, bm25._stats, bm25.params)
        try:
            res = index.search(QUERIES, k=20, algorithm=algorithm)
        except IndexFormatError as exc:
            assert "corrupt index: postings block" in str(exc)
            failures += 1
            continue
        # a flip the block table cannot see (a tf, or gaps that still sum right) stays in range
        assert ((res.ids >= -1) & (res.ids < bm25.n_docs)).all()
    assert failures > 0, "no flip was detected: the test exercises nothing"
    assert bm25.search(QUERIES, k=20, algorithm=algorithm).ids.tolist() == reference.ids.tolist()


def test_doc_id_past_n_docs_is_refused_by_postings_accessor(bm25):
    arrays = _copy(bm25)
    term = bm25.term_id("alpha")
    blk = int(arrays["multi_first_block"][int(np.flatnonzero(arrays["multi_terms"] == term)[0])])
    off = int(arrays["block_offset"][blk])
    arrays["postings"][off] = 32  # doc gap width 32: decodes to doc ids far past n_docs
    index = BM25Index(arrays, bm25._stats, bm25.params)
    with pytest.raises(IndexFormatError, match=f"postings block {blk} of a term at byte {off} does not decode"):
        index.postings("alpha")
    with pytest.raises(IndexFormatError, match="corrupt index"):
        index.with_params(k1=1.2)


def test_block_table_must_increase_within_a_term(bm25):
    arrays = _copy(bm25)
    blk = int(arrays["multi_first_block"][0]) + 1  # the second block of the first term with several
    arrays["block_last_doc"][blk] = arrays["block_last_doc"][blk - 1]
    with pytest.raises(IndexFormatError, match=f"block_last_doc does not increase at block {blk}"):
        BM25Index(arrays, bm25._stats, bm25.params)


def test_block_offset_near_2_to_64_does_not_wrap(bm25):
    arrays = _copy(bm25)
    arrays["term_postings"] = arrays["term_postings"].astype(np.uint64)
    arrays["term_postings"][-1] = np.uint64(2**64 - 4)  # + 8 padding bytes would wrap to 4
    with pytest.raises(IndexFormatError, match="postings shorter than term_postings says"):
        BM25Index(arrays, bm25._stats, bm25.params)


def test_single_block_term_decoding_past_n_docs_is_refused():
    """A term of one block has no block table: its decoded last doc is checked against n_docs."""
    docs = [(f"d{i}", "common" + (" rare" if i in (3, 9) else "")) for i in range(300)]
    index = BM25Index.build(docs, analyzer="plain", progress=False)
    arrays = _copy(index)
    term = index.term_id("rare")
    assert term not in arrays["multi_terms"]
    off = int(arrays["term_postings"][term])
    assert index.postings("rare")[0].tolist() == [3, 9]
    arrays["postings"][off] = 32  # doc gap width 32: decodes to doc ids far past n_docs
    damaged = BM25Index(arrays, index._stats, index.params)
    with pytest.raises(IndexFormatError, match=f"postings block 0 of a term at byte {off} does not decode"):
        damaged.postings("rare")
    for algorithm in ("maxscore", "windowed", "exhaustive"):
        with pytest.raises(IndexFormatError, match="corrupt index"):
            damaged.search({"q": "rare common"}, k=5, algorithm=algorithm)


def test_damaged_index_error_names_its_directory(bm25, tmp_path):
    arrays = _copy(bm25)
    arrays["postings"][int(arrays["block_offset"][0])] = 32
    index = BM25Index(arrays, bm25._stats, bm25.params, path=tmp_path / "idx")
    with pytest.raises(IndexFormatError, match=re.escape(str(tmp_path / "idx")) + ": corrupt index"):
        index.postings(_first_term(bm25))  # block 0 is the first term's


def _first_term(index: BM25Index) -> str:
    return index.terms()[0]


# -- k: >= 1, capped at the index size -------------------------------------------------------

def test_bm25_k_is_capped_at_n_docs(bm25):
    res = bm25.search(QUERIES, k=10**9)
    assert res.ids.shape == (3, bm25.n_docs)
    assert res.ids.tolist() == bm25.search(QUERIES, k=bm25.n_docs).ids.tolist()
    assert bm25.search_terms({"q": ["alpha"]}, k=10**12).ids.shape == (1, bm25.n_docs)


@pytest.mark.parametrize("k", [0, -1])
def test_bm25_k_below_one_is_refused(bm25, k):
    with pytest.raises(ValueError, match=f"k must be >= 1, got {k}"):
        bm25.search(QUERIES, k=k)
    with pytest.raises(ValueError, match=f"k must be >= 1, got {k}"):
        bm25.search_terms({"q": ["alpha"]}, k=k)


@pytest.mark.parametrize("kind", ["flat", "pq8", "pq4", "ivf_flat", "ivf_pq", "ivf_fastscan"])
def test_dense_k_is_capped_at_ntotal(kind):
    x, q = clustered(300, seed=3)
    index = make_index(kind, x)
    kw = {"nprobe": 8} if kind.startswith("ivf") else {}
    s, i = index.search_vectors(q, 10**9, **kw)
    assert s.shape == i.shape == (len(q), 300)
    s2, i2 = index.search_vectors(q, 300, **kw)
    np.testing.assert_array_equal(i, i2)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        index.search_vectors(q, 0)
    with pytest.raises(ValueError, match="k must be >= 1, got -5"):
        index.search(q, -5)


def test_flat_with_allow_keeps_the_capped_width():
    x, q = clustered(50, seed=4)
    index = make_index("flat", x)
    s, i = index.search_vectors(q, 10**6, allow=np.arange(5))
    assert s.shape == (len(q), 50)
    assert (i[:, 5:] == -1).all() and np.isneginf(s[:, 5:]).all() and (i[:, :5] >= 0).all()


def test_core_caps_k_without_allocating():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((2, 8), dtype=np.float32), rng.standard_normal((6, 8), dtype=np.float32)
    s, i = _core.dense_exact_search(x, y, 2**62)
    assert s.shape == (2, 6)
    with pytest.raises(ValueError, match="k must be >= 0, got -1"):
        _core.dense_exact_search(x, y, -1)
    codes = rng.integers(0, 256, (6, 4), dtype=np.uint8)
    packed = _core.fastscan_pack(codes, 8)
    luts = rng.standard_normal((2, 8, 16), dtype=np.float32)
    s, i = _core.fastscan_search(packed, 6, 8, luts, 2**62, rescore_k=2**62)
    assert s.shape == (2, 6)


# -- threads: >= 1, or 0 for all cores ------------------------------------------------------

def test_negative_threads_are_refused_everywhere(bm25):
    msg = "threads must be >= 1, or 0 for all cores, got -3"
    with pytest.raises(ValueError, match=msg):
        bm25.search(QUERIES, threads=-3)
    with pytest.raises(ValueError, match=msg):
        bm25.with_params(k1=1.0, threads=-3)
    with pytest.raises(ValueError, match=msg):
        BM25Index.build([("a", "alpha beta")], threads=-3, progress=False)
    x, q = clustered(300, seed=6)
    for kind in ("flat", "ivf_pq"):
        index = make_index(kind, x)
        with pytest.raises(ValueError, match=msg):
            index.search_vectors(q, 5, threads=-3)
    with pytest.raises(ValueError, match=msg):
        _core.kmeans(x, 4, threads=-3)
    with pytest.raises(ValueError, match=msg):  # even with nothing to do
        _core.dense_exact_search(np.zeros((0, 32), np.float32), x, 3, threads=-3)
    # 0 = all cores, same results
    assert bm25.search(QUERIES, threads=0).ids.tolist() == bm25.search(QUERIES, threads=1).ids.tolist()


# -- k1 / b: validated in the core ----------------------------------------------------------

@pytest.mark.parametrize("k1, b, match", [
    (0.0, 0.4, "k1 must be a finite number > 0, got 0"),
    (-1.0, 0.4, "k1 must be a finite number > 0, got -1"),
    (float("nan"), 0.4, "k1 must be a finite number > 0, got nan"),
    (float("inf"), 0.4, "k1 must be a finite number > 0, got inf"),
    (0.9, 1.5, r"b must be in \[0, 1\], got 1.5"),
    (0.9, float("nan"), r"b must be in \[0, 1\], got nan"),
])
def test_k1_and_b_ranges(bm25, k1, b, match):
    with pytest.raises(ValueError, match=match):
        BM25Index.build([("a", "alpha")], k1=k1, b=b, progress=False)
    with pytest.raises(ValueError, match=match):
        bm25.with_params(k1=k1, b=b)


# -- the binding takes arrays without copies -------------------------------------------------

@pytest.mark.parametrize("name", ["df", "postings", "block_offset", "doc_len"])
def test_strided_or_wrong_dtype_arrays_are_refused(bm25, name):
    strided = _copy(bm25)
    a = strided[name]
    strided[name] = np.repeat(a, 2)[::2]  # same values and dtype, not contiguous
    assert not strided[name].flags.c_contiguous
    with pytest.raises(ValueError, match=f"BM25 index array '{name}' must be a C-contiguous"):
        BM25Index(strided, bm25._stats, bm25.params)
    wrong = _copy(bm25)
    wrong[name] = a.astype(np.int64 if a.dtype != np.int64 else np.int32)
    if name == "postings":
        match = f"BM25 index array '{name}' must be a C-contiguous {a.dtype}"
    else:  # a table of any of several unsigned widths (index/bm25_layout.py)
        match = f"BM25 index array '{name}' has dtype int64, expected one of uint"
    with pytest.raises(ValueError, match=match):
        BM25Index(wrong, bm25._stats, bm25.params)
    # with_params hands the index's own arrays to the core again: refused the same way
    index = BM25Index(_copy(bm25), bm25._stats, bm25.params)
    index.arrays[name] = strided[name]
    with pytest.raises(ValueError, match=f"BM25 index array '{name}' must be a C-contiguous"):
        index.with_params(k1=1.1)


def test_searcher_keeps_its_arrays_alive(bm25):
    arrays = _copy(bm25)
    index = BM25Index(arrays, bm25._stats, bm25.params)
    before = index.search(QUERIES, k=10)
    for name in list(arrays):  # the dict is the caller's: drop every array it held
        arrays[name] = np.zeros(1, arrays[name].dtype)
    gc.collect()
    after = index.search(QUERIES, k=10)
    assert after.ids.tolist() == before.ids.tolist()
    np.testing.assert_array_equal(after.scores, before.scores)


# -- binding defaults are the core's ---------------------------------------------------------

def test_sinkhorn_binding_defaults_equal_the_core():
    def default(fn, name):  # from the signature line pybind writes: "name: <type> = <value>"
        return re.search(rf"\b{name}: [^=,]*= ([^,)]*)", fn.__doc__).group(1)

    # csrc/core/dense/sinkhorn.hpp: ConstrainedPQOptions niter 20, SinkhornOptions epsilon 0.05, 30 iterations
    f = _core.train_constrained_pq
    assert (default(f, "niter"), default(f, "epsilon"), default(f, "iterations")) == ("20", "0.05", "30")
    for f in (_core.sinkhorn_plan, _core.sinkhorn_codes, _core.balanced_assign):
        assert (default(f, "epsilon"), default(f, "iterations")) == ("0.05", "30")


# -- non-finite values from an unverified mapped file ----------------------------------------

def test_nan_pruning_bound_is_a_format_error(bm25):
    arrays = _copy(bm25)
    arrays["multi_max_x"][3] = np.nan
    with pytest.raises(IndexFormatError, match="multi_max_x of entry 3 is not a finite bound"):
        BM25Index(arrays, bm25._stats, bm25.params)
    arrays = _copy(bm25)
    arrays["block_max_x"][5] = np.inf
    with pytest.raises(IndexFormatError, match="block_max_x of block 5 is not a finite bound"):
        BM25Index(arrays, bm25._stats, bm25.params)


def test_nan_scores_sort_last_without_breaking_the_sort():
    rng = np.random.default_rng(8)
    scores = rng.random(200).astype(np.float32)
    scores[rng.choice(200, 40, replace=False)] = np.nan  # > 16 entries: std::sort's introsort path
    s, i = _core.topk(scores, 200)
    finite = np.isfinite(s)
    assert finite[:160].all() and np.isnan(s[160:]).all()
    assert (np.diff(s[:160]) <= 0).all()
    assert sorted(i.tolist()) == list(range(200))
