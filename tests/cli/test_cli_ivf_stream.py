"""``winnow index build ivf|ivfpq`` from float16 ``winnow encode`` chunks: streamed (sample
trained, blocks encoded, lists sorted once), it writes the index an in-memory build writes."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import clustered  # noqa: E402
from vector_dirs import write_encode_dir  # noqa: E402

from winnow.cli.main import main  # noqa: E402
from winnow.index import load  # noqa: E402
from winnow.index.ivf import IVFIndex  # noqa: E402


@pytest.mark.parametrize("kind,extra,recipe", [
    ("ivfpq", ["--M", "8"], dict(payload="pq", M=8)),
    ("ivfpq", ["--M", "16", "--nbits", "4", "--refine"], dict(payload="fastscan", M=16, refine=True)),
    ("ivf", [], dict(payload="flat")),
])
def test_streamed_build_equals_in_memory_build(tmp_path, kind, extra, recipe, capsys):
    x, q = clustered(900, 32, seed=21)
    docnos = write_encode_dir(tmp_path / "vec", x, chunk_size=250)  # 4 float16 chunks
    x16 = np.concatenate([np.load(tmp_path / "vec" / f"vectors-{i:05d}.npy") for i in range(4)])
    assert x16.dtype == np.float16
    out = tmp_path / "idx"
    assert main(["index", "build", kind, "--vectors", str(tmp_path / "vec"), "--output", str(out), "--nlist", "8",
                 "--train-size", "500", "--niter", "4", "--seed", "3", *extra]) == 0
    assert "indexed 900 vectors of dim 32" in capsys.readouterr().err
    # the in-memory recipe: the same sample (sorted seeded choice), one add of everything
    x32 = x16.astype(np.float32)
    want = IVFIndex(32, 8, **recipe)
    want.train(x32[np.sort(np.random.default_rng(3).choice(900, 500, replace=False))], niter=4, seed=3)
    want.add(x32)
    got = load(out)
    for key, arr in want._arrays().items():
        np.testing.assert_array_equal(got._arrays()[key], arr, err_msg=key)
    assert got.docnos.to_list() == docnos
    mapped = load(out, mmap=True)
    np.testing.assert_array_equal(mapped.search_vectors(q, 10, nprobe=4)[1], want.search_vectors(q, 10, nprobe=4)[1])
