"""A tiny randomly initialised Hugging Face BERT directory (a base for the trainers) and tiny
ColBERT checkpoints in both layouts (original ColBERT / HF_ColBERT, and PyLate), for fast tests.
Nothing is downloaded."""
from __future__ import annotations

import json
import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402

from tiny_encoder import PIECES, WORDS  # noqa: E402

HIDDEN = 32


def build_tiny_bert(root: Path, seed: int = 0, layers: int = 2) -> Path:
    """A BERT directory (config, weights, WordPiece vocab with [unused0]/[unused1])."""
    from transformers import BertConfig, BertModel, BertTokenizer

    hf = Path(root) / "bert"
    hf.mkdir(parents=True)
    vocab = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + PIECES + [",", "!"]
    (hf / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=300)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(hf)
    BertTokenizer(str(hf / "vocab.txt"), do_lower_case=True).save_pretrained(hf)
    return hf


def build_original_colbert(root: Path, dim: int = 8, seed: int = 0) -> tuple[Path, torch.Tensor]:
    """A ColBERTv2 ``HF_ColBERT``-style checkpoint: ``bert.*`` keys + ``linear.weight`` (dim, hidden)."""
    from safetensors.torch import save_file
    from transformers import BertModel

    bert_dir = build_tiny_bert(Path(root) / "src", seed)
    out = Path(root) / "colbert-original"
    out.mkdir(parents=True)
    bert = BertModel.from_pretrained(str(bert_dir), add_pooling_layer=False)
    torch.manual_seed(seed + 1)
    linear = torch.randn(dim, HIDDEN)
    state = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    state["linear.weight"] = linear
    save_file(state, str(out / "model.safetensors"))
    for name in ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (bert_dir / name).is_file():
            (out / name).write_bytes((bert_dir / name).read_bytes())
    cfg = json.loads((out / "config.json").read_text())
    cfg["architectures"] = ["HF_ColBERT"]
    (out / "config.json").write_text(json.dumps(cfg))
    return out, linear
