"""The local BERT a trainer starts from: a Hugging Face model directory (or a sentence-transformers
directory whose root holds one, as the packaged all-MiniLM-L6-v2 does), optionally cut to its
first ``layers`` transformer layers (a smaller, faster model: the cost of a forward pass is
linear in the layers). Nothing is downloaded.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["base_model_path", "load_base"]


def base_model_path(path=None) -> Path:
    """``path``, or the packaged all-MiniLM-L6-v2 when None; must be a local directory with a
    ``config.json``."""
    if path is None:
        from winnow.encoders import default_model_path

        path = default_model_path()
    p = Path(path)
    if not (p / "config.json").is_file():
        raise ValueError(f"base model {str(p)!r} is not a local Hugging Face model directory (no config.json)")
    return p


def load_base(path=None, layers: int | None = None):
    """(model, tokenizer): ``transformers.AutoModel`` and ``AutoTokenizer`` from ``path``
    (default the packaged MiniLM), the model cut to its first ``layers`` layers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    p = base_model_path(path)
    model = AutoModel.from_pretrained(str(p), local_files_only=True)
    tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    if layers is not None:
        total = int(model.config.num_hidden_layers)
        if not 1 <= int(layers) <= total:
            raise ValueError(f"layers must be in 1..{total} for {p.name}, got {layers}")
        blocks = getattr(getattr(model, "encoder", None), "layer", None)
        if blocks is None:
            raise ValueError(f"cannot cut the layers of a {type(model).__name__} (BERT-like encoders only)")
        del blocks[int(layers):]
        model.config.num_hidden_layers = int(layers)
    return model, tok

