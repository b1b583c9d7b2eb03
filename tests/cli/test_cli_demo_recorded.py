"""`winnow demo` with its dense rows, in the default run.

The full demo encodes Cranfield with the packaged all-MiniLM-L6-v2 (4-7 minutes on the shared
2-core machine: tests/cli/test_cli.py::test_demo_with_dense_rows, marked slow). Here the same
numbers are checked in two fast halves: the packaged encoder reproduces, on a subset, the
vectors recorded from that full run (tests/data/cranfield_minilm.npz, written by
tests/data/make_cranfield_minilm.py), and the demo run on the recorded vectors prints the full
run's table to the last digit.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import winnow.encoders
from winnow.cli.main import main
from winnow.datasets import bundled
from winnow.demo import DEMO_METRICS

RECORDED = Path(__file__).resolve().parents[1] / "data" / "cranfield_minilm.npz"
SUBSET = 16

# `winnow demo --threads 2` with the packaged MiniLM (git 841fff3): nDCG@10 RR@10 AP R@100 R@1000.
FULL_RUN = {
    "BM25 lucene k1=0.9 b=0.4": [0.3510, 0.5078, 0.2879, 0.7224, 0.9518],
    "BM25 lucene k1=0.82 b=0.68": [0.3590, 0.5208, 0.2947, 0.7276, 0.9523],
    "BM25 robertson k1=1.2 b=0.75": [0.3647, 0.5231, 0.3032, 0.7308, 0.9506],
    "dense Flat (exact)": [0.3817, 0.5380, 0.3272, 0.7724, 0.9892],
    "dense PQ48 (8-bit ADC)": [0.3628, 0.5251, 0.3079, 0.7618, 0.9904],
    "dense IVF32 PQ96x4 fast-scan": [0.3548, 0.5170, 0.3079, 0.7627, 0.8928],
    # added with the HNSW row, from the recorded vectors; k=1000 raises ef to 1000 of 1,400
    # documents, so the graph search finds Flat's exact top-k
    "dense HNSW M=16 efC=100 ef=64": [0.3817, 0.5380, 0.3272, 0.7724, 0.9892],
    "hybrid RRF(BM25, dense Flat)": [0.4128, 0.5839, 0.3520, 0.7898, 0.9888],
    "hybrid z-score sum(BM25, dense Flat)": [0.4138, 0.5744, 0.3512, 0.7960, 0.9906],
}


@pytest.fixture(scope="module")
def recorded():
    ds = bundled("cranfield")
    data = np.load(RECORDED)
    docs, queries = list(ds.corpus()), ds.queries()
    assert data["corpus"].shape == (len(docs), 384) and data["queries"].shape == (len(queries), 384)
    return docs, list(queries.values()), data["corpus"], data["queries"]


def test_packaged_encoder_reproduces_the_recorded_vectors(recorded):
    docs, queries, corpus, qvecs = recorded
    enc = winnow.encoders.SentenceEncoder(threads=2)
    assert enc.name == "sentence-transformers/all-MiniLM-L6-v2"
    got_docs = enc.encode([text for _, text in docs[:SUBSET]])
    got_queries = enc.encode_queries(queries[:SUBSET])
    # unit vectors: the row-wise dot product is the cosine
    assert np.sum(got_docs * corpus[:SUBSET], axis=1).min() > 0.99999  # observed 0.9999999 (max abs diff 9e-8)
    assert np.sum(got_queries * qvecs[:SUBSET], axis=1).min() > 0.99999


class _RecordedEncoder:
    """Stands in for SentenceEncoder in the demo: the recorded vector of each known text."""

    table: dict[str, np.ndarray] = {}

    def __init__(self, *args, **kwargs) -> None:
        self.dim = 384

    def settings(self) -> dict:
        return {"model_name": "recorded", "model_path": str(RECORDED), "model_fingerprint": "recorded",
                "dim": 384, "pooling": "mean", "normalize": True, "max_seq_length": 256}

    def encode(self, texts, **kwargs) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])

    encode_queries = encode


def test_demo_table_on_the_recorded_vectors(recorded, monkeypatch, tmp_path, capsys):
    docs, queries, corpus, qvecs = recorded
    table = {text: v for (_, text), v in zip(docs, corpus)}
    table.update(zip(queries, qvecs))
    monkeypatch.setattr(_RecordedEncoder, "table", table)
    monkeypatch.setattr(winnow.encoders, "SentenceEncoder", _RecordedEncoder)
    monkeypatch.setenv("WINNOW_CACHE", str(tmp_path))
    assert main(["demo", "--threads", "2"]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        for name in FULL_RUN:
            if line.startswith(name + "  "):
                rows[name] = [float(v) for v in line[len(name):].split()[:len(DEMO_METRICS)]]
    assert rows == FULL_RUN
