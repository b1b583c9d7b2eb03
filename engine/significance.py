"""Paired significance tests for per-query IR measures, computed by ``scipy.stats``.

* :func:`paired_t_test`: two-sided paired Student t test (``scipy.stats.ttest_rel``).
* :func:`wilcoxon_test`: two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon`` with
  ``zero_method='wilcox'``, ``method='auto'``).
* :func:`holm`: Holm(-Bonferroni) step-down adjustment of a family of p-values.

The wrappers add input checks (1-d, same length, finite) and pin the options, so results do
not move when scipy's defaults change; scipy's warnings on degenerate inputs (all differences
zero, constant differences) are silenced because the returned ``nan`` / ``inf`` already say it.
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple, Sequence

import numpy as np
import scipy.stats

__all__ = ["TestResult", "paired_t_test", "wilcoxon_test", "holm"]


class TestResult(NamedTuple):
    """Statistic and two-sided p-value of a test (``nan`` where the test is undefined)."""

    statistic: float
    pvalue: float

    __test__ = False  # not a pytest test class


def _paired(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"a and b must be 1-d, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("a and b must be finite (no nan or inf)")
    return x, y


def _quiet(test, *args, **kwargs) -> TestResult:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)  # scipy's SmallSampleWarning subclasses it
        r = test(*args, **kwargs)
    return TestResult(float(r.statistic), float(r.pvalue))


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> TestResult:
    """Two-sided paired t test of mean(a - b) == 0 (``scipy.stats.ttest_rel(a, b)``).

    Parameters
    ----------
    a, b : sequence of float, shape (n,)
        Paired observations (e.g. per-query values of a metric for two runs, same query order).

    Returns
    -------
    TestResult
        ``statistic`` t (positive when a > b on average), ``pvalue`` two-sided.
        n < 2 or all differences equal to zero gives ``nan``; identical non-zero differences
        give t = +-inf, p = 0.
    """
    x, y = _paired(a, b)
    if x.shape[0] < 2:
        return TestResult(math.nan, math.nan)
    return _quiet(scipy.stats.ttest_rel, x, y, alternative="two-sided")


def wilcoxon_test(a: Sequence[float], b: Sequence[float], correction: bool = False) -> TestResult:
    """Two-sided Wilcoxon signed-rank test on the differences a - b.

    ``scipy.stats.wilcoxon(a - b, zero_method='wilcox', correction=correction, method='auto')``
    (scipy >= 1.15):

    * zero differences are dropped; the rest are ranked by absolute value (ties get average ranks);
    * with n <= 50 pairs (n counted *before* dropping zeros) and neither ties nor zeros: the exact
      null distribution of the signed-rank sum;
    * with ties or zeros and n <= 13: the exact sign-flip permutation distribution;
    * otherwise: the normal approximation with the tie-corrected variance, and the continuity
      correction only when ``correction=True``.

    Returns
    -------
    TestResult
        ``statistic`` min(r_plus, r_minus), ``pvalue`` two-sided. An empty input, or all
        differences zero with n > 13, gives ``nan``; all zero with n <= 13 gives p = 1.
    """
    x, y = _paired(a, b)
    if x.shape[0] == 0:
        return TestResult(math.nan, math.nan)
    # The differences are passed, not (a, b): scipy ranks exactly these float64 values.
    return _quiet(scipy.stats.wilcoxon, x - y, zero_method="wilcox", correction=bool(correction),
                  alternative="two-sided", method="auto")


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm(-Bonferroni) step-down adjusted p-values, in the input order.

    The i-th smallest p-value (1-based) becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``;
    reject H_i at level alpha when its adjusted p-value is <= alpha. ``nan`` entries are
    treated as 1 (no evidence) and stay ``nan`` in the output; the family size m counts them.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be 1-d, got shape {p.shape}")
    m = p.shape[0]
    if m == 0:
        return p.copy()
    nan = np.isnan(p)
    filled = np.where(nan, 1.0, p)
    if np.any((filled < 0) | (filled > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(filled, kind="mergesort")
    scaled = np.minimum(1.0, (m - np.arange(m)) * filled[order])
    adj_sorted = np.maximum.accumulate(scaled)
    out = np.empty(m, dtype=np.float64)
    out[order] = adj_sorted
    out[nan] = np.nan
    return out
