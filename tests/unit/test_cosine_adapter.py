"""Cosine Adapter: monotone maps, probabilities, threshold, determinism, files, stage contract,
the BM25 (query statistics) variant, the CLI and the experiment-config stage.

Data: a seeded synthetic dense collection (unit vectors, d=16); each query is a noisy mean
of its two relevant documents, with a per-query noise level, so relevance depends on the
query as well as on the cosine (what the adapter is for).
"""
from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

import torch
from hypothesis import given, settings, strategies as st  # noqa: E402

from stage_conformance import StageConformance, check_results_contract  # noqa: E402
from winnow.errors import IndexFormatError  # noqa: E402
from winnow.index.format import write_meta  # noqa: E402
from winnow.index.flat import FlatIndex  # noqa: E402
from winnow.results import Results  # noqa: E402
from winnow.rerank import CosineAdapter, train_adapter, train_for_retriever  # noqa: E402
from winnow.rerank.adapter_training import candidate_labels, choose_threshold  # noqa: E402
from winnow.rerank.cosine_adapter import FAMILIES, bm25_query_stats, map_scores, n_params  # noqa: E402

D, N_DOCS, N_Q, K = 16, 300, 120, 20
FAST = dict(max_epochs=150, patience=50, eval_every=5, hidden=16)


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def text_vector(text: str) -> np.ndarray:
    """A deterministic unit vector for any text (the fake query encoder)."""
    return _unit(np.random.default_rng(zlib.crc32(text.encode())).standard_normal(D))


class FakeEncoder:
    def encode_queries(self, texts, **kw):
        return np.stack([text_vector(t) for t in texts]) if texts else np.zeros((0, D), np.float32)


@pytest.fixture(scope="module")
def collection():
    rng = np.random.default_rng(0)
    docs = _unit(rng.standard_normal((N_DOCS, D)))
    index = FlatIndex(D)
    index.add(docs)
    index.set_docnos([f"d{i}" for i in range(N_DOCS)])
    qids = [f"q{i}" for i in range(N_Q)]
    qrels, qvec = {}, {}
    for i, q in enumerate(qids):
        rel = rng.choice(N_DOCS, 2, replace=False)
        noise = rng.uniform(0.2, 1.5)
        qvec[q] = _unit(docs[rel].mean(axis=0) + noise * rng.standard_normal(D) / np.sqrt(D))
        qrels[q] = {f"d{r}": 1 for r in rel}
    x = np.stack([qvec[q] for q in qids])
    r = index.search(x, k=K)
    res = Results(qids, r.ids, r.scores, r.docnos, [f"query {q}" for q in qids])
    return index, res, qrels, qvec, x


@pytest.fixture(scope="module")
def adapters(collection):
    _, res, qrels, qvec, x = collection
    return {fam: train_adapter(res, qrels, x, fam, seed=0, target_recall=0.9, query_vectors=qvec, **FAST)
            for fam in FAMILIES}


# --------------------------------------------------------------------------- monotone maps

@settings(max_examples=60, deadline=None)
@given(family=st.sampled_from(FAMILIES), domain=st.sampled_from(["cosine", "minmax"]),
       raw=st.lists(st.floats(-30, 30), min_size=3, max_size=3),
       scores=st.lists(st.floats(-1, 1), min_size=2, max_size=40))
def test_map_monotone_every_family(family, domain, raw, scores):
    s = np.sort(np.asarray(scores, np.float64))[None, :]
    r = np.asarray(raw[: n_params(family)], np.float64)[None, :]
    f = map_scores(r, s, family, domain, -1.0, 1.0)
    assert (np.diff(f[0]) >= -1e-9 * (1 + np.abs(f[0, 1:]))).all()


@settings(max_examples=25, deadline=None)
@given(family=st.sampled_from(FAMILIES), seed=st.integers(0, 2**16),
       scores=st.lists(st.floats(-1, 1, width=32), min_size=1, max_size=30))
def test_stage_monotone_per_query_random_nets(family, seed, scores):
    """Any weights (random nets) keep each query's order and give probabilities in [0, 1]."""
    ad = CosineAdapter(family, ("embedding",), D, hidden=8, seed=seed, calibrate_only=True,
                       query_vectors=lambda texts: np.stack([text_vector(t) for t in texts]))
    with torch.no_grad():
        for p in ad.net.parameters():
            p.mul_(10.0)  # steep, query-dependent maps
    s = np.sort(np.asarray(scores, np.float32))[::-1][None, :].repeat(3, axis=0)
    ids = np.tile(np.arange(s.shape[1]), (3, 1))
    res = Results(["a", "b", "c"], ids, s, [str(i) for i in range(s.shape[1])])
    out = ad({"a": "x", "b": "y", "c": "z"}, res)
    check_results_contract(out, nq=3)
    assert np.array_equal(out.ids, ids)  # nothing dropped, order unchanged
    assert ((out.scores >= 0) & (out.scores <= 1)).all()


def test_probabilities_in_unit_interval(collection, adapters):
    _, res, _, _, x = collection
    for ad in adapters.values():
        p = ad.probabilities(x, res.scores)
        assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
        assert (np.diff(p, axis=1) <= 1e-12).all()  # best-first rows stay best-first


def test_learns_something(collection, adapters):
    """Probabilities separate relevant from non-relevant candidates (AP well above base rate)."""
    _, res, qrels, _, x = collection
    y, valid = candidate_labels(res, qrels)
    p = adapters["power"].probabilities(x, res.scores)[valid]
    order = np.argsort(-p, kind="stable")
    hits = y[valid][order]
    ap = (np.cumsum(hits) / np.arange(1, len(hits) + 1))[hits > 0].mean()
    assert ap > 3 * hits.mean()  # observed ~0.5 vs base rate ~0.08, seed 0


# --------------------------------------------------------------------------- threshold

def test_threshold_hits_target_recall_on_validation(collection, adapters):
    _, res, qrels, qvec, _ = collection
    for ad in adapters.values():
        val = ad.info["val_qids"]
        rows = [res.qids.index(q) for q in val]
        sub = Results(val, res.ids[rows], res.scores[rows], res.docnos, [res.queries[i] for i in rows])
        out = ad({q: sub.queries[i] for i, q in enumerate(val)}, sub)
        y_in, _ = candidate_labels(sub, qrels)
        y_out, _ = candidate_labels(out, qrels)
        recall = y_out.sum() / y_in.sum()
        assert recall >= 0.9, (ad.family, recall)
        assert recall == pytest.approx(ad.info["threshold_on_validation"]["recall"])
        assert out.counts().sum() < sub.counts().sum()  # it does filter


def test_choose_threshold_exact():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], np.float32)
    y = np.array([1, 0, 1, 0, 1, 0])
    t, got = choose_threshold(p, y, target_recall=0.6)
    assert t == pytest.approx(0.7) and got["recall"] == pytest.approx(2 / 3) and got["kept"] == 3
    t, got = choose_threshold(p, y, target_precision=0.6)
    assert t == pytest.approx(0.5) and got["precision"] == pytest.approx(0.6)
    t, got = choose_threshold(p, y, target_precision=1.0)
    assert t == pytest.approx(0.9)
    with pytest.raises(ValueError, match="exactly one"):
        choose_threshold(p, y)
    with pytest.raises(ValueError, match="no relevant"):
        choose_threshold(p, np.zeros(6), target_recall=0.9)


def test_target_precision(collection):
    _, res, qrels, _, x = collection
    ad = train_adapter(res, qrels, x, "linear", seed=0, target_recall=None, target_precision=0.3, **FAST)
    point = ad.info["threshold_on_validation"]
    assert point["precision"] >= 0.3 or not point["target"]["reached"]


# --------------------------------------------------------------------------- seeds and files

def test_deterministic_for_a_seed(collection):
    _, res, qrels, _, x = collection
    a = train_adapter(res, qrels, x, "power", seed=3, **FAST)
    b = train_adapter(res, qrels, x, "power", seed=3, **FAST)
    assert a.threshold == b.threshold
    for (ka, va), (kb, vb) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    c = train_adapter(res, qrels, x, "power", seed=4, **FAST)
    assert c.info["val_qids"] != a.info["val_qids"]


def test_save_load_identical(tmp_path, collection, adapters):
    _, res, _, qvec, _ = collection
    queries = dict(zip(res.qids, res.queries))
    for fam, ad in adapters.items():
        ad.save(tmp_path / fam)
        meta = json.loads((tmp_path / fam / "meta.json").read_text())
        assert meta["format"] == "winnow.cosine_adapter" and meta["config"]["family"] == fam
        torch.load(tmp_path / fam / "weights.pt", weights_only=True)  # tensors only
        back = CosineAdapter.load(tmp_path / fam, query_vectors=qvec)
        assert back.threshold == ad.threshold
        a, b = ad(queries, res), back(queries, res)
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.scores, b.scores)
        cal = CosineAdapter.load(tmp_path / fam, query_vectors=qvec, calibrate_only=True)(queries, res)
        assert np.array_equal(cal.ids, res.ids)


def test_load_errors(tmp_path, adapters):
    with pytest.raises(IndexFormatError, match="missing: not an index directory"):
        CosineAdapter.load(tmp_path / "missing")
    adapters["linear"].save(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    (tmp_path / "a" / "meta.json").write_text(json.dumps(dict(meta, format="winnow.flat")))
    with pytest.raises(IndexFormatError, match="meta.json: checksum mismatch"):  # an edited meta.json
        CosineAdapter.load(tmp_path / "a")
    write_meta(tmp_path / "a", dict(meta, format="winnow.flat"))  # re-stamped: reaches the format check
    with pytest.raises(IndexFormatError, match="not winnow.cosine_adapter"):
        CosineAdapter.load(tmp_path / "a")
    (tmp_path / "a" / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "a" / "weights.pt").write_bytes(b"garbage")
    with pytest.raises(IndexFormatError, match="weights.pt"):
        CosineAdapter.load(tmp_path / "a")


def test_bad_arguments(collection):
    _, res, qrels, _, x = collection
    with pytest.raises(ValueError, match="family"):
        CosineAdapter("cubic")
    with pytest.raises(ValueError, match="threshold"):
        CosineAdapter("linear", ("embedding",), D, threshold=1.5)
    with pytest.raises(ValueError, match="features must be"):
        train_adapter(res, qrels, x[:5], "linear")
    with pytest.raises(ValueError, match="earlier stage"):
        CosineAdapter("linear", ("embedding",), D)({"a": "b"}, None)


# --------------------------------------------------------------------------- pipelines

def test_dense_pipeline(collection, adapters):
    index, res, qrels, qvec, x = collection
    index.encoder = FakeEncoder()
    queries = {q: f"query {q}" for q in res.qids[:10]}
    ad = adapters["power"]
    ad.query_vectors, ad.index = None, index  # features from the index's encoder
    try:
        out = (index >> ad)(queries)
    finally:
        ad.query_vectors, ad.index = qvec, None
    check_results_contract(out, nq=10, k=min(index.k, index.n_docs))  # k capped at the index size
    assert ((out.scores[out.ids >= 0] >= ad.threshold)).all()


def test_bm25_query_stats_pipeline():
    from winnow.index import BM25Index

    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(60)]
    docs = [(f"d{i}", " ".join(rng.choice(vocab, 12))) for i in range(150)]
    bm25 = BM25Index.build(docs, progress=False)
    stats = bm25_query_stats(bm25, "w1 w2 zzunknown")
    n = bm25.n_docs
    want = sum(np.log(1 + (n - bm25.df(t) + 0.5) / (bm25.df(t) + 0.5)) for t in bm25.analyze("w1 w2 zzunknown"))
    assert stats[0] == len(bm25.analyze("w1 w2 zzunknown")) and stats[1] == pytest.approx(want)
    queries, qrels = {}, {}
    for i in range(60):
        d = docs[rng.integers(150)]
        words = d[1].split()
        queries[f"q{i}"] = " ".join(rng.choice(words, 1 + i % 4))
        qrels[f"q{i}"] = {d[0]: 1}
    ad = train_for_retriever(bm25, queries, qrels, "quadratic", k=20, score_stats=True, seed=0, **FAST)
    assert ad.features == ("query_stats", "score_stats") and ad.domain == "minmax"
    out = (bm25 >> ad)(queries)
    check_results_contract(out, nq=60)
    assert ((out.scores[out.ids >= 0] >= 0) & (out.scores[out.ids >= 0] <= 1)).all()


# --------------------------------------------------------------------------- CLI and configs

def test_cli_and_config_stage(tmp_path, collection):
    from winnow.cli.main import main
    from winnow.experiment_config import STAGES

    index, res, qrels, qvec, _ = collection
    index.save(tmp_path / "idx")
    vec_dir = tmp_path / "qv"
    vec_dir.mkdir()
    np.save(vec_dir / "queries.npy", np.stack([qvec[q] for q in res.qids]))
    (vec_dir / "query_ids.txt").write_text("\n".join(res.qids) + "\n")
    (tmp_path / "q.tsv").write_text("".join(f"{q}\tquery {q}\n" for q in res.qids))
    (tmp_path / "qrels.tsv").write_text("".join(f"{q} 0 {d} 1\n" for q in qrels for d in qrels[q]))
    rc = main(["train", "adapter", "--index", str(tmp_path / "idx"), "--queries", str(tmp_path / "q.tsv"),
               "--qrels", str(tmp_path / "qrels.tsv"), "--family", "sqrt", "--query-vectors", str(vec_dir),
               "--max-epochs", "100", "--hidden", "8", "--output", str(tmp_path / "ad")])
    assert rc == 0
    ad = STAGES["cosine_adapter"][0](str(tmp_path / "ad"), calibrate_only=True)
    assert ad.family == "sqrt" and ad.info["index"] == str((tmp_path / "idx").resolve())
    ad.query_vectors = qvec
    out = ad(dict(zip(res.qids, res.queries)), res)
    assert np.array_equal(out.ids, res.ids)


# --------------------------------------------------------------------------- stage contract

class TestCosineAdapterConformance(StageConformance):
    K = 5

    @pytest.fixture(autouse=True)
    def _setup(self, collection, adapters):
        _, res, _, _, _ = collection
        rows = list(range(6))
        self.res = Results([res.qids[i] for i in rows], res.ids[rows], res.scores[rows], res.docnos,
                           [res.queries[i] for i in rows])
        base = adapters["power"]
        self.adapter = CosineAdapter(base.family, base.features, base.in_dim, base.hidden, base.domain,
                                     base.score_range, base.threshold,
                                     query_vectors=lambda texts: np.stack([text_vector(t) for t in texts]))
        self.adapter.net.load_state_dict(base.net.state_dict())
        self.adapter.threshold = 0.0  # keep everything real: the contract is about structure

    def make_stage(self):
        return self.adapter

    def make_input(self):
        return dict(zip(self.res.qids, self.res.queries)), self.res
