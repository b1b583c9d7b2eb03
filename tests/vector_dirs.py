"""Test helper: write arrays as real ``winnow encode`` directories (vectors-NNNNN.npy chunks,
ids.txt, meta.json) without a model."""
from __future__ import annotations

from pathlib import Path

import numpy as np


class ArrayEncoder:
    """Stands in for SentenceEncoder in ``encode_to_dir``: row i of ``x`` for the text ``str(i)``."""

    def __init__(self, x: np.ndarray):
        self.x, self.dim, self.normalize = x, x.shape[1], True

    def settings(self) -> dict:
        return {"model_name": "array", "model_path": "/nonexistent/array-model", "model_fingerprint": "array",
                "dim": self.dim, "pooling": "mean", "normalize": True, "max_seq_length": 8}

    def encode(self, texts, **_):
        return self.x[[int(t) for t in texts]]


def write_encode_dir(out: Path, x: np.ndarray, chunk_size: int, dtype: str = "float16") -> list[str]:
    """Write x (n, d) as an encode directory of ``chunk_size``-row chunks; returns the docnos."""
    from winnow.vectors import encode_to_dir

    docnos = [f"doc{i}" for i in range(len(x))]
    encode_to_dir(ArrayEncoder(x), ((d, str(i)) for i, d in enumerate(docnos)), out,
                  chunk_size=chunk_size, dtype=dtype, progress=False)
    return docnos
