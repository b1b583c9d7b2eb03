"""Structural invariants checked on every load (index/invariants.py), mapped loads included:
each damage below is made consistent with meta.json (sizes and checksums rewritten), so only
the structural checks stand between it and a crash or a wrong answer; each must raise
IndexFormatError naming the damaged file."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_fixtures as fx  # noqa: E402

from winnow.errors import IndexFormatError  # noqa: E402
from winnow.index import format as fmt  # noqa: E402
from winnow.index import load  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("inv")
    for kind in ("bm25", "ivf_flat", "ivf_fastscan", "pq8", "tokens_pq", "cur"):
        fx.build(kind, 0).save(root / kind)
    fx.build("bm25", 1).save(root / "bm25_other")
    fx.build("ivf_flat", 1).save(root / "ivf_flat_other")
    np.save(root / "cur_matrix.npy", fx.cur_matrix(0))
    return root


@pytest.fixture()
def copy(saved, tmp_path):
    def make(kind):
        shutil.copytree(saved / kind, tmp_path / kind)
        return tmp_path / kind
    return make


def rewrite(path: Path, name: str, arr=None, meta_edit=None) -> None:
    """Replace ``name`` (.npy) by ``arr`` and/or edit meta.json; sizes and checksums follow."""
    meta = json.loads((path / "meta.json").read_text())
    if arr is not None:
        np.save(path / name, arr)
        meta["files"][name] = (path / name).stat().st_size
        meta["checksums"][name] = fmt._file_checksum(path / name)
        if "arrays" in meta and name[:-4] in meta["arrays"]:
            meta["arrays"][name[:-4]] = [str(arr.dtype), list(arr.shape)]
    if meta_edit is not None:
        meta_edit(meta)
    meta.pop("meta_checksum", None)
    fmt.write_meta(path, meta)


def fails(path: Path, blame: str, match: str, saved_root=None, kind=None):
    kw = fx.load_kwargs(kind, saved_root) if kind == "cur" else {}
    for mmap in (True, False):
        with pytest.raises(IndexFormatError, match=match) as info:
            load(path, mmap=mmap, **kw)
        assert blame in str(info.value)


def arr(path: Path, name: str) -> np.ndarray:
    return np.load(path / name).copy()


# -- BM25 -----------------------------------------------------------------------------------------
def test_bm25_term_block_offsets_must_rise(copy):
    p = copy("bm25")
    a = arr(p, "term_block_offsets.npy")
    a[3], a[4] = a[4], a[3]
    rewrite(p, "term_block_offsets.npy", a)
    fails(p, "term_block_offsets.npy", "decrease")


def test_bm25_df_within_the_same_block_count_fails(copy):
    p = copy("bm25")
    df = arr(p, "df.npy")
    t = int(np.argmax(df))
    assert df[t] % 128 != 1  # one posting fewer keeps the block count
    df[t] -= 1
    rewrite(p, "df.npy", df)
    # the block may keep its byte size (a few bits fewer): then the decoder's check that the
    # block ends at its block_last_doc entry catches it at search time, never a wrong answer
    _, queries = fx.bm25_corpus(0)
    for mmap in (True, False):
        with pytest.raises(IndexFormatError, match="block"):
            load(p, mmap=mmap).search(queries, k=10, algorithm="exhaustive")


def test_bm25_block_last_doc_must_rise(copy):
    p = copy("bm25")
    last = arr(p, "block_last_doc.npy")
    first = arr(p, "multi_first_block.npy")
    b = int(first[0]) + 1  # the second block of the first term with several
    last[b] = last[b - 1]
    rewrite(p, "block_last_doc.npy", last)
    fails(p, "block_last_doc.npy", "rise")


def test_bm25_docno_order_must_be_a_permutation(copy):
    p = copy("bm25")
    order = arr(p, "docno_order.npy")
    order[1] = order[0]
    rewrite(p, "docno_order.npy", order)
    fails(p, "docno_order.npy", "permutation")


def test_bm25_stats_must_match_the_lengths(copy):
    p = copy("bm25")
    rewrite(p, "", meta_edit=lambda m: m["stats"].update(total_length=m["stats"]["total_length"] + 1))
    fails(p, "meta.json", "total_length")


def test_bm25_pruning_bounds_must_agree(copy):
    p = copy("bm25")
    tm = arr(p, "multi_max_x.npy")
    tm[0] *= 0.5
    rewrite(p, "multi_max_x.npy", tm)
    fails(p, "multi_max_x.npy", "pruning bounds")


def test_bm25_multi_terms_must_list_the_terms_of_several_blocks(copy):
    p = copy("bm25")
    multi = arr(p, "multi_terms.npy")
    multi[0] += 1 if multi[0] + 1 not in multi else -1
    rewrite(p, "multi_terms.npy", multi)
    fails(p, "multi_terms.npy", "not increasing|does not list exactly the terms of df > 128")


def test_bm25_term_postings_must_fit_the_postings(copy):
    p = copy("bm25")
    tp = arr(p, "term_postings.npy")
    tp[-1] += 1000
    rewrite(p, "term_postings.npy", tp)
    fails(p, "term_postings.npy", "beyond postings.bin")


def test_bm25_section_of_another_index_fails_verified_loads(copy, saved):
    p = copy("bm25")
    shutil.copy(saved / "bm25_other" / "docno_bytes.bin", p / "docno_bytes.bin")  # same size, intact header
    for kw in ({"mmap": False}, {"mmap": True, "verify": True}):
        with pytest.raises(IndexFormatError, match="docno_bytes.bin: checksum mismatch"):
            load(p, **kw)


def test_bad_utf8_docno_in_an_unverified_map_is_a_format_error(copy):
    p = copy("ivf_flat")
    data = arr(p, "docno_bytes.npy")
    data[0] = 0xFF
    np.save(p / "docno_bytes.npy", data)  # payload: not checked by an unverified map ...
    index = load(p, mmap=True)
    with pytest.raises(IndexFormatError, match="docno_bytes.npy: docno of document 0 is not valid UTF-8"):
        index.docnos.lookup([0])  # ... but never a UnicodeDecodeError


# -- dense ----------------------------------------------------------------------------------------
def test_ivf_offset_table_of_another_index_fails_even_unverified(copy, saved):
    p = copy("ivf_flat")
    other = saved / "ivf_flat_other" / "list_offsets.npy"
    assert other.read_bytes() != (p / "list_offsets.npy").read_bytes()
    shutil.copy(other, p / "list_offsets.npy")  # a valid table of the same size: only a checksum tells
    fails(p, "list_offsets.npy", "checksum mismatch")


def test_ivf_list_offsets_must_span_the_rows(copy):
    p = copy("ivf_flat")
    lo = arr(p, "list_offsets.npy")
    lo[-1] -= 1
    rewrite(p, "list_offsets.npy", lo)
    fails(p, "list_offsets.npy", "offsets run from 0")


def test_fastscan_packed_sizes_must_match_list_sizes(copy):
    p = copy("ivf_fastscan")
    po = arr(p, "packed_offsets.npy")
    po[1] += 64  # still rising from 0 to the packed length: one list claims another's 32-row group
    rewrite(p, "packed_offsets.npy", po)
    fails(p, "packed_offsets.npy", "packed list sizes")


def test_ids_must_be_covered_by_the_docno_table(copy):
    p = copy("pq8")
    ids = arr(p, "ids.npy")
    ids[5] = 10**12
    rewrite(p, "ids.npy", ids)
    fails(p, "ids.npy", "ids span")


def test_centroids_must_be_finite(copy):
    p = copy("ivf_flat")
    c = arr(p, "centroids.npy")
    c[2, 3] = np.nan
    rewrite(p, "centroids.npy", c)
    fails(p, "centroids.npy", "NaN")


# -- token store and CUR ------------------------------------------------------------------------------
def test_token_store_docno_offsets_must_span_the_bytes(copy):
    p = copy("tokens_pq")
    off = arr(p, "docno_offsets.npy")
    off[-1] += 3
    rewrite(p, "docno_offsets.npy", off)
    fails(p, "docno_offsets.npy", "offsets run from 0")


def test_cur_item_ids_must_be_a_permutation(copy, saved):
    p = copy("cur")
    ids = arr(p, "dense.ids.npy")
    ids[0] = ids[1]
    rewrite(p, "dense.ids.npy", ids)
    fails(p, "dense.ids.npy", "permutation", saved, "cur")


def test_cur_anchor_items_in_range(copy, saved):
    p = copy("cur")
    a = arr(p, "anchor_items.npy")
    a[0] = fx.CUR_ITEMS + 7
    rewrite(p, "anchor_items.npy", a)
    fails(p, "anchor_items.npy", "item ids span", saved, "cur")


def test_cur_nan_in_an_unverified_R_is_a_format_error(copy, saved):
    p = copy("cur")
    R = arr(p, "R.npy")
    R[:, :] = np.nan  # payload: an unverified map does not checksum it ...
    np.save(p / "R.npy", R)
    index = load(p, mmap=True, **fx.load_kwargs("cur", saved))
    with pytest.raises(IndexFormatError, match="R.npy: non-finite anchor scores"):
        index.search_adaptive(["41"], k=5, budget=40, n_rounds=3)  # ... but never a LinAlgError
