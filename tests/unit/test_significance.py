"""Paired t-test, Wilcoxon signed-rank test and Holm correction (winnow.significance).

The tests are computed by scipy.stats; these tests pin the options (hard-coded expectations
computed with scipy 1.17.1, ``ttest_rel`` and ``wilcoxon`` with ``zero_method='wilcox'``,
``method='auto'``), the input checks and the degenerate cases, and compare random cases with
scipy called directly.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats as st

from winnow.significance import holm, paired_t_test, wilcoxon_test

# 10 distinct non-zero differences: exact null distribution.
A_EXACT = [1.1, -2.3, 0.4, 5.0, 3.3, -0.9, 2.0, 4.2, -1.7, 0.6]
B_ZERO = [0.0] * 10
# 16 pairs with ties and zeros (n > 13): normal approximation with tie correction.
A_TIES = [0.5, 0.25, 1.0, 0.0, 0.75, 0.5, 1.0, 0.25, 0.0, 0.5, 0.75, 1.0, 0.5, 0.25, 0.0, 1.0]
B_TIES = [0.25, 0.25, 0.5, 0.5, 0.5, 0.0, 1.0, 0.0, 0.0, 0.25, 0.5, 0.5, 0.75, 0.5, 0.25, 0.5]
# 9 pairs with ties and zeros (n <= 13): exact sign-flip permutation distribution.
A_SMALL = [1, 0.5, 0.5, 0, 1, 0.25, 0.5, 1, 0]
B_SMALL = [0.5, 0.5, 0, 0.5, 0.5, 0.25, 0, 0.5, 0]


# ---------------------------------------------------------------- hard-coded (scipy 1.17.1)


def test_paired_t_pvalue_is_the_t_distribution_tail():
    # p = 2 * P(T_{n-1} > |t|): the p-value follows from the statistic and n alone.
    for a, b in [(A_EXACT, B_ZERO), (A_TIES, B_TIES), (A_SMALL, B_SMALL)]:
        r = paired_t_test(a, b)
        assert r.pvalue == pytest.approx(2 * st.t.sf(abs(r.statistic), len(a) - 1), rel=1e-12)


def test_paired_t_known_values():
    r = paired_t_test(A_EXACT, B_ZERO)
    assert r.statistic == pytest.approx(1.5026780953299406, rel=1e-12)
    assert r.pvalue == pytest.approx(0.16717082448946147, rel=1e-10)
    r = paired_t_test(A_TIES, B_TIES)
    assert r.statistic == pytest.approx(1.5811388300841895, rel=1e-12)
    assert r.pvalue == pytest.approx(0.13469882414340698, rel=1e-10)
    # sign follows a - b, p symmetric
    r2 = paired_t_test(B_TIES, A_TIES)
    assert r2.statistic == pytest.approx(-r.statistic) and r2.pvalue == pytest.approx(r.pvalue)


def test_paired_t_degenerate():
    assert all(math.isnan(v) for v in paired_t_test([0.3, 0.5], [0.3, 0.5]))  # all d == 0
    assert all(math.isnan(v) for v in paired_t_test([0.3], [0.1]))  # n < 2
    r = paired_t_test([0.5, 0.75], [0.25, 0.5])  # constant non-zero difference
    assert r.statistic == math.inf and r.pvalue == 0.0
    with pytest.raises(ValueError, match="same length"):
        paired_t_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        paired_t_test([1, float("nan")], [1, 2])


def test_wilcoxon_exact_known_value():
    r = wilcoxon_test(A_EXACT, B_ZERO)
    assert r.statistic == 15.0
    assert r.pvalue == pytest.approx(0.232421875, rel=1e-12)  # = 119 / 512


def test_wilcoxon_exact_extreme():
    # all 6 differences positive: p = 2 / 2**6
    r = wilcoxon_test([1, 2, 3, 4, 5, 6], [0.5, 1, 1.2, 0.9, 1.8, 2.2])
    assert r.statistic == 0.0 and r.pvalue == pytest.approx(2 / 64)


def test_wilcoxon_approx_with_ties_known_value():
    r = wilcoxon_test(A_TIES, B_TIES)
    assert r.statistic == 24.5
    assert r.pvalue == pytest.approx(0.12938485890168772, rel=1e-10)


def test_wilcoxon_small_with_ties_uses_permutation():
    r = wilcoxon_test(A_SMALL, B_SMALL)
    assert r.statistic == 3.5
    assert r.pvalue == pytest.approx(0.21875, rel=1e-12)


def test_wilcoxon_degenerate():
    assert wilcoxon_test([0.2] * 5, [0.2] * 5).pvalue == 1.0  # n <= 13: permutation, all zero
    assert math.isnan(wilcoxon_test([0.2] * 20, [0.2] * 20).pvalue)  # as scipy
    assert all(math.isnan(v) for v in wilcoxon_test([], []))
    with pytest.raises(ValueError, match="same length"):
        wilcoxon_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        wilcoxon_test([1, 2], [float("inf"), 2])


def test_degenerate_inputs_warn_nothing():
    # the nan / inf results say it; scipy's RuntimeWarnings would only be noise in a report
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paired_t_test([0.3, 0.5], [0.3, 0.5])
        paired_t_test([0.5, 0.75], [0.25, 0.5])
        wilcoxon_test([0.2] * 20, [0.2] * 20)
        wilcoxon_test([0.2] * 5, [0.2] * 5)


def test_holm_hand_computed():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.02 0.03 0.06 0.06
    out = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(out, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5]), [0.5])
    np.testing.assert_allclose(holm([0.6, 0.9]), [1.0, 1.0])
    assert holm([]).shape == (0,)
    out = holm([0.01, float("nan")])  # nan counts in the family and stays nan
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1])
    with pytest.raises(ValueError):
        holm([1.5])


# ---------------------------------------------------------------- against scipy called directly


def _cases(rng, count):
    for trial in range(count):
        n = int(rng.integers(2, 70))
        kind = trial % 4
        if kind == 0:
            a, b = rng.normal(size=n), rng.normal(size=n) + 0.3 * rng.normal()
        elif kind == 1:  # graded metrics: many ties and zeros
            a, b = rng.integers(0, 4, size=n) / 4, rng.integers(0, 4, size=n) / 4
        elif kind == 2:
            a = rng.random(n)
            b = a + rng.normal(size=n) * 0.1 * (rng.random(n) < 0.7)
        else:
            a, b = rng.random(n).round(1), rng.random(n).round(1)
        yield a, b


def _close(x, y, rel):
    if math.isnan(y):
        return math.isnan(x)
    if math.isinf(y):
        return x == y
    return abs(x - y) <= rel * max(1.0, abs(y))


def test_against_scipy_random():
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a, b in _cases(rng, 40):
            ours, ref = paired_t_test(a, b), st.ttest_rel(a, b)
            assert _close(ours.statistic, float(ref.statistic), 1e-9), (a, b)
            assert _close(ours.pvalue, float(ref.pvalue), 1e-9), (a, b)
            for corr in (False, True):
                ours, ref = wilcoxon_test(a, b, correction=corr), st.wilcoxon(
                    a, b, zero_method="wilcox", correction=corr, method="auto")
                assert _close(ours.statistic, float(ref.statistic), 1e-12), (a, b)
                assert _close(ours.pvalue, float(ref.pvalue), 1e-10), (a, b, corr)

