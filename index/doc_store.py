"""The document store: each document's title and text, zstd-compressed in blocks, memory-mapped,
with random access by internal id (``--store text`` at ``winnow index build bm25``).

Files (inside the index directory, listed and checksummed in its meta.json like every other):

* ``store_frames.npy`` (n_bytes,) uint8: one zstd frame per block of consecutive documents,
  frames back to back. Each frame carries zstd's content size and content checksum, so a
  damaged frame is found when it is decoded, even in an unverified mapped load.
* ``store_block_offsets.npy`` (n_blocks + 1,) uint64: byte offset of each frame in the frames.
* ``store_block_first_doc.npy`` (n_blocks + 1,) uint64: internal id of each block's first
  document; the last entry is the number of documents.

A decompressed block holds, little-endian: u32 ``n`` (documents in the block), then ``n`` pairs
of u32 (title bytes, text bytes), then the UTF-8 bytes title0 text0 title1 text1 ... A block
closes once its raw size reaches ``block_bytes`` (default 64 KiB: one decode per look-up
costs a few tens of µs, and zstd's window sees enough text to compress well).
"""
from __future__ import annotations

import os
import struct
import tempfile
import threading
from pathlib import Path

import numpy as np
import zstandard

from winnow.errors import IndexFormatError
from winnow.index import invariants
from winnow.index.format import load_npy

FRAMES, BLOCK_OFFSETS, BLOCK_FIRST_DOC = "store_frames.npy", "store_block_offsets.npy", "store_block_first_doc.npy"
FILES = (FRAMES, BLOCK_OFFSETS, BLOCK_FIRST_DOC)
KINDS = ("text",)
DEFAULT_BLOCK_BYTES = 64 * 1024
DEFAULT_LEVEL = 9  # build cost only: zstd decodes every level at the same speed
_U32 = struct.Struct("<I")


def check_kind(store) -> str | None:
    """``store`` as given to an index build: None (no store) or one of :data:`KINDS`."""
    if store is None or store is False:
        return None
    if store not in KINDS:
        raise ValueError(f"store must be one of {list(KINDS)} or None, got {store!r}")
    return store


class DocStoreWriter:
    """Appends documents in internal-id order; frames spill to a temporary file in ``temp_dir``,
    so memory holds one block and the (n_blocks + 1,) offset tables."""

    def __init__(self, block_bytes: int = DEFAULT_BLOCK_BYTES, level: int = DEFAULT_LEVEL,
                 temp_dir: str | None = None):
        if not (isinstance(block_bytes, int) and 256 <= block_bytes <= 64 * 1024 * 1024):
            raise ValueError(f"block_bytes must be an int in [256, 67108864], got {block_bytes!r}")
        if not (isinstance(level, int) and 1 <= level <= 22):
            raise ValueError(f"level must be an int in [1, 22], got {level!r}")
        self.block_bytes, self.level = block_bytes, level
        self._cctx = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        fd, self._tmp = tempfile.mkstemp(prefix="winnow-store-", suffix=".frames", dir=temp_dir)
        self._out = os.fdopen(fd, "wb")
        self._lengths: list[int] = []  # title, text byte counts of the open block
        self._payload: list[bytes] = []
        self._raw = 0
        self.n_docs = 0
        self.max_block = 0  # largest decompressed block: the decode bound recorded in meta.json
        self.offsets, self.first_doc = [0], [0]

    def add(self, title: str, text: str) -> None:
        for what, value in (("title", title), ("text", text)):
            if not isinstance(value, str):
                raise ValueError(f"document {self.n_docs} {what} is {type(value).__name__}, expected str")
        t, x = title.encode("utf-8"), text.encode("utf-8")  # a lone surrogate raises here
        self._lengths += (len(t), len(x))
        self._payload += (t, x)
        self._raw += 8 + len(t) + len(x)
        self.n_docs += 1
        if self._raw >= self.block_bytes:
            self._flush()

    def _flush(self) -> None:
        n = len(self._lengths) // 2
        if n == 0:
            return
        raw = b"".join([_U32.pack(n), np.asarray(self._lengths, dtype="<u4").tobytes(), *self._payload])
        frame = self._cctx.compress(raw)
        self._out.write(frame)
        self.max_block = max(self.max_block, len(raw))
        self.offsets.append(self.offsets[-1] + len(frame))
        self.first_doc.append(self.n_docs)
        self._lengths, self._payload, self._raw = [], [], 0

    def finish(self) -> "DocStore":
        """Close the last block and open the result (the temporary file is mapped, then unlinked:
        the mapping keeps its pages alive until the store is dropped)."""
        self._flush()
        self._out.close()
        try:
            size = os.path.getsize(self._tmp)
            frames = np.memmap(self._tmp, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        finally:
            os.unlink(self._tmp)
        info = {"kind": "text", "codec": "zstd", "level": self.level, "block_bytes": self.block_bytes,
                "n_docs": self.n_docs, "n_blocks": len(self.offsets) - 1, "max_block_bytes": self.max_block}
        return DocStore(frames, np.asarray(self.offsets, np.uint64), np.asarray(self.first_doc, np.uint64), info)

    def abort(self) -> None:
        self._out.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)


class DocStore:
    """Read side: ``get(i)`` -> (title, text) of internal id ``i``; thread-safe (one zstd
    decompressor per thread). ``source`` names the directory in errors."""

    def __init__(self, frames: np.ndarray, block_offsets: np.ndarray, block_first_doc: np.ndarray, info: dict,
                 source: Path | None = None):
        self.frames, self.block_offsets, self.block_first_doc = frames, block_offsets, block_first_doc
        self.info = dict(info)
        self.source = source
        self._local = threading.local()

    def __len__(self) -> int:
        return int(self.info["n_docs"])

    @property
    def nbytes(self) -> int:
        return int(self.frames.nbytes + self.block_offsets.nbytes + self.block_first_doc.nbytes)

    def _where(self, name: str) -> str:
        return str(self.source / name) if self.source else f"document store {name}"

    def _block(self, b: int) -> bytes:
        dctx = getattr(self._local, "dctx", None)
        if dctx is None:
            dctx = self._local.dctx = zstandard.ZstdDecompressor()
        frame = self.frames[int(self.block_offsets[b]):int(self.block_offsets[b + 1])]
        try:
            # the bound comes from meta.json (checksummed), so a damaged frame header cannot make
            # the decoder allocate more than the largest block the writer made
            size = zstandard.frame_content_size(frame)
            if size < 0 or size > int(self.info["max_block_bytes"]):
                raise zstandard.ZstdError(f"frame content size {size}, at most {self.info['max_block_bytes']}")
            return dctx.decompress(frame, max_output_size=size)
        except zstandard.ZstdError as exc:
            raise IndexFormatError(f"{self._where(FRAMES)}: block {b} cannot be decoded ({exc}; corrupt file)") \
                from None

    def get(self, i: int) -> tuple[str, str]:
        """(title, text) of internal document ``i`` (IndexError when out of range)."""
        n = len(self)
        if not 0 <= int(i) < n:
            raise IndexError(f"document id {i} out of range for {n} documents")
        b = int(np.searchsorted(self.block_first_doc, i, side="right")) - 1
        raw = self._block(b)
        first, count = int(self.block_first_doc[b]), int(self.block_first_doc[b + 1] - self.block_first_doc[b])
        head = 4 + 8 * count
        if len(raw) < head or _U32.unpack_from(raw)[0] != count:
            raise IndexFormatError(f"{self._where(FRAMES)}: block {b} does not hold its {count} documents "
                                   "(corrupt file)")
        lengths = np.frombuffer(raw, dtype="<u4", count=2 * count, offset=4).astype(np.int64)
        if head + int(lengths.sum()) != len(raw):
            raise IndexFormatError(f"{self._where(FRAMES)}: block {b} lengths do not add up (corrupt file)")
        j = 2 * (int(i) - first)
        start = head + int(lengths[:j].sum())
        mid, end = start + int(lengths[j]), start + int(lengths[j]) + int(lengths[j + 1])
        try:
            return raw[start:mid].decode("utf-8"), raw[mid:end].decode("utf-8")
        except UnicodeDecodeError:
            raise IndexFormatError(f"{self._where(FRAMES)}: document {i} is not valid UTF-8 (corrupt file)") \
                from None

    # -- files -----------------------------------------------------------------------------
    def save_into(self, directory: Path) -> dict:
        """Write the three files into ``directory`` (an index save's temporary directory);
        returns the ``store`` entry for meta.json."""
        np.save(directory / FRAMES, np.ascontiguousarray(self.frames, dtype=np.uint8))
        np.save(directory / BLOCK_OFFSETS, np.ascontiguousarray(self.block_offsets, dtype=np.uint64))
        np.save(directory / BLOCK_FIRST_DOC, np.ascontiguousarray(self.block_first_doc, dtype=np.uint64))
        return dict(self.info)

    @classmethod
    def load(cls, path: Path, info, n_docs: int, mmap: bool) -> "DocStore":
        """Open the store of the index at ``path`` (meta.json's ``store`` entry ``info``) and
        check its structure against the index's ``n_docs`` (time linear in the blocks)."""
        path = Path(path)
        meta_path = path / "meta.json"
        if not isinstance(info, dict):
            raise IndexFormatError(f"{meta_path}: 'store' must be a JSON object")
        for key in ("n_docs", "n_blocks", "max_block_bytes"):
            if type(info.get(key)) is not int or info[key] < 0:
                raise IndexFormatError(f"{meta_path}: store field {key!r} must be a non-negative int")
        if info.get("kind") not in KINDS or info.get("codec") != "zstd":
            raise IndexFormatError(f"{meta_path}: store kind {info.get('kind')!r} codec {info.get('codec')!r}, "
                                   f"expected one of {list(KINDS)} with zstd")
        if info["n_docs"] != n_docs:
            raise IndexFormatError(f"{meta_path}: store holds {info['n_docs']} documents, the index {n_docs}")
        frames = load_npy(path / FRAMES, mmap, np.uint8)
        nb = info["n_blocks"]
        offsets = load_npy(path / BLOCK_OFFSETS, mmap, np.uint64, nb + 1)
        first = load_npy(path / BLOCK_FIRST_DOC, mmap, np.uint64, nb + 1)
        invariants.offsets(offsets, path, BLOCK_OFFSETS, len(frames), nb)
        invariants.offsets(first, path, BLOCK_FIRST_DOC, n_docs, nb)
        # every block holds at least one document and one frame byte (searchsorted relies on it)
        for name, table in ((BLOCK_OFFSETS, offsets), (BLOCK_FIRST_DOC, first)):
            if nb and not np.all(np.diff(table) > 0):
                raise IndexFormatError(f"{path / name}: an empty block (entries must rise strictly)")
        return cls(frames, offsets, first, info, path)


class StoreTexts:
    """The documents of a store as a read-only sequence of texts by internal id, decoded on
    demand (what a text reranker such as the cross-encoder scores): ``title + " " + text``, or
    the text alone when the title is empty."""

    def __init__(self, store: DocStore):
        self.store = store

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, i: int) -> str:
        title, text = self.store.get(int(i))
        return f"{title} {text}" if title else text


def texts_of_index(path) -> StoreTexts | None:
    """The store texts of the Winnow index at ``path``, or None when ``path`` is not an index
    directory with a document store (e.g. a corpus file or dataset directory)."""
    from winnow.index.format import META, load

    if not (Path(path) / META).is_file():
        return None
    index = load(path, mmap=True)
    store = getattr(index, "store", None)
    if store is None:
        raise ValueError(f"{path}: this index has no document store (build it with --store text)")
    return StoreTexts(store)
