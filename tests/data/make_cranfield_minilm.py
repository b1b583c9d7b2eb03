#!/usr/bin/env python3
"""Regenerate tests/data/cranfield_minilm.npz: the vectors `winnow demo` computes.

``corpus`` (1400, 384) float32: the bundled Cranfield documents, ``queries`` (225, 384) float32:
its queries, both in the bundled files' order and encoded as the demo encodes them (the
packaged all-MiniLM-L6-v2 through ``SentenceEncoder(threads=2)``; ``encode`` for documents,
``encode_queries`` for queries, each in one call). Encoding takes minutes on 2 cores, which is
why tests/cli/test_cli_demo_recorded.py reads these instead of encoding; it also checks the
packaged encoder against a subset of them, so a model or encoder change shows up there and
this file must be regenerated (then update FULL_RUN in that test from `winnow demo`).

Usage, from the repository root (needs the dense extra):

    .venv/bin/python tests/data/make_cranfield_minilm.py
"""
import os

import numpy as np

from winnow.datasets import bundled
from winnow.encoders import SentenceEncoder

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cranfield_minilm.npz")


def main() -> None:
    ds = bundled("cranfield")
    encoder = SentenceEncoder(threads=2)
    corpus = encoder.encode([text for _, text in ds.corpus()])
    queries = encoder.encode_queries(list(ds.queries().values()))
    np.savez_compressed(OUT, corpus=corpus.astype(np.float32), queries=queries.astype(np.float32))
    print(f"{OUT}: corpus {corpus.shape}, queries {queries.shape}")


if __name__ == "__main__":
    main()
