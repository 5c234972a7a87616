"""Exact discrete and continuous variates on the per-trajectory streams.

Numba-subset functions pasted into generated modules (see :mod:`pycrn.codegen`)
by the engines that need them; they draw from the xoshiro256++ stream ``s`` of
:mod:`pycrn.engines.rng`, so results stay reproducible from the seed alone.

* normal: Marsaglia's polar method;
* gamma: G. Marsaglia and W. W. Tsang, "A simple method for generating gamma
  variables", ACM TOMS 26:363-372 (2000) (shape < 1 by the ``U^(1/a)`` boost);
* binomial: inversion when the mean is small, otherwise the order-statistic
  recursion (Knuth, TAOCP vol. 2, 3.4.1): the ``a``-th smallest of ``n``
  uniforms is Beta(a, n+1-a), and the count below ``p`` splits into a binomial
  of half the size on either side of it. Exact (no approximation), O(log n);
* hypergeometric: sequential inversion for small samples, otherwise
  E. Stadlober's ratio-of-uniforms HRUA* ("The ratio of uniforms approach for
  generating discrete random variates", J. Comput. Appl. Math. 31:181-189,
  1990), the algorithm numpy uses; its acceptance test evaluates the log
  of a ratio of probabilities as differences of nearby log factorials
  (:func:`log_factorial_diff`: a table, then Stirling's series of the ratio
  with ``log1p``), accurate to about 1e-12 at any population (a difference
  of two log factorials of 1e13 would carry an error of 0.1);
* multivariate hypergeometric: a chain of univariate draws;
* geometric: inversion.

Every sampler is tested against the exact distribution by chi-square tests
(``tests/test_samplers.py``).
"""

from __future__ import annotations

import math

#: log(k!) for k < LOGFACT_TABLE; larger k by Stirling's series.
LOGFACT_TABLE = 256


def tables_source() -> str:
    """The log-factorial table, as module source."""
    values = ", ".join(repr(math.lgamma(k + 1.0)) for k in range(LOGFACT_TABLE))
    return f"LOGFACT = np.array([{values}], dtype=np.float64)\nLOGFACT_TABLE = {LOGFACT_TABLE}\n"


def log_factorial(k):
    """log(k!) for a non-negative integer-valued float k: a table, then Stirling's series.

    Beyond the table the series' truncation error is below 1e-17, so the
    result is as accurate as ``math.lgamma`` (and three times faster).
    """
    if k < LOGFACT_TABLE:  # noqa: F821
        return LOGFACT[int(k)]  # noqa: F821
    z = k + 1.0
    z2 = 1.0 / (z * z)
    return (z - 0.5) * math.log(z) - z + 0.9189385332046728 + (  # noqa: F821
        1.0 / 12.0 - z2 * (1.0 / 360.0 - z2 * (1.0 / 1260.0 - z2 / 1680.0))
    ) / z


#: Beyond this, log-factorial differences are taken from Stirling's series directly (see below).
LOGFACT_DIFF_DIRECT = 1.0e6


def log_factorial_diff(a, b):
    """log(a!) - log(b!) for non-negative integer-valued floats, accurate when both are huge.

    Subtracting two log factorials of 1e13 (about 4e14 each) leaves an
    absolute error of 0.1, which made the hypergeometric acceptance test
    wrong by as much at populations of 1e13. Written as Stirling's series
    of the ratio, with ``log1p`` for the logarithm of the ratio, the
    difference is accurate to about 1e-15 relative to itself.
    """
    if a < LOGFACT_DIFF_DIRECT or b < LOGFACT_DIFF_DIRECT:  # noqa: F821
        return log_factorial(a) - log_factorial(b)  # noqa: F821
    za = a + 1.0
    zb = b + 1.0
    d = a - b
    # lgamma(za) - lgamma(zb) with lgamma(z) = (z - 1/2) log z - z + log(2 pi)/2 + 1/(12 z) - ...
    return (zb - 0.5) * math.log1p(d / zb) + d * math.log(za) - d + (1.0 / za - 1.0 / zb) / 12.0  # noqa: F821


def rng_normal(s):
    """A standard normal variate (polar method)."""
    while True:
        u = 2.0 * rng_uniform(s) - 1.0  # noqa: F821
        v = 2.0 * rng_uniform(s) - 1.0  # noqa: F821
        q = u * u + v * v
        if 0.0 < q < 1.0:
            return u * math.sqrt(-2.0 * math.log(q) / q)  # noqa: F821


def rng_gamma(s, shape):
    """A Gamma(shape, 1) variate, ``shape > 0`` (Marsaglia-Tsang)."""
    boost = 1.0
    if shape < 1.0:
        # Gamma(a) = Gamma(a + 1) * U^(1/a).
        boost = math.exp(math.log(1.0 - rng_uniform(s)) / shape)  # noqa: F821
        shape += 1.0
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)  # noqa: F821
    while True:
        z = rng_normal(s)
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        u = 1.0 - rng_uniform(s)  # noqa: F821
        if u < 1.0 - 0.0331 * z * z * z * z:
            return d * v * boost
        if math.log(u) < 0.5 * z * z + d * (1.0 - v + math.log(v)):  # noqa: F821
            return d * v * boost


def _binomial_inversion(s, n, p):
    """Binomial(n, p) by sequential search from 0; for ``n * p`` small and ``p <= 1/2``."""
    q = 1.0 - p
    f = math.exp(n * math.log1p(-p))  # noqa: F821
    u = rng_uniform(s)  # noqa: F821
    k = 0
    ratio = p / q
    while u > f and k < n:
        u -= f
        f *= (n - k) / (k + 1.0) * ratio
        k += 1
    return k


def rng_binomial(s, n, p):
    """A Binomial(n, p) variate (exact; see the module docstring)."""
    acc = 0
    sign = 1
    while True:
        if n <= 0 or p <= 0.0:
            return acc
        if p >= 1.0:
            return acc + sign * n
        if p > 0.5:
            # Bin(n, p) = n - Bin(n, 1 - p)
            acc += sign * n
            sign = -sign
            p = 1.0 - p
        if n * p < 30.0:
            return acc + sign * _binomial_inversion(s, n, p)
        a = n // 2 + 1
        b = n - a + 1
        ga = rng_gamma(s, float(a))
        xa = ga / (ga + rng_gamma(s, float(b)))
        if xa > p:
            n = a - 1
            p = p / xa
        else:
            acc += sign * a
            n = b - 1
            p = (p - xa) / (1.0 - xa)


def rng_geometric(s, p):
    """Failures before the first success in Bernoulli(p) trials, ``0 < p <= 1``."""
    if p >= 1.0:
        return 0
    g = math.log(1.0 - rng_uniform(s)) / math.log1p(-p)  # noqa: F821
    # Capped below the int64 limit (a tiny p), before numba's floor converts to int64: callers
    # only compare the gap with a step count.
    if not (g < 4.0e18):
        return 4000000000000000000
    return int(math.floor(g))  # noqa: F821


def _hypergeometric_small(s, good, bad, sample):
    """Hypergeometric by drawing one item at a time (the smaller of sample and its complement)."""
    total = good + bad
    m = sample if sample <= total - sample else total - sample
    rg = good
    rt = total
    k = 0
    for _ in range(m):
        if rng_uniform(s) * rt < rg:  # noqa: F821
            rg -= 1
            k += 1
        rt -= 1
    return k if m == sample else good - k


def rng_hypergeometric(s, good, bad, sample):
    """Number of good items in ``sample`` draws without replacement from ``good + bad``."""
    if sample <= 0 or good <= 0:
        return 0
    if bad <= 0:
        return sample
    total = good + bad
    if sample < 10 or sample > total - 10:
        return _hypergeometric_small(s, good, bad, sample)
    mingb = min(good, bad)
    maxgb = max(good, bad)
    m = min(sample, total - sample)
    d4 = mingb / total
    d5 = 1.0 - d4
    d6 = m * d4 + 0.5
    # In floating point: the integer product (total - m) * sample wraps around above about 1e19
    # (populations of 1e12 and batches of 1e7), which made the variance negative.
    d7 = math.sqrt(float(total - m) * float(sample) * d4 * d5 / (total - 1.0) + 0.5)  # noqa: F821
    d8 = 1.7155277699214135 * d7 + 0.8989161620588988
    d9 = math.floor((m + 1.0) * (mingb + 1.0) / (total + 2.0))  # noqa: F821
    # The hat beyond 16 standard deviations carries less than 1e-16 of the mass.
    d11 = min(min(m, mingb) + 1.0, math.floor(d6 + 16.0 * d7))  # noqa: F821
    while True:
        x = rng_uniform(s)  # noqa: F821
        y = rng_uniform(s)  # noqa: F821
        if x == 0.0:
            continue
        w = d6 + d8 * (y - 0.5) / x
        if w < 0.0 or w >= d11:
            continue
        z = math.floor(w)  # noqa: F821
        # log of pmf(z) / pmf(d9), as differences of nearby log factorials (accurate at any population).
        tt = (log_factorial_diff(d9, z) + log_factorial_diff(mingb - d9, mingb - z)
              + log_factorial_diff(m - d9, m - z) + log_factorial_diff(maxgb - m + d9, maxgb - m + z))
        if x * (4.0 - x) - 3.0 <= tt:
            break
        if x * (x - tt) >= 1.0:
            continue
        if 2.0 * math.log(x) <= tt:  # noqa: F821
            break
    k = int(z)
    if good > bad:
        k = m - k
    if m < sample:
        k = good - k
    return k


def rng_multivariate_hypergeometric(s, sample, counts, out):
    """Fill ``out`` with the counts of each kind in ``sample`` draws without replacement from ``counts``."""
    remaining = 0
    for q in range(counts.shape[0]):
        remaining += counts[q]
    last = counts.shape[0] - 1
    for q in range(last):
        c = counts[q]
        if sample == 0 or c == 0:
            out[q] = 0
        else:
            k = rng_hypergeometric(s, c, remaining - c, sample)
            out[q] = k
            sample -= k
        remaining -= c
    out[last] = sample


def draw_many(s, kind, a, b, c, out):
    """Fill ``out`` with variates (for the sampler tests): kind 0 binomial(a, b),
    1 hypergeometric(a, b, c), 2 gamma(b), 3 geometric(b), 4 normal."""
    for i in range(out.shape[0]):
        if kind == 0:
            out[i] = rng_binomial(s, a, b)
        elif kind == 1:
            out[i] = rng_hypergeometric(s, a, int(b), int(c))
        elif kind == 2:
            out[i] = rng_gamma(s, b)
        elif kind == 3:
            out[i] = rng_geometric(s, b)
        else:
            out[i] = rng_normal(s)


SOURCES = (
    tables_source(),
    f"LOGFACT_DIFF_DIRECT = {LOGFACT_DIFF_DIRECT!r}\n",
    log_factorial,
    log_factorial_diff,
    rng_normal,
    rng_gamma,
    _binomial_inversion,
    rng_binomial,
    rng_geometric,
    _hypergeometric_small,
    rng_hypergeometric,
    rng_multivariate_hypergeometric,
    draw_many,
)
