"""Bad input is refused before any work, with a message that names it (issue 12, item 3):
non-finite vectors, non-str or unencodable text, duplicate docnos, cutoffs below 1; and input
that is accepted but pointless (queries with no terms, qrels sharing no query with a run, a
``rel`` no judgement reaches) is reported with an InputWarning."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from winnow import DocnoTable, InputWarning
from winnow.evaluation import evaluate, resolve_metrics
from winnow.index import BM25Index
from winnow.index.cur import CURIndex
from winnow.index.flat import FlatIndex
from winnow.index.ivf import IVFIndex
from winnow.index.opq import train_opq
from winnow.index.pq_index import PQIndex
from winnow.index.repconc import to_ivf
from winnow.index.token_store import TokenStore
from winnow.rerank.scorers import CallableScorer
from winnow.stage import as_queries
from winnow.validation import check_finite, unique_docnos
from winnow.vectors import load_vectors

D = 8


def vectors(n=64, seed=0):
    return np.random.default_rng(seed).standard_normal((n, D)).astype(np.float32)


def poisoned(value=np.nan, row=17, col=3, n=64):
    x = vectors(n)
    x[row, col] = value
    return x


def no_warnings():
    """Context: any warning fails the test (the normal case must stay quiet)."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error")
    return ctx


# -- the shared check ------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_check_finite_names_row_column_and_value(value, text):
    with pytest.raises(ValueError, match=rf"^x row 17 column 3 is {text}: vectors must be finite$"):
        check_finite(poisoned(value), "x")


def test_check_finite_finds_the_first_bad_entry_past_the_first_block():
    x = np.zeros((300_000, 4), np.float32)  # 1.2M entries: several isfinite() blocks
    x[250_001, 2] = np.nan
    x[299_999, 0] = np.inf
    with pytest.raises(ValueError, match="row 250001 column 2 is nan"):
        check_finite(x, "big")
    check_finite(np.zeros((3, 2), np.int64), "ints")  # integers are always finite
    check_finite(np.zeros((0, 4), np.float32), "empty")
    with pytest.raises(ValueError, match=r"^w row 1 is nan: vectors must be finite$"):
        check_finite(np.array([1.0, np.nan]), "w")
    with pytest.raises(ValueError, match=r"c entry \(1, 0, 2\) is inf"):
        c = np.zeros((2, 3, 4), np.float32)
        c[1, 0, 2] = np.inf
        check_finite(c, "c")


# -- every dense index and trainer -----------------------------------------------------------

def trained(kind):
    x = vectors(256, seed=1)
    if kind == "flat":
        return FlatIndex(D)
    if kind == "pq":
        return PQIndex(D, 2, 4).train(x, niter=2)
    if kind == "pq-refine":
        return PQIndex(D, 2, 8, refine=True).train(x, niter=2)
    if kind == "ivf":
        return IVFIndex(D, 4).train(x, niter=2)
    return IVFIndex(D, 4, "pq", M=2, nbits=4).train(x, niter=2)


KINDS = ["flat", "pq", "pq-refine", "ivf", "ivfpq"]


@pytest.mark.parametrize("kind", KINDS)
def test_add_refuses_non_finite_before_adding_anything(kind):
    index = trained(kind)
    with pytest.raises(ValueError, match=r"^vectors row 17 column 3 is nan: vectors must be finite$"):
        index.add(poisoned())
    assert index.n_docs == 0
    index.add(vectors())
    assert index.n_docs == 64


@pytest.mark.parametrize("kind", KINDS)
def test_search_refuses_non_finite_queries(kind):
    index = trained(kind)
    index.add(vectors())
    q = vectors(3, seed=5)
    q[2, 0] = np.inf
    with pytest.raises(ValueError, match=r"^query vectors row 2 column 0 is inf: vectors must be finite$"):
        index.search(q, k=5)
    with pytest.raises(ValueError, match=r"^query vectors row 2 column 0 is inf"):
        index.search_vectors(q, 5)
    assert np.isfinite(index.search(q[:2], k=5).scores).all()


@pytest.mark.parametrize("kind", ["pq", "ivf", "ivfpq"])
def test_train_refuses_non_finite_and_stays_untrained(kind):
    """One NaN in one training vector used to make every IVF-PQ score NaN."""
    index = {"pq": PQIndex(D, 2, 8, opq=True), "ivf": IVFIndex(D, 4),
             "ivfpq": IVFIndex(D, 4, "pq", M=2, opq=True)}[kind]
    with pytest.raises(ValueError, match=r"^vectors row 100 column 5 is nan: vectors must be finite$"):
        index.train(poisoned(row=100, col=5, n=256), niter=2)
    assert not index.is_trained


def test_given_quantizers_and_rotations_must_be_finite():
    pq = PQIndex(D, 2, 8)
    cent = np.zeros((2, 256, D // 2), np.float32)
    cent[1, 7, 0] = np.nan
    with pytest.raises(ValueError, match=r"centroids entry \(1, 7, 0\) is nan"):
        pq.set_codebooks(cent)
    rot = np.eye(D, dtype=np.float32)
    rot[0, 1] = np.inf
    with pytest.raises(ValueError, match="rotation row 0 column 1 is inf"):
        PQIndex(D, 2, 8, rotation=rot)
    ivf = IVFIndex(D, 2, "pq", M=2)
    coarse = vectors(2)
    coarse[1, 1] = -np.inf
    with pytest.raises(ValueError, match="centroids row 1 column 1 is -inf"):
        ivf.set_quantizers(coarse, np.zeros((2, 256, D // 2), np.float32))
    assert not ivf.is_trained  # nothing was set
    with pytest.raises(ValueError, match="codebooks entry"):
        ivf.set_quantizers(vectors(2), cent)
    with pytest.raises(ValueError, match="^x row 17 column 3 is nan"):
        train_opq(poisoned(), 2)


def test_repconc_to_ivf_refuses_non_finite_documents():
    pq = PQIndex(D, 2, 4).train(vectors(256), niter=2)
    pq.add(vectors())
    with pytest.raises(ValueError, match="vectors row 17 column 3 is nan"):
        to_ivf(pq, poisoned(), nlist=2)


def test_token_store_refuses_non_finite_tokens_and_queries():
    tokens = vectors(10).astype(np.float16)
    offsets = np.array([0, 4, 10])
    tokens[6, 2] = np.inf
    with pytest.raises(ValueError, match=r"^tokens row 6 column 2 is inf: vectors must be finite$"):
        TokenStore(tokens, np.zeros(10, np.int32), offsets)
    store = TokenStore(vectors(10), np.zeros(10, np.int32), offsets)
    q = vectors(2)
    q[1, 4] = np.nan
    with pytest.raises(ValueError, match="query vectors row 1 column 4 is nan"):
        store.maxsim(q, [0, 1])
    with pytest.raises(ValueError, match="weights row 0 is nan"):
        store.maxsim(vectors(2), [0, 1], weights=[np.nan, 1.0])
    pq_store = TokenStore(vectors(20), np.zeros(20, np.int32), [0, 4, 20], pq_M=2, nbits=4)
    with pytest.raises(ValueError, match="query vectors row 1 column 4 is nan"):
        pq_store.luts(q)


def test_cur_refuses_non_finite_anchor_scores():
    scorer = CallableScorer(lambda query, ids: np.zeros(len(ids)), n_docs=6)
    R = np.ones((3, 6), np.float32)
    R[2, 4] = np.nan
    with pytest.raises(ValueError, match=r"^anchor score matrix R row 2 column 4 is nan: scores must be finite$"):
        CURIndex.build(scorer, ["a", "b", "c"], n_anchor_items=2, R=R, progress=False)


# -- vector files name the file --------------------------------------------------------------

def test_load_vectors_names_the_file_row_and_column(tmp_path):
    np.save(tmp_path / "corpus.npy", poisoned())
    (tmp_path / "corpus_ids.txt").write_text("".join(f"d{i}\n" for i in range(64)))
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'corpus.npy'} row 17 column 3 is nan: "
                                                   "vectors must be finite")):
        load_vectors(tmp_path)
    np.save(tmp_path / "vectors.npy", poisoned(np.inf, 5, 0).astype(np.float16))  # embedding-cache layout
    (tmp_path / "ids.txt").write_text("".join(f"d{i}\n" for i in range(64)))
    with pytest.raises(ValueError, match=r"vectors\.npy row 5 column 0 is inf"):
        load_vectors(tmp_path, mmap=True)


# -- text --------------------------------------------------------------------------------------

@pytest.mark.parametrize("docs, kw, message", [
    ([("a", "fine"), ("d", None)], {}, "document 'd' text is NoneType, expected str"),
    ([("d", 42)], {}, "document 'd' text is int, expected str"),
    ([("a", "ok"), ("e", "a \ud800 b")], {},
     "document 'e' text has a lone surrogate U+D800 at character 2: text must be valid Unicode"),
    ([(None, "x")], {}, "the docno of document 0 is None"),
    ([("a", "x"), ("b\udfff", "x")], {}, "the docno of document 1 has a lone surrogate U+DFFF"),
    ([("d", None)], {"pretokenized": True}, "document 'd' terms are NoneType, expected a list of terms"),
    ([("d", "a b")], {"pretokenized": True}, "document 'd' terms are str, expected a list of terms"),
    ([("d", ["a", None])], {"pretokenized": True}, "document 'd' term 1 is None"),
])
def test_bm25_build_refuses_bad_text_naming_the_document(docs, kw, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        BM25Index.build(docs, progress=False, **kw)


def test_bm25_build_refuses_bad_text_in_a_later_batch():
    docs = [(f"d{i}", "text") for i in range(40)] + [("d40", None)]
    with pytest.raises(ValueError, match="document 'd40' text is NoneType"):
        BM25Index.build(docs, batch_size=16, progress=False)


def test_pretokenized_integer_terms_still_work():
    index = BM25Index.build([("d", [1, 2, 2])], pretokenized=True, progress=False)
    assert index.df("2") == 1


@pytest.mark.parametrize("queries, message", [
    ({"q1": None}, "query 'q1' text is NoneType, expected str"),
    ({"q1": "ok", "q2": "x\ud800"}, "query 'q2' text has a lone surrogate U+D800 at character 1"),
    (["fine", float("nan")], "query '1' text is float, expected str"),
])
def test_queries_refuse_non_str_and_surrogates(queries, message):
    index = BM25Index.build([("a", "hello world")], progress=False)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        index.search(queries, k=1)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        as_queries(queries)


def test_search_terms_refuses_none_terms():
    index = BM25Index.build([("a", ["x"])], pretokenized=True, progress=False)
    with pytest.raises(ValueError, match="query 'q' term 0 is None"):
        index.search_terms({"q": [None]})


# -- docnos ------------------------------------------------------------------------------------

def test_unique_docnos_names_the_first_duplicate():
    assert unique_docnos(["a", 1, "b"]) == ["a", "1", "b"]
    with pytest.raises(ValueError, match=r"^duplicate docno 'b' \(positions 1 and 3\): docnos must be unique$"):
        unique_docnos(["a", "b", "c", "b", "a"])
    with pytest.raises(ValueError, match="docno 1 is None"):
        unique_docnos(["a", None])


@pytest.mark.parametrize("kind", KINDS)
def test_dense_set_docnos_refuses_duplicates(kind):
    index = trained(kind)
    index.add(vectors(4))
    with pytest.raises(ValueError, match="duplicate docno 'x'"):
        index.set_docnos(["x", "y", "x", "z"])
    with pytest.raises(ValueError, match="duplicate docno 'x'"):
        index.set_docnos(DocnoTable.from_list(["x", "y", "x", "z"]))
    index.set_docnos(["w", "x", "y", "z"])
    res = index.search(vectors(1), k=4, **({"nprobe": 4} if kind.startswith("ivf") else {}))
    assert sorted(res.to_dict()["0"]) == ["w", "x", "y", "z"]  # four hits, none collapsed


def test_token_store_and_cur_refuse_duplicate_docnos():
    with pytest.raises(ValueError, match="duplicate docno 'p'"):
        TokenStore(vectors(4), np.zeros(4, np.int32), [0, 2, 4], docnos=["p", "p"])
    scorer = CallableScorer(lambda query, ids: np.asarray(ids, float), n_docs=4)
    R = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="duplicate docno 'a'"):
        CURIndex.build(scorer, ["q1", "q2", "q3"], n_anchor_items=2, R=R, docnos=["a", "b", "a", "c"],
                       progress=False)


# -- queries that analyze to nothing -----------------------------------------------------------

def test_queries_without_terms_stay_in_results_and_are_reported(tmp_path):
    index = BM25Index.build([("a", "hello world"), ("b", "the cat sat")], progress=False)
    queries = {"q1": "the of and", "q2": "cat", "q3": "?!", "q4": "zebra"}
    with pytest.warns(InputWarning, match=r"^2 of 4 queries analyze to no terms \(only stop words or "
                      r"punctuation\) and have no results: 'q1', 'q3'$"):
        res = index.search(queries, k=3)
    assert res.qids == ["q1", "q2", "q3", "q4"]  # q4 has terms but matches nothing: no warning for it
    assert (res.ids[[0, 2, 3]] == -1).all() and np.isneginf(res.scores[[0, 2, 3]]).all()
    assert res.to_dict()["q1"] == {}
    run = tmp_path / "r.run"
    with pytest.warns(InputWarning, match=r"^3 of 4 queries have no results, so the run file has no lines "
                      r"for them \(evaluation scores a judged query without lines 0\): 'q1', 'q3', 'q4'$"):
        res.to_trec(run)
    assert [line.split()[0] for line in run.read_text().splitlines()] == ["q2"]
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    agg, per_q = evaluate(run, qrels, ["RR@10"], per_query=True)
    assert per_q["RR@10"] == {"q1": 0.0, "q2": 1.0} and agg["RR@10"] == 0.5


def test_pretokenized_empty_query_is_reported():
    index = BM25Index.build([("a", ["x"])], pretokenized=True, progress=False)
    with pytest.warns(InputWarning, match="1 of 2 queries analyze to no terms .*: 'e'"):
        res = index.search_terms({"e": [], "f": ["x"]})
    assert res.qids == ["e", "f"] and res.ids[0, 0] == -1


def test_queries_with_terms_give_no_warning(tmp_path):
    index = BM25Index.build([("a", "hello world")], progress=False)
    ctx = no_warnings()
    try:
        index.search({"q": "hello"}, k=1).to_trec(tmp_path / "r.run")
    finally:
        ctx.__exit__(None, None, None)


def test_warning_lists_at_most_five_ids():
    index = BM25Index.build([("a", "hello")], progress=False)
    with pytest.warns(InputWarning, match=r"'q4' \(and 2 more\)$"):
        index.search({f"q{i}": "the" for i in range(7)}, k=1)


# -- evaluation --------------------------------------------------------------------------------

QRELS = {"1": {"a": 1, "b": 0}, "2": {"c": 1}}
RUN = {"1": {"a": 2.0, "b": 1.0}, "2": {"d": 1.0}}


@pytest.mark.parametrize("metric, cutoff", [("P@0", "0"), ("R@0", "0"), ("nDCG@0", "0"),
                                            ("RR(rel=2)@0", "0"), ("P(cutoff=0)", "0"), ("P@1.5", "1.5")])
def test_cutoffs_below_one_are_refused_before_pytrec_eval(metric, cutoff):
    """pytrec_eval aborts the process (exit 134) on P@0: the check must come first."""
    message = f"metric {metric!r}: cutoff must be an integer >= 1, got {cutoff}"
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        resolve_metrics([metric])
    with pytest.raises(ValueError, match=re.escape(message)):
        evaluate(RUN, QRELS, ["AP", metric])
    resolve_metrics(["P@1", "R@1000", "nDCG@10"])


def test_warns_when_run_and_qrels_share_no_query():
    with pytest.warns(InputWarning, match=r"^the run's 2 queries \(e\.g\. 'x', 'y'\) share none with the "
                      r"qrels' 2 \(e\.g\. '1', '2'\): every measure is 0; check that run and qrels use "
                      r"the same query ids$"):
        assert evaluate({"x": {"a": 1.0}, "y": {"c": 1.0}}, QRELS, ["P@1"]) == {"P@1": 0.0}
    with pytest.warns(InputWarning, match="^the run has no results: every measure is 0"):
        evaluate({"1": {}}, QRELS, ["P@1"])


def test_warns_when_no_judgement_reaches_rel():
    with pytest.warns(InputWarning, match=r"^no judgement reaches the relevance grade of P\(rel=2\)@1, "
                      r"AP\(rel=2\) \(the highest grade in the qrels is 1\): are 0 for every query$"):
        agg = evaluate(RUN, QRELS, ["P@1", "AP", "nDCG@10"], rel=2)
    assert agg["P@1"] == 0.0 and agg["nDCG@10"] > 0  # nDCG keeps all grades, so it is not named
    with pytest.warns(InputWarning, match=r"grade of RR\(rel=3\)@10 .*: is 0 for every query"):
        evaluate(RUN, QRELS, ["RR(rel=3)@10"])


def test_normal_evaluation_is_quiet():
    ctx = no_warnings()
    try:
        agg = evaluate(RUN, QRELS, ["P@1", "AP"], rel=1)
    finally:
        ctx.__exit__(None, None, None)
    assert agg["P@1"] == 0.5
