"""BM25 formats 2 and 3 (index/bm25_layout.py): integer tables at the narrowest width that
holds them, read by the core at every width; front-coded terms; no cf.npy; block tables for
multi-block terms only (format 3). Format 1 indexes (u64 offsets, plain terms, cf.npy) and
format 2 indexes (block tables for every term) still load: tests/data/format2 holds indexes
that winnow's format 2 writer saved (git e5cd0fe) from this file's corpora."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from winnow.errors import IndexFormatError
from winnow.index import BM25Index, ImpactIndex, bm25_layout
from winnow.index import format as fmt

CORPUS = [(f"d{i}", " ".join(f"w{(i * 7 + j * j) % 40}" for j in range(3 + i % 11)) + (" common" * (1 + i % 3)))
          for i in range(400)] + [("empty", "")]
QUERIES = {"q1": "w1 w2 common", "q2": "w5", "q3": "w17 w33 w8", "q4": "nothing"}
IMPACT_DOCS = [(f"d{i}", {f"t{j}": float(1 + (i * j) % 7) for j in range(i % 9 + 1)}) for i in range(300)]
IMPACT_QUERIES = {"a": {"t1": 1.0, "t3": 0.5}, "b": {"t8": 2.0}}
FORMAT2 = Path(__file__).parents[1] / "data" / "format2"


@pytest.fixture(scope="module")
def built():
    return BM25Index.build(CORPUS, progress=False)


def same(a, b):
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.scores, b.scores)


def test_compact_picks_the_narrowest_width_that_holds_the_largest_value():
    def arrays(df_max, doc_len_max, offset_end):
        a = {name: np.zeros(3, np.uint64) for name in bm25_layout.NPY}
        a["df"] = np.array([1, df_max], np.uint32)
        a["doc_len"] = np.array([0, doc_len_max], np.uint32)
        for name in ("term_block_offsets", "term_postings", "multi_first_block", "block_offset", "docno_offsets"):
            a[name] = np.array([0, offset_end], np.uint64)
        a["cf"] = np.ones(2, np.uint64)
        a["term_dict"] = np.zeros(0, np.uint8)  # already front-coded
        a["docno_bytes"] = np.frombuffer(b"x", np.uint8)  # not a range of numbers
        return a

    small = bm25_layout.compact(arrays(255, 255, 2**32 - 1))
    assert "cf" not in small
    assert small["df"].dtype == np.uint8 and small["doc_len"].dtype == np.uint8
    assert all(small[n].dtype == np.uint32 for n in ("term_block_offsets", "term_postings", "multi_first_block",
                                                      "block_offset", "docno_offsets"))
    assert small["df"].tolist() == [1, 255] and small["block_offset"].tolist() == [0, 2**32 - 1]
    mid = bm25_layout.compact(arrays(256, 65535, 2**32))
    assert mid["df"].dtype == np.uint16 and mid["doc_len"].dtype == np.uint16
    assert mid["block_offset"].dtype == np.uint64 and mid["block_offset"].tolist() == [0, 2**32]
    big = bm25_layout.compact(arrays(65536, 2**32 - 1, 5))
    assert big["df"].dtype == np.uint32 and big["doc_len"].dtype == np.uint32


def test_built_index_holds_and_saves_narrow_tables(built, tmp_path):
    widths = {name: built.arrays[name].dtype for name in bm25_layout.NPY}
    assert widths["df"] == np.uint16  # "common" is in all 400 documents: df 400 > 255
    assert widths["doc_len"] == np.uint8
    assert widths["term_block_offsets"] == widths["block_offset"] == widths["docno_offsets"] == np.uint32
    assert not {"cf", "term_bytes", "term_offsets"} & set(built.arrays)
    built.save(tmp_path / "idx")
    assert not (tmp_path / "idx" / "cf.npy").exists()
    for mmap in (False, True):
        loaded = BM25Index.load(tmp_path / "idx", mmap=mmap)
        assert {n: loaded.arrays[n].dtype for n in bm25_layout.NPY} == widths
        same(loaded.search(QUERIES, k=20), built.search(QUERIES, k=20))


def test_cf_is_the_sum_of_the_term_frequencies(built):
    counts = Counter(t for _, text in CORPUS for t in built.analyze(text))
    for term in ("common", "w1", "w17", "w39"):
        assert built.cf(term) == counts[term] > 0
        assert built.df(term) == sum(1 for _, text in CORPUS if term in built.analyze(text))
    assert built.cf("absent") == 0


@pytest.mark.parametrize("name,dtypes", [
    ("df", (np.uint8, np.uint16, np.uint32)), ("doc_len", (np.uint8, np.uint16, np.uint32)),
    ("term_block_offsets", (np.uint32, np.uint64)), ("term_postings", (np.uint32, np.uint64)),
    ("multi_first_block", (np.uint32, np.uint64)), ("block_offset", (np.uint32, np.uint64)),
    ("docno_offsets", (np.uint32, np.uint64))])
def test_core_reads_every_width(built, name, dtypes):
    """Results, postings and term lookups are the same at every width the core accepts that
    holds the values (df 400 needs 16 bits; df in 8 bits: test_term_dictionary's indexes)."""
    exhaustive = {s: built.with_params(scoring=s).search(QUERIES, k=50, algorithm="exhaustive")
                  for s in ("lucene", "accurate")}
    for dt in dtypes:
        if int(built.arrays[name].max()) > np.iinfo(dt).max:
            continue
        arrays = dict(built.arrays)
        arrays[name] = built.arrays[name].astype(dt)
        for scoring in ("lucene", "accurate"):  # accurate reads doc_len
            idx = BM25Index(arrays, built._stats, built.params).with_params(scoring=scoring)
            for algorithm in ("maxscore", "windowed", "exhaustive"):
                same(idx.search(QUERIES, k=50, algorithm=algorithm), exhaustive[scoring])
        idx = BM25Index(arrays, built._stats, built.params)
        assert [idx.term_id(t) for t in ("common", "w3", "zzz")] == [built.term_id(t) for t in ("common", "w3", "zzz")]
        for got, want in zip(idx.postings("common"), built.postings("common")):
            assert np.array_equal(got, want)


@pytest.mark.parametrize("name,dtype", [("df", np.uint64), ("block_offset", np.uint16), ("doc_len", np.int32),
                                        ("term_block_offsets", np.float64)])
def test_core_refuses_other_dtypes(built, name, dtype):
    arrays = dict(built.arrays)
    arrays[name] = built.arrays[name].astype(dtype)
    with pytest.raises(ValueError, match=f"'{name}' has dtype"):
        BM25Index(arrays, built._stats, built.params)


def test_load_refuses_a_table_at_an_unaccepted_width(built, tmp_path):
    path = tmp_path / "idx"
    built.save(path)
    p = path / "block_offset.npy"
    np.save(p, np.load(p).astype(np.uint16))
    meta = fmt.inspect(path)
    meta["files"][p.name] = p.stat().st_size
    fmt.write_meta(path, meta)
    for mmap in (False, True):
        with pytest.raises(IndexFormatError, match="block_offset.npy.*expected 1-D uint32 or uint64"):
            BM25Index.load(path, mmap=mmap, verify=False)


# -- formats 1 and 2 -----------------------------------------------------------------------------
_FORMAT1_NPY = {
    "term_offsets": np.uint64, "df": np.uint32, "cf": np.uint64, "first_block": np.uint64,
    "block_last_doc": np.uint32, "block_offset": np.uint64, "block_max_x": np.float32,
    "term_max_x": np.float32, "norms": np.uint8, "doc_len": np.uint32, "docno_offsets": np.uint64,
    "docno_order": np.uint32,
}


def save_format1(index, format2_dir, path, fmt_name="winnow.bm25"):
    """Save the format 2 index at ``format2_dir`` (the same documents as ``index``) the way
    winnow wrote format 1.0 (the writer before format 2, verbatim but for cf, recomputed from
    the postings)."""
    from winnow import _core

    arrays = {name: np.load(format2_dir / f"{name}.npy") for name in bm25_layout.NPY_V2}
    for name, tag in bm25_layout.SECTIONS.items():
        arrays[name] = _core.read_section(str(format2_dir / f"{name}.bin"), tag, 1, False, True)[1]
    terms = [t.encode() for t in index.terms()]
    cf = np.array([index.cf(t.decode()) if fmt_name == "winnow.bm25" else 1 for t in terms], np.uint64)
    arrays.update(cf=cf, term_bytes=np.frombuffer(b"".join(terms), np.uint8),
                  term_offsets=np.cumsum([0] + [len(t) for t in terms]).astype(np.uint64))

    def write(tmp):
        for name, dtype in _FORMAT1_NPY.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arrays[name], dtype=dtype))
        for name, tag in bm25_layout.SECTIONS_V1.items():
            payload = np.ascontiguousarray(arrays[name], dtype=np.uint8)
            _core.write_section(str(tmp / f"{name}.bin"), tag, payload, 1, 0, len(payload), 0)

    meta = {"format": fmt_name, "format_version": [1, 0], "params": index.params,
            "stats": {k: int(v) for k, v in index._stats.items()}, "n_terms": index.n_terms,
            "n_blocks": int(len(arrays["block_last_doc"]))}
    fmt.save_directory(path, write, meta)


def test_format2_fixture_has_single_and_multi_block_terms():
    df = np.load(FORMAT2 / "bm25" / "df.npy")
    assert fmt.inspect(FORMAT2 / "bm25")["format_version"] == [2, 0]
    assert (df <= 128).any() and (df > 128).any()


def test_format1_index_still_loads(built, tmp_path):
    old = tmp_path / "v1"
    save_format1(built, FORMAT2 / "bm25", old)
    assert np.load(old / "block_offset.npy").dtype == np.uint64 and (old / "cf.npy").exists()
    ref = built.search(QUERIES, k=30)
    for mmap in (False, True):
        loaded = BM25Index.load(old, mmap=mmap)
        same(loaded.search(QUERIES, k=30), ref)
        same(loaded.search(QUERIES, k=30, algorithm="exhaustive"), ref)
        assert loaded.cf("common") == built.cf("common")
    # saved again, it is format 3 (narrow, no cf.npy, block tables for multi-block terms only)
    BM25Index.load(old, mmap=True).save(tmp_path / "v3")
    assert fmt.inspect(tmp_path / "v3")["format_version"] == [3, 0]
    assert np.load(tmp_path / "v3" / "block_offset.npy").dtype == np.uint32
    assert not (tmp_path / "v3" / "cf.npy").exists() and not (tmp_path / "v3" / "first_block.npy").exists()
    same(BM25Index.load(tmp_path / "v3", mmap=True).search(QUERIES, k=30), ref)


def test_format2_index_still_loads_and_converts_to_the_built_layout(built, tmp_path):
    ref = {alg: built.search(QUERIES, k=30, algorithm=alg) for alg in ("maxscore", "windowed", "exhaustive")}
    for mmap in (False, True):
        loaded = BM25Index.load(FORMAT2 / "bm25", mmap=mmap)
        for alg, want in ref.items():
            same(loaded.search(QUERIES, k=30, algorithm=alg), want)
        # the conversion gives exactly the tables the format 3 builder writes
        for name in ("term_postings", "multi_terms", "multi_first_block", "multi_max_x", "block_last_doc",
                     "block_offset", "block_max_x"):
            assert np.array_equal(loaded.arrays[name], built.arrays[name]), name
        other = loaded.with_params(k1=1.2, b=0.75)
        same(other.search(QUERIES, k=30), built.with_params(k1=1.2, b=0.75).search(QUERIES, k=30, algorithm="exhaustive"))
    BM25Index.load(FORMAT2 / "bm25").save(tmp_path / "v3")
    assert fmt.inspect(tmp_path / "v3")["format_version"] == [3, 0]
    same(BM25Index.load(tmp_path / "v3", mmap=True).search(QUERIES, k=30), ref["exhaustive"])


def test_damaged_format2_block_tables_are_refused(tmp_path):
    import shutil

    old = tmp_path / "v2"
    shutil.copytree(FORMAT2 / "bm25", old)
    p = old / "first_block.npy"
    first = np.load(p)
    first[3] += 1
    np.save(p, first)
    meta = fmt.inspect(old)
    meta["checksums"].pop(p.name)
    fmt.write_meta(old, meta)
    for mmap in (False, True):
        with pytest.raises(IndexFormatError, match="first_block.npy: block counts do not match"):
            BM25Index.load(old, mmap=mmap, verify=False)


def test_format1_and_format2_impact_indexes_still_load(tmp_path):
    index = ImpactIndex.build(IMPACT_DOCS, progress=False)
    assert index.arrays["block_offset"].dtype == np.uint32 and "cf" not in index.arrays
    save_format1(index, FORMAT2 / "impact", tmp_path / "v1", "winnow.impact")
    ref = index.search(IMPACT_QUERIES, k=20)
    for path in (tmp_path / "v1", FORMAT2 / "impact"):
        for mmap in (False, True):
            loaded = ImpactIndex.load(path, mmap=mmap)
            same(loaded.search(IMPACT_QUERIES, k=20), ref)
            assert loaded.stats()["max_impact"] == index.stats()["max_impact"] == 255
