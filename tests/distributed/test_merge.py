"""merge_topk against a plain sort of all candidates (score descending, then tie key, padding
last), on random shard lists full of ties, -0.0 / 0.0, -inf scores and padding; and the
fallback for tie keys beyond 32 bits."""
from __future__ import annotations

import numpy as np
import pytest

from winnow.distributed.merge import merge_topk

VALUES = np.float32([1.5, 2.0, -0.0, 0.0, -np.inf, 3.25, -1.0])


def _random_case(rng, big_keys: bool):
    nq, k = int(rng.integers(1, 5)), int(rng.integers(1, 30))
    parts, keys, offsets, off = [], [], [], 0
    for _ in range(int(rng.integers(1, 6))):
        n = int(rng.integers(0, 20))
        width = min(k, n)
        ids = np.tile(np.arange(width), (nq, 1)).astype(np.int64)
        if width:
            ids[:, -1] = np.where(rng.random(nq) < 0.3, -1, ids[:, -1])
        scores = rng.choice(VALUES, (nq, width)).astype(np.float32)
        scores[ids < 0] = -np.inf
        top = 2**40 if big_keys else 1000
        keys.append(np.where(ids >= 0, rng.integers(0, top, (nq, width)), 0))
        parts.append((scores, ids))
        offsets.append(off)
        off += n
    return parts, offsets, keys, k


def _reference(parts, offsets, keys, k):
    """(scores, tie keys) of the expected order: a full sort, no partition, no packing."""
    rows = []
    nq = parts[0][0].shape[0]
    for q in range(nq):
        cands = [(float(sc[q, j]) + 0.0, int(key[q, j])) for (sc, ids), key in zip(parts, keys)
                 for j in range(ids.shape[1]) if ids[q, j] >= 0]
        cands.sort(key=lambda c: (-c[0], c[1]))
        rows.append(cands[:k])
    return rows


@pytest.mark.parametrize("big_keys", [False, True])
def test_merge_equals_a_full_sort(big_keys):
    rng = np.random.default_rng(7)
    for _ in range(300):
        parts, offsets, keys, k = _random_case(rng, big_keys)
        if sum(p[0].shape[1] for p in parts) == 0:
            continue
        scores, gids = merge_topk(parts, offsets, k, keys)
        key_of = {}
        for (_, ids), key, off in zip(parts, keys, offsets):
            for q in range(ids.shape[0]):
                for j in range(ids.shape[1]):
                    if ids[q, j] >= 0:
                        key_of[q, int(ids[q, j]) + off] = int(key[q, j])
        for q, want in enumerate(_reference(parts, offsets, keys, k)):
            real = gids[q] >= 0
            got = [(float(s) + 0.0, key_of[q, int(g)]) for s, g in zip(scores[q][real], gids[q][real])]
            assert got == want
            assert (scores[q][~real] == -np.inf).all() and real[:len(want)].all()


def test_default_tie_key_is_the_global_id():
    a = (np.float32([[2.0, 1.0]]), np.int64([[1, 0]]))
    b = (np.float32([[2.0, 2.0]]), np.int64([[0, 4]]))
    scores, ids = merge_topk([a, b], [0, 10], 3)
    assert ids.tolist() == [[1, 10, 14]] and scores.tolist() == [[2.0, 2.0, 2.0]]


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="shard 1"):
        merge_topk([(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.int64)),
                    (np.zeros((1, 3), np.float32), np.zeros((1, 3), np.int64))], [0, 5], 3)
