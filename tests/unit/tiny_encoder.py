"""A tiny randomly initialised BERT + mean pooling sentence-transformers model, for fast tests.

It needs the ``dense`` extra (torch, transformers, sentence-transformers), which the test
command installs: without it the importing test fails, it does not skip.
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # as winnow.encoders does: never download anything
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402  (after the offline switches)

HIDDEN = 32
WORDS = ("the a of and in to is protein cell cells gene genes cancer risk study patients "
         "increase decrease blood brain mouse human dna rna high low effect treatment fox dog "
         "quick brown lazy jumps over sleeps bears zebra").split()
PIECES = ["##s", "##ing", "##ed", "##er", "##ly", "."] + [c for c in "abcdefghijklmnopqrstuvwxyz"]
PIECES += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]


def build_tiny_model(root: Path, seed: int = 0, max_seq_length: int = 64) -> Path:
    """Write the tiny model under ``root`` and return its sentence-transformers directory."""
    from sentence_transformers import SentenceTransformer
    try:  # sentence-transformers >= 5.4 moved the modules
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    hf = root / "hf"
    hf.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + PIECES
    (hf / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(hf)
    BertTokenizer(str(hf / "vocab.txt"), do_lower_case=True).save_pretrained(hf)
    transformer = Transformer(str(hf), max_seq_length=max_seq_length)
    pooling = Pooling(HIDDEN, "mean")
    st_dir = root / "tiny-st"
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(st_dir))
    return st_dir
