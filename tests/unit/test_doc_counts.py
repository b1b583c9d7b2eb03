"""One public name for document counts: ``n_docs`` on every index, store and scorer; the old
names (``ntotal``, ``ndocs``, ``n_items``) still read, with a DeprecationWarning."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import clustered, make_index  # noqa: E402

from winnow.index import BM25Index, load  # noqa: E402
from winnow.index.cur import CURIndex  # noqa: E402
from winnow.index.token_store import TokenStore  # noqa: E402
from winnow.rerank.scorers import CallableScorer, MaxSimScorer  # noqa: E402


def _store(n=5):
    rng = np.random.default_rng(0)
    offsets = np.array([0, 3, 3, 7, 9, 12], np.int64)[: n + 1]
    x = rng.standard_normal((int(offsets[-1]), 8)).astype(np.float32)
    return TokenStore(x, np.zeros(len(x), np.int32), offsets)


@pytest.mark.parametrize("kind", ["flat", "pq8", "ivf_pq", "ivf_fastscan"])
def test_dense_indexes(kind):
    x, _ = clustered(300, 32, seed=2, nq=1)
    index = make_index(kind, x)
    assert index.n_docs == 300 and "n_docs=300" in repr(index)
    with pytest.warns(DeprecationWarning, match=r"\.ntotal is deprecated; use \.n_docs"):
        assert index.ntotal == 300


def test_bm25_token_store_and_cur(tmp_path):
    assert BM25Index.build([("a", "x y"), ("b", "y z")], progress=False).n_docs == 2
    store = _store()
    assert store.n_docs == 5 and "n_docs=5" in repr(store)
    with pytest.warns(DeprecationWarning, match=r"\.ndocs is deprecated"):
        assert store.ndocs == 5
    store.save(tmp_path / "ts")
    assert json.loads((tmp_path / "ts" / "meta.json").read_text())["params"]["n_docs"] == 5
    assert load(tmp_path / "ts").n_docs == 5

    scorer = CallableScorer(lambda q, ids: np.asarray(ids, np.float32), 6)
    cur = CURIndex.build(scorer, ["a", "b", "c"], n_anchor_items=3, progress=False)
    assert cur.n_docs == 6
    with pytest.warns(DeprecationWarning, match=r"\.n_items is deprecated"):
        assert cur.n_items == 6
    cur.save(tmp_path / "cur")
    assert json.loads((tmp_path / "cur" / "meta.json").read_text())["params"]["n_docs"] == 6
    assert CURIndex.load(tmp_path / "cur", scorer=scorer).n_docs == 6


def test_scorers():
    s = CallableScorer(lambda q, ids: np.zeros(len(ids)), n_docs=4)
    assert s.n_docs == 4 and repr(s) == "CallableScorer(n_docs=4, calls=0)"
    with pytest.warns(DeprecationWarning, match=r"n_items= is deprecated; use n_docs="):
        old = CallableScorer(lambda q, ids: np.zeros(len(ids)), n_items=4)
    with pytest.warns(DeprecationWarning, match=r"\.n_items is deprecated"):
        assert old.n_items == 4
    with pytest.raises(ValueError, match="not both"):
        CallableScorer(lambda q, ids: np.zeros(len(ids)), 4, n_items=4)
    with pytest.raises(ValueError, match="n_docs must be an integer >= 0"):
        CallableScorer(lambda q, ids: np.zeros(len(ids)))
    assert MaxSimScorer(kernel=lambda q, ids: np.zeros(len(ids)), n_docs=7).n_docs == 7
