"""``winnow index build {flat,pq,ivf,ivfpq}`` from a vectors directory, ``winnow index info``,
and ``winnow search`` on a dense index (queries encoded with the model recorded at build time:
a tiny random BERT from the 'dense' extra, which the test command installs)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import clustered  # noqa: E402

from winnow.cli.main import main  # noqa: E402
from winnow.index import load  # noqa: E402
from winnow.index.flat import FlatIndex  # noqa: E402


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory):
    """The shared reference layout: corpus.npy + corpus_ids.txt."""
    d = tmp_path_factory.mktemp("vec")
    x, _ = clustered(400, 32, seed=4)
    np.save(d / "corpus.npy", x)
    (d / "corpus_ids.txt").write_text("".join(f"D{i}\n" for i in range(len(x))))
    return d


BUILDS = {
    "flat": [],
    "pq": ["--M", "8"],
    "pq4": ["--M", "8", "--nbits", "4"],
    "ivf": ["--nlist", "4"],
    "ivfpq": ["--nlist", "4", "--M", "8"],
    "ivfpq4": ["--nlist", "4", "--M", "8", "--nbits", "4", "--refine"],
}


@pytest.mark.parametrize("name", list(BUILDS))
def test_build_and_load(vectors_dir, tmp_path, name, capsys):
    kind = name.rstrip("4")
    out = tmp_path / name
    extra = BUILDS[name] + ([] if kind == "flat" else ["--niter", "3", "--seed", "1"])
    assert main(["index", "build", kind, "--vectors", str(vectors_dir), "--output", str(out), *extra]) == 0
    assert "indexed 400 vectors of dim 32" in capsys.readouterr().err
    index = load(out, mmap=True)
    assert index.n_docs == 400 and index.d == 32
    x = np.load(vectors_dir / "corpus.npy")
    kw = {"nprobe": 4} if hasattr(index, "nlist") else {}
    s, i = index.search_vectors(x[:3], 1, **kw)
    if kind in ("flat", "ivf"):  # exact: the docno of numpy's best row
        best = np.argmax(x[:3] @ x.T, axis=1)
        assert [index.docnos[int(r)] for r in i[:, 0]] == [f"D{b}" for b in best]
    assert main(["index", "info", str(out)]) == 0
    assert index.FORMAT in capsys.readouterr().out


def test_build_errors(vectors_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):  # argparse: --M is required
        main(["index", "build", "pq", "--vectors", str(vectors_dir), "--output", str(tmp_path / "o")])
    assert main(["index", "build", "pq", "--vectors", str(vectors_dir), "--output", str(tmp_path / "o"),
                 "--M", "5"]) != 0
    assert "not a multiple of M=5" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
    import tiny_encoder as tiny
    root = tmp_path_factory.mktemp("enc")
    model = tiny.build_tiny_model(root / "model")
    ds = root / "ds"
    ds.mkdir()
    docs = ["the quick brown fox", "lazy dog sleeps", "protein in human cells", "gene expression and cancer risk",
            "brown bears", "blood brain mouse study", "zebra dna", "cells and genes"]
    (ds / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                                             for i, t in enumerate(docs)))
    (ds / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n"
                                              for q, t in [("q1", "quick fox"), ("q2", "cancer genes")]))
    vec = root / "vec"
    assert main(["encode", "--model", str(model), "--input", str(ds), "--output", str(vec), "--quiet"]) == 0
    return model, ds, vec


@pytest.mark.parametrize("kind,extra", [("flat", []), ("ivf", ["--nlist", "2", "--niter", "2"])])
def test_search_dense_index_from_text_queries(encoded, tmp_path, kind, extra):
    model, ds, vec = encoded
    out = tmp_path / "idx"
    assert main(["index", "build", kind, "--vectors", str(vec), "--output", str(out), *extra]) == 0
    run = tmp_path / "run.txt"
    nprobe = ["--nprobe", "2"] if kind == "ivf" else []
    assert main(["search", "--index", str(out), "--queries", str(ds / "queries.jsonl"), "--k", "3",
                 "--output", str(run), *nprobe]) == 0
    lines = [line.split() for line in run.read_text().splitlines()]
    assert [(l[0], l[3]) for l in lines] == [(q, str(r)) for q in ("q1", "q2") for r in (1, 2, 3)]
    # the run equals exact search with the same model
    from winnow.encoders import SentenceEncoder

    qv = SentenceEncoder(str(model)).encode_queries(["quick fox", "cancer genes"])
    x = np.concatenate([np.load(p) for p in sorted(vec.glob("vectors-*.npy"))]).astype(np.float32)
    flat = FlatIndex(x.shape[1])
    flat.add(x)
    _, ids = flat.search_vectors(qv, 3)
    docnos = (vec / "ids.txt").read_text().split()
    assert [l[2] for l in lines] == [docnos[i] for row in ids for i in row]
    if kind == "flat":
        assert main(["search", "--index", str(out), "--queries", str(ds / "queries.jsonl"), "--output", "-",
                     "--nprobe", "2"]) != 0
