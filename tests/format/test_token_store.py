"""TokenStore directory format: save / load / mmap give identical arrays and scores (float16 and
PQ), document frequencies and IDF, corrupt files, and the ``index build tokens`` CLI."""
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from winnow import IndexFormatError
from winnow.index import load
from winnow.index.token_store import TokenStore, document_frequencies


@pytest.fixture(autouse=True)
def _quiet_fallback():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy MaxSim fallback before the rebuild
        yield


def _data(seed=0, ndocs=80, dim=16):
    rng = np.random.default_rng(seed)
    lens = rng.integers(0, 10, ndocs)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    x = rng.standard_normal((int(off[-1]), dim)).astype(np.float32)
    tids = rng.integers(0, 20, len(x)).astype(np.int32)
    return x, tids, off, [f"doc{i}" for i in range(ndocs)]


def test_document_frequencies_and_idf():
    tids = np.array([3, 3, 1, 1, 3, 0], np.int32)
    off = np.array([0, 2, 5, 5, 6], np.int64)  # doc0 {3}, doc1 {1, 3}, doc2 {}, doc3 {0}
    np.testing.assert_array_equal(document_frequencies(tids, off, 5), [1, 1, 0, 2, 0])
    store = TokenStore(np.zeros((6, 4), np.float32), tids, off, vocab_size=5)
    np.testing.assert_allclose(store.idf([3, 4, 99]), np.log(5 / np.array([3, 1, 1])))


@pytest.mark.parametrize("pq_M", [None, 4])
@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_roundtrip(tmp_path, pq_M, mmap):
    x, tids, off, docnos = _data()
    store = TokenStore(x, tids, off, docnos, pq_M=pq_M, special_ids=[0, 1], model={"kind": "test"})
    store.save(tmp_path / "s")
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    assert meta["format"] == "winnow.tokens" and meta["params"]["storage"] == store.storage
    back = load(tmp_path / "s", mmap=mmap)
    assert isinstance(back, TokenStore) and repr(back) == repr(store)
    for name in ("token_ids", "offsets", "df"):
        np.testing.assert_array_equal(getattr(back, name), getattr(store, name))
    if pq_M is None:
        assert back.tokens.dtype == np.float16
        np.testing.assert_array_equal(back.tokens, x.astype(np.float16))
        if mmap:
            assert isinstance(back.tokens, np.memmap)
    else:
        np.testing.assert_array_equal(back.codes, store.codes)
        assert back.codes.nbytes * 8 == x.astype(np.float16).nbytes  # 4 bytes vs 16 halves a row
    assert back.docnos.to_list() == docnos and back.special_ids == [0, 1]
    q = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
    ids = np.arange(len(off) - 1)
    np.testing.assert_array_equal(back.maxsim(q, ids), store.maxsim(q, ids))


def test_truncated_and_corrupt_files_raise_with_the_path(tmp_path):
    x, tids, off, docnos = _data()
    TokenStore(x, tids, off, docnos).save(tmp_path / "s")
    p = tmp_path / "s" / "tokens.npy"
    data = p.read_bytes()
    p.write_bytes(data[:-7])
    with pytest.raises(IndexFormatError, match="tokens.npy"):
        TokenStore.load(tmp_path / "s")
    p.write_bytes(b"\x00" + data[1:])  # flipped magic byte
    with pytest.raises(IndexFormatError, match="tokens.npy"):
        TokenStore.load(tmp_path / "s", mmap=True)


def test_bad_layout_is_a_value_error():
    x, tids, off, _ = _data()
    with pytest.raises(ValueError, match="token_ids"):
        TokenStore(x, tids[:-1], off)
    bad = off.copy()
    bad[-1] += 1
    with pytest.raises(ValueError, match="offsets"):
        TokenStore(x, tids, bad)
    with pytest.raises(ValueError, match="multiple"):
        TokenStore(x, tids, off, pq_M=5)


def test_cli_builds_a_store_from_a_corpus_and_retrieves(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # tiny_encoder lives there
    import tiny_encoder as tiny
    from winnow.cli.main import main
    from winnow.rerank.maxsim import MaxSimRetriever

    model = tiny.build_tiny_model(tmp_path / "m")
    corpus = tmp_path / "corpus.jsonl"
    texts = ["the quick brown fox", "a lazy dog sleeps", "cancer risk in patients", "gene and protein",
             "brain cells of the mouse", "blood treatment effect"]
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                              for i, t in enumerate(texts)))
    out = tmp_path / "store"
    assert main(["index", "build", "tokens", "--input", str(corpus), "--model", str(model), "--output", str(out),
                 "--pq", "8", "--pq-nbits", "4", "--nlist", "2", "--ann-M", "4", "--ann-nbits", "4"]) == 0
    r = MaxSimRetriever.load(out, faiss_depth=100, nprobe=2)
    assert r.store.storage == "pq" and r.store.n_docs == 6 and r.ann is not None
    res = r.search({"q": "lazy dog"}, k=3)
    assert res.docnos.lookup(res.ids[0][:1]) == ["d1"]
    # experiment-config stages over the same store: bm25-like first pass >> maxsim_rerank >> colbert_prf
    from winnow.experiment import _stage
    from winnow.experiment_config import parse_pipeline
    from winnow.stage import Stage

    class _First(Stage):
        def transform(self, queries, results):
            return Results(["q"], np.array([[3, 1, 0, 5]]), np.array([[4.0, 3.0, 2.0, 1.0]]),
                           [f"d{i}" for i in range(6)], ["lazy dog"])

    from winnow.results import Results

    p = str(out)
    for text in (f"first >> maxsim_rerank(path={p!r}, k=4) >> colbert_prf(path={p!r}, k=3, fb_embs=2, fb_docs=1, "
                 f"cutoff=4, kmeans='winnow')",
                 f"first >> maxsim(path={p!r}, k=4, nprobe=2) >> colbert_prf(path={p!r}, rerank=False, k=3, "
                 f"fb_embs=2, cutoff=4)"):
        tree = parse_pipeline("late", text, {"first": None}, {})
        res = _stage(tree, {"first": _First()}, 4)({"q": "lazy dog"})
        assert res.docnos.lookup(res.ids[0][:1]) == ["d1"]
