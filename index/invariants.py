"""Structural invariants every index load checks, memory-mapped loads included (DESIGN.md
section 4): offsets that start at 0, never decrease and end at the length they index, counts
that agree, ids within range, tables of the right shape, small float arrays (centroids,
codebooks, rotations, pruning bounds) finite.

The passes are numpy over offset and count tables, so a load costs time linear in the number
of terms, blocks, lists and documents, never in payload bytes (vectors, codes, postings) on
a mapped load: those are covered by checksums (always for read loads, ``verify=True`` for
mapped ones). An unverified mapped load still checksums the structure files themselves.
Every failure is an ``IndexFormatError`` naming the file, so a damaged index fails at load
instead of crashing or answering wrongly at search time.
"""
from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from winnow.docnos import DocnoTable, IdentityDocnos
from winnow.errors import IndexFormatError

BLOCK_SIZE = 128  # postings per block (csrc/core/sparse/block_codec.hpp kBlockSize)
POSTINGS_PADDING = 8  # zero bytes after the last block (kPostingsPadding)
TERMS_PER_BLOCK = 16  # front-coded term dictionary (csrc/core/sparse/term_dictionary.hpp kTermsPerBlock)
# The structure files of each format: offset and count tables, a few bytes per term, block,
# list or document. An unverified (mapped) load still checksums these, so a structural change
# that happens to stay self-consistent (another index's offset table of the same size) is
# caught too; the rest (vectors, codes, postings, strings) is payload.
STRUCTURE_FILES = {
    # term_offsets.npy: format 1 (term_block_offsets.npy: formats 2 and 3); first_block.npy:
    # formats 1 and 2 (term_postings.npy, multi_terms.npy, multi_first_block.npy: format 3)
    "winnow.bm25": ("term_block_offsets.npy", "term_offsets.npy", "df.npy", "first_block.npy", "term_postings.npy",
                    "multi_terms.npy", "multi_first_block.npy", "block_offset.npy", "block_last_doc.npy",
                    "docno_offsets.npy", "docno_range.npy", "store_block_offsets.npy", "store_block_first_doc.npy"),
    "winnow.impact": ("term_block_offsets.npy", "term_offsets.npy", "df.npy", "first_block.npy", "term_postings.npy",
                      "multi_terms.npy", "multi_first_block.npy", "block_offset.npy", "block_last_doc.npy",
                      "docno_offsets.npy", "docno_range.npy"),
    "winnow.flat": ("docno_offsets.npy",),
    "winnow.pq": ("docno_offsets.npy",),
    "winnow.ivf": ("list_offsets.npy", "packed_offsets.npy", "docno_offsets.npy"),
    "winnow.tokens": ("offsets.npy", "docno_offsets.npy"),
    "winnow.hnsw": ("upper_offsets.npy", "docno_offsets.npy"),
    "winnow.cur": ("dense.list_offsets.npy", "dense.packed_offsets.npy", "query_offsets.npy", "docno_offsets.npy"),
    # a sharded index's own files are all values (its shards are indexes with their own lists)
    "winnow.sharded": (),
}


def _fail(path, name: str, what: str):
    raise IndexFormatError(f"{Path(path) / name}: {what}")


def verify_structure(meta: dict, path, mmap: bool, verify: bool | None) -> None:
    """Checksum the structure files of an unverified load (a verified one checksums all)."""
    if ((not mmap) if verify is None else bool(verify)):
        return
    from winnow.index.format import _file_checksum

    recorded = meta.get("checksums", {})
    for name in STRUCTURE_FILES.get(meta.get("format"), ()):
        if name in recorded and _file_checksum(Path(path) / name) != recorded[name]:
            _fail(path, name, "checksum mismatch (corrupt or replaced offset table)")


def shape(arr, path, name: str, expected: tuple) -> None:
    """``arr.shape == expected`` (None in ``expected`` matches any length)."""
    got = tuple(np.shape(arr))
    if len(got) != len(expected) or any(e is not None and g != e for g, e in zip(got, expected)):
        want = tuple("*" if e is None else e for e in expected)
        _fail(path, name, f"shape {got}, expected {want} (inconsistent with the other files)")


def offsets(arr, path, name: str, end: int, count: int | None = None) -> None:
    """A 1-D integer table of ``count + 1`` entries rising from 0 to ``end``."""
    a = np.asarray(arr)
    if a.ndim != 1 or len(a) < 1 or a.dtype.kind not in "iu":
        _fail(path, name, f"expected a 1-D integer offset table, got {a.dtype} {a.shape}")
    if count is not None and len(a) != count + 1:
        _fail(path, name, f"{len(a)} offsets for {count} entries (expected {count + 1})")
    first, last = int(a[0]), int(a[-1])
    if first != 0 or last != end:
        _fail(path, name, f"offsets run from {first} to {last}, expected 0 to {end}")
    drop = np.flatnonzero(a[1:] < a[:-1])
    if len(drop):
        _fail(path, name, f"offsets decrease at entry {int(drop[0]) + 1}")


def in_range(arr, path, name: str, lo: int, hi: int, what: str = "values") -> None:
    """Every entry in ``[lo, hi)``."""
    a = np.asarray(arr)
    if a.size:
        mn, mx = int(a.min()), int(a.max())
        if mn < lo or mx >= hi:
            _fail(path, name, f"{what} span [{mn}, {mx}], expected within [{lo}, {hi - 1}]")


def finite(arr, path, name: str) -> None:
    a = np.asarray(arr)
    if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
        _fail(path, name, "holds NaN or infinite values")


def docno_table(data, offs, path, n: int | None, data_name: str = "docno_bytes.npy",
                offsets_name: str = "docno_offsets.npy") -> DocnoTable:
    """A checked docno table (its docnos decode lazily; bad UTF-8 raises IndexFormatError)."""
    offsets(offs, path, offsets_name, len(data), n)
    table = DocnoTable(data, offs)
    table.source = str(Path(path) / data_name)
    return table


def _real(value, path, key: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (lo <= float(value) <= hi):
        _fail(path, "meta.json", f"{key} is {value!r}, expected a number in [{lo}, {hi}]")
    return float(value)


def _count(value, path, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        _fail(path, "meta.json", f"{key} is {value!r}, expected a count >= 0")
    return int(value)


# -- BM25 ----------------------------------------------------------------------------------------
def check_bm25(arrays: dict, stats: dict, params: dict, path, mmap: bool = False) -> None:
    """Counts, offset tables and block tables of a BM25 index against each other and, for
    read loads, the postings (two bytes per block: the bit widths that fix its size)."""
    if not isinstance(stats, dict) or not isinstance(params, dict):
        _fail(path, "meta.json", "'stats' and 'params' must be JSON objects")
    _real(params.get("k1"), path, "params.k1", 1e-9, 1e9)
    _real(params.get("b"), path, "params.b", 0.0, 1.0)
    _check_inverted(arrays, stats, path, mmap)


def check_impact(arrays: dict, stats: dict, params: dict, path, mmap: bool = False) -> None:
    """An impact index: the BM25 index's tables (impacts in the frequency slot), its
    quantization parameters, and pruning bounds that are integer impacts in 1 .. 2^24."""
    if not isinstance(stats, dict) or not isinstance(params, dict):
        _fail(path, "meta.json", "'stats' and 'params' must be JSON objects")
    q = params.get("quantize")
    if q != "none" and (isinstance(q, bool) or not isinstance(q, numbers.Integral) or not 2 <= int(q) <= 24):
        _fail(path, "meta.json", f"params.quantize is {q!r}, expected 'none' or bits in 2..24")
    if params.get("analyzer") not in ("english", "plain"):
        _fail(path, "meta.json", f"params.analyzer is {params.get('analyzer')!r}, expected 'english' or 'plain'")
    if params.get("max_impact") is not None:  # recorded at build (format 3)
        if _count(params["max_impact"], path, "params.max_impact") > 1 << 24:
            _fail(path, "meta.json", f"params.max_impact is {params['max_impact']}, above 2^24")
    _check_inverted(arrays, stats, path, mmap)
    for name in ("block_max_x", "multi_max_x"):
        bound = arrays[name]
        top = (1 << 24) if q == "none" else (1 << int(q)) - 1
        if len(bound) and (np.any(bound != np.floor(bound)) or np.any(bound < 1) or np.any(bound > top)):
            _fail(path, f"{name}.npy", f"holds a bound that is not an integer impact in 1..{top}")


def _check_inverted(arrays: dict, stats: dict, path, mmap: bool) -> None:
    n_docs = len(arrays["norms"])
    n_terms, n_multi, n_blocks = len(arrays["df"]), len(arrays["multi_terms"]), len(arrays["block_last_doc"])
    for name, n in (("term_postings", n_terms + 1), ("multi_first_block", n_multi + 1), ("multi_max_x", n_multi),
                    ("block_offset", n_blocks), ("block_max_x", n_blocks),
                    ("doc_len", n_docs), ("docno_order", n_docs)):
        shape(arrays[name], path, f"{name}.npy", (n,))
    if "docno_range" in arrays:  # docnos str(start + i) (format 2)
        shape(arrays["docno_range"], path, "docno_range.npy", (1,))
        if int(arrays["docno_range"][0]) + n_docs > 2**64 - 1:
            _fail(path, "docno_range.npy", f"start {int(arrays['docno_range'][0])} + {n_docs} documents overflows")
    else:
        shape(arrays["docno_offsets"], path, "docno_offsets.npy", (n_docs + 1,))
    if _count(stats.get("n_docs"), path, "stats.n_docs") != n_docs:
        _fail(path, "meta.json", f"stats.n_docs is {stats['n_docs']}, norms.npy holds {n_docs} documents")
    doc_len = arrays["doc_len"]
    with_terms = int(np.count_nonzero(doc_len))
    if _count(stats.get("n_docs_with_terms"), path, "stats.n_docs_with_terms") != with_terms:
        _fail(path, "meta.json", f"stats.n_docs_with_terms is {stats['n_docs_with_terms']}, "
                                 f"doc_len.npy has {with_terms} documents with terms")
    total = int(doc_len.sum(dtype=np.uint64))
    if _count(stats.get("total_length"), path, "stats.total_length") != total:
        _fail(path, "meta.json", f"stats.total_length is {stats['total_length']}, doc_len.npy sums to {total}")
    df = arrays["df"]
    if n_terms and int(df.min()) < 1:
        _fail(path, "df.npy", "a term has df 0")
    if "term_dict" in arrays:  # front-coded in blocks of 16 (the core decodes every block at load)
        offsets(arrays["term_block_offsets"], path, "term_block_offsets.npy", len(arrays["term_dict"]),
                -(-n_terms // TERMS_PER_BLOCK))
    else:
        offsets(arrays["term_offsets"], path, "term_offsets.npy", len(arrays["term_bytes"]), n_terms)
    postings_end = int(arrays["term_postings"][-1])
    offsets(arrays["term_postings"], path, "term_postings.npy", postings_end, n_terms)
    if postings_end + POSTINGS_PADDING > len(arrays["postings"]):
        _fail(path, "term_postings.npy", f"ends at byte {postings_end} (+ padding), beyond postings.bin's "
                                         f"{len(arrays['postings'])} bytes")
    multi = arrays["multi_terms"].astype(np.int64)
    if np.any(np.diff(multi) <= 0) or (n_multi and (multi[0] < 0 or multi[-1] >= n_terms)):
        _fail(path, "multi_terms.npy", "term ids are not increasing or out of range")
    if n_multi != int(np.count_nonzero(df > BLOCK_SIZE)) or np.any(df[multi] <= BLOCK_SIZE):
        _fail(path, "multi_terms.npy", f"does not list exactly the terms of df > {BLOCK_SIZE}")
    first = arrays["multi_first_block"]
    offsets(first, path, "multi_first_block.npy", n_blocks, n_multi)
    per_term = np.diff(first.astype(np.int64))
    multi_df = df[multi].astype(np.int64)
    if np.any(per_term != (multi_df + BLOCK_SIZE - 1) // BLOCK_SIZE):
        _fail(path, "multi_first_block.npy", "block counts do not match the terms' df")
    _check_blocks(arrays, path, n_docs, multi, multi_df, per_term, mmap)
    docno_order = arrays["docno_order"]
    in_range(docno_order, path, "docno_order.npy", 0, max(n_docs, 1), "doc ids")
    if n_docs and np.any(np.bincount(docno_order, minlength=n_docs) != 1):
        _fail(path, "docno_order.npy", "is not a permutation of the document ids")


def _check_blocks(arrays, path, n_docs: int, multi, multi_df, per_term, mmap: bool) -> None:
    """Every block's byte range (single-block terms: the term's; table blocks: up to the next
    block or the term's end), and the table blocks' last docs and bounds."""
    term_postings = arrays["term_postings"].astype(np.int64)
    block_offset = arrays["block_offset"].astype(np.int64)
    n_blocks = len(block_offset)
    first = arrays["multi_first_block"][:-1].astype(np.int64)  # (M,) each multi-block term's first block
    last_block = first + per_term - 1
    if np.any(block_offset[first] != term_postings[multi]):
        _fail(path, "block_offset.npy", "a term's first block does not start at its postings")
    # every block: start, end and postings
    single = np.ones(len(term_postings) - 1, bool)
    single[multi] = False
    block_end = np.empty(n_blocks, np.int64)
    block_end[:-1] = block_offset[1:]
    block_end[last_block] = term_postings[multi + 1]
    n_table = np.full(n_blocks, BLOCK_SIZE, np.int64)
    n_table[last_block] = multi_df - BLOCK_SIZE * (per_term - 1)
    starts = np.concatenate([term_postings[:-1][single], block_offset])
    size = np.concatenate([np.diff(term_postings)[single], block_end - block_offset])
    n = np.concatenate([arrays["df"][single].astype(np.int64), n_table])
    # with the starts above, this also proves the table blocks increase inside their term's
    # postings, so every start below is inside the postings
    if np.any(size < 2):
        _fail(path, "block_offset.npy" if np.any(size[len(size) - n_blocks:] < 2) else "term_postings.npy",
              "a block is shorter than its 2-byte header")
    if not mmap:
        # each block's 2-byte header fixes its size; reading it touches every page of the
        # postings, so a mapped load leaves this to the decoder (which checks each block it
        # decodes against the block table or, for a single-block term, the number of documents)
        postings = arrays["postings"]
        doc_bits, tf_bits = postings[starts].astype(np.int64), postings[starts + 1].astype(np.int64)
        want = 2 + (n * doc_bits + 7) // 8 + (n * tf_bits + 7) // 8
        bad = np.flatnonzero((doc_bits > 32) | (tf_bits > 32) | (want != size))
        if len(bad):
            _fail(path, "postings.bin", f"the block at byte {int(starts[bad[0]])} is {int(size[bad[0]])} bytes, its "
                                        f"header and df say {int(want[bad[0]])} (corrupt postings or block tables)")
    if n_blocks == 0:
        return
    last = arrays["block_last_doc"]
    in_range(last, path, "block_last_doc.npy", 0, max(n_docs, 1), "doc ids")
    # docs rise strictly: a term's first block ends at >= n - 1, each later one >= n past the previous
    rise = np.empty(n_blocks, np.int64)
    rise[0] = int(last[0]) + 1
    np.subtract(last[1:], last[:-1], out=rise[1:], dtype=np.int64)
    rise[first] = last[first].astype(np.int64) + 1
    if np.any(rise < n_table):
        _fail(path, "block_last_doc.npy", "last doc ids do not rise by at least each block's postings")
    block_max, term_max = arrays["block_max_x"], arrays["multi_max_x"]
    finite(block_max, path, "block_max_x.npy")
    finite(term_max, path, "multi_max_x.npy")
    if np.any(block_max < 0) or not np.array_equal(np.maximum.reduceat(block_max, first), term_max):
        _fail(path, "multi_max_x.npy", "pruning bounds disagree with block_max_x.npy")


# -- dense ---------------------------------------------------------------------------------------
def check_docnos_cover(index, ids, path, ids_name: str = "ids.npy") -> None:
    """Ids are >= 0 (-1 is padding), and below the docno table's length when there is one."""
    table = getattr(index, "docnos", None)
    hi = 2**63 - 1 if table is None or isinstance(table, IdentityDocnos) else len(table)
    in_range(ids, path, ids_name, 0, hi, "ids")


def check_dense(index, path, mmap: bool, prefix: str = "") -> None:
    """Shapes of a Flat / PQ / IVF index's arrays against its parameters, list tables,
    small float arrays finite (and, for read loads, the stored vectors too)."""
    from winnow.index.flat import FlatIndex
    from winnow.index.hnsw import HNSWIndex
    from winnow.index.ivf import IVFIndex
    from winnow.index.pq_index import PQIndex

    d, n = index.d, len(index.ids)
    p = prefix
    shape(index.ids, path, f"{p}ids.npy", (n,))
    check_docnos_cover(index, index.ids, path, f"{p}ids.npy")
    if isinstance(index, HNSWIndex):
        _check_hnsw(index, path, mmap)
        return
    rotation = getattr(index, "rotation", None)
    if rotation is not None:
        shape(rotation, path, f"{p}rotation.npy", (d, d))
        finite(rotation, path, f"{p}rotation.npy")
    if getattr(index, "refine", False):
        shape(index.vectors, path, f"{p}vectors.npy", (n, d))
    # PQ codes need no range check: nbits is 8, or 4 with two codes a byte, so every byte is
    # a valid code (< ksub); a changed code is a changed payload value
    if isinstance(index, PQIndex):
        shape(index.codes, path, f"{p}codes.npy", (n, index.pq.code_size))
        finite(index.pq.centroids, path, f"{p}centroids.npy")
    elif isinstance(index, IVFIndex):
        shape(index.centroids, path, f"{p}centroids.npy", (index.nlist, d))
        finite(index.centroids, path, f"{p}centroids.npy")
        offsets(index.list_offsets, path, f"{p}list_offsets.npy", n, index.nlist)
        if index.pq is not None:
            finite(index.pq.centroids, path, f"{p}codebooks.npy")
        _check_sq(index, path, p)
        if index.payload == "fastscan":
            sizes = np.diff(index.list_offsets.astype(np.int64))
            packed = (sizes + 31) // 32 * 32 * index.M // 2  # fastscan_pack: 32-row groups, M nibbles a row
            offsets(index.packed_offsets, path, f"{p}packed_offsets.npy", len(index.packed), index.nlist)
            if not np.array_equal(np.diff(index.packed_offsets.astype(np.int64)), packed):
                _fail(path, f"{p}packed_offsets.npy", "packed list sizes do not match the list sizes")
        else:
            width = d if index.payload == "flat" else (index.pq or index.sq).code_size
            shape(index.payload_rows, path, f"{p}payload_rows.npy", (n, width))
    elif isinstance(index, FlatIndex) and index.sq is not None:
        shape(index.codes, path, f"{p}codes.npy", (n, index.sq.code_size))
        _check_sq(index, path, p)
    else:
        shape(index.vectors, path, f"{p}vectors.npy", (n, d))
    if not mmap:  # a read load holds the vectors in memory already: one more pass is cheap
        for name in ("vectors", "payload_rows"):
            arr = getattr(index, name, None)
            if arr is not None and arr.dtype.kind == "f":
                finite(arr, path, f"{p}{name}.npy")
        if getattr(index, "payload", None) == "float16":  # float16 codes: halves, may not be NaN / inf
            name = "payload_rows" if isinstance(index, IVFIndex) else "codes"
            finite(np.asarray(getattr(index, name)).view(np.float16), path, f"{p}{name}.npy")


def _check_sq(index, path, p: str) -> None:
    """SQ8 ranges: (d,) each, finite, widths >= 0 (every code byte is a valid SQ8 value and
    float16 codes are plain halves, so the codes themselves need no check)."""
    sq = getattr(index, "sq", None)
    if sq is None or index.payload != "sq8":
        return
    vmin, vdiff = sq.vmin, sq.vdiff  # set_ranges at load refused non-finite or negative values
    shape(vmin, path, f"{p}sq_vmin.npy", (index.d,))
    shape(vdiff, path, f"{p}sq_vdiff.npy", (index.d,))
    finite(vmin, path, f"{p}sq_vmin.npy")
    finite(vdiff, path, f"{p}sq_vdiff.npy")
    if np.any(vdiff < 0):
        _fail(path, f"{p}sq_vdiff.npy", "holds a negative range width")


def _check_hnsw(index, path, mmap: bool) -> None:
    """The graph (links, offsets, entry node, array sizes) was validated by the core when it
    was opened; here: float payloads finite on a read load (a mapped load leaves the vectors
    to the checksums, as for the other dense indexes)."""
    if mmap:
        return
    arrays = index._graph.arrays()
    if index.payload != "sq8":
        dtype = np.float32 if index.payload == "float32" else np.float16
        finite(arrays["codes"].view(dtype), path, "codes.npy")
    if "refine" in arrays:
        finite(arrays["refine"], path, "refine.npy")


# -- token store ---------------------------------------------------------------------------------
def check_tokens(raw: dict, params: dict, path) -> None:
    ndocs = len(raw["offsets"]) - 1
    key = "n_docs" if "n_docs" in params else "ndocs"  # "ndocs" in indexes saved before the rename
    if params.get(key) is not None and _count(params[key], path, f"params.{key}") != ndocs:
        _fail(path, "offsets.npy", f"{ndocs} documents, meta.json records {params[key]}")
    ntok = len(raw["token_ids"])
    if raw["storage"] == "float16":
        shape(raw["tokens"], path, "tokens.npy", (ntok, raw["dim"]))
    else:
        shape(raw["codes"], path, "codes.npy", (ntok, raw["pq"].code_size))
        finite(raw["codebooks"], path, "codebooks.npy")
    shape(raw["df"], path, "df.npy", (None,))


# -- CUR -----------------------------------------------------------------------------------------
def check_cur(arrays: dict, params: dict, dense, path) -> None:
    n = len(dense.ids)
    key = "n_docs" if "n_docs" in params else "n_items"  # "n_items" in indexes saved before the rename
    if _count(params.get(key), path, f"params.{key}") != n:
        _fail(path, "meta.json", f"{key} is {params[key]}, the dense index holds {n} items")
    ids = np.asarray(dense.ids)
    in_range(ids, path, "dense.ids.npy", 0, max(n, 1), "item ids")
    if n and np.any(np.bincount(ids, minlength=n) != 1):
        _fail(path, "dense.ids.npy", "item ids are not a permutation of 0..n_items-1")
    anchors = arrays["anchor_items"]
    shape(anchors, path, "anchor_items.npy", (None,))
    in_range(anchors, path, "anchor_items.npy", 0, max(n, 1), "item ids")
    if len(np.unique(anchors)) != len(anchors) or not len(anchors):
        _fail(path, "anchor_items.npy", "anchor items must be distinct and non-empty")
    k_q = len(arrays["query_offsets"]) - 1
    offsets(arrays["query_offsets"], path, "query_offsets.npy", len(arrays["query_bytes"]))
    if "R" in arrays:
        shape(arrays["R"], path, "R.npy", (k_q, n))
