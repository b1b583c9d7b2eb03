"""PyLate-format ColBERT checkpoints (the layout of most ColBERT models published today:
answerai-colbert-small, GTE-ModernColBERT, ... and of ``winnow train colbert``).

The layout is a sentence-transformers directory:

* ``modules.json``: a ``Transformer`` module (a Hugging Face encoder; ``path`` "" = the root)
  followed by one or more ``Dense`` modules (``pylate.models.Dense.Dense``; ``1_Dense/``...);
* each ``Dense`` folder: ``config.json`` (``in_features``, ``out_features``, ``bias``,
  ``activation_function``, ``use_residual``) and ``model.safetensors`` / ``pytorch_model.bin``
  with ``linear.weight`` (out, in) [+ ``linear.bias``, ``residual.weight``];
* ``config_sentence_transformers.json``: ``query_prefix`` / ``document_prefix`` (tokens added to
  the tokenizer, default "[Q] " / "[D] "), ``query_length`` (32), ``document_length`` (180),
  ``attend_to_expansion_tokens`` (false), ``skiplist_words`` (punctuation).

Encoding follows ``pylate.models.ColBERT.tokenize`` / ``encode``: tokenize to ``length - 1``
word pieces ([CLS] ... [SEP]), queries padded with [MASK] to that length (attention 0 on the
padding unless ``attend_to_expansion_tokens``), the prefix token inserted after [CLS]
(attention 1); the Dense chain projects every position; vectors are L2-normalised; queries
keep every position (query augmentation), documents drop padding and skiplist tokens.
Nothing is downloaded; PyLate itself is not needed.
"""
from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["PyLateEncoder", "is_pylate_dir", "PYLATE_DEFAULTS"]

PYLATE_DEFAULTS = {"query_prefix": "[Q] ", "document_prefix": "[D] ", "query_length": 32,
                   "document_length": 180, "attend_to_expansion_tokens": False}

_ACTIVATIONS = {"torch.nn.modules.linear.Identity": None, "torch.nn.modules.activation.Tanh": "tanh",
                "torch.nn.modules.activation.ReLU": "relu", "torch.nn.modules.activation.GELU": "gelu"}


def _modules(path: Path) -> list[dict]:
    p = path / "modules.json"
    if not p.is_file():
        return []
    try:
        mods = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    return sorted(mods, key=lambda m: int(m.get("idx", 0))) if isinstance(mods, list) else []


def is_pylate_dir(path) -> bool:
    """A sentence-transformers directory whose modules are a Transformer then Dense layer(s)
    and no pooling: the PyLate ColBERT layout."""
    mods = _modules(Path(path))
    if len(mods) < 2 or not str(mods[0].get("type", "")).endswith("Transformer"):
        return False
    return all(str(m.get("type", "")).endswith("Dense") for m in mods[1:])


def _load_weights(folder: Path) -> dict:
    st = folder / "model.safetensors"
    if st.is_file():
        from safetensors.torch import load_file

        return dict(load_file(str(st)))
    pt = folder / "pytorch_model.bin"
    if pt.is_file():
        import torch

        return dict(torch.load(str(pt), map_location="cpu", weights_only=True))
    raise ValueError(f"PyLate checkpoint: {str(folder)!r} has no model.safetensors or pytorch_model.bin")


class _Dense:
    """One PyLate Dense module: ``act(x @ W.T + b)`` (+ residual)."""

    def __init__(self, folder: Path):
        cfg = json.loads((folder / "config.json").read_text())
        state = _load_weights(folder)
        if "linear.weight" not in state:
            raise ValueError(f"PyLate checkpoint: {str(folder)!r} has no 'linear.weight'")
        self.weight = state["linear.weight"].float()  # (out, in)
        self.bias = state["linear.bias"].float() if cfg.get("bias", True) and "linear.bias" in state else None
        act = cfg.get("activation_function", "torch.nn.modules.linear.Identity")
        if act not in _ACTIVATIONS:
            raise ValueError(f"PyLate checkpoint: {str(folder)!r} has activation {act!r}; supported: "
                             f"{sorted(_ACTIVATIONS)}")
        self.activation = _ACTIVATIONS[act]
        self.residual = None
        if cfg.get("use_residual"):
            self.residual = state["residual.weight"].float() if "residual.weight" in state else "identity"
        if int(cfg.get("in_features", self.weight.shape[1])) != self.weight.shape[1] or \
                int(cfg.get("out_features", self.weight.shape[0])) != self.weight.shape[0]:
            raise ValueError(f"PyLate checkpoint: {str(folder)!r}: linear.weight {tuple(self.weight.shape)} does "
                             f"not match config in/out features {cfg.get('in_features')}/{cfg.get('out_features')}")

    def __call__(self, x):
        import torch.nn.functional as F

        y = F.linear(x, self.weight, self.bias)
        if self.activation is not None:
            y = getattr(F, self.activation)(y) if self.activation != "tanh" else y.tanh()
        if self.residual is not None:
            y = y + (x if isinstance(self.residual, str) else F.linear(x, self.residual))
        return y


class PyLateEncoder:
    """A PyLate ColBERT checkpoint from a local directory; the interface of
    :class:`winnow.colbert.ColBERTEncoder` (``encode_queries``, ``encode_documents``, ``dim``,
    ``special_ids``, ``describe``)."""

    kind = "pylate"

    def __init__(self, path, query_length: int | None = None, document_length: int | None = None,
                 batch_size: int = 32, threads: int | None = None):
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from transformers import AutoModel, AutoTokenizer

        from winnow.colbert import special_token_ids

        path = Path(path)
        if not is_pylate_dir(path):
            raise ValueError(f"{str(path)!r} is not a PyLate checkpoint (modules.json: Transformer then Dense)")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.path = path.resolve()
        mods = _modules(path)
        cfg = dict(PYLATE_DEFAULTS)
        cfg_file = path / "config_sentence_transformers.json"
        if cfg_file.is_file():
            cfg.update({k: v for k, v in json.loads(cfg_file.read_text()).items() if v is not None})
        self.query_length = int(query_length or cfg["query_length"])
        self.document_length = int(document_length or cfg["document_length"])
        self.attend_to_expansion = bool(cfg["attend_to_expansion_tokens"])
        self.batch_size = int(batch_size)
        base = path / mods[0].get("path", "")
        self.tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(base), local_files_only=True).eval()
        self.dense = [_Dense(path / m["path"]) for m in mods[1:]]
        vocab = self.tokenizer.get_vocab()
        self.q_prefix, self.d_prefix = cfg["query_prefix"], cfg["document_prefix"]
        for name, tok in (("query_prefix", self.q_prefix), ("document_prefix", self.d_prefix)):
            if tok not in vocab:
                raise ValueError(f"PyLate checkpoint {str(path)!r}: {name} {tok!r} is not in the tokenizer vocabulary")
        self.q_prefix_id, self.d_prefix_id = vocab[self.q_prefix], vocab[self.d_prefix]
        if self.tokenizer.mask_token_id is None:
            raise ValueError(f"PyLate checkpoint {str(path)!r}: the tokenizer has no mask token (query expansion)")
        words = cfg.get("skiplist_words") or list(string.punctuation)
        unk = self.tokenizer.unk_token_id
        self.skip_ids = sorted({int(i) for i in self.tokenizer.convert_tokens_to_ids(list(words))
                                if i is not None and i != unk})
        self.special_ids = sorted(set(special_token_ids(self.tokenizer)) | {self.q_prefix_id, self.d_prefix_id})
        self._dim = int(self.dense[-1].weight.shape[0]) if self.dense else int(self.model.config.hidden_size)

    @property
    def dim(self) -> int:
        return self._dim

    def describe(self) -> dict:
        return {"kind": self.kind, "model_path": str(self.path), "query_length": self.query_length,
                "document_length": self.document_length, "dim": self.dim, "special_ids": self.special_ids}

    # -- tokenization (pylate.models.ColBERT.tokenize) ----------------------------------------
    def tokenize(self, texts: Sequence[str], is_query: bool):
        """``input_ids``, ``attention_mask`` (B, L) int64 tensors (+ ``token_type_ids``)."""
        import torch

        maxlen = (self.query_length if is_query else self.document_length) - 1
        tok = self.tokenizer
        pad = tok.pad_token_id
        if is_query:
            tok.pad_token_id = tok.mask_token_id  # PyLate pads queries with [MASK]
        try:
            enc = tok(list(texts), padding="max_length" if is_query else "longest", truncation=True,
                      max_length=maxlen, return_tensors="pt")
        finally:
            tok.pad_token_id = pad
        prefix = self.q_prefix_id if is_query else self.d_prefix_id
        out = {}
        for key, fill in (("input_ids", prefix), ("attention_mask", 1), ("token_type_ids", 0)):
            if key in enc:
                x = enc[key]
                col = torch.full((x.shape[0], 1), fill, dtype=x.dtype)
                out[key] = torch.cat([x[:, :1], col, x[:, 1:]], dim=1)
        if is_query and self.attend_to_expansion:
            out["attention_mask"].fill_(1)
        return out

    def forward(self, features):
        """Projected, L2-normalised token vectors (B, L, dim) (a torch tensor; gradients kept)."""
        import torch.nn.functional as F

        h = self.model(**features).last_hidden_state
        for layer in self.dense:
            h = layer(h)
        return F.normalize(h, p=2, dim=-1)

    def document_mask(self, features):
        """(B, L) bool: the positions a document keeps (attention mask, skiplist tokens out)."""
        import torch

        keep = features["attention_mask"].bool()
        if self.skip_ids:
            keep &= ~torch.isin(features["input_ids"], torch.tensor(self.skip_ids))
        return keep

    # -- encoder interface --------------------------------------------------------------------
    def encode_queries(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``query_length`` vectors per query: [CLS] [Q] words [SEP] [MASK]... (every position kept)."""
        import torch

        texts = list(texts)
        out = []
        for a in range(0, len(texts), self.batch_size):
            f = self.tokenize(texts[a:a + self.batch_size], True)
            with torch.inference_mode():
                q = self.forward(f).float().numpy()
            ids = f["input_ids"].numpy().astype(np.int32)
            out.extend((np.ascontiguousarray(q[i]), ids[i]) for i in range(len(q)))
        return out

    def encode_documents(self, texts: Sequence[str], show_progress: bool | None = None):
        """(vectors (T, dim) float32, token_ids (T,) int32, offsets (n + 1,) int64); batches of
        similar length (texts sorted by length) to cut padding; output in input order."""
        import torch

        texts = list(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        vecs: list = [None] * len(texts)
        tids: list = [None] * len(texts)
        for a in range(0, len(texts), self.batch_size):
            rows = order[a:a + self.batch_size]
            f = self.tokenize([texts[i] for i in rows], False)
            with torch.inference_mode():
                d = self.forward(f).float()
            keep = self.document_mask(f)
            for j, i in enumerate(rows):
                vecs[i] = d[j][keep[j]].numpy()
                tids[i] = f["input_ids"][j][keep[j]].numpy().astype(np.int32)
        counts = [len(t) for t in tids]
        offsets = np.zeros(len(texts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        v = np.concatenate(vecs).astype(np.float32) if vecs else np.zeros((0, self.dim), np.float32)
        t = np.concatenate(tids) if tids else np.zeros(0, np.int32)
        return v, t, offsets
