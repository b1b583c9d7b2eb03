"""``winnow index build impact`` and ``winnow search --weighted-queries``: the CLI run equals
the library's search, bad input is a one-line error naming file:line."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from winnow.cli.main import main
from winnow.index import ImpactIndex, load

DOCS = [{"id": f"d{i}", "contents": "", "vector": {f"t{j}": round(0.1 + ((i * 5 + j) % 9) * 0.37, 3)
                                                   for j in range(i % 7 + 1)}} for i in range(300)]
QUERIES = [{"id": "q1", "vector": {"t0": 1.0, "t3": 0.5}}, {"id": "q2", "vector": {"t6": 2.0, "nope": 1.0}}]


def jsonl(path, rows, gz=False):
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return str(path)


def read_run(path):
    rows = [line.split() for line in open(path)]
    return [(r[0], r[2], int(r[3]), float(r[4])) for r in rows]


@pytest.mark.parametrize("quantize", ["8", "none"])
def test_build_and_search_weighted_queries(tmp_path, capsys, quantize):
    docs = DOCS if quantize == "8" else [{**d, "vector": {t: float(round(w * 10)) for t, w in d["vector"].items()}}
                                         for d in DOCS]
    corpus = jsonl(tmp_path / "docs.jsonl.gz", docs, gz=True)
    queries = jsonl(tmp_path / "queries.jsonl", QUERIES)
    out = tmp_path / "idx"
    assert main(["index", "build", "impact", "--input", corpus, "--output", str(out), "--quantize", quantize]) == 0
    index = load(out)
    assert isinstance(index, ImpactIndex) and index.params["quantize"] == (8 if quantize == "8" else "none")
    run = tmp_path / "run.txt"
    assert main(["search", "--index", str(out), "--weighted-queries", queries, "--k", "5", "--output", str(run),
                 "--algorithm", "windowed"]) == 0
    ref = index.search({q["id"]: q["vector"] for q in QUERIES}, k=5, algorithm="exhaustive")
    rows = read_run(run)
    assert [r[1] for r in rows] == [index.docnos[i] for row in ref.ids for i in row if i >= 0]
    assert np.allclose([r[3] for r in rows], ref.scores[ref.ids >= 0], rtol=1e-6)
    # text queries go through the analyzer
    (tmp_path / "q.tsv").write_text("q1\tt0 t3\n")
    assert main(["search", "--index", str(out), "--queries", str(tmp_path / "q.tsv"), "--k", "3", "--output",
                 str(tmp_path / "run2.txt")]) == 0
    assert len(read_run(tmp_path / "run2.txt")) == 3


def test_bad_input_is_one_line_error(tmp_path, capsys):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(json.dumps(DOCS[0]) + "\n" + '{"id": "x", "vector": {"a": -1}}\n')
    assert main(["index", "build", "impact", "--input", str(corpus), "--output", str(tmp_path / "i")]) == 1
    err = capsys.readouterr().err
    assert f"{corpus}:2: term 'a' has weight -1" in err
    assert main(["index", "build", "impact", "--input", str(corpus), "--output", str(tmp_path / "i"),
                 "--quantize", "float"]) == 1
    assert "quantize must be" in capsys.readouterr().err


def test_weighted_queries_need_an_impact_index(tmp_path, capsys):
    (tmp_path / "c.tsv").write_text("d1\tquick fox\n")
    assert main(["index", "build", "bm25", "--input", str(tmp_path / "c.tsv"), "--output", str(tmp_path / "b")]) == 0
    queries = jsonl(tmp_path / "q.jsonl", QUERIES)
    assert main(["search", "--index", str(tmp_path / "b"), "--weighted-queries", queries, "--output",
                 str(tmp_path / "run")]) == 1
    assert "needs an impact index" in capsys.readouterr().err
