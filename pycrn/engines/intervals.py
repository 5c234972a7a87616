"""Interval arithmetic in the numba subset: enclosures of rate expressions over a time window.

Every function takes the bounds of its arguments' intervals and returns the
``(lo, hi)`` of an interval that contains the operation's value for every
choice of arguments in theirs (the natural interval extension: R. E. Moore,
R. B. Kearfott and M. J. Cloud, "Introduction to Interval Analysis", 2009).
Each result is widened outwards by two units in the last place (and the
smallest subnormal), which covers the rounding of the operation itself, so
the enclosure holds for the real-number value too; the elementary functions
of the C library are accurate to about one unit. An operation that cannot be
enclosed (a division by an interval containing 0, a power of a negative base
by a non-integer, NaN anywhere) returns ``(-inf, inf)``: the caller then
shrinks its window or gives up with an error.

The generated ``rate_bounds`` of :mod:`pycrn.rate_bounds` calls these.
"""

from __future__ import annotations

import math

#: Relative outward widening of every result: two units in the last place.
IV_ULP = 4.5e-16
#: Absolute widening: the smallest positive subnormal double.
IV_TINY = 5e-324


def _iv(lo, hi):
    """``(lo, hi)`` widened outwards; ``(-inf, inf)`` if either is NaN or they are out of order."""
    if not (lo <= hi):
        return -math.inf, math.inf  # noqa: F821
    return lo - abs(lo) * IV_ULP - IV_TINY, hi + abs(hi) * IV_ULP + IV_TINY  # noqa: F821


def _iadd(a, b, c, d):
    return _iv(a + c, b + d)


def _isub(a, b, c, d):
    return _iv(a - d, b - c)


def _ineg(a, b):
    return -b, -a


def _imul(a, b, c, d):
    p1 = a * c
    p2 = a * d
    p3 = b * c
    p4 = b * d
    # 0 * inf is NaN: _iv turns it into the whole line.
    return _iv(min(min(p1, p2), min(p3, p4)), max(max(p1, p2), max(p3, p4)))


def _idiv(a, b, c, d):
    if c <= 0.0 <= d or not (c <= d):
        return -math.inf, math.inf  # noqa: F821
    return _imul(a, b, 1.0 / d, 1.0 / c)


def _ipow_int(a, b, n):
    """``[a, b] ** n`` for an integer ``n >= 1``."""
    fa = a ** n
    fb = b ** n
    if n % 2 == 1 or a >= 0.0:
        return _iv(fa, fb)
    if b <= 0.0:
        return _iv(fb, fa)
    return _iv(0.0, max(fa, fb))


def _ipow(a, b, c, d):
    """``[a, b] ** [c, d]``."""
    if c == d and c == math.floor(c) and abs(c) < 2.0**53:  # noqa: F821
        n = int(c)
        if n == 0:
            return 1.0, 1.0
        lo, hi = _ipow_int(a, b, abs(n))
        if n > 0:
            return lo, hi
        return _idiv(1.0, 1.0, lo, hi)
    if not (a >= 0.0):
        return -math.inf, math.inf  # noqa: F821
    # x ** y is monotone in x and in y for x >= 0: the extremes are at the corners.
    if a == 0.0 and c < 0.0:
        return -math.inf, math.inf  # noqa: F821
    p1 = a ** c
    p2 = a ** d
    p3 = b ** c
    p4 = b ** d
    return _iv(min(min(p1, p2), min(p3, p4)), max(max(p1, p2), max(p3, p4)))


def _iexp(a, b):
    return _iv(math.exp(a), math.exp(b))  # noqa: F821


def _ilog(a, b):
    if not (b > 0.0):
        return -math.inf, math.inf  # noqa: F821
    return _iv(math.log(a) if a > 0.0 else -math.inf, math.log(b))  # noqa: F821


def _isqrt(a, b):
    if not (b >= 0.0):
        return -math.inf, math.inf  # noqa: F821
    return _iv(math.sqrt(max(a, 0.0)), math.sqrt(b))  # noqa: F821


def _iabs(a, b):
    if a >= 0.0:
        return a, b
    if b <= 0.0:
        return -b, -a
    return 0.0, max(-a, b)


def _ifloor(a, b):
    return math.floor(a), math.floor(b)  # noqa: F821


def _iceil(a, b):
    return math.ceil(a), math.ceil(b)  # noqa: F821


def _imin(a, b, c, d):
    return min(a, c), min(b, d)


def _imax(a, b, c, d):
    return max(a, c), max(b, d)


def _iperiodic(a, b, fa, fb, crest, trough):
    """The enclosure of sin or cos over ``[a, b]`` from its end values ``fa``, ``fb``: 1 where a crest
    (a point ``crest + 2 pi k``) lies inside, -1 where a trough does.

    Near an extremum the function is flat (quadratic), so an extremum missed
    by rounding within an ulp of an end changes the end value by far less than
    the widening.
    """
    two_pi = 2.0 * math.pi  # noqa: F821
    if not (b - a < two_pi):
        return -1.0, 1.0
    lo = min(fa, fb)
    hi = max(fa, fb)
    if crest + two_pi * math.ceil((a - crest) / two_pi) <= b:  # noqa: F821
        hi = 1.0
    if trough + two_pi * math.ceil((a - trough) / two_pi) <= b:  # noqa: F821
        lo = -1.0
    lo, hi = _iv(lo, hi)
    return max(lo, -1.0), min(hi, 1.0)


def _isin(a, b):
    return _iperiodic(a, b, math.sin(a), math.sin(b), 0.5 * math.pi, -0.5 * math.pi)  # noqa: F821


def _icos(a, b):
    return _iperiodic(a, b, math.cos(a), math.cos(b), 0.0, math.pi)  # noqa: F821


SOURCES = (
    f"IV_ULP = {IV_ULP!r}\nIV_TINY = {IV_TINY!r}\n",
    _iv, _iadd, _isub, _ineg, _imul, _idiv, _ipow_int, _ipow, _iexp, _ilog, _isqrt, _iabs, _ifloor, _iceil,
    _imin, _imax, _iperiodic, _isin, _icos,
)
