"""The manifest of a sharded index: the ``meta.json`` of its directory.

Layout of a sharded index directory::

    DIR/meta.json                 the manifest (written last, atomically, with the directory)
    DIR/shard_000/ ...            one Winnow index per shard (winnow.bm25, .flat, .pq, .ivf, .hnsw)
    DIR/shard_000.idf_df.npy      BM25: (T_s,) uint32 collection df of each of the shard's terms
    DIR/shard_000.block_max_x.npy BM25: (B_s,) float32 pruning bounds under collection statistics
    DIR/shard_000.multi_max_x.npy BM25: (M_s,) float32 (the shard's multi-block terms: index_data.hpp)
    DIR/shard_000.docno_rank.npy  BM25: (n_s,) uint64 rank of each document's docno among all
                                  the collection's (byte order): the docno tie rule in a merge

The manifest records ``params.shard_format``, the collection's ``stats`` (BM25) and one entry
per shard: ``name``, ``offset`` (first global id), ``n_docs``, ``first_docno`` /
``last_docno``, and ``meta_checksum``, the shard's own meta.json checksum, which covers the
byte count and checksum of every shard file. Loading checks every shard against its entry,
so a missing, replaced or damaged shard raises IndexFormatError naming it.
"""
from __future__ import annotations

import re
from pathlib import Path

from winnow.errors import IndexFormatError
from winnow.index.format import inspect, open_index

FORMAT = "winnow.sharded"
# 2.0: format 3 BM25 shards (bounds for multi-block terms only: multi_max_x.npy); a 1.x
# manifest's BM25 bounds (term_max_x.npy, format 2 block tables) are recomputed at load
FORMAT_VERSION = (2, 0)
SHARD_FORMATS = ("winnow.bm25", "winnow.flat", "winnow.pq", "winnow.ivf", "winnow.hnsw")
BM25_SIDE_FILES = ("idf_df", "block_max_x", "multi_max_x", "docno_rank")
_NAME = re.compile(r"shard_\d{3,}")


def shard_name(i: int) -> str:
    return f"shard_{i:03d}"


def side_file(name: str, array: str) -> str:
    """File name of a BM25 shard's collection-statistics array beside the shard directory."""
    return f"{name}.{array}.npy"


def split_positions(n: int, n_shards: int) -> list[tuple[int, int]]:
    """[start, stop) of each shard: the collection split by position into near-equal parts."""
    if int(n_shards) < 1:
        raise ValueError(f"the number of shards must be >= 1, got {n_shards}")
    if n_shards > max(n, 1):
        raise ValueError(f"{n_shards} shards for {n} documents: every shard needs a document")
    bounds = [i * n // n_shards for i in range(n_shards + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def shard_entry(name: str, offset: int, shard_path: Path) -> dict:
    """The manifest entry of a saved shard (its meta.json read and checked)."""
    meta = inspect(shard_path)
    from winnow.index import load

    index = load(shard_path, mmap=True, verify=False)
    n = int(index.n_docs)
    docnos = index.docnos
    first, last = (docnos[0], docnos[n - 1]) if n and len(docnos) >= n else ("", "")
    return {"name": name, "offset": int(offset), "n_docs": n, "format": meta["format"],
            "first_docno": first, "last_docno": last, "meta_checksum": meta["meta_checksum"]}


def read_manifest(path, verify: bool = False) -> dict:
    """meta.json of a sharded index, checked: format, version, file sizes (checksums with
    ``verify``) and the shard table (names, contiguous offsets, counts)."""
    path = Path(path)
    meta = open_index(path, FORMAT, FORMAT_VERSION[0], mmap=True, verify=verify)
    params, shards = meta.get("params"), meta.get("shards")
    if not isinstance(params, dict) or params.get("shard_format") not in SHARD_FORMATS:
        raise IndexFormatError(f"{path}/meta.json: params.shard_format must be one of {SHARD_FORMATS}")
    if not isinstance(shards, list) or not shards:
        raise IndexFormatError(f"{path}/meta.json: 'shards' must be a non-empty list")
    offset = 0
    for i, entry in enumerate(shards):
        where = f"{path}/meta.json: shard entry {i}"
        if not isinstance(entry, dict):
            raise IndexFormatError(f"{where} is not a JSON object")
        if entry.get("name") != shard_name(i) or not _NAME.fullmatch(str(entry.get("name"))):
            raise IndexFormatError(f"{where}: name {entry.get('name')!r}, expected {shard_name(i)!r}")
        for key in ("offset", "n_docs"):
            if type(entry.get(key)) is not int or entry[key] < 0:
                raise IndexFormatError(f"{where}: {key} must be an integer >= 0")
        if entry["offset"] != offset:
            raise IndexFormatError(f"{where}: offset {entry['offset']}, expected {offset} (shards are contiguous)")
        if not isinstance(entry.get("meta_checksum"), str):
            raise IndexFormatError(f"{where}: no meta_checksum")
        offset += entry["n_docs"]
    if params.get("n_docs") != offset:
        raise IndexFormatError(f"{path}/meta.json: params.n_docs is {params.get('n_docs')}, the shards hold {offset}")
    return meta


def check_shard(path: Path, entry: dict, shard_format: str) -> Path:
    """The shard directory of ``entry``, after checking that it is the shard the manifest
    lists (present, same meta.json checksum and format); IndexFormatError naming it."""
    shard_path = Path(path) / entry["name"]
    label = f"{shard_path}: shard {entry['name']}"
    if not shard_path.is_dir():
        raise IndexFormatError(f"{label} is missing")
    try:
        meta = inspect(shard_path)
    except IndexFormatError as exc:
        raise IndexFormatError(f"{label} is damaged: {exc}") from None
    if meta.get("meta_checksum") != entry["meta_checksum"]:
        raise IndexFormatError(f"{label} does not match the manifest (meta.json checksum "
                               f"{meta.get('meta_checksum')}, manifest records {entry['meta_checksum']}): "
                               "replaced or modified")
    if meta["format"] != shard_format:
        raise IndexFormatError(f"{label} is {meta['format']}, the manifest says {shard_format}")
    return shard_path
