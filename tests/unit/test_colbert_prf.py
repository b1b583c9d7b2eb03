"""ColBERT-PRF: expanded-query weights, skipped special clusters, determinism, the ReRanker's
uncut candidate set (promotion from below the incoming k), the zero-padded feedback pool and
its null cluster, zero-padded MaxSim, the BERT special-id fallback, both k-means options, the
reference defaults; late-interaction encoders on tiny random models (punctuation kept by
default, as ColBERT-PRF stores need)."""
import numpy as np
import pytest

from winnow.index.token_store import TokenStore
from winnow.results import Results


DIM, SPECIAL = 16, [0, 1, 2]


def _setup(seed=0, ndocs=40, special_doc=None):
    """Store whose doc tokens are noisy copies of a few 'topic' directions; token ids follow
    the topic. With ``special_doc`` that document's tokens all carry a special id and point
    in their own direction (so its clusters' neighbours are all special)."""
    from winnow.rerank.maxsim import MaxSimRetriever, build_token_ann

    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((30, DIM)).astype(np.float32)
    vecs, tids, lens = [], [], []
    for d in range(ndocs):
        L = int(rng.integers(8, 16))
        t = rng.integers(0, 30, L)
        v = topics[t] + 0.05 * rng.standard_normal((L, DIM)).astype(np.float32)
        ids = 10 + t
        if d == special_doc:  # more tokens than nn_tokens, all special
            L = 20
            v = 5.0 * np.tile(rng.standard_normal(DIM).astype(np.float32), (L, 1)) + 0.01 * rng.standard_normal((L, DIM)).astype(np.float32)
            ids = np.full(L, SPECIAL[d % 3])
        vecs.append(v)
        tids.append(ids)
        lens.append(L)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    store = TokenStore(np.concatenate(vecs), np.concatenate(tids), off, [f"d{i}" for i in range(ndocs)],
                       vocab_size=64, special_ids=SPECIAL)
    ann = build_token_ann(store, nlist=4, M=4)
    q = topics[:4] + 0.05 * rng.standard_normal((4, DIM)).astype(np.float32)
    retr = MaxSimRetriever(store, ann, query_tokens={"q": (q, np.zeros(4, np.int32))}, faiss_depth=50, nprobe=4, k=20)
    return store, retr, q


@pytest.fixture(autouse=True)
def _quiet_fallback():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy MaxSim fallback before the rebuild
        yield


@pytest.mark.parametrize("kmeans", ["sklearn", "winnow"])
def test_expanded_weights_are_ones_then_beta_idf_descending(kmeans):
    from winnow.prf import ColBERTPRF

    store, retr, q = _setup()
    prf = ColBERTPRF(retr, beta=0.5, fb_embs=4, k=8, kmeans=kmeans)
    q_exp, w, info = prf.expand(q, [0, 1, 2])
    assert q_exp.shape == (len(q) + len(info["idf"]), DIM)
    assert 0 < len(info["idf"]) <= 4
    np.testing.assert_array_equal(w[:len(q)], np.ones(len(q), np.float32))
    np.testing.assert_allclose(w[len(q):], 0.5 * info["idf"], rtol=1e-6)
    assert np.all(np.diff(w[len(q):]) <= 0)  # descending IDF
    n, df = store.n_docs, store.df[info["token_ids"]]
    np.testing.assert_allclose(info["idf"], np.log((n + 1) / (df + 1)), rtol=1e-6)
    assert not set(info["token_ids"].tolist()) & set(SPECIAL)


def test_clusters_whose_neighbours_are_all_special_are_skipped():
    from winnow.prf import ColBERTPRF

    store, retr, q = _setup(special_doc=0)
    prf = ColBERTPRF(retr, fb_docs=1, k=3, fb_embs=2, pool="tokens")  # no null cluster here
    centroids = prf.cluster(store.doc_vectors(0))
    assert np.all(prf.centroid_tokens(centroids) == -1)
    q_exp, w, info = prf.expand(q, [0])  # fewer valid clusters than fb_embs: no error
    assert info["n_valid"] == 0 and len(w) == len(q) and q_exp.shape == q.shape


def test_deterministic_for_the_seed_and_incoming_reranker_keeps_first_pass_set():
    from winnow.prf import ColBERTPRF

    store, retr, q = _setup(seed=1)
    first = retr.search({"q": "text"}, k=15)
    runs = [ColBERTPRF(retr, rerank=True, cutoff=20)({"q": "text"}, first) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].ids, runs[1].ids)
    np.testing.assert_array_equal(runs[0].scores, runs[1].scores)
    # rerank_pool="incoming" (our earlier behaviour): only the incoming documents come back
    inc = ColBERTPRF(retr, rerank=True, cutoff=20, rerank_pool="incoming")({"q": "text"}, first)
    got = set(inc.ids[0][inc.ids[0] >= 0].tolist())
    assert got == set(first.ids[0][first.ids[0] >= 0].tolist())
    ranker = [ColBERTPRF(retr, rerank=False, cutoff=20, kmeans="winnow")({"q": "text"}, first) for _ in range(2)]
    np.testing.assert_array_equal(ranker[0].ids, ranker[1].ids)
    assert (ranker[0].ids[0] >= 0).sum() >= (first.ids[0] >= 0).sum()


@pytest.mark.parametrize("seed", [0, 3])
def test_reranker_rescores_the_uncut_first_pass_and_promotes_from_below_k(seed):
    """The reference re-scores every end-to-end candidate of the original query (no cut before
    ColbertPRF) and cuts after: the oracle is numpy MaxSim, zero-padded to doc_maxlen, over
    candidates(q) | incoming, then the top cutoff."""
    from winnow.index.token_store import maxsim_reference
    from winnow.prf import ColBERTPRF

    store, retr, q = _setup(seed=seed)
    first = retr.search({"q": "text"}, k=5)
    incoming = first.ids[0][first.ids[0] >= 0]
    prf = ColBERTPRF(retr, rerank=True, cutoff=5)
    res = prf({"q": "text"}, first)
    q_exp, w, _ = prf.expand(q, incoming[:prf.fb_docs])
    pool = np.union1d(retr.candidates(q), incoming)
    assert len(pool) > len(incoming)
    want = maxsim_reference(q_exp, w, store.tokens, store.offsets, pool, pad_to=180)
    order = np.lexsort((pool, -want.astype(np.float64)))[:5]
    np.testing.assert_array_equal(res.ids[0], pool[order])
    np.testing.assert_allclose(res.scores[0], want[order], rtol=1e-3, atol=1e-3)
    promoted = set(res.ids[0].tolist()) - set(incoming.tolist())
    assert promoted, "a document from below the incoming k reaches the top 5"


def test_padded_pool_yields_the_null_cluster():
    from winnow.prf import ColBERTPRF

    store, retr, q = _setup()
    docs = [0, 1, 2]
    lens = [int(store.offsets[d + 1] - store.offsets[d]) for d in docs]
    padded = ColBERTPRF(retr, pool="padded")  # the default: doc_maxlen 180, as pyterrier_colbert
    x = padded.feedback_pool(docs)
    assert x.shape == (3 * 180, DIM) and int((np.abs(x).sum(1) == 0).sum()) == 3 * 180 - sum(lens)
    for kmeans in ("sklearn", "winnow"):
        prf = ColBERTPRF(retr, pool="padded", kmeans=kmeans)
        norms = np.linalg.norm(prf.cluster(prf.feedback_pool(docs)), axis=1)
        assert (norms < 1e-6).sum() == 1, norms  # one centroid is the zero vector
        tokens_only = ColBERTPRF(retr, pool="tokens", kmeans=kmeans)
        x = tokens_only.feedback_pool(docs)
        assert len(x) == sum(lens)
        assert np.linalg.norm(tokens_only.cluster(x), axis=1).min() > 0.5


def test_padded_maxsim_floors_each_max_at_zero_for_short_documents():
    from winnow.index.token_store import maxsim_reference

    rng = np.random.default_rng(5)
    lens = [3, 6, 1, 0, 6]
    x = rng.standard_normal((sum(lens), 8)).astype(np.float32)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    q = -np.abs(rng.standard_normal((4, 8)).astype(np.float32)) * np.sign(x.mean(0))  # many negative maxima
    w = np.array([1.0, 0.5, 2.0, 1.5], np.float32)
    ids = np.array([4, 0, 2, 3, 1])
    for pq_M in (None, 4):
        store = TokenStore(x, np.full(len(x), 20, np.int32), off, pq_M=pq_M, nbits=4)
        dense = store.rows(np.arange(len(x)))
        exact = store.maxsim(q, ids, w)
        padded = store.maxsim(q, ids, w, pad_to=6)
        np.testing.assert_allclose(padded, maxsim_reference(q, w, dense, off, ids, pad_to=6), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(exact, maxsim_reference(q, w, dense, off, ids), rtol=1e-4, atol=1e-4)
        full = np.array([lens[i] >= 6 for i in ids])
        np.testing.assert_allclose(padded[full], exact[full], rtol=1e-4, atol=1e-4)  # no padding row
        assert np.all(padded[~full] >= exact[~full] - 1e-5) and np.any(padded[~full] > exact[~full] + 1e-3)


def test_special_ids_never_expand_even_without_vocab():
    """A store recording no special ids: BERT's [PAD]/[Q]/[D]/[UNK]/[CLS]/[SEP]/[MASK] ids
    (0-103) are still skipped; an explicit empty set lets them through (the test can fail)."""
    from winnow.prf import BERT_SPECIAL_IDS, ColBERTPRF
    from winnow.rerank.maxsim import MaxSimRetriever, build_token_ann

    rng = np.random.default_rng(2)
    topics = rng.standard_normal((6, DIM)).astype(np.float32)
    markers = [101, 1, 102, 103, 2, 0]  # [CLS] [Q] [SEP] [MASK] [D] [PAD] own one topic each
    vecs, tids, lens = [], [], []
    for d in range(30):
        t = rng.integers(0, 6, 12)
        vecs.append(topics[t] + 0.02 * rng.standard_normal((12, DIM)).astype(np.float32))
        tids.append(np.array([markers[i] if i < 3 else 500 + i for i in t]))
        lens.append(12)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    store = TokenStore(np.concatenate(vecs), np.concatenate(tids), off, vocab_size=600)
    assert store.special_ids == []
    retr = MaxSimRetriever(store, build_token_ann(store, nlist=2, M=4), query_tokens={}, nprobe=2)
    q = topics[:2].copy()
    prf = ColBERTPRF(retr, fb_docs=3, k=8, fb_embs=6, pool="tokens")
    _, _, info = prf.expand(q, [0, 1, 2])
    assert len(info["token_ids"]) and not set(info["token_ids"].tolist()) & set(BERT_SPECIAL_IDS)
    _, _, loose = ColBERTPRF(retr, fb_docs=3, k=8, fb_embs=6, pool="tokens", special_ids=()).expand(q, [0, 1, 2])
    assert set(loose["token_ids"].tolist()) & {101, 1, 102}


def test_reference_defaults():
    from winnow.prf import ColBERTPRF
    from winnow.prf.colbert_prf import DOC_MAXLEN

    _, retr, _ = _setup()
    prf = ColBERTPRF(retr)
    assert (prf.pool, prf.rerank_pool, prf.maxsim, prf.kmeans) == ("padded", "e2e", "padded", "sklearn")
    assert prf.doc_maxlen == DOC_MAXLEN == 180
    assert (prf.fb_docs, prf.k, prf.fb_embs, prf.beta, prf.seed, prf.nn_tokens, prf.cutoff) == (3, 24, 10, 1.0, 42,
                                                                                              10, 1000)


def test_token_ann_presets():
    from winnow.rerank.maxsim import build_token_ann, colbert_partitions

    assert [colbert_partitions(t) for t in (10_000, 325_075, 600_000_000)] == [1024, 8192, 262144]
    store, _, _ = _setup(ndocs=120)
    ref = build_token_ann(store)  # the reference: faiss IndexIVFPQ(IndexFlatL2, d, nlist, 16, 8)
    assert (ref.metric, ref.M, ref.nbits) == ("l2", 16, 8)
    assert ref.nlist == min(colbert_partitions(store.ntokens), max(store.ntokens // 20, 256))
    ours = build_token_ann(store, preset="winnow")
    assert (ours.metric, ours.M) == ("ip", DIM // 8)
    with pytest.raises(ValueError, match="preset"):
        build_token_ann(store, preset="faiss")


def test_parameter_checks():
    from winnow.prf import ColBERTPRF

    _, retr, _ = _setup()
    with pytest.raises(ValueError, match="must exceed fb_embs"):
        ColBERTPRF(retr, k=10, fb_embs=10)
    with pytest.raises(ValueError, match="kmeans"):
        ColBERTPRF(retr, kmeans="faiss")
    for bad in ({"pool": "zeros"}, {"rerank_pool": "all"}, {"maxsim": "floor"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ColBERTPRF(retr, **bad)
    with pytest.raises(ValueError, match="first-pass"):
        ColBERTPRF(retr)({"q": "x"}, None)


# -- encoders -----------------------------------------------------------------------------------

def _tiny_colbert(root, dim=8):
    """A tiny randomly initialised ColBERT-shaped checkpoint: BERT + linear.weight, with the
    [unused0]/[unused1] markers in the vocabulary."""
    import tiny_encoder as tiny
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?"]
    vocab += list(tiny.WORDS) + list(tiny.PIECES[6:])
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    config = BertConfig(vocab_size=len(dict.fromkeys(vocab)), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=256)
    torch.manual_seed(0)
    bert = BertModel(config, add_pooling_layer=False)
    state = {f"bert.{k}": v for k, v in bert.state_dict().items()}
    state["linear.weight"] = torch.randn(dim, 32)
    config.save_pretrained(root)
    torch.save(state, root / "pytorch_model.bin")
    BertTokenizer(str(root / "vocab.txt"), do_lower_case=True).save_pretrained(root)
    return root


def test_colbert_encoder_markers_mask_augmentation_and_normalisation(tmp_path):
    from winnow.colbert import ColBERTEncoder, load_late_encoder

    path = _tiny_colbert(tmp_path / "colbert")
    enc = load_late_encoder(path)
    assert isinstance(enc, ColBERTEncoder) and enc.dim == 8
    (qv, qids), = enc.encode_queries(["the quick brown fox ?"])
    assert qv.shape == (32, 8) and qids.shape == (32,)
    tok = enc.tokenizer
    assert qids[0] == tok.cls_token_id and qids[1] == tok.convert_tokens_to_ids("[unused0]")
    assert (qids == tok.mask_token_id).sum() >= 20  # [MASK] augmentation to 32
    np.testing.assert_allclose(np.linalg.norm(qv, axis=1), 1.0, rtol=1e-5)
    v, t, off = enc.encode_documents(["the lazy dog sleeps .", "a cell , a gene"])
    assert off[0] == 0 and off[-1] == len(v) == len(t) and len(off) == 3
    assert t[0] == tok.cls_token_id and t[1] == tok.convert_tokens_to_ids("[unused1]")
    punct = {tok.convert_tokens_to_ids(c) for c in ".,"}
    # the default keeps punctuation, as ColBERT-PRF stores need; mask_punctuation=True drops it
    assert punct <= set(t.tolist()) and not enc.mask_punctuation and enc.describe()["mask_punctuation"] is False
    masked = load_late_encoder(path, mask_punctuation=True)
    vm, tm, offm = masked.encode_documents(["the lazy dog sleeps .", "a cell , a gene"])
    assert not punct & set(tm.tolist()) and len(tm) == len(t) - 2
    np.testing.assert_array_equal(tm, t[~np.isin(t, list(punct))])
    assert enc.special_ids and tok.convert_tokens_to_ids("[unused0]") in enc.special_ids
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)


def test_sentence_token_encoder_on_a_tiny_model(tmp_path):
    import tiny_encoder as tiny
    from winnow.colbert import SentenceTokenEncoder, load_late_encoder

    model = tiny.build_tiny_model(tmp_path)
    enc = load_late_encoder(model)
    assert isinstance(enc, SentenceTokenEncoder)
    with pytest.raises(ValueError, match="mask_punctuation"):
        load_late_encoder(model, mask_punctuation=True)
    (qv, qids), = enc.encode_queries(["the quick fox"])
    assert qv.shape[1] == enc.dim and len(qv) == len(qids) >= 3
    v, t, off = enc.encode_documents(["the dog", "cells and genes"])
    assert len(off) == 3 and off[-1] == len(v)
    assert enc.encoder._model.tokenizer.cls_token_id not in set(t.tolist())


def test_cli_token_store_keeps_punctuation_unless_masked(tmp_path):
    """``winnow index build tokens`` with a ColBERT checkpoint: a PRF store keeps punctuation
    rows by default (the reference builds PRF indexes with mask_punctuation=False);
    ``--mask-punctuation`` drops them and is recorded in the store's model description."""
    import json

    from winnow.cli.main import main

    path = _tiny_colbert(tmp_path / "colbert")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n" for i, t in
                              enumerate(["the lazy dog sleeps .", "a cell , a gene ?"])))
    stores = {}
    for name, extra in (("kept", []), ("masked", ["--mask-punctuation"])):
        out = tmp_path / name
        assert main(["index", "build", "tokens", "--input", str(corpus), "--model", str(path), "--output", str(out),
                     "--no-ann", *extra]) == 0
        stores[name] = TokenStore.load(out)
    vocab = (path / "vocab.txt").read_text().splitlines()
    punct = {vocab.index(c) for c in ".,?"}
    assert punct <= set(stores["kept"].token_ids.tolist())
    assert not punct & set(stores["masked"].token_ids.tolist())
    assert stores["kept"].ntokens == stores["masked"].ntokens + 3
    assert stores["kept"].model["mask_punctuation"] is False and stores["masked"].model["mask_punctuation"] is True
