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


def build_cls_blind_bert(root: Path, seed: int = 0, layers: int = 2) -> Path:
    """A tiny base in the sentence-transformers layout (``1_Pooling`` = mean at the root of a
    BERT directory, as the packaged all-MiniLM-L6-v2 is) whose [CLS] carries no signal, as
    MiniLM's does in its first layers: [CLS] is the only token with a large component along
    dimension 0 of each head, and query and key read that component (scaled) into dimension 0
    of each head, so in every layer [CLS] attends only to itself with a saturated softmax
    (score ~70 against a few units) and its vector is the same for every input, and stays so
    under training (no gradient flows through the saturated softmax). The other tokens keep
    their random attention and carry the text."""
    from transformers import BertModel

    hf = build_tiny_bert(root, seed, layers)
    model = BertModel.from_pretrained(str(hf))
    cfg = model.config
    head = cfg.hidden_size // cfg.num_attention_heads
    marked = [h * head for h in range(cfg.num_attention_heads)]  # dimension 0 of each head
    cls_id = 4  # [CLS] in build_tiny_bert's vocabulary
    with torch.no_grad():
        emb = model.embeddings
        for tab in (emb.word_embeddings.weight, emb.position_embeddings.weight, emb.token_type_embeddings.weight):
            tab[:, marked] = 0.0
        emb.word_embeddings.weight[cls_id, marked] = 10.0
        for layer in model.encoder.layer:
            att = layer.attention.self
            for w in (att.query, att.key):
                for d in marked:
                    w.weight[d, :] = 0.0
                    w.weight[d, d] = 3.0
                    w.bias[d] = 0.0
    model.save_pretrained(hf)
    pooling = hf / "1_Pooling"
    pooling.mkdir()
    (pooling / "config.json").write_text(json.dumps({"word_embedding_dimension": cfg.hidden_size,
                                                      "pooling_mode_cls_token": False,
                                                      "pooling_mode_mean_tokens": True}))
    return hf
