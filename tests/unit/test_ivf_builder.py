"""``IVFBuilder`` (block-by-block IVF fill, lists sorted once) and ``VectorChunks`` (vector
directories read block by block). Oracles: ``IVFIndex.add`` of everything, ``load_vectors``."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dense_fixtures import clustered  # noqa: E402
from vector_dirs import write_encode_dir  # noqa: E402

from winnow.index.ivf import IVFIndex  # noqa: E402
from winnow.index.ivf_builder import IVFBuilder  # noqa: E402
from winnow.vector_chunks import VectorChunks  # noqa: E402
from winnow.vectors import load_vectors  # noqa: E402

D = 32


@pytest.fixture(scope="module")
def x():
    return clustered(1000, D, seed=3)[0]


RECIPES = {
    "flat": dict(payload="flat"),
    "pq": dict(payload="pq", M=8),
    "pq-l2-refine": dict(payload="pq", M=8, metric="l2", refine=True),
    "fastscan": dict(payload="fastscan", M=16),
    "pq-no-residual-opq": dict(payload="pq", M=8, residual=False, opq=True),
}


@pytest.mark.parametrize("name", list(RECIPES))
def test_builder_equals_one_add(x, name):
    def trained():
        index = IVFIndex(D, 8, **RECIPES[name])
        return index.train(x, niter=4, seed=5)

    whole = trained()
    whole.add(x)
    streamed = trained()
    builder = IVFBuilder(streamed, len(x))
    for a in range(0, len(x), 300):  # blocks of 300, 300, 300, 100
        builder.add(x[a:a + 300], threads=2)
    assert builder.finish() is streamed
    want, got = whole._arrays(), streamed._arrays()
    assert want.keys() == got.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    s1, i1 = whole.search_vectors(x[:5], 10, nprobe=3)
    s2, i2 = streamed.search_vectors(x[:5], 10, nprobe=3)
    np.testing.assert_array_equal(i1, i2)


def test_builder_errors(x):
    with pytest.raises(ValueError, match="train"):
        IVFBuilder(IVFIndex(D, 4), 10)
    index = IVFIndex(D, 4).train(x, niter=2)
    builder = IVFBuilder(index, 10)
    builder.add(x[:6])
    with pytest.raises(ValueError, match="16 vectors added to a builder for 10"):
        builder.add(x[:10])
    with pytest.raises(ValueError, match="6 of 10 vectors added"):
        builder.finish()
    with pytest.raises(ValueError, match="columns"):
        builder.add(x[:2, :8])
    index.add(x[:3])
    with pytest.raises(ValueError, match="empty index; this one holds 3"):
        IVFBuilder(index, 10)


def test_vector_chunks_read_what_load_vectors_reads(x, tmp_path):
    docnos = write_encode_dir(tmp_path / "enc", x, chunk_size=350)  # 350, 350, 300 rows
    whole, ids = load_vectors(tmp_path / "enc")
    source = VectorChunks(tmp_path / "enc")
    assert (source.n, source.d, source.dtype) == (1000, D, np.float16) and source.ids() == ids == docnos
    starts, blocks = zip(*source.blocks(128))
    assert max(len(b) for b in blocks) == 128 and all(b.dtype == np.float32 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    assert list(starts) == list(np.cumsum([0] + [len(b) for b in blocks])[:-1])
    # the training sample an in-memory build takes from the same seed
    rows = np.sort(np.random.default_rng(9).choice(1000, 200, replace=False))
    np.testing.assert_array_equal(source.sample(200, 9), whole[rows])
    np.testing.assert_array_equal(source.sample(5000, 9), whole)  # n <= m: every row
    # the reference layout too
    ref = tmp_path / "ref"
    ref.mkdir()
    np.save(ref / "corpus.npy", x)
    (ref / "corpus_ids.txt").write_text("".join(f"{d}\n" for d in docnos))
    np.testing.assert_array_equal(np.concatenate([b for _, b in VectorChunks(ref).blocks(64)]), x)


def test_vector_chunks_name_the_file_and_row(x, tmp_path):
    write_encode_dir(tmp_path / "enc", x, chunk_size=400)
    part = tmp_path / "enc" / "vectors-00001.npy"
    bad = np.load(part)
    bad[17, 5] = np.nan
    np.save(part, bad)
    source = VectorChunks(tmp_path / "enc")
    with pytest.raises(ValueError, match=r"vectors-00001\.npy row 17 column 5 is nan"):
        for _ in source.blocks(64):
            pass
    with pytest.raises(ValueError, match=r"vectors-00001\.npy row 17 column 5 is nan"):
        source.sample(1000, 0)
    np.save(part, bad[:, :8])  # a chunk of another width: refused at open
    from winnow.errors import IndexFormatError

    with pytest.raises(IndexFormatError, match="vectors-00001.npy"):
        VectorChunks(tmp_path / "enc")
