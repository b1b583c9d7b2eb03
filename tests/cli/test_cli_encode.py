"""``winnow encode`` end to end on a tiny random BERT: layout, tokens, resume, errors."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from tiny_encoder import build_tiny_model  # noqa: E402

from winnow.cli.main import main  # noqa: E402
from winnow.encoders import SentenceEncoder  # noqa: E402
from winnow.vectors import load_tokens, load_vectors  # noqa: E402

DOCS = [(f"d{i}", f"title {i}", text) for i, text in enumerate([
    "the quick brown fox", "lazy dog sleeps", "protein in human cells", "",
    "gene expression and cancer risk", "brown bears", "blood brain mouse study", "zebra dna",
])]
QUERIES = [("q1", "quick fox"), ("q2", "cancer risk of genes"), ("q3", "zebra")]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture()
def dataset(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    (d / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n"
                                            for i, t, x in DOCS))
    (d / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n"
                                             for q, t in QUERIES))
    return d


def encode(model_dir, dataset, out, *extra):
    return main(["encode", "--model", str(model_dir), "--input", str(dataset), "--output",
                 str(out), "--chunk-size", "3", "--batch-size", "2", "--quiet", *extra])


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_encode_corpus_layout(model_dir, dataset, tmp_path, capsys):
    out = tmp_path / "vec"
    assert encode(model_dir, dataset, out) == 0
    assert "8 corpus texts -> 32-d float32" in capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["ids.txt", "meta.json", "progress.json", "vectors-00000.npy",
                     "vectors-00001.npy", "vectors-00002.npy"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["count"] == 8 and meta["dim"] == 32 and meta["dtype"] == "float32"
    assert [c["rows"] for c in meta["chunks"]] == [3, 3, 2]
    assert meta["model_name"] == "tiny-st" and meta["pooling"] == "mean" and meta["normalize"]
    assert meta["files"]["vectors-00000.npy"] == (out / "vectors-00000.npy").stat().st_size
    vecs, ids = load_vectors(out)
    assert ids == [d for d, _, _ in DOCS] and vecs.dtype == np.float32
    want = SentenceEncoder(model_dir).encode([f"{t} {x}" for _, t, x in DOCS])  # BEIR title + text
    np.testing.assert_allclose(vecs, want, atol=1e-5)


def test_resume_after_lost_chunk_is_identical(model_dir, dataset, tmp_path, capsys):
    out = tmp_path / "vec"
    assert encode(model_dir, dataset, out) == 0
    first = snapshot(out)
    mtime0 = (out / "vectors-00000.npy").stat().st_mtime_ns
    (out / "vectors-00002.npy").unlink()
    (out / "meta.json").unlink()
    capsys.readouterr()
    assert encode(model_dir, dataset, out) == 0
    err = capsys.readouterr().err
    assert "1 chunks encoded (2 texts" in err and "2 kept" in err
    assert snapshot(out) == first
    assert (out / "vectors-00000.npy").stat().st_mtime_ns == mtime0  # kept, not rewritten
    # A complete directory is kept whole on a rerun.
    capsys.readouterr()
    assert encode(model_dir, dataset, out) == 0
    assert "0 chunks encoded" in capsys.readouterr().err and snapshot(out) == first


def test_resume_after_interrupt(model_dir, dataset, tmp_path, monkeypatch, capsys):
    out = tmp_path / "vec"
    calls = []
    real = SentenceEncoder.encode

    def flaky(self, texts, **kw):
        calls.append(len(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, texts, **kw)

    monkeypatch.setattr(SentenceEncoder, "encode", flaky)
    assert encode(model_dir, dataset, out) == 130
    assert (out / "vectors-00000.npy").is_file() and not (out / "meta.json").exists()
    assert not list(out.glob(".*tmp*"))
    capsys.readouterr()
    assert encode(model_dir, dataset, out) == 0
    err = capsys.readouterr().err
    assert "2 chunks encoded (5 texts" in err and "1 kept" in err
    ref = tmp_path / "ref"
    monkeypatch.undo()
    assert encode(model_dir, dataset, ref) == 0
    np.testing.assert_array_equal(load_vectors(out)[0], load_vectors(ref)[0])


def test_tokens_output(model_dir, dataset, tmp_path):
    out = tmp_path / "tok"
    assert encode(model_dir, dataset, out, "--tokens", "--dtype", "float16") == 0
    for kind in ("tokens", "token_ids", "offsets", "vectors"):
        assert sorted(p.name for p in out.glob(f"{kind}-*.npy")) == [
            f"{kind}-{i:05d}.npy" for i in range(3)]
    assert np.load(out / "tokens-00001.npy").dtype == np.float16
    vecs, tids, offs, ids = load_tokens(out)
    texts = [f"{t} {x}" for _, t, x in DOCS]
    want_v, want_ids, want_offs = SentenceEncoder(model_dir).encode_tokens(texts)
    np.testing.assert_array_equal(offs, want_offs)
    np.testing.assert_array_equal(tids, want_ids)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, want_v, atol=2e-3)  # float16 storage
    meta = json.loads((out / "meta.json").read_text())
    assert meta["n_tokens"] == len(vecs) and meta["token_dim"] == 32 and ids[0] == "d0"
    assert meta["settings"]["special_tokens"] is False


def test_queries_and_settings_mismatch(model_dir, dataset, tmp_path, capsys):
    out = tmp_path / "q"
    assert encode(model_dir, dataset, out, "--queries") == 0
    vecs, ids = load_vectors(out)
    assert ids == ["q1", "q2", "q3"] and vecs.shape == (3, 32)
    assert json.loads((out / "meta.json").read_text())["kind"] == "queries"
    capsys.readouterr()
    assert encode(model_dir, dataset, out, "--queries", "--dtype", "float16") == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "other settings" in err and "dtype" in err
    assert encode(model_dir, dataset, out, "--queries", "--dtype", "float16", "--overwrite") == 0
    assert np.load(out / "vectors-00000.npy").dtype == np.float16


def test_bad_model_path(dataset, tmp_path, capsys):
    bad = tmp_path / "missing-model"
    assert main(["encode", "--model", str(bad), "--input", str(dataset), "--output",
                 str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "missing-model" in err and "does not exist" in err


def test_bad_input(model_dir, tmp_path, capsys):
    assert main(["encode", "--model", str(model_dir), "--input", str(tmp_path / "nope"),
                 "--output", str(tmp_path / "o")]) == 1
    assert "nope" in capsys.readouterr().err


def test_threads_and_quantize_flags(model_dir, dataset, tmp_path, monkeypatch, capsys):
    import torch

    from winnow.encoder_runtime import available_cores

    seen = []
    real = SentenceEncoder.encode

    def spy(self, texts, **kw):
        seen.append((self.threads, self.quantize))
        return real(self, texts, **kw)

    monkeypatch.setattr(SentenceEncoder, "encode", spy)
    before = torch.get_num_threads()
    assert encode(model_dir, dataset, tmp_path / "default") == 0
    assert f"{available_cores()} threads)" in capsys.readouterr().err  # default: all cores
    assert set(seen) == {(available_cores(), None)} and torch.get_num_threads() == before
    seen.clear()
    out = tmp_path / "int8"
    assert encode(model_dir, dataset, out, "--threads", "1", "--quantize", "int8") == 0
    assert "1 threads, int8)" in capsys.readouterr().err and set(seen) == {(1, "int8")}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["settings"]["quantize"] == "int8" and meta["model_fingerprint"].endswith("+int8")
    fp32, _ = load_vectors(tmp_path / "default")
    int8, _ = load_vectors(out)
    assert np.sum(fp32 * int8, axis=1).min() > 0.98 and not np.array_equal(fp32, int8)
    # An int8 encode never resumes into a float32 directory.
    assert encode(model_dir, dataset, tmp_path / "default", "--quantize", "int8") == 1
    assert "other settings" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        encode(model_dir, dataset, out, "--quantize", "int4")
    assert exc.value.code == 2 and "invalid choice: 'int4'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        encode(model_dir, dataset, out, "--threads", "-1")
    assert "--threads" in capsys.readouterr().err
