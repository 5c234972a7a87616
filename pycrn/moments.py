"""Exact ensemble moments from integer counts, for ``ensemble(reduce="moments")``.

Each chunk of trajectories is reduced to the exact integer sums
``sum x`` and ``sum x^2`` per species and save time. Sums of chunks are
added as Python integers, so the totals are exact whatever the number of
trajectories, and the mean ``S1 / n`` and the sample variance
``(n S2 - S1^2) / (n (n - 1))`` are the correctly rounded float64 values of
the exact rationals. The result is therefore bit-identical for any chunking,
worker count or completion order, which a floating-point running mean
(Welford, Chan et al.) cannot promise.

Sums are stored per chunk as two 64-bit limbs, ``value = hi * 2**64 + lo``
with ``lo`` unsigned, so that a store can hold sums beyond int64.
"""

from __future__ import annotations

import numpy as np

_INT64_MAX = np.iinfo(np.int64).max
_LIMB = 1 << 64


def _exact_sum(values: np.ndarray, axis: int) -> np.ndarray:
    """Exact sum along ``axis`` of non-negative int64 values, as an object array of Python ints."""
    count = values.shape[axis]
    top = int(values.max(initial=0))
    if top == 0 or count * top <= _INT64_MAX:
        return values.sum(axis=axis).astype(object)
    # Blocks whose int64 sums cannot overflow, added exactly as Python ints.
    block = max(1, _INT64_MAX // top)
    total = None
    for lo in range(0, count, block):
        part = np.take(values, np.arange(lo, min(count, lo + block)), axis=axis).sum(axis=axis).astype(object)
        total = part if total is None else total + part
    return total


def chunk_sums(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(sum x, sum x^2)`` over trajectories of ``states`` (species, trajectories, times), as Python ints."""
    states = np.asarray(states)
    if states.dtype.kind not in "iu":
        raise TypeError("exact moments need integer counts")
    s1 = _exact_sum(states, axis=1)
    top = int(states.max(initial=0))
    if top * top <= _INT64_MAX:
        s2 = _exact_sum(states * states, axis=1)
    else:
        # Squares beyond int64: Python integers throughout (counts above 3e9; rare and slow).
        s2 = (states.astype(object) ** 2).sum(axis=1)
    return s1, s2


def to_limbs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split non-negative Python ints into ``(hi int64, lo uint64)`` with ``value = hi * 2**64 + lo``."""
    flat = [int(v) for v in np.asarray(values, dtype=object).ravel()]
    hi = np.array([v >> 64 for v in flat], dtype=np.int64).reshape(np.shape(values))
    lo = np.array([v & (_LIMB - 1) for v in flat], dtype=np.uint64).reshape(np.shape(values))
    return hi, lo


def from_limbs(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_limbs`: an object array of Python ints."""
    flat = [(int(h) << 64) + int(low) for h, low in zip(np.ravel(hi), np.ravel(lo))]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(np.shape(hi))


def mean_and_variance(n: int, s1: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correctly rounded mean and sample variance (``ddof=1``; NaN for n = 1) from exact sums."""
    flat1 = [int(v) for v in np.ravel(s1)]
    flat2 = [int(v) for v in np.ravel(s2)]
    mean = np.array([a / n for a in flat1], dtype=np.float64).reshape(np.shape(s1))
    if n < 2:
        return mean, np.full(np.shape(s1), np.nan)
    # Python's int / int is the correctly rounded quotient.
    var = np.array([(n * b - a * a) / (n * (n - 1)) for a, b in zip(flat1, flat2)], dtype=np.float64)
    return mean, var.reshape(np.shape(s1))
