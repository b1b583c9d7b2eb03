"""The postings block codec (csrc/core/sparse/block_codec.hpp): the AVX2 decoder of whole
8-posting groups must give exactly what the scalar decoder gives, at every bit width, block
length and previous doc, and refuse the same malformed blocks."""
from __future__ import annotations

import numpy as np
import pytest

from winnow import _core


def _block(rng, n: int, doc_bits: int, tf_bits: int, previous: int):
    """Docs after `previous` whose largest gap needs doc_bits bits, tfs whose largest (tf - 1)
    needs tf_bits bits (when the docs still fit in 32 bits)."""
    top_gap = (1 << doc_bits) - 1 if doc_bits else 0
    gaps = rng.integers(0, top_gap + 1, n, dtype=np.int64)
    gaps[rng.integers(n)] = top_gap
    docs = previous + np.cumsum(gaps + 1)
    tfs = rng.integers(1, (1 << tf_bits) + 1, n, dtype=np.int64) if tf_bits else np.ones(n, np.int64)
    tfs[rng.integers(n)] = 1 << tf_bits
    return docs, tfs


@pytest.mark.parametrize("doc_bits", list(range(0, 33)))
def test_simd_decode_equals_scalar_decode_and_the_input(doc_bits):
    rng = np.random.default_rng(doc_bits)
    for n in (1, 7, 8, 9, 16, 63, 64, 120, 127, 128):
        for tf_bits in (0, 1, 2, 5, 8, 13, 25, 26, 31, 32):
            for previous in (-1, 0, 1_000_003):
                docs, tfs = _block(rng, n, doc_bits, tf_bits, previous)
                if docs[-1] >= 2**32 - 1 or tfs.max() >= 2**32:
                    continue
                data = _core.encode_postings_block(docs.astype(np.uint32), tfs.astype(np.uint32), previous)
                assert data[0] == doc_bits and data[1] == tf_bits
                fast = _core.decode_postings_block(data, n, previous)
                slow = _core.decode_postings_block(data, n, previous, scalar=True)
                assert fast[0] == slow[0] == docs[-1], (n, doc_bits, tf_bits, previous)
                assert np.array_equal(fast[1], docs) and np.array_equal(slow[1], docs)
                assert np.array_equal(fast[2], tfs) and np.array_equal(slow[2], tfs)


def test_simd_decode_near_the_top_of_the_doc_id_range():
    """Where the 32-bit sums could wrap the decoder takes the 64-bit path: the returned last
    doc then exceeds 2^32 - 1 and a caller's table check refuses the block."""
    gaps = np.full(128, (1 << 24) - 1, np.uint32)
    data = np.concatenate([[24, 0], np.zeros(128 * 3, np.uint8), np.zeros(8, np.uint8)]).astype(np.uint8)
    data[2:2 + 128 * 3] = np.frombuffer(b"".join(int(g).to_bytes(3, "little") for g in gaps), np.uint8)
    previous = 2**32 - 2**30
    fast = _core.decode_postings_block(data, 128, previous)
    slow = _core.decode_postings_block(data, 128, previous, scalar=True)
    assert fast[0] == slow[0] == previous + 128 * (1 << 24) > 2**32
    assert np.array_equal(fast[1], slow[1])


def test_malformed_blocks_are_refused_by_both_decoders():
    docs, tfs = np.arange(1, 129, dtype=np.uint32) * 3, np.full(128, 2, np.uint32)
    data = _core.encode_postings_block(docs, tfs, -1)
    for scalar in (False, True):
        assert _core.decode_postings_block(data[:-9], 128, -1, scalar=scalar)[0] == -2  # truncated
        bad = data.copy()
        bad[0] = 33  # a width above 32 bits
        assert _core.decode_postings_block(bad, 128, -1, scalar=scalar)[0] == -2
        assert _core.decode_postings_block(data, 128, -1, scalar=scalar)[0] == 384
