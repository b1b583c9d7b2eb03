"""Input of impact indexes: term-weight vectors, checked, and their quantization to integers.

Documents come from pyserini's JsonVectorCollection (one JSON object per line,
``{"id": ..., "contents": ..., "vector": {term: weight}}``; ``.jsonl``/``.json`` files,
optionally gzipped, or a directory of them read in name order) or from Python as
(docno, {term: weight}) pairs. Queries use the same shape (``{"id", "vector"}``).

Accepted weights: finite real numbers >= 0 (learned sparse models emit ReLU outputs).
Zero weights are dropped (they score nothing); negative, NaN, infinite or non-numeric
weights are a ``ValueError`` naming the file and line (or the document) and the term.

Quantization (stored impacts are integers in the postings' frequency slot):
  ``quantize=8`` (or any bits in 2..24): PISA's LinearQuantizer with one global maximum M over
      every weight of the collection, in float32: impact = round(w * ((2^bits - 2) / M)) + 1,
      so a positive weight maps to 1 .. 2^bits - 1 (255 for 8 bits; round = half away from zero).
  ``quantize=None`` / ``"none"``: the weights already are integers (Anserini's impact
      indexes take pre-quantized weights); they are stored as given, 1 .. 2^24.
"""
from __future__ import annotations

import gzip
import json
import numbers
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from winnow.validation import first_bad_text

_FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_IMPACT = 1 << 24  # csrc/core/sparse/impact_searcher.hpp kMaxImpact: exact in float32
_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")


def parse_quantize(quantize) -> int | None:
    """``quantize`` as bits (2..24) or None for pre-quantized integer weights."""
    if quantize is None or (isinstance(quantize, str) and quantize.strip().lower() == "none"):
        return None
    bits = None
    if isinstance(quantize, numbers.Integral) and not isinstance(quantize, bool):
        bits = int(quantize)
    elif isinstance(quantize, str) and quantize.strip().isdigit():
        bits = int(quantize)
    if bits is None or not 2 <= bits <= 24:
        raise ValueError(f"quantize must be a number of bits (2..24) or 'none', got {quantize!r}")
    return bits


def vector_files(path) -> list[Path]:
    """The JSON-lines files of ``path``: itself, or a directory's ``*.jsonl[.gz]``/``*.json[.gz]`` by name."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(_SUFFIXES))
        if not files:
            raise ValueError(f"{path}: no {', '.join(_SUFFIXES)} files in this directory")
        return files
    if not path.exists():
        raise ValueError(f"{path}: no such file or directory")
    return [path]


def read_json_vectors(path, what: str = "document") -> Iterator[tuple[str, list[str], np.ndarray]]:
    """(id, terms, float32 weights) per line of a JsonVectorCollection file or directory,
    each line checked (see :func:`check_vector`); blank lines are skipped."""
    for file in vector_files(path):
        opener = gzip.open if file.name.endswith(".gz") else open
        with opener(file, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{file}:{line_no}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{where}: not a JSON object ({exc.msg})") from None
                if not isinstance(obj, dict) or "id" not in obj or "vector" not in obj:
                    found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
                    raise ValueError(f"{where}: a {what} needs fields 'id' and 'vector', found {found}")
                docno = obj["id"]
                if isinstance(docno, bool) or not isinstance(docno, (str, numbers.Integral)) or str(docno) == "":
                    raise ValueError(f"{where}: 'id' is {docno!r}, expected a non-empty string")
                terms, weights = check_vector(obj["vector"], where)
                yield str(docno), terms, weights


def read_pairs(docs: Iterable, what: str = "document") -> Iterator[tuple[str, list[str], np.ndarray]]:
    """(docno, terms, float32 weights) of (docno, {term: weight}) pairs, each checked."""
    for pos, item in enumerate(docs):
        try:
            docno, vector = item
        except (TypeError, ValueError):
            raise ValueError(f"{what}s must be (docno, {{term: weight}}) pairs, got {type(item).__name__}") from None
        why = "is None" if docno is None else first_bad_text(str(docno))
        if why is not None or str(docno) == "":
            raise ValueError(f"the docno of {what} {pos} {why or 'is empty'}")
        yield str(docno), *check_vector(vector, f"{what} {str(docno)!r}")


def check_vector(vector, where: str) -> tuple[list[str], np.ndarray]:
    """(terms, float32 weights > 0) of a {term: weight} mapping; ValueError naming ``where``
    and the term for a non-numeric, negative or non-finite weight or a bad term."""
    if not isinstance(vector, dict):
        raise ValueError(f"{where}: 'vector' is {type(vector).__name__}, expected an object {{term: weight}}")
    terms, weights = [], []
    for term, w in vector.items():
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            raise ValueError(f"{where}: term {term!r} has weight {w!r}, expected a number")
        if not (0.0 <= float(w) < float("inf")):
            raise ValueError(f"{where}: term {term!r} has weight {w!r}, expected a finite number >= 0")
        if w == 0:
            continue
        if float(w) > _FLOAT32_MAX:
            raise ValueError(f"{where}: term {term!r} has weight {w!r}, beyond float32")
        if not isinstance(term, str) or term == "" or first_bad_text(term) is not None:
            raise ValueError(f"{where}: term {term!r} is not a non-empty valid string")
        terms.append(term)
        weights.append(w)
    return terms, np.asarray(weights, dtype=np.float32)


def linear_scale(max_weight: float, bits: int) -> np.float32:
    """PISA's LinearQuantizer scale (2^bits - 2) / M, in float32."""
    if not (max_weight > 0 and np.isfinite(max_weight)):
        raise ValueError(f"the largest weight is {max_weight!r}; linear quantization needs a finite maximum > 0")
    return np.float32(np.float32((1 << bits) - 2) / np.float32(max_weight))


def quantize_linear(weights: np.ndarray, scale: np.float32) -> np.ndarray:
    """uint32 impacts round(w * scale) + 1 (half away from zero, as std::round), w > 0."""
    x = (np.asarray(weights, np.float32) * scale).astype(np.float64)  # float32 product, as PISA
    return (np.floor(x + 0.5) + 1).astype(np.uint32)


def as_integer_impacts(weights: np.ndarray, where: str, terms: list[str]) -> np.ndarray:
    """The weights of pre-quantized input as uint32; ValueError for a fraction or > 2^24."""
    w = np.asarray(weights, np.float32)
    bad = np.flatnonzero((w != np.floor(w)) | (w > MAX_IMPACT))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"{where}: term {terms[i]!r} has weight {float(w[i])!r}; quantize='none' needs "
                         f"integer weights in 1..{MAX_IMPACT} (use quantize=8 for real-valued weights)")
    return w.astype(np.uint32)


def is_vector_path(docs) -> bool:
    return isinstance(docs, (str, os.PathLike))
