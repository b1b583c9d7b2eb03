"""Index directories (DESIGN.md section 4): ``meta.json`` + payload files, atomic saves,
checked reads, and ``load`` / ``inspect`` dispatch on the ``format`` field.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from winnow import __version__
from winnow.errors import IndexFormatError

META = "meta.json"
_LOADERS: dict[str, Callable] = {}
# format -> module that registers it, imported on first load of such an index
BUILTIN_FORMATS = {
    "winnow.bm25": "winnow.index.bm25", "winnow.flat": "winnow.index.flat", "winnow.pq": "winnow.index.pq_index",
    "winnow.ivf": "winnow.index.ivf", "winnow.tokens": "winnow.index.token_store", "winnow.cur": "winnow.index.cur",
}


def register_format(name: str):
    """Class decorator: ``load`` dispatches ``format == name`` to ``cls.load``."""

    def wrap(cls):
        _LOADERS[name] = cls.load
        return cls

    return wrap


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_directory(path, write_payload: Callable[[Path], None], meta: dict) -> None:
    """Write an index directory atomically.

    ``write_payload(tmp_dir)`` writes the payload files; then ``meta.json`` (with the byte
    count of every file) is written, everything is fsynced and the temporary sibling is
    renamed into place. A crash before the rename leaves any old index at ``path`` intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write_payload(tmp)
        files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
        checksums = {p.name: _file_checksum(p) for p in sorted(tmp.iterdir()) if p.suffix == ".npy"}
        meta = dict(meta, winnow_version=__version__, files=files, checksums=checksums)
        (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for p in tmp.iterdir():
            _fsync_path(p)
        _fsync_path(tmp)
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old)
        else:
            os.rename(tmp, path)
        _fsync_path(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def inspect(path) -> dict:
    """Read only ``meta.json`` of the index at ``path``."""
    path = Path(path)
    meta_path = path / META
    if not path.is_dir():
        raise IndexFormatError(f"{path}: not an index directory")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFormatError(f"{meta_path}: missing; {path} is not a Winnow index") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{meta_path}: unreadable ({exc})") from None
    if not isinstance(meta, dict):
        raise IndexFormatError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    for key in ("format", "format_version", "files"):
        if key not in meta:
            raise IndexFormatError(f"{meta_path}: lacks the '{key}' field")
    version = meta["format_version"]
    if not (isinstance(version, list) and len(version) == 2 and all(type(v) is int for v in version)):
        raise IndexFormatError(f"{meta_path}: format_version must be [major, minor], got {version!r}")
    files = meta["files"]
    if not (isinstance(files, dict) and all(type(v) is int for v in files.values())):
        raise IndexFormatError(f"{meta_path}: 'files' must map file names to byte counts")
    return meta


def check_version(meta: dict, path, supported_major: int) -> None:
    major, minor = meta["format_version"]
    if major > supported_major:
        raise IndexFormatError(
            f"{path}: index format {meta['format']} version {major}.{minor} is newer than this "
            f"winnow {__version__} reads (up to {supported_major}.x); upgrade winnow")


def _file_checksum(path: Path) -> str:
    """checksum64 (the section files' checksum) of a whole file, as 16 hex digits."""
    from winnow import _core

    return f"{_core.checksum64(np.fromfile(path, dtype=np.uint8)):016x}"


def verify_checksums(meta: dict, path) -> None:
    """Recompute the .npy checksums recorded in meta.json (binary sections carry their own)."""
    path = Path(path)
    for name, expected in meta.get("checksums", {}).items():
        if _file_checksum(path / name) != expected:
            raise IndexFormatError(f"{path / name}: checksum mismatch (corrupt file)")


def check_files(meta: dict, path) -> None:
    """Every listed file exists with the recorded byte count (catches truncation early)."""
    path = Path(path)
    for name, size in meta["files"].items():
        p = path / name
        if not p.is_file():
            raise IndexFormatError(f"{p}: missing index file")
        actual = p.stat().st_size
        if actual != size:
            raise IndexFormatError(f"{p}: {actual} bytes, meta.json records {size} (truncated or modified)")


def load_npy(path: Path, mmap: bool, dtype, expected_len: int | None = None) -> np.ndarray:
    """Load a 1-D ``.npy`` array, checking dtype and length; mmap read-only when asked."""
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise IndexFormatError(f"{path}: unreadable array ({exc})") from None
    if arr.dtype != np.dtype(dtype) or arr.ndim != 1:
        raise IndexFormatError(f"{path}: dtype {arr.dtype} shape {arr.shape}, expected 1-D {np.dtype(dtype)}")
    if expected_len is not None and len(arr) != expected_len:
        raise IndexFormatError(f"{path}: {len(arr)} entries, expected {expected_len}")
    return arr


def open_index(path, expected_format: str, supported_major: int, mmap: bool) -> dict:
    """Checks shared by every index's ``load``: meta.json readable, the expected format, a
    supported version, every file present with its recorded size, and (without mmap, which
    would page everything in) the .npy checksums. Returns meta.json."""
    meta = inspect(path)
    if meta["format"] != expected_format:
        raise IndexFormatError(f"{path}: index format is {meta['format']}, not {expected_format}")
    check_version(meta, path, supported_major)
    check_files(meta, path)
    if not mmap:
        verify_checksums(meta, path)
    return meta


def load_array(path: Path, mmap: bool, dtype: str, shape: tuple) -> np.ndarray:
    """Load a ``.npy`` of the recorded dtype and shape (read-only map when ``mmap``)."""
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise IndexFormatError(f"{path}: unreadable array ({exc})") from None
    if str(arr.dtype) != dtype or tuple(arr.shape) != tuple(shape):
        raise IndexFormatError(f"{path}: dtype {arr.dtype} shape {arr.shape}, meta.json records {dtype} {tuple(shape)}")
    return arr


def load_arrays(meta: dict, path, mmap: bool) -> dict[str, np.ndarray]:
    """Every array listed in meta.json's ``arrays`` ({name: [dtype, shape]}) as name.npy."""
    path = Path(path)
    return {name: load_array(path / f"{name}.npy", mmap, dtype, tuple(shape))
            for name, (dtype, shape) in meta.get("arrays", {}).items()}


def load(path, mmap: bool = False, **kwargs):
    """Open the index at ``path`` whatever its type (dispatch on ``meta.json``'s format)."""
    meta = inspect(path)
    fmt = meta["format"]
    if fmt not in _LOADERS and fmt in BUILTIN_FORMATS:
        importlib.import_module(BUILTIN_FORMATS[fmt])  # registers the format (heavy imports stay lazy)
    if fmt not in _LOADERS:
        known = sorted(set(_LOADERS) | set(BUILTIN_FORMATS))
        raise IndexFormatError(f"{path}: unknown index format '{fmt}' (known: {known})")
    return _LOADERS[fmt](path, mmap=mmap, **kwargs)
