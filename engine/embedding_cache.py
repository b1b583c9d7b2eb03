"""On-disk cache of encoded collections, so encoding the same texts twice reads ``.npy`` files.

Each entry is a directory ``root/<key>/`` with ``vectors.npy`` (float32), ``ids.txt`` and
``meta.json``, written to a temporary sibling and renamed into place (a crash leaves no
half entry). The key is the sha256 of

* the model fingerprint (:func:`winnow.encoders.model_fingerprint`: configs by content,
  weights by size and mtime),
* the corpus fingerprint: by default the sha256 of the ``(docno, text)`` stream
  (:func:`winnow.encoders.corpus_fingerprint`), computed before encoding because a hit must
  be decided first (hashing is ~1000x cheaper than encoding); a caller encoding a file may pass
  :func:`winnow.encoders.file_fingerprint` (path + size + mtime, no reading) instead,
* the output settings: pooling, normalize, max_seq_length, and whether the texts were encoded
  as queries (which may add a prompt).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from winnow.encoders import corpus_fingerprint, settings_key
from winnow.errors import IndexFormatError

__all__ = ["EmbeddingCache"]


class EmbeddingCache:
    """Encoded collections under ``root`` (created on first write).

    Attributes
    ----------
    hits, misses : int
        Counts of :meth:`encode` calls served from disk and encoded afresh.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def key(self, model_fingerprint: str, corpus_fp: str, **settings: object) -> str:
        """Cache key (hex) of a model, a corpus and the output settings."""
        return settings_key(model=model_fingerprint, corpus=corpus_fp, **settings)

    def path(self, key: str) -> Path:
        return self.root / key

    def get(self, key: str, mmap: bool = False) -> tuple[np.ndarray, list[str]] | None:
        """``(vectors (n, d) float32, ids)`` of a complete entry, or None."""
        d = self.path(key)
        if not (d / "meta.json").is_file():
            return None
        vecs = np.load(d / "vectors.npy", mmap_mode="r" if mmap else None)
        ids = (d / "ids.txt").read_text(encoding="utf-8").splitlines()
        if vecs.ndim != 2 or vecs.dtype != np.float32 or len(ids) != vecs.shape[0]:
            raise IndexFormatError(f"{d}: cache entry has {vecs.shape} {vecs.dtype} vectors "
                                   f"and {len(ids)} ids; delete the directory")
        return vecs, ids

    def put(self, key: str, vectors: np.ndarray, ids: list[str],
            info: Mapping[str, object] | None = None) -> Path:
        """Store an entry atomically (an existing entry for ``key`` is kept as is)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        for i in ids:
            if not isinstance(i, str) or "\n" in i or "\r" in i:
                raise ValueError(f"id {i!r} is not a one-line string")
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f"vectors have shape {vectors.shape}, expected ({len(ids)}, d)")
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(key)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=self.root))
        try:
            np.save(tmp / "vectors.npy", vectors)
            (tmp / "ids.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
            meta = {"format": "winnow-embedding-cache", "format_version": 1, "key": key,
                    "count": len(ids), "dim": int(vectors.shape[1]), **dict(info or {})}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            try:
                os.rename(tmp, final)
            except OSError:  # another writer got there first: keep theirs
                if not (final / "meta.json").is_file():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def encode(self, encoder, docs: Iterable[tuple[str, str]] | Mapping[str, str], *,
               queries: bool = False, corpus_fp: str | None = None,
               mmap: bool = False) -> tuple[np.ndarray, list[str]]:
        """Vectors of ``docs`` (``(docno, text)`` pairs or a ``{id: text}`` dict) from the
        cache, encoding and storing them on a miss.

        Parameters
        ----------
        encoder : winnow.encoders.SentenceEncoder
        queries : bool
            Encode with :meth:`~winnow.encoders.SentenceEncoder.encode_queries`.
        corpus_fp : str, optional
            Corpus fingerprint to use instead of hashing the stream (e.g.
            :func:`winnow.encoders.file_fingerprint` of the source file).

        Returns
        -------
        vectors : (n, dim) float32, ids : list of str, in ``docs`` order
        """
        pairs = list(docs.items()) if isinstance(docs, Mapping) else list(docs)
        fp = corpus_fp or corpus_fingerprint(pairs)
        settings = encoder.settings()
        key = self.key(settings["model_fingerprint"], fp, kind="queries" if queries else "corpus",
                       pooling=settings["pooling"], normalize=settings["normalize"],
                       max_seq_length=settings["max_seq_length"])
        found = self.get(key, mmap=mmap)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        texts = [t for _, t in pairs]
        vecs = encoder.encode_queries(texts) if queries else encoder.encode(texts)
        ids = [d for d, _ in pairs]
        self.put(key, vecs, ids, {**settings, "corpus_fingerprint": fp,
                                  "kind": "queries" if queries else "corpus"})
        return vecs, ids
