"""CUR k-NN index (ANNCUR) and pairwise scorers: exact low-rank recovery, honest call
counts, anchor reuse, the reference rerank pool on a hand-computed case (and our merged pool),
AdaCUR's seeded random first round, the IVF nprobe default, determinism, save/load, and the
stage contract."""
from __future__ import annotations

import numpy as np
import pytest

from winnow.index.cur import CURIndex, sample_pseudo_queries, score_matrix
from winnow.index.token_store import maxsim_reference
from winnow.rerank.scorers import CallableScorer, MaxSimScorer, scorer_from_spec

from stage_conformance import StageConformance


def low_rank(nq: int, n: int, r: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((nq, r)) @ rng.standard_normal((r, n))).astype(np.float32)


def matrix_scorer(M: np.ndarray, log: list | None = None) -> CallableScorer:
    """Scorer over a full matrix; a query is the text of its row number."""
    def fn(q, ids):
        if log is not None:
            log.extend((q, int(i)) for i in ids)
        return M[int(q), ids]
    return CallableScorer(fn, M.shape[1], batch_size=7)


@pytest.fixture()
def lowrank_setup():
    M = low_rank(60, 300, 5)
    train, test = [str(i) for i in range(40)], [str(i) for i in range(40, 60)]
    return M, train, test


def test_exact_recovery_of_low_rank_matrix(lowrank_setup):
    M, train, test = lowrank_setup
    idx = CURIndex.build(matrix_scorer(M), train, n_anchor_items=20, seed=1, progress=False)
    E = idx.item_embeddings()  # (n, k_i)
    for q in test:
        c = M[int(q), idx.anchor_items]
        np.testing.assert_allclose(E @ c, M[int(q)], atol=1e-3, rtol=1e-4)
    # so the approximate top-k is the exact top-k and CUR search returns exact top-10
    k = 10
    res = idx.search(test, k=k, budget=20 + k)
    for qi, q in enumerate(test):
        exact = np.argsort(-M[int(q)])[:k]
        assert set(res.ids[qi].tolist()) == set(exact.tolist())
        np.testing.assert_allclose(res.scores[qi], np.sort(M[int(q)])[::-1][:k], rtol=1e-6)


@pytest.mark.parametrize("pool, budget", [("reference", 10 + 120), ("merged", 120)])
def test_full_budget_gives_exact_topk(lowrank_setup, pool, budget):
    """k_r = n (reference pool: every item, anchors included) or k_i + k_r = n (merged)."""
    M = low_rank(40, 120, 30, seed=3) + np.random.default_rng(4).standard_normal((40, 120)).astype(np.float32)
    idx = CURIndex.build(matrix_scorer(M), [str(i) for i in range(20)], n_anchor_items=10, progress=False)
    res = idx.search([str(i) for i in range(20, 40)], k=50, budget=budget, pool=pool)
    assert idx.last_calls == 20 * 120  # every item scored once, anchors never twice
    for qi, q in enumerate(range(20, 40)):
        assert set(res.ids[qi].tolist()) == set(np.argsort(-M[q])[:50].tolist())


def test_call_counter_equals_pairs_scored(lowrank_setup):
    M, train, test = lowrank_setup
    log: list = []
    scorer = matrix_scorer(M, log)
    idx = CURIndex.build(scorer, train, n_anchor_items=20, progress=False)
    assert scorer.calls == len(log) == 40 * 300 == idx.build_cost["scorer_calls"]
    scorer.reset_calls(), log.clear()
    idx.search(test, k=10, budget=50, pool="merged")
    assert scorer.calls == len(log) == idx.last_calls == len(test) * 50
    scorer.reset_calls(), log.clear()
    idx.search(test, k=10, budget=50)  # reference pool: anchors inside the top k_r cost nothing more
    assert scorer.calls == len(log) == idx.last_calls <= len(test) * 50
    scorer.reset_calls(), log.clear()
    idx.search_adaptive(test, k=10, budget=50, n_rounds=4)
    assert scorer.calls == len(log) == idx.last_calls == len(test) * 50


def test_anchor_scores_reused_never_rescored(lowrank_setup):
    M, train, test = lowrank_setup
    log: list = []
    idx = CURIndex.build(matrix_scorer(M), train, n_anchor_items=20, progress=False)
    idx.scorer = matrix_scorer(M, log)
    res = idx.search(test, k=30, budget=45, pool="merged")
    for qi, q in enumerate(test):
        pairs = [i for qq, i in log if qq == q]
        assert len(pairs) == len(set(pairs)) == 45  # every item scored at most once
        assert set(idx.anchor_items.tolist()) <= set(pairs)
        # anchors with top scores are returned with their (reused) exact scores
        got = dict(zip(res.ids[qi].tolist(), res.scores[qi].tolist()))
        for a in idx.anchor_items:
            if a in got:
                assert got[a] == pytest.approx(M[int(q), a])
    log.clear()
    idx.search(test, k=30, budget=45)  # reference pool
    for q in test:
        pairs = [i for qq, i in log if qq == q]
        assert len(pairs) == len(set(pairs)) <= 45 and set(idx.anchor_items.tolist()) <= set(pairs)
    log.clear()
    idx.search_adaptive(test, k=10, budget=45, n_rounds=3)
    for q in test:
        pairs = [i for qq, i in log if qq == q]
        assert len(pairs) == len(set(pairs)) == 45


def test_reference_pool_reproduces_a_hand_computed_case():
    """Two anchor queries whose scores on the two anchor items are the identity, so U = I and
    E = R. Query exact scores s = [.3, .6, .9, .1, .2, .95]; c = s[anchors] = [.3, .6];
    approximate scores c @ R = [.30, .60, .39, .51, .45, .12]. k_r = 3, k = 2:

    * reference: the top 3 approximate items, anchors included, are {1, 3, 4}; scored exactly
      .6, .1, .2 -> [1, 4]; anchor 0 (.3) is outside the pool and not merged; 2 + 2 calls
      (anchor 1 is not scored twice);
    * merged (ours): the top 3 non-anchors {3, 4, 2} are scored (.1, .2, .9) and the anchors
      (.3, .6) merged -> [2, 1]; 2 + 3 calls.
    """
    R = np.array([[1.0, 0.0, 0.9, 0.1, 0.5, 0.2],
                  [0.0, 1.0, 0.2, 0.8, 0.5, 0.1]], np.float32)
    s = np.array([0.3, 0.6, 0.9, 0.1, 0.2, 0.95], np.float32)
    M = np.vstack([R, s])
    idx = CURIndex.build(matrix_scorer(M), ["0", "1"], anchor_items=[0, 1], progress=False)
    np.testing.assert_allclose(idx.item_embeddings().T, R, atol=1e-6)
    assert idx.pool == "reference"  # the default
    ref = idx.search(["2"], k=2, budget=5)
    assert ref.ids[0].tolist() == [1, 4] and idx.last_calls == 4
    np.testing.assert_allclose(ref.scores[0], [0.6, 0.2], rtol=1e-6)
    merged = idx.search(["2"], k=2, budget=5, pool="merged")
    assert merged.ids[0].tolist() == [2, 1] and idx.last_calls == 5
    np.testing.assert_allclose(merged.scores[0], [0.9, 0.6], rtol=1e-6)
    # anchors in any order: the reused anchor score must follow its id, not its position
    rev = CURIndex.build(matrix_scorer(M), ["0", "1"], anchor_items=[1, 0], progress=False)
    assert rev.search(["2"], k=2, budget=5).ids[0].tolist() == [1, 4]
    with pytest.raises(ValueError, match="pool"):
        idx.search(["2"], k=2, budget=5, pool="union")


def test_adacur_first_round_is_a_seeded_random_subset(lowrank_setup):
    M, train, test = lowrank_setup
    idx = CURIndex.build(matrix_scorer(M), train, n_anchor_items=20, seed=1, progress=False)
    a, b, c = idx.first_round_items(10, seed=3), idx.first_round_items(10, seed=3), idx.first_round_items(10, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.sort(a), np.sort(c))
    assert len(set(a.tolist())) == 10 and a.min() >= 0 and a.max() < 300
    assert set(a.tolist()) != set(np.sort(idx.anchor_items)[:10].tolist())  # not the lowest anchor ids
    np.testing.assert_array_equal(a, np.random.default_rng(3).choice(300, 10, replace=False))
    draws = np.concatenate([idx.first_round_items(10, seed=s) for s in range(200)])
    assert 120 < draws.mean() < 180 and len(np.unique(draws)) > 250  # spread over all 300 items
    # search_adaptive scores exactly that subset first, for every query
    log: list = []
    idx.scorer = matrix_scorer(M, log)
    idx.search_adaptive(test[:2], k=5, budget=40, n_rounds=4, seed=3)
    for q in test[:2]:
        assert [i for qq, i in log if qq == q][:10] == a.tolist()


def test_ivf_nprobe_defaults_to_sqrt_nlist(lowrank_setup):
    M, train, test = lowrank_setup
    idx = CURIndex.build(matrix_scorer(M), train, n_anchor_items=20, dense="ivf", nlist=16, progress=False)
    assert idx.default_nprobe() == 4 and idx.nprobe is None
    default = idx.search(test, k=10, budget=40)
    np.testing.assert_array_equal(default.ids, idx.search(test, k=10, budget=40, nprobe=4).ids)
    one = idx.search(test, k=10, budget=40, nprobe=1)
    assert not np.array_equal(default.ids, one.ids)
    flat = CURIndex.build(matrix_scorer(M), train, n_anchor_items=20, progress=False)
    assert flat.default_nprobe() is None


def test_deterministic_for_a_seed(lowrank_setup):
    M, train, test = lowrank_setup
    M = M + np.random.default_rng(9).standard_normal(M.shape).astype(np.float32)
    a = CURIndex.build(matrix_scorer(M), train, n_anchor_items=15, seed=7, progress=False)
    b = CURIndex.build(matrix_scorer(M), train, n_anchor_items=15, seed=7, progress=False)
    c = CURIndex.build(matrix_scorer(M), train, n_anchor_items=15, seed=8, progress=False)
    assert np.array_equal(a.anchor_items, b.anchor_items)
    assert not np.array_equal(a.anchor_items, c.anchor_items)
    for fn in ("search", "search_adaptive"):
        ra, rb = getattr(a, fn)(test, k=10, budget=40), getattr(b, fn)(test, k=10, budget=40)
        assert np.array_equal(ra.ids, rb.ids) and np.array_equal(ra.scores, rb.scores)


def test_budget_below_anchors_is_an_error(lowrank_setup):
    M, train, test = lowrank_setup
    idx = CURIndex.build(matrix_scorer(M), train, n_anchor_items=20, progress=False)
    with pytest.raises(ValueError, match="budget"):
        idx.search(test, k=5, budget=10)


def test_resumable_chunks(tmp_path, lowrank_setup):
    M, train, _ = lowrank_setup
    s1 = matrix_scorer(M)
    R1, cost1 = score_matrix(s1, train, tmp_path, chunk_size=8, progress=False)
    assert cost1["scorer_calls"] == 40 * 300 and cost1["resumed_chunks"] == 0
    (sorted(tmp_path.glob("R_*.npy"))[-1]).unlink()  # as if interrupted during the last chunk
    s2 = matrix_scorer(M)
    R2, cost2 = score_matrix(s2, train, tmp_path, chunk_size=8, progress=False)
    assert cost2["resumed_chunks"] == 4 and s2.calls == 8 * 300
    np.testing.assert_array_equal(R1, R2)
    np.testing.assert_array_equal(R1, M[:40])


@pytest.mark.parametrize("dense", ["flat", "ivf"])
def test_save_load_roundtrip(tmp_path, lowrank_setup, dense):
    from winnow.index import load

    M, train, test = lowrank_setup
    idx = CURIndex.build(matrix_scorer(M), train, n_anchor_items=20, dense=dense, nlist=4, progress=False,
                         docnos=[f"d{i}" for i in range(300)])
    kw = {"nprobe": 4} if dense == "ivf" else {}
    before = idx.search(test, k=10, budget=40, **kw)
    idx.save(tmp_path / "cur")
    with pytest.raises(ValueError, match="scorer"):
        load(tmp_path / "cur")
    back = load(tmp_path / "cur", scorer=matrix_scorer(M))
    assert isinstance(back, CURIndex) and back.anchor_queries == train
    after = back.search(test, k=10, budget=40, **kw)
    assert np.array_equal(before.ids, after.ids) and before.docnos.lookup([3]) == after.docnos.lookup([3])
    mm = CURIndex.load(tmp_path / "cur", mmap=True, scorer=matrix_scorer(M))
    assert np.array_equal(mm.search(test, k=10, budget=40, **kw).ids, before.ids)


def test_maxsim_scorer_matches_reference():
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((50, 8)).astype(np.float32)
    offs = np.array([0, 5, 5, 20, 50])
    q = rng.standard_normal((3, 8)).astype(np.float32)
    s = MaxSimScorer(vecs, offs, batch_size=3)
    got = s.score(q, [3, 1, 0, 2])
    assert s.calls == 4
    want = [(q @ vecs[offs[i]:offs[i + 1]].T).max(1).sum() if offs[i + 1] > offs[i] else 0.0 for i in [3, 1, 0, 2]]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(maxsim_reference(q, None, vecs, offs, [2]), want[3:], rtol=1e-5)
    with pytest.raises(IndexError):
        s.score(q, [4])
    with pytest.raises(ValueError, match="query_encoder"):
        s.score("text", [0])


def test_scorer_spec_errors():
    with pytest.raises(ValueError, match="SPEC"):
        scorer_from_spec("nonsense")
    with pytest.raises(ValueError, match="corpus"):
        scorer_from_spec("cross-encoder:/nonexistent")


def test_pseudo_queries_deterministic():
    docs = [f"word{i} " * 30 for i in range(20)]
    a, b = sample_pseudo_queries(docs, 5, seed=1), sample_pseudo_queries(docs, 5, seed=1)
    assert a == b and len(a) == 5 and all(len(q.split()) == 12 for q in a)


def test_cross_encoder_scorer_tiny_random(tmp_path):
    import tiny_encoder  # the offline switches, and the tiny vocabulary
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    from winnow.rerank.scorers import CrossEncoderScorer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(tiny_encoder.WORDS)
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, num_labels=1)
    BertForSequenceClassification(cfg).save_pretrained(tmp_path)
    BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    docs = ["the quick brown fox", "lazy dog sleeps", "protein cell gene", "cancer risk study",
            "blood brain mouse", "human dna rna"]
    s = CrossEncoderScorer(tmp_path, docs, batch_size=4)
    a = s.score("brown fox", [0, 1, 2, 3, 4, 5])
    assert a.dtype == np.float32 and a.shape == (6,) and s.calls == 6
    np.testing.assert_allclose(s.score("brown fox", [2, 0]), a[[2, 0]], rtol=1e-4, atol=1e-5)
    idx = CURIndex.build(s, ["fox", "gene", "dog", "risk"], n_anchor_items=3, progress=False)
    assert s.calls == 8 + 4 * 6
    res = idx.search(["brown dog"], k=3, budget=5, pool="merged")
    assert res.counts()[0] == 3 and idx.last_calls == 5


# -- the stage contract -----------------------------------------------------------------------
DOCS = ["the quick brown fox", "lazy dog sleeps", "fox jumps over dog", "protein cell gene",
        "cancer risk study", "blood brain mouse", "human dna rna", "brown bears sleep",
        "gene expression in cells", "dog and fox"]


def overlap_scorer() -> CallableScorer:
    toks = [set(d.split()) for d in DOCS]
    return CallableScorer(lambda q, i: float(len(set(q.split()) & toks[i])), len(DOCS), pairwise=True)


class TestCURStage(StageConformance):
    QUERIES = {"q1": "brown fox", "q2": "gene cells", "q3": "dog"}
    NO_HIT_QUERY = "zzqxj"
    K = 3
    CAPS_K = True

    def make_stage(self):
        idx = CURIndex.build(overlap_scorer(), ["fox dog", "gene cell", "brown", "risk study", "dna"],
                             n_anchor_items=3, seed=0, progress=False, budget=7, min_score=0.5,
                             docnos=[f"D{i}" for i in range(len(DOCS))])
        return idx


class TestAdaptiveCURStage(TestCURStage):
    def apply(self, stage, queries, results, k):
        return stage.search_adaptive(queries, k=k, budget=7, n_rounds=3)


def test_maxsim_scorer_from_token_store(tmp_path):
    from winnow.index import token_store as ts
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((60, 8)).astype(np.float32)
    offs = np.array([0, 10, 10, 35, 60], np.int64)
    ts.TokenStore(vecs, np.zeros(60, np.int32), offs).save(tmp_path / "ts")
    s = MaxSimScorer.from_token_store(tmp_path / "ts")
    q = rng.standard_normal((3, 8)).astype(np.float32)
    got = s.score(q, [0, 1, 2, 3])
    assert s.calls == 4 and s.n_docs == 4
    want = maxsim_reference(q, None, vecs.astype(np.float16), offs, [0, 1, 2, 3])
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
