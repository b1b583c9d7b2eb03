"""The files of a BM25 index (and of an impact index, which has the same ones): which arrays,
at which integer widths, and how they are written and read.

Format 3 (written here) keeps block tables (``block_last_doc``, ``block_offset``,
``block_max_x``) only for the terms of more than one 128-posting block (``multi_terms``,
``multi_first_block``, ``multi_max_x``), and addresses every term's postings by
``term_postings`` (csrc/core/sparse/index_data.hpp). On a real vocabulary ~99% of the terms
have a single block, which formats 1 and 2 paid ~24 bytes of tables for (first_block, df,
term_max_x and three block arrays): on the 1M-passage benchmark corpus the index shrinks from
120.2 MB to ~92 MB. The builder writes this layout directly; a format 1 or 2 index is converted
when it loads (:func:`split_block_tables`: its block tables are read into memory, O(terms +
blocks); save it again to write format 3).

Format 2 differs from format 1 in three ways, all decided when the arrays leave the builder
(:func:`compact`), so the arrays in memory are the arrays on disk and a mapped load copies
nothing:

* every unsigned table is stored at the narrowest width that holds its largest value:

  =================== ============== ==========================
  array               widths (bytes) largest value
  =================== ============== ==========================
  df                  1, 2, 4        the largest df
  doc_len             1, 2, 4        the longest document
  term_postings       4, 8           the postings' size (format 3)
  multi_first_block   4, 8           the number of blocks (format 3)
  block_offset        4, 8           the postings' size
  docno_offsets       4, 8           the docno bytes' size
  term_block_offsets  4, 8           the term dictionary's size
  =================== ============== ==========================

* the terms are front-coded in blocks of 16 (``term_dict.bin`` + ``term_block_offsets.npy``,
  csrc/core/sparse/term_dictionary.hpp) instead of plain ``term_bytes.bin`` + u64
  ``term_offsets.npy``;
* there is no ``cf.npy``: nothing in search reads collection frequencies, and
  ``BM25Index.cf`` sums the term's postings instead (O(df));
* docnos that are consecutive integers (``str(start + i)`` for document i, as MS MARCO's
  passages are numbered) are stored as ``docno_range.npy`` (one u64: ``start``) instead of
  ``docno_bytes.bin`` + ``docno_offsets.npy`` (``winnow.docnos.RangeDocnos``).

The core reads every width (``UIntArray``, csrc/core/sparse/uint_array.hpp) and both term
layouts, so format 1 indexes (u64 offsets, plain terms, ``cf.npy``) still load, mapped or
read; saving one writes format 3.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from winnow import _core
from winnow.docnos import DocnoTable, RangeDocnos, docno_range_start
from winnow.errors import IndexFormatError
from winnow.index.format import load_npy, verify_checksums

FORMAT_VERSION = (3, 0)
# the binary sections' own header version (their layout did not change with format 2)
SECTION_VERSION = (1, 0)

_U = (np.uint8, np.uint16, np.uint32, np.uint64)
# name -> accepted dtypes; where there are several, the narrowest that holds the largest value is saved
_COMMON = {
    "df": _U[:3], "block_last_doc": (np.uint32,), "block_offset": _U[2:], "block_max_x": (np.float32,),
    "norms": (np.uint8,), "doc_len": _U[:3], "docno_offsets": _U[2:], "docno_order": (np.uint32,),
}
# formats 1 and 2: block tables for every term (read only, converted by split_block_tables)
_ALL_BLOCKS = {"first_block": _U[2:], "term_max_x": (np.float32,)}
NPY = {**_COMMON, "term_block_offsets": _U[2:], "term_postings": _U[2:], "multi_terms": (np.uint32,),
       "multi_first_block": _U[2:], "multi_max_x": (np.float32,)}
NPY_V2 = {**_COMMON, **_ALL_BLOCKS, "term_block_offsets": _U[2:]}
SECTIONS = {"postings": "POSTINGS", "term_dict": "TERMDICT", "docno_bytes": "DOCNOS"}
# format 1 (read only): plain terms, u64 offsets and a cf table (left unread)
NPY_V1 = {**_COMMON, **_ALL_BLOCKS, "term_offsets": _U[2:]}
SECTIONS_V1 = {"postings": "POSTINGS", "term_bytes": "TERMS", "docno_bytes": "DOCNOS"}
# format 2, docnos str(start + i): (1,) u64 start, in place of docno_bytes + docno_offsets
DOCNO_RANGE = "docno_range"


def _narrowest(a: np.ndarray, dtypes: tuple) -> np.ndarray:
    top = int(a.max()) if a.size else 0
    for dt in dtypes:
        if top <= np.iinfo(dt).max:
            return a if a.dtype == np.dtype(dt) else a.astype(dt)
    raise ValueError(f"values up to {top} do not fit {np.dtype(dtypes[-1])}")


def split_block_tables(arrays: dict, path: Path) -> dict:
    """A format 1 or 2 index's arrays in format 3's layout: ``term_postings`` for every term,
    block tables for the terms of more than one block only. The old tables are checked first
    (first_block against df, block_offset's length), so a damaged index raises
    ``IndexFormatError`` naming the file instead of failing in the indexing. O(terms + blocks)."""
    def fail(name, what):
        raise IndexFormatError(f"{path / name}: {what}")

    df = np.asarray(arrays["df"]).astype(np.int64)
    first = np.asarray(arrays["first_block"]).astype(np.int64)
    n_terms, n_blocks = len(df), len(arrays["block_last_doc"])
    if first.shape != (n_terms + 1,) or (n_terms and (first[0] != 0 or first[-1] != n_blocks)):
        fail("first_block.npy", "does not span the blocks")
    per_term = np.diff(first)
    if np.any(df < 1) or np.any(per_term != (df + 127) // 128):
        fail("first_block.npy", "block counts do not match the terms' df")
    offsets = np.asarray(arrays["block_offset"])
    if offsets.shape != (n_blocks + 1,):
        fail("block_offset.npy", f"has {len(offsets)} entries, expected {n_blocks + 1}")
    term_max = np.asarray(arrays["term_max_x"])
    if term_max.shape != (n_terms,):
        fail("term_max_x.npy", f"has {len(term_max)} entries, expected {n_terms}")
    multi = np.flatnonzero(per_term > 1)
    in_table = np.repeat(per_term > 1, per_term)  # (B,) blocks of multi-block terms
    out = {name: a for name, a in arrays.items() if name not in ("first_block", "term_max_x")}
    out["term_postings"] = offsets[first]
    out["multi_terms"] = multi.astype(np.uint32)
    out["multi_first_block"] = np.concatenate([[0], np.cumsum(per_term[multi])]).astype(np.uint64)
    out["multi_max_x"] = np.ascontiguousarray(term_max[multi])
    out["block_offset"] = offsets[:-1][in_table]
    for name in ("block_last_doc", "block_max_x"):
        out[name] = np.ascontiguousarray(np.asarray(arrays[name])[in_table])
    return out


def compact(arrays: dict) -> dict:
    """The arrays as saved, from the builder's (or an older index's): front-coded terms, no
    ``cf``, every table at its narrowest width. O(terms + blocks + documents); arrays that
    already are format 3 come back as they are."""
    out = {name: a for name, a in arrays.items() if name not in ("cf", "term_bytes", "term_offsets")}
    if "term_dict" not in arrays:
        out["term_dict"], out["term_block_offsets"] = _core.front_code_terms(
            np.ascontiguousarray(arrays["term_bytes"], dtype=np.uint8),
            np.ascontiguousarray(arrays["term_offsets"], dtype=np.uint64))
    if DOCNO_RANGE not in arrays:
        start = docno_range_start(arrays["docno_bytes"], arrays["docno_offsets"])
        if start is not None:
            out[DOCNO_RANGE] = np.array([start], np.uint64)
            del out["docno_bytes"], out["docno_offsets"]
    for name, dtypes in NPY.items():
        if len(dtypes) > 1 and name in out:
            out[name] = _narrowest(np.asarray(out[name]), dtypes)
    return out


def docno_table(arrays: dict) -> DocnoTable:
    """The docnos of an index's arrays: a range, or bytes + offsets."""
    if DOCNO_RANGE in arrays:
        return RangeDocnos(int(arrays[DOCNO_RANGE][0]), len(arrays["norms"]))
    return DocnoTable(arrays["docno_bytes"], arrays["docno_offsets"])


def _names(arrays_or_files, npy: dict, sections: dict) -> tuple[dict, dict]:
    """The .npy and section names present: without the docno table when docnos are a range."""
    if DOCNO_RANGE in arrays_or_files or f"{DOCNO_RANGE}.npy" in arrays_or_files:
        npy = {**{k: v for k, v in npy.items() if k != "docno_offsets"}, DOCNO_RANGE: (np.uint64,)}
        sections = {k: v for k, v in sections.items() if k != "docno_bytes"}
    return npy, sections


def write_arrays(tmp: Path, arrays: dict) -> None:
    """Write every array, as format 2, into the (temporary) index directory ``tmp``."""
    arrays = compact(arrays)  # a format 1 index loaded and saved again
    npy, sections = _names(arrays, NPY, SECTIONS)
    for name in npy:
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(arrays[name]))
    for name, tag in sections.items():
        payload = np.ascontiguousarray(arrays[name], dtype=np.uint8)
        _core.write_section(str(tmp / f"{name}.bin"), tag, payload, SECTION_VERSION[0], SECTION_VERSION[1],
                            len(payload), 0)


def read_arrays(meta: dict, path: Path, mmap: bool, verify: bool) -> dict:
    """Every array of the index at ``path`` (format 1 or 2; meta.json and the file sizes
    already checked), mapped or read, with the sections' headers checked and, when
    ``verify``, every checksum."""
    major = meta["format_version"][0]
    if major >= 2:
        npy, tagged = _names(meta["files"], NPY if major >= 3 else NPY_V2, SECTIONS)
    else:
        npy, tagged = NPY_V1, SECTIONS_V1
    recorded = meta.get("checksums", {})
    sections = [f"{name}.bin" for name in tagged]
    if verify:  # a mapped load would page everything in to checksum it: only on request
        verify_checksums(meta, path, skip=sections)  # the sections after their headers, below
    arrays = {name: load_npy(path / f"{name}.npy", mmap, dtypes) for name, dtypes in npy.items()}
    if DOCNO_RANGE in arrays and len(arrays[DOCNO_RANGE]) != 1:
        raise IndexFormatError(f"{path / 'docno_range.npy'}: {len(arrays[DOCNO_RANGE])} entries, expected 1")
    for name, tag in tagged.items():
        # an unverified mapped load checks sizes and headers only; a verified one checks the
        # payload here only when meta.json (an older index's) has no checksum of the file
        _header, arrays[name] = _core.read_section(str(path / f"{name}.bin"), tag, SECTION_VERSION[0], mmap,
                                                   verify and f"{name}.bin" not in recorded)
    if verify:
        # whole-file checksums of the sections too: a section's own checksums cannot tell
        # another index's intact section of the same size (seen by the fuzzer: docno_bytes.bin)
        verify_checksums(meta, path, skip=[n for n in meta["files"] if n not in sections])
    return arrays if major >= 3 else split_block_tables(arrays, path)
