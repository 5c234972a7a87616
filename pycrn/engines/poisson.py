"""Poisson variates on the per-trajectory streams (numba subset, pasted into generated modules).

Small means by inversion (Knuth's product of uniforms); means of 10 and more
by W. Hörmann's transformed rejection with squeeze, PTRS ("The transformed
rejection method for generating Poisson random variables", Insurance:
Mathematics and Economics 12:39-45, 1993), the method numpy uses.
"""

from __future__ import annotations


def rng_poisson(s, lam):
    """A Poisson(lam) variate drawn from stream ``s``."""
    if lam <= 0.0:
        return 0
    if lam < 10.0:
        limit = math.exp(-lam)  # noqa: F821
        k = 0
        prod = rng_uniform(s)  # noqa: F821
        while prod > limit:
            k += 1
            prod *= rng_uniform(s)  # noqa: F821
        return k
    slam = math.sqrt(lam)  # noqa: F821
    loglam = math.log(lam)  # noqa: F821
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = rng_uniform(s) - 0.5  # noqa: F821
        v = rng_uniform(s)  # noqa: F821
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)  # noqa: F821
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        lhs = math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)  # noqa: F821
        if lhs <= -lam + k * loglam - math.lgamma(k + 1.0):  # noqa: F821
            return k


SOURCES = (rng_poisson,)
