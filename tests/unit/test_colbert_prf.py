"""ColBERT-PRF: expanded-query weights, skipped special clusters, determinism, the ReRanker's
candidate set, both k-means options; late-interaction encoders on tiny random models."""
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
    prf = ColBERTPRF(retr, fb_docs=1, k=3, fb_embs=2)
    centroids = prf.cluster(store.doc_vectors(0))
    assert np.all(prf.centroid_tokens(centroids) == -1)
    q_exp, w, info = prf.expand(q, [0])  # fewer valid clusters than fb_embs: no error
    assert info["n_valid"] == 0 and len(w) == len(q) and q_exp.shape == q.shape


def test_deterministic_for_the_seed_and_reranker_keeps_first_pass_set():
    from winnow.prf import ColBERTPRF

    store, retr, q = _setup(seed=1)
    first = retr.search({"q": "text"}, k=15)
    runs = [ColBERTPRF(retr, rerank=True, cutoff=20)({"q": "text"}, first) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].ids, runs[1].ids)
    np.testing.assert_array_equal(runs[0].scores, runs[1].scores)
    got = set(runs[0].ids[0][runs[0].ids[0] >= 0].tolist())
    assert got == set(first.ids[0][first.ids[0] >= 0].tolist())
    ranker = [ColBERTPRF(retr, rerank=False, cutoff=20, kmeans="winnow")({"q": "text"}, first) for _ in range(2)]
    np.testing.assert_array_equal(ranker[0].ids, ranker[1].ids)
    assert (ranker[0].ids[0] >= 0).sum() >= (first.ids[0] >= 0).sum()


def test_parameter_checks():
    from winnow.prf import ColBERTPRF

    _, retr, _ = _setup()
    with pytest.raises(ValueError, match="must exceed fb_embs"):
        ColBERTPRF(retr, k=10, fb_embs=10)
    with pytest.raises(ValueError, match="kmeans"):
        ColBERTPRF(retr, kmeans="faiss")
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
    assert not punct & set(t.tolist())
    assert enc.special_ids and tok.convert_tokens_to_ids("[unused0]") in enc.special_ids
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)


def test_sentence_token_encoder_on_a_tiny_model(tmp_path):
    import tiny_encoder as tiny
    from winnow.colbert import SentenceTokenEncoder, load_late_encoder

    enc = load_late_encoder(tiny.build_tiny_model(tmp_path))
    assert isinstance(enc, SentenceTokenEncoder)
    (qv, qids), = enc.encode_queries(["the quick fox"])
    assert qv.shape[1] == enc.dim and len(qv) == len(qids) >= 3
    v, t, off = enc.encode_documents(["the dog", "cells and genes"])
    assert len(off) == 3 and off[-1] == len(v)
    assert enc.encoder._model.tokenizer.cls_token_id not in set(t.tolist())
