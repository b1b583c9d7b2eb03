"""Index directories (DESIGN.md section 4): ``meta.json`` + payload files, atomic saves,
checked reads, and ``load`` / ``inspect`` dispatch on the ``format`` field.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from winnow import __version__
from winnow.errors import IndexFormatError
from winnow.index import safe_save

META = "meta.json"
_LOADERS: dict[str, Callable] = {}
# format -> module that registers it, imported on first load of such an index
BUILTIN_FORMATS = {
    "winnow.bm25": "winnow.index.bm25", "winnow.flat": "winnow.index.flat", "winnow.pq": "winnow.index.pq_index",
    "winnow.ivf": "winnow.index.ivf", "winnow.tokens": "winnow.index.token_store", "winnow.cur": "winnow.index.cur",
    "winnow.hnsw": "winnow.index.hnsw", "winnow.impact": "winnow.index.impact",
    "winnow.sharded": "winnow.distributed.sharded_index",
}


def register_format(name: str):
    """Class decorator: ``load`` dispatches ``format == name`` to ``cls.load``."""

    def wrap(cls):
        _LOADERS[name] = cls.load
        return cls

    return wrap


# meta.json fields written before meta.json carried its own checksum (winnow 0.1.0 before
# issue 12). Such a meta.json without "meta_checksum" still loads (its payload checksums are
# still checked); one with any other field and no checksum is damaged (a flipped byte in the
# "meta_checksum" key itself would otherwise turn the check off).
LEGACY_META_FIELDS = frozenset({"format", "format_version", "winnow_version", "files", "checksums", "params",
                                "stats", "n_terms", "n_blocks", "arrays", "build_cost", "config", "info"})


def meta_checksum(meta: dict) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of every field but itself."""
    rest = {k: v for k, v in meta.items() if k != "meta_checksum"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def save_directory(path, write_payload: Callable[[Path], None], meta: dict, overwrite: bool = False) -> None:
    """Write an index directory atomically.

    ``path`` must not exist, or be a Winnow index and ``overwrite`` be true (anything else is
    refused with ``ValueError``, before any work). ``write_payload(tmp_dir)`` writes the
    payload files into the temporary sibling ``.NAME.tmp-PID``; then ``meta.json`` (byte
    count and checksum of every file, and its own checksum) is written, everything is
    fsynced and the directory is swapped into place in one step (see ``safe_save``). A crash
    at any instant leaves the old or the new index; the next load cleans up. A second
    process saving to the same path meanwhile gets ``ValueError`` ("another process ...").
    """
    path = Path(path)
    safe_save.check_output(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    with safe_save.save_lock(path, wait=1.0):
        safe_save.check_output(path, overwrite)  # again: another save may have finished meanwhile
        safe_save.remove_leftovers(path)
        tmp = safe_save.sibling(path, "tmp")
        if os.path.lexists(tmp):  # an earlier attempt of this PID (the lock excludes any other writer)
            if not safe_save.is_our_leftover(tmp):
                raise ValueError(f"{tmp}: exists and is not a Winnow save in progress; refusing to remove it")
            shutil.rmtree(tmp)
        tmp.mkdir()
        (tmp / safe_save.PARTIAL).touch()
        try:
            write_payload(tmp)
            names = sorted(p.name for p in tmp.iterdir() if p.is_file() and p.name != safe_save.PARTIAL)
            files = {name: (tmp / name).stat().st_size for name in names}
            checksums = {name: _file_checksum(tmp / name) for name in names}
            meta = dict(meta, winnow_version=__version__, files=files, checksums=checksums)
            meta["meta_checksum"] = meta_checksum(meta)
            (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            (tmp / safe_save.PARTIAL).unlink()  # meta.json now marks the directory as ours
            for p in tmp.iterdir():
                safe_save.fsync_path(p)
            safe_save.fsync_path(tmp)
            safe_save.install(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def write_meta(path, meta: dict) -> None:
    """Write ``path/meta.json`` with a fresh ``meta_checksum`` (for tools and tests that
    change meta.json on purpose; a save writes it itself)."""
    meta = dict(meta)
    meta["meta_checksum"] = meta_checksum(meta)
    (Path(path) / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _check_meta_fields(meta: dict, meta_path: Path) -> None:
    """The fields every loader reads have the right types, and meta.json is intact."""
    if "meta_checksum" in meta:
        if meta["meta_checksum"] != meta_checksum(meta):
            raise IndexFormatError(f"{meta_path}: checksum mismatch (meta.json was edited or is corrupt)")
    else:
        unknown = sorted(set(meta) - LEGACY_META_FIELDS)
        if unknown:
            raise IndexFormatError(f"{meta_path}: no meta_checksum and unknown field(s) {unknown} (corrupt)")
    files = meta["files"]
    for name in files:
        if not name or name != Path(name).name or name in (".", "..", META):
            raise IndexFormatError(f"{meta_path}: invalid file name {name!r} in 'files'")
    checksums = meta.get("checksums", {})
    if not (isinstance(checksums, dict) and all(isinstance(v, str) for v in checksums.values())):
        raise IndexFormatError(f"{meta_path}: 'checksums' must map file names to hex strings")
    stray = sorted(set(checksums) - set(files))
    if stray:
        raise IndexFormatError(f"{meta_path}: checksums for unlisted file(s) {stray}")
    for key in ("params", "stats", "arrays", "config", "info"):
        if key in meta and not isinstance(meta[key], dict):
            raise IndexFormatError(f"{meta_path}: '{key}' must be a JSON object")
    for name, spec in meta.get("arrays", {}).items():
        if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], list)
                and all(type(n) is int and n >= 0 for n in spec[1])):
            raise IndexFormatError(f"{meta_path}: 'arrays' entry {name!r} must be [dtype, shape], got {spec!r}")
        if f"{name}.npy" not in files:
            raise IndexFormatError(f"{meta_path}: array {name!r} has no {name}.npy in 'files'")


def inspect(path, recover_leftovers: bool = True) -> dict:
    """Read only ``meta.json`` of the index at ``path`` (checked: its own checksum, field
    types). First, unless ``recover_leftovers`` is false, an interrupted save of ``path`` is
    finished or cleaned up (``safe_save.recover``)."""
    path = Path(path)
    if recover_leftovers:
        safe_save.recover(path)
    meta_path = path / META
    if not path.is_dir():
        raise IndexFormatError(f"{path}: not an index directory")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFormatError(f"{meta_path}: missing; {path} is not a Winnow index") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError covers JSON and UTF-8 errors
        raise IndexFormatError(f"{meta_path}: unreadable ({exc})") from None
    if not isinstance(meta, dict):
        raise IndexFormatError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    for key in ("format", "format_version", "files"):
        if key not in meta:
            raise IndexFormatError(f"{meta_path}: lacks the '{key}' field")
    if not isinstance(meta["format"], str):
        raise IndexFormatError(f"{meta_path}: 'format' must be a string, got {meta['format']!r}")
    version = meta["format_version"]
    if not (isinstance(version, list) and len(version) == 2 and all(type(v) is int for v in version)):
        raise IndexFormatError(f"{meta_path}: format_version must be [major, minor], got {version!r}")
    files = meta["files"]
    if not (isinstance(files, dict) and all(type(v) is int and v >= 0 for v in files.values())):
        raise IndexFormatError(f"{meta_path}: 'files' must map file names to byte counts")
    _check_meta_fields(meta, meta_path)
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

    # mapped, not read: a multi-GB postings file is checksummed without a copy in memory
    data = np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else np.zeros(0, np.uint8)
    return f"{_core.checksum64(data):016x}"


def verify_checksums(meta: dict, path, skip: Iterable[str] = ()) -> None:
    """Recompute the whole-file checksums recorded in meta.json for every listed file but
    ``skip`` (binary sections whose loader checks their own header checksum instead).

    Every listed file must have one; an index saved before meta.json was checksummed
    recorded only its ``.npy`` files, so only those are required there.
    """
    path = Path(path)
    checksums = meta.get("checksums", {})
    legacy = "meta_checksum" not in meta
    for name in meta["files"]:
        if name in skip:
            continue
        if name not in checksums:
            if legacy and not name.endswith(".npy"):
                continue
            raise IndexFormatError(f"{path / META}: no checksum recorded for {name} (corrupt meta.json)")
        if _file_checksum(path / name) != checksums[name]:
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


def npy_extent(path: Path, arr: np.ndarray) -> None:
    """The array's data fills the .npy after its header exactly: np.load accepts a file with
    spare bytes, so a damaged header-length field would silently shift every value."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if head[6:7] == b"\x01":  # format 1.0: u16 header length; 2.0 and 3.0: u32
        start = 10 + int.from_bytes(head[8:10], "little")
    else:
        start = 12 + int.from_bytes(head[8:12], "little")
    size = Path(path).stat().st_size
    if start + arr.nbytes != size:
        raise IndexFormatError(f"{path}: {size} bytes, its header describes {start} + {arr.nbytes} (corrupt header)")


def load_npy(path: Path, mmap: bool, dtype, expected_len: int | None = None) -> np.ndarray:
    """Load a 1-D ``.npy`` array, checking dtype (one, or a tuple of accepted ones) and
    length; mmap read-only when asked."""
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - np.load's header parser raises many types on a damaged
        # header (ValueError, SyntaxError, TypeError, OverflowError, ...): all mean an unreadable file
        raise IndexFormatError(f"{path}: unreadable array ({type(exc).__name__}: {exc})") from None
    npy_extent(path, arr)
    accepted = [np.dtype(d) for d in (dtype if isinstance(dtype, tuple) else (dtype,))]
    if arr.dtype not in accepted or arr.ndim != 1:
        raise IndexFormatError(f"{path}: dtype {arr.dtype} shape {arr.shape}, expected 1-D "
                               f"{' or '.join(str(d) for d in accepted)}")
    if expected_len is not None and len(arr) != expected_len:
        raise IndexFormatError(f"{path}: {len(arr)} entries, expected {expected_len}")
    return arr


def open_index(path, expected_format: str, supported_major: int, mmap: bool, verify: bool | None = None) -> dict:
    """Checks shared by every index's ``load``: meta.json intact, the expected format, a
    supported version, every file present with its recorded size, and the payload checksums
    when ``verify`` (default: ``not mmap``, since a mapped load would otherwise page
    everything in). Returns meta.json."""
    meta = inspect(path)
    if meta["format"] != expected_format:
        raise IndexFormatError(f"{path}: index format is {meta['format']}, not {expected_format}")
    check_version(meta, path, supported_major)
    check_files(meta, path)
    if (not mmap) if verify is None else verify:
        verify_checksums(meta, path)
    return meta


def load_array(path: Path, mmap: bool, dtype: str, shape: tuple) -> np.ndarray:
    """Load a ``.npy`` of the recorded dtype and shape (read-only map when ``mmap``)."""
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - np.load's header parser raises many types on a damaged
        # header (ValueError, SyntaxError, TypeError, OverflowError, ...): all mean an unreadable file
        raise IndexFormatError(f"{path}: unreadable array ({type(exc).__name__}: {exc})") from None
    npy_extent(path, arr)
    if str(arr.dtype) != dtype or tuple(arr.shape) != tuple(shape):
        raise IndexFormatError(f"{path}: dtype {arr.dtype} shape {arr.shape}, meta.json records {dtype} {tuple(shape)}")
    return arr


def load_arrays(meta: dict, path, mmap: bool) -> dict[str, np.ndarray]:
    """Every array listed in meta.json's ``arrays`` ({name: [dtype, shape]}) as name.npy."""
    path = Path(path)
    return {name: load_array(path / f"{name}.npy", mmap, dtype, tuple(shape))
            for name, (dtype, shape) in meta.get("arrays", {}).items()}


def load(path, mmap: bool = False, verify: bool | None = None, **kwargs):
    """Open the index at ``path`` whatever its type (dispatch on ``meta.json``'s format).

    ``verify`` (default ``not mmap``) checksums every payload file. Every load checks
    meta.json (its own checksum included), every file's size and the structural invariants
    (offsets, counts, table ranges), so a damaged index raises ``IndexFormatError`` instead
    of crashing. An unverified mapped load (``mmap=True``, the default ``verify=False``)
    does not checksum the payload bytes: a flipped byte inside a score or vector can change
    results until ``verify=True`` or :func:`verify` (``winnow index verify``) finds it.
    """
    meta = inspect(path)
    fmt = meta["format"]
    if fmt not in _LOADERS and fmt in BUILTIN_FORMATS:
        importlib.import_module(BUILTIN_FORMATS[fmt])  # registers the format (heavy imports stay lazy)
    if fmt not in _LOADERS:
        known = sorted(set(_LOADERS) | set(BUILTIN_FORMATS))
        raise IndexFormatError(f"{path}: unknown index format '{fmt}' (known: {known})")
    if verify is not None:
        kwargs["verify"] = verify
    return _LOADERS[fmt](path, mmap=mmap, **kwargs)


def verify(path) -> dict:
    """Check the index at ``path`` completely (like Lucene's CheckIndex): meta.json and its
    checksum, every file's size and checksum, then a load (structural checks). Returns
    meta.json; raises ``IndexFormatError`` naming the file at the first problem."""
    meta = inspect(path)
    check_files(meta, path)
    verify_checksums(meta, path)
    fmt = meta["format"]
    if fmt not in _LOADERS and fmt not in BUILTIN_FORMATS:
        return meta  # not an index (a Cosine Adapter directory, say): files and checksums only
    kwargs = {}
    if fmt == "winnow.cur":  # the structure needs no scorer (a model to load): a stand-in
        params = meta.get("params", {})
        n_docs = params.get("n_docs", params.get("n_items"))  # "n_items" before the rename
        kwargs["scorer"] = type("NoScorer", (), {"n_docs": n_docs, "spec": None})()
    # the payload was just checksummed; the mapped load adds the structural checks (a sharded
    # index's payload is its shards: their loads checksum them)
    load(path, mmap=True, verify=fmt == "winnow.sharded", **kwargs)
    return meta
