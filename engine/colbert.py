"""Late-interaction encoders: query and document token vectors for MaxSim and ColBERT-PRF.

Two kinds, one interface (``encode_queries(texts) -> list of (q_i (nq_i, dim), ids (nq_i,))``,
``encode_documents(texts) -> (vectors (T, dim), token_ids (T,), offsets (n + 1,))``,
``special_ids``, ``dim``, ``describe()``):

* :class:`SentenceTokenEncoder` -- the token outputs of any sentence-transformers model (default
  the packaged all-MiniLM-L6-v2), L2-normalised, [CLS]/[SEP] dropped. This is **not** a ColBERT
  model: it was trained for mean pooling, so its token vectors are a stand-in.
* :class:`ColBERTEncoder` -- a ColBERT checkpoint from a local directory (Khattab & Zaharia,
  SIGIR 2020): a BERT encoder plus a linear projection ``linear.weight (dim, hidden)`` without
  bias; the query marker ``[unused0]`` and document marker ``[unused1]`` follow [CLS]; queries
  are padded with [MASK] to ``query_maxlen`` (32) tokens and every position is kept (query
  augmentation), documents are truncated to ``doc_maxlen`` (180) and keep their non-padding
  positions, punctuation included unless ``mask_punctuation``; all vectors are L2-normalised.
  The directory holds a Hugging Face BERT (``config.json``, tokenizer files) and weights
  (``model.safetensors`` or ``pytorch_model.bin``) whose keys are ``bert.*`` (or bare BERT keys)
  plus ``linear.weight``, as ColBERTv2's ``HF_ColBERT`` saves them. Nothing is downloaded.
* :class:`winnow.colbert_pylate.PyLateEncoder` -- a PyLate-format checkpoint (a
  sentence-transformers directory: Transformer + Dense modules, "[Q] "/"[D] " prefix tokens; the
  layout of most ColBERT models published today and of ``winnow train colbert``), in a module of
  its own; :func:`load_late_encoder` picks it by the directory's ``modules.json``.
"""
from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Sequence

import numpy as np

from winnow.encoder_runtime import length_order, resolve_threads, token_lengths, torch_threads
from winnow.errors import WinnowError

__all__ = ["ColBERTEncoder", "SentenceTokenEncoder", "load_late_encoder", "special_token_ids"]

Q_MARKER, D_MARKER = "[unused0]", "[unused1]"


def special_token_ids(tokenizer) -> list[int]:
    """Ids that never name a feedback term: the tokenizer's special tokens and ``[unused*]``."""
    ids = set(int(i) for i in getattr(tokenizer, "all_special_ids", []) or [])
    for tok, i in tokenizer.get_vocab().items():
        if tok.startswith("[unused"):
            ids.add(int(i))
    return sorted(ids)


def special_ids_from_vocab(model_path) -> list[int]:
    """Special and ``[unused*]`` ids from a model directory's WordPiece ``vocab.txt`` (no model
    load); [] when there is none."""
    if model_path is None:
        return []
    for p in (Path(model_path) / "vocab.txt", *Path(model_path).glob("*/vocab.txt")):
        if p.is_file():
            toks = p.read_text(encoding="utf-8").splitlines()
            return [i for i, t in enumerate(toks) if t.startswith("[unused") or t in
                    ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
    return []


def _split(vecs: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(vecs[offsets[i]:offsets[i + 1]], ids[offsets[i]:offsets[i + 1]]) for i in range(len(offsets) - 1)]


class SentenceTokenEncoder:
    """Token vectors from a sentence-transformers model (default all-MiniLM-L6-v2).

    Parameters are passed to :class:`winnow.encoders.SentenceEncoder` (``batch_size``,
    ``max_seq_length``, ``threads``...). Queries are not augmented (the model knows no [MASK]
    convention); both sides drop [CLS]/[SEP]."""

    kind = "sentence-transformers"

    def __init__(self, model_path=None, **kwargs):
        from winnow.encoders import SentenceEncoder

        self.encoder = SentenceEncoder(model_path, **kwargs)
        self.special_ids = special_token_ids(self.encoder._model.tokenizer)

    @property
    def dim(self) -> int:
        return self.encoder.token_dim

    def encode_documents(self, texts: Sequence[str], show_progress: bool | None = None):
        """(vectors (T, dim) float32, token_ids (T,) int32, offsets (n + 1,) int64)."""
        return self.encoder.encode_tokens(texts, show_progress=show_progress)

    def encode_queries(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """One ``(vectors (nq_i, dim) float32, token_ids (nq_i,) int32)`` per query."""
        return _split(*self.encoder.encode_tokens(texts, show_progress=False))

    def describe(self) -> dict:
        return {"kind": self.kind, **self.encoder.settings(), "special_ids": self.special_ids}


class ColBERTEncoder:
    """A ColBERT checkpoint (BERT + linear projection) from a local directory.

    Parameters
    ----------
    path : path-like
        The checkpoint directory (see the module docstring).
    query_maxlen, doc_maxlen : int
        32 and 180, ColBERT-PRF's settings.
    mask_punctuation : bool
        Drop punctuation tokens from documents (ColBERT's ``mask_punctuation``). Default False:
        ColBERT-PRF needs the punctuation kept (ColBERT v0.2's ``docFromText(with_ids=True)``
        asserts ``mask_punctuation=False``; pyterrier_colbert's indexer and factories default
        to it). True was our earlier default (ColBERTv2's setting); a store for plain MaxSim
        may use it.
    batch_size : int
        Texts per forward pass.
    threads : int, optional
        torch threads while encoding (restored after each call); default all cores.
    """

    kind = "colbert"

    def __init__(self, path, query_maxlen: int = 32, doc_maxlen: int = 180, mask_punctuation: bool = False,
                 batch_size: int = 32, threads: int | None = None):
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import torch  # noqa: F401  (checked here, used when encoding)
            from transformers import AutoTokenizer, BertConfig, BertModel
        except ImportError as exc:
            raise WinnowError(f"ColBERT needs torch and transformers ({exc.name} is missing): "
                              "pip install 'winnow[dense]'") from exc
        path = Path(path)
        if not (path / "config.json").is_file():
            raise ValueError(f"ColBERT checkpoint {str(path)!r} has no config.json (a local directory is expected)")
        self.threads = resolve_threads(threads)
        self.path = path.resolve()
        self.query_maxlen, self.doc_maxlen = int(query_maxlen), int(doc_maxlen)
        self.batch_size = int(batch_size)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        vocab = self.tokenizer.get_vocab()
        for marker in (Q_MARKER, D_MARKER):
            if marker not in vocab:
                raise ValueError(f"ColBERT checkpoint {str(path)!r}: tokenizer vocabulary lacks the marker {marker}")
        self.q_marker, self.d_marker = vocab[Q_MARKER], vocab[D_MARKER]
        state = _load_state(path)
        if "linear.weight" not in state:
            raise ValueError(f"ColBERT checkpoint {str(path)!r}: no 'linear.weight' in the weights")
        linear = state.pop("linear.weight").float()
        bert_state = {k[5:] if k.startswith("bert.") else k: v for k, v in state.items()}
        self.bert = BertModel(BertConfig.from_pretrained(str(path), local_files_only=True), add_pooling_layer=False)
        missing, _ = self.bert.load_state_dict(bert_state, strict=False)
        missing = [k for k in missing if "position_ids" not in k]
        if missing:
            raise ValueError(f"ColBERT checkpoint {str(path)!r}: BERT weights missing {missing[:3]}...")
        self.bert.eval()
        if linear.shape[1] != self.bert.config.hidden_size:
            raise ValueError(f"linear.weight has shape {tuple(linear.shape)}, expected (dim, "
                             f"{self.bert.config.hidden_size})")
        self.linear = linear
        self.special_ids = special_token_ids(self.tokenizer)
        punct = [self.tokenizer.convert_tokens_to_ids(c) for c in string.punctuation]
        self.mask_punctuation = bool(mask_punctuation)
        self.skip_ids = sorted({int(i) for i in punct if i != self.tokenizer.unk_token_id}) if mask_punctuation else []

    @property
    def dim(self) -> int:
        return int(self.linear.shape[0])

    def describe(self) -> dict:
        return {"kind": self.kind, "model_path": str(self.path), "query_maxlen": self.query_maxlen,
                "doc_maxlen": self.doc_maxlen, "dim": self.dim, "mask_punctuation": self.mask_punctuation,
                "special_ids": self.special_ids}

    def _encode(self, ids, mask):
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            h = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            return F.normalize(h @ self.linear.T, p=2, dim=-1)

    def _tensorize(self, texts: list[str], marker: int, maxlen: int, pad_to_max: bool):
        # ". " + text, then position 1 (the ".") becomes the marker, as ColBERT does
        obj = self.tokenizer([". " + t for t in texts], padding="max_length" if pad_to_max else "longest",
                             truncation=True, max_length=maxlen, return_tensors="pt")
        ids, mask = obj["input_ids"], obj["attention_mask"]
        ids[:, 1] = marker
        return ids, mask

    def encode_queries(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``query_maxlen`` vectors per query: [CLS] [Q] words [SEP] then [MASK] padding
        (attention mask as for padding, outputs kept: ColBERT's query augmentation)."""
        out = []
        texts = list(texts)
        with torch_threads(self.threads):
            for a in range(0, len(texts), self.batch_size):
                ids, mask = self._tensorize(texts[a:a + self.batch_size], self.q_marker, self.query_maxlen, True)
                ids[ids == self.tokenizer.pad_token_id] = self.tokenizer.mask_token_id
                q = self._encode(ids, mask).cpu().numpy().astype(np.float32)
                out.extend((q[i], ids[i].numpy().astype(np.int32)) for i in range(len(q)))
        return out

    def encode_documents(self, texts: Sequence[str], show_progress: bool | None = None):
        """(vectors (T, dim) float32, token_ids (T,) int32, offsets (n + 1,) int64): every
        non-padding position ([CLS], [D], [SEP] included), punctuation dropped when masked.
        Batches are formed longest first (little padding); rows come back in input order."""
        import torch

        texts = list(texts)
        vecs, tids = [None] * len(texts), [None] * len(texts)
        skip = torch.tensor(self.skip_ids, dtype=torch.long)
        order = length_order(token_lengths(self.tokenizer, [". " + t for t in texts], self.doc_maxlen))
        with torch_threads(self.threads):
            for a in range(0, len(texts), self.batch_size):
                rows = order[a:a + self.batch_size]
                ids, mask = self._tensorize([texts[i] for i in rows], self.d_marker, self.doc_maxlen, False)
                d = self._encode(ids, mask)
                keep = mask.bool()
                if self.skip_ids:
                    keep &= ~torch.isin(ids, skip)
                for j, i in enumerate(rows):
                    vecs[i] = d[j][keep[j]].cpu().numpy().astype(np.float32)
                    tids[i] = ids[j][keep[j]].numpy().astype(np.int32)
        counts = [len(t) for t in tids]
        offsets = np.zeros(len(texts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        v = np.concatenate(vecs) if vecs else np.zeros((0, self.dim), np.float32)
        t = np.concatenate(tids) if tids else np.zeros(0, np.int32)
        return v, t, offsets


def _load_state(path: Path) -> dict:
    import torch

    st = path / "model.safetensors"
    if st.is_file():
        from safetensors.torch import load_file

        return dict(load_file(str(st)))
    for name in ("pytorch_model.bin", "colbert.dnn"):
        p = path / name
        if p.is_file():
            state = torch.load(str(p), map_location="cpu", weights_only=True)
            return dict(state.get("model_state_dict", state))
    raise ValueError(f"ColBERT checkpoint {str(path)!r}: no model.safetensors or pytorch_model.bin")


def load_late_encoder(model=None, mask_punctuation: bool | None = None, **kwargs):
    """A ColBERT checkpoint directory (its weights hold ``linear.weight``) -> :class:`ColBERTEncoder`,
    a PyLate checkpoint (Transformer + Dense modules) -> :class:`winnow.colbert_pylate.PyLateEncoder`,
    anything else (default: the packaged MiniLM) -> :class:`SentenceTokenEncoder`.
    ``mask_punctuation`` (ColBERT only; None: the encoder's default, False) drops punctuation
    from documents; the sentence-transformers stand-in never masks it."""
    from winnow.colbert_pylate import PyLateEncoder, is_pylate_dir

    if isinstance(model, (SentenceTokenEncoder, ColBERTEncoder, PyLateEncoder)):
        return model
    if model is not None and is_pylate_dir(model):
        return PyLateEncoder(model, **{k: v for k, v in kwargs.items() if k in ("batch_size", "threads")})
    if model is not None and _is_colbert_dir(Path(model)):
        kw = {k: v for k, v in kwargs.items() if k in ("batch_size", "threads")}
        if mask_punctuation is not None:
            kw["mask_punctuation"] = bool(mask_punctuation)
        return ColBERTEncoder(model, **kw)
    if mask_punctuation:
        raise ValueError("mask_punctuation applies to ColBERT checkpoints only; "
                         f"{str(model) if model else 'the packaged MiniLM'} is a sentence-transformers model")
    return SentenceTokenEncoder(model, **kwargs)


def _is_colbert_dir(path: Path) -> bool:
    if not (path / "config.json").is_file() or (path / "modules.json").is_file():
        return False
    try:
        return "linear.weight" in _load_state(path)
    except (ValueError, OSError):
        return False
