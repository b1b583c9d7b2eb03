"""``winnow index build flat|ivf --payload float16|sq8``: scalar-quantized payloads from the CLI."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import clustered  # noqa: E402

from winnow.cli.main import main  # noqa: E402
from winnow.index import load  # noqa: E402


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("vec")
    x, _ = clustered(400, 32, seed=5)
    np.save(d / "corpus.npy", x)
    (d / "corpus_ids.txt").write_text("".join(f"D{i}\n" for i in range(len(x))))
    return d


@pytest.mark.parametrize("payload", ["float16", "sq8"])
@pytest.mark.parametrize("kind,extra", [("flat", []), ("ivf", ["--nlist", "4", "--niter", "3"]),
                                        ("ivf", ["--nlist", "4", "--niter", "3", "--refine"])])
def test_build_with_payload(vectors_dir, tmp_path, payload, kind, extra, capsys):
    out = tmp_path / "idx"
    assert main(["index", "build", kind, "--vectors", str(vectors_dir), "--output", str(out),
                 "--payload", payload, "--metric", "l2", *extra]) == 0
    index = load(out, mmap=True)
    assert index.payload == payload and index.n_docs == 400
    assert index.refine == ("--refine" in extra)
    x = np.load(vectors_dir / "corpus.npy")
    kw = {"nprobe": 4} if kind == "ivf" else {}
    _, ids = index.search_vectors(x[:5], 1, **kw)
    assert [index.docnos[int(r)] for r in ids[:, 0]] == [f"D{i}" for i in range(5)]  # l2: each vector finds itself
    assert main(["index", "info", str(out)]) == 0
    assert f"payload            {payload}" in capsys.readouterr().out


def test_bad_payload_refused(vectors_dir, tmp_path):
    with pytest.raises(SystemExit):
        main(["index", "build", "flat", "--vectors", str(vectors_dir), "--output", str(tmp_path / "o"),
              "--payload", "sq4"])
