"""The fan-out simulator's model against closed forms (its numbers go into the 1B plan)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from fanout_sim import simulate  # noqa: E402


def test_constant_shards_add_merge_and_call_cost():
    lat = simulate(np.full(10, 3.0), 64, 100, merge_us_per_shard=5.0, call_ms=1.5, rng=np.random.default_rng(0))
    np.testing.assert_allclose(lat, 3.0 + 64 * 5.0 / 1000 + 1.5)


def test_max_of_shards_follows_the_order_statistic():
    """Two-point latencies (1 ms w.p. 0.9, 10 ms w.p. 0.1): P(max of S < 10) = 0.9^S."""
    samples = np.array([1.0] * 9 + [10.0])
    for s in (1, 8, 32):
        lat = simulate(samples, s, 20000, 0.0, 0.0, np.random.default_rng(s))
        assert abs(np.mean(lat < 5) - 0.9 ** s) < 0.015, s
