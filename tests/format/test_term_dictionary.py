"""The front-coded term dictionary of BM25 / impact format 2 (csrc/core/sparse/term_dictionary.hpp):
every term found at its id and nothing else found, across block boundaries, long (multi-byte
varint) and non-ASCII terms; a damaged dictionary raises IndexFormatError at load."""
from __future__ import annotations

import numpy as np
import pytest

from winnow import _core
from winnow.errors import IndexFormatError
from winnow.index import BM25Index
from winnow.index import format as fmt


def vocabulary(n: int, seed: int = 0) -> list[str]:
    """Terms with long shared prefixes, a few long ones (> 127 bytes: two-byte varints), non-ASCII."""
    rng = np.random.default_rng(seed)
    stems = ["a", "ab", "abc", "abcd", "x" * 130, "zeta", "\u00e9t\u00e9", "\u6f22\u5b57", "b"]
    out = set()
    while len(out) < n:
        s = stems[int(rng.integers(len(stems)))] + "".join(rng.choice(list("abcz\u00e9"), int(rng.integers(0, 4))))
        out.add(s)
    return sorted(out, key=lambda t: t.encode())


def build(terms: list[str]) -> BM25Index:
    # each document holds 3 consecutive terms; pretokenized, so the terms are exactly these
    docs = [(f"d{i}", terms[i:i + 3]) for i in range(len(terms))]
    return BM25Index.build(docs, pretokenized=True, progress=False)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 500])
def test_every_term_found_at_its_id_and_nothing_else(n):
    terms = vocabulary(n, seed=n)
    index = build(terms)
    assert index.terms() == terms  # id order = UTF-8 byte order
    for t, term in enumerate(terms):
        assert index.term_id(term) == t
        for other in (term + "\x00", term[:-1] + "\x7f", "\x00" + term, term + "zzz"):
            if other not in terms:
                assert index.term_id(other) == -1
    assert index.term_id("") == -1 and index.term_id("\U0010ffff") == -1


def test_front_coding_round_trips_and_is_smaller():
    terms = [t.encode() for t in vocabulary(300, seed=3)]
    data = np.frombuffer(b"".join(terms), np.uint8)
    offsets = np.cumsum([0] + [len(t) for t in terms]).astype(np.uint64)
    coded, blocks = _core.front_code_terms(data, offsets)
    assert len(blocks) == -(-len(terms) // 16) + 1 and blocks[0] == 0 and blocks[-1] == len(coded)
    assert len(coded) < len(data)
    # decode in Python: the layout of term_dictionary.hpp
    def varint(buf, pos):
        v, shift = 0, 0
        while True:
            b = buf[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v, pos
    buf, decoded = bytes(coded), []
    for j in range(len(blocks) - 1):
        pos, prev = int(blocks[j]), b""
        for i in range(min(16, len(terms) - 16 * j)):
            shared = 0
            if i:
                shared, pos = varint(buf, pos)
            n, pos = varint(buf, pos)
            prev = prev[:shared] + buf[pos:pos + n]
            pos += n
            decoded.append(prev)
        assert pos == blocks[j + 1]
    assert decoded == terms


def test_front_coding_refuses_unsorted_terms():
    data = np.frombuffer(b"bba", np.uint8)
    with pytest.raises(ValueError, match="not sorted"):
        _core.front_code_terms(data, np.array([0, 2, 3], np.uint64))


def test_saved_front_coded_dictionary_loads_mapped_and_read(tmp_path):
    terms = vocabulary(200, seed=7)
    index = build(terms)
    index.save(tmp_path / "idx")
    assert (tmp_path / "idx" / "term_dict.bin").exists() and not (tmp_path / "idx" / "term_bytes.bin").exists()
    for mmap in (False, True):
        loaded = BM25Index.load(tmp_path / "idx", mmap=mmap)
        assert loaded.terms() == terms
        assert [loaded.term_id(t) for t in terms[::7]] == list(range(0, len(terms), 7))
        q = {"q": terms[5:8]}
        same = loaded.search_terms(q, k=5)
        ref = index.search_terms(q, k=5)
        assert np.array_equal(same.ids, ref.ids) and np.array_equal(same.scores, ref.scores)


def _damage(path, pos: int, value: int):
    """Set one byte of term_dict.bin's payload (after its 64-byte section header)."""
    p = path / "term_dict.bin"
    raw = bytearray(p.read_bytes())
    raw[64 + pos] = value
    p.write_bytes(bytes(raw))


@pytest.mark.parametrize("pos,value,match", [
    (0, 0x7F, "does not decode within its block"),       # first term's length runs past its block
    (0, 0x80, "does not decode|does not end"),           # an unterminated varint
    (1, 0xFF, "not sorted"),  # the first term's first byte (and its block's shared prefixes) -> 0xFF
])
def test_damaged_dictionary_raises_at_load(tmp_path, pos, value, match):
    index = build(vocabulary(100, seed=1))
    index.save(tmp_path / "idx")
    _damage(tmp_path / "idx", pos, value)
    # a mapped load checksums only the structure files: the dictionary's own checks must catch it
    with pytest.raises(IndexFormatError, match=match):
        BM25Index.load(tmp_path / "idx", mmap=True)
    with pytest.raises(IndexFormatError, match="checksum"):
        BM25Index.load(tmp_path / "idx")


def test_block_offsets_must_match_the_term_count(tmp_path):
    index = build(vocabulary(100, seed=2))
    path = tmp_path / "idx"
    index.save(path)
    p = path / "term_block_offsets.npy"
    np.save(p, np.load(p)[:-1])
    meta = fmt.inspect(path)
    meta["files"][p.name] = p.stat().st_size
    meta["checksums"].pop(p.name, None)
    fmt.write_meta(path, meta)
    with pytest.raises(IndexFormatError, match="term_block_offsets.npy"):
        BM25Index.load(path, mmap=True)
