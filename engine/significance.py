"""Paired significance tests for per-query IR measures, in numpy + ``math`` only (no scipy).

* :func:`paired_t_test`: two-sided paired Student t test, as ``scipy.stats.ttest_rel``.
* :func:`wilcoxon_test`: two-sided Wilcoxon signed-rank test, as ``scipy.stats.wilcoxon`` with
  its defaults (``zero_method='wilcox'``, ``correction=False``, ``method='auto'``).
* :func:`holm`: Holm(-Bonferroni) step-down adjustment of a family of p-values.

The Student t distribution is computed through the regularized incomplete beta function,
evaluated with its continued fraction (modified Lentz), so no scipy is needed at run time;
the tests compare against scipy where it is installed.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

__all__ = [
    "TestResult",
    "paired_t_test",
    "wilcoxon_test",
    "holm",
    "student_t_sf",
    "regularized_incomplete_beta",
]


class TestResult(NamedTuple):
    """Statistic and two-sided p-value of a test (``nan`` where the test is undefined)."""

    statistic: float
    pvalue: float

    __test__ = False  # not a pytest test class


# --------------------------------------------------------------------------- special functions


def _lentz_step(aa: float, c: float, d: float, tiny: float) -> tuple[float, float, float]:
    """One modified-Lentz update of a continued fraction term ``aa``: returns (c, d, c * d)."""
    d = 1.0 + aa * d
    if abs(d) < tiny:
        d = tiny
    c = 1.0 + aa / c
    if abs(c) < tiny:
        c = tiny
    d = 1.0 / d
    return c, d, c * d


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method).

    Numerical Recipes (3rd ed.) section 6.4, ``betacf``; converges fast for x < (a+1)/(a+b+2).
    """
    tiny = 1e-300
    eps = 1e-16
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < tiny:
        d = tiny
    d = 1.0 / d
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        c, d, even = _lentz_step(m * (b - m) * x / ((qam + m2) * (a + m2)), c, d, tiny)
        h *= even
        c, d, delta = _lentz_step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), c, d, tiny)
        h *= delta
        if abs(delta - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def regularized_incomplete_beta(a: float, b: float, x: float, y: float | None = None) -> float:
    """I_x(a, b), the regularized incomplete beta function, for a, b > 0 and 0 <= x <= 1.

    ``y`` may pass ``1 - x`` computed without cancellation (e.g. ``t**2 / (df + t**2)``), which
    keeps full relative precision when x is within rounding of 1.
    """
    if not (a > 0 and b > 0):
        raise ValueError(f"a and b must be > 0, got a={a}, b={b}")
    if math.isnan(x):
        return math.nan
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if y is None:
        y = 1.0 - x
    if x == 0.0 or y == 1.0:
        return 0.0
    if y == 0.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    front = math.exp(log_front)
    # Use the continued fraction where it converges fast, the symmetry relation elsewhere.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, y) / b


def student_t_sf(t: float, df: float) -> float:
    """Survival function P(T > t) of Student's t distribution with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    # P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2)
    t2 = t * t
    tail = 0.5 * regularized_incomplete_beta(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2))
    return tail if t > 0 else 1.0 - tail


def _normal_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


# --------------------------------------------------------------------------- tests


def _paired(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"a and b must be 1-d, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("a and b must be finite (no nan or inf)")
    return x - y


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> TestResult:
    """Two-sided paired t test of mean(a - b) == 0, as ``scipy.stats.ttest_rel(a, b)``.

    Parameters
    ----------
    a, b : sequence of float, shape (n,)
        Paired observations (e.g. per-query values of a metric for two runs, same query order).

    Returns
    -------
    TestResult
        ``statistic`` t (positive when a > b on average), ``pvalue`` two-sided. As scipy:
        n < 2 or all differences equal to zero gives ``nan``; identical non-zero differences
        give t = +-inf, p = 0.
    """
    d = _paired(a, b)
    n = d.shape[0]
    if n < 2:
        return TestResult(math.nan, math.nan)
    mean = float(np.mean(d))
    var = float(np.var(d, ddof=1))
    denom = math.sqrt(var / n)
    if denom == 0.0:
        if mean == 0.0:
            return TestResult(math.nan, math.nan)
        return TestResult(math.copysign(math.inf, mean), 0.0)
    t = mean / denom
    df = n - 1
    p = 2.0 * student_t_sf(abs(t), df)
    return TestResult(t, min(1.0, p))


def _rank_average(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (1-based) of x and the sizes of its tie groups."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = xs.shape[0]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], n]
    ranks_sorted = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = ranks_sorted
    return ranks, (ends - starts).astype(np.float64)


def _wilcoxon_null(n: int) -> np.ndarray:
    """Exact null pmf of r_plus for n untied, non-zero differences (values 0 .. n(n+1)/2)."""
    c = np.ones(1, dtype=np.float64)
    for k in range(1, n + 1):
        prev = c
        c = np.zeros(k * (k + 1) // 2 + 1, dtype=np.float64)
        m = prev.shape[0]
        c[:m] = prev * 0.5
        c[-m:] += prev * 0.5
    return c


def wilcoxon_test(a: Sequence[float], b: Sequence[float], correction: bool = False) -> TestResult:
    """Two-sided Wilcoxon signed-rank test on the differences a - b.

    Follows ``scipy.stats.wilcoxon(a, b)`` with its defaults (``zero_method='wilcox'``,
    ``correction=False``, ``method='auto'``):

    * zero differences are dropped; the rest are ranked by absolute value (ties get average ranks);
    * with n <= 50 pairs (n counted *before* dropping zeros) and neither ties nor zeros: the exact
      null distribution of the signed-rank sum;
    * with ties or zeros and n <= 13: the exact sign-flip permutation distribution of r_plus
      (scipy's deterministic ``PermutationMethod`` at this size);
    * otherwise: the normal approximation with the tie-corrected variance, and the continuity
      correction only when ``correction=True``.

    Returns
    -------
    TestResult
        ``statistic`` min(r_plus, r_minus) as scipy reports it, ``pvalue`` two-sided. An empty
        input, or all differences zero with n > 13, gives ``nan`` (as scipy).
    """
    d_all = _paired(a, b)
    n_all = d_all.shape[0]
    if n_all == 0:
        return TestResult(math.nan, math.nan)
    n_zero = int(np.count_nonzero(d_all == 0))
    d = d_all[d_all != 0]
    count = d.shape[0]
    ranks, ties = _rank_average(np.abs(d))
    r_plus = float(np.sum(ranks[d > 0]))
    r_minus = float(np.sum(ranks[d < 0]))
    statistic = min(r_plus, r_minus)
    has_ties = bool(np.any(ties > 1))

    if n_all <= 50 and not (has_ties or n_zero > 0):
        pmf = _wilcoxon_null(count)
        k_hi = int(math.floor(r_plus))
        k_lo = int(math.ceil(r_plus))
        sf = float(np.sum(pmf[k_hi:]))
        cdf = float(np.sum(pmf[: k_lo + 1]))
        p = min(1.0, 2.0 * min(sf, cdf))
        return TestResult(statistic, p)

    if n_all <= 13:
        # Exact permutation distribution over all 2**count sign flips of the non-zero
        # differences (flipping a zero changes nothing, so it only scales the counts).
        if count == 0:
            return TestResult(statistic, 1.0)
        signs = (np.arange(2 ** count)[:, None] >> np.arange(count)[None, :]) & 1
        null = signs.astype(np.float64) @ ranks
        gamma = abs(np.finfo(np.float64).eps * 100 * r_plus)
        less = np.count_nonzero(null <= r_plus + gamma) / null.shape[0]
        greater = np.count_nonzero(null >= r_plus - gamma) / null.shape[0]
        return TestResult(statistic, min(1.0, 2.0 * min(less, greater)))

    mn = count * (count + 1.0) * 0.25
    var = count * (count + 1.0) * (2.0 * count + 1.0)
    var -= float(np.sum(ties**3 - ties)) / 2.0
    se = math.sqrt(var / 24.0)
    if se == 0.0:
        return TestResult(statistic, math.nan)
    z = (r_plus - mn) / se
    if correction:
        z -= math.copysign(0.5, z) / se if z != 0 else 0.0
    return TestResult(statistic, min(1.0, _normal_two_sided(z)))


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
