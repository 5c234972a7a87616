"""Compiled sparse kernels of the signaling RNN (numba; CPU tensors are passed as numpy views).

States are stored node-major, ``x[node, sample]``, so that the inner loop
of every sparse product runs over the contiguous batch. One kernel fuses the
sparse product, bias and MML activation of a step, so the forward pass
reads each edge once per step; the adjoint kernel does the same with the
transpose (A by source column). ``parallel=True`` kernels split rows over
numba's threads; results do not depend on the number of threads (each row
is computed by one thread, in a fixed order).
"""

from __future__ import annotations

import numba
import numpy as np

_OPTS = dict(cache=True, nogil=True)


@numba.njit(inline="always")
def _mml(z, leak):
    if z < 0.0:
        return leak * z
    if z < 0.5:
        return z
    return 1.0 - 0.25 / z


@numba.njit(inline="always")
def _mml_slope(z, leak):
    if z < 0.0:
        return leak
    if z < 0.5:
        return 1.0
    return 0.25 / (z * z)


#: Values below this are set to 0: states and adjoints decaying through
#: leaky nodes would otherwise reach subnormal numbers, which are ~100x slower.
TINY = 1e-200


@numba.njit(inline="always")
def _flush(v):
    return v if abs(v) > TINY else 0.0


@numba.njit(inline="always")
def _clip(g, limit):
    # LEMBAS's clipping: linear on [-limit, limit], beyond it limit + tanh(excess).
    if g > limit:
        return limit + np.tanh(g - limit)
    if g < -limit:
        return -limit + np.tanh(g + limit)
    return g


#: The batch is processed in blocks of this many columns (callers pad to a multiple).
BLOCK = 4


def _make_steps(parallel: bool):
    @numba.njit(parallel=parallel, **_OPTS)
    def one_step(indptr, indices, w, c, src, dst, slope, leak, with_slope):
        """dst = MML(A src + c); returns (sum |dst - src|, sum |dst|).

        With ``with_slope``: only slope = MML'(A src + c).
        """
        n, b = c.shape
        change = 0.0
        size = 0.0
        for i in numba.prange(n):
            local = 0.0
            mag = 0.0
            for q in range(0, b, 4):
                z0 = c[i, q]
                z1 = c[i, q + 1]
                z2 = c[i, q + 2]
                z3 = c[i, q + 3]
                for k in range(indptr[i], indptr[i + 1]):
                    wk = w[k]
                    j = indices[k]
                    z0 += wk * src[j, q]
                    z1 += wk * src[j, q + 1]
                    z2 += wk * src[j, q + 2]
                    z3 += wk * src[j, q + 3]
                if with_slope:
                    # Only the pass after the last step: MML'(z) at the steady state.
                    slope[i, q] = _mml_slope(z0, leak)
                    slope[i, q + 1] = _mml_slope(z1, leak)
                    slope[i, q + 2] = _mml_slope(z2, leak)
                    slope[i, q + 3] = _mml_slope(z3, leak)
                    continue
                v0 = _flush(_mml(z0, leak))
                v1 = _flush(_mml(z1, leak))
                v2 = _flush(_mml(z2, leak))
                v3 = _flush(_mml(z3, leak))
                local += abs(v0 - src[i, q]) + abs(v1 - src[i, q + 1]) + abs(v2 - src[i, q + 2]) + abs(v3 - src[i, q + 3])
                mag += abs(v0) + abs(v1) + abs(v2) + abs(v3)
                dst[i, q] = v0
                dst[i, q + 1] = v1
                dst[i, q + 2] = v2
                dst[i, q + 3] = v3
            change += local
            size += mag
        return change, size

    return one_step


def _make_adjoint(parallel: bool):
    @numba.njit(parallel=parallel, **_OPTS)
    def one_step(cptr, ctargets, wt, slope, g, src, dst, limit):
        """dst = clip(slope * (g + A^T src)); returns (sum |dst - src|, sum |dst|)."""
        n, b = g.shape
        change = 0.0
        size = 0.0
        for j in numba.prange(n):
            local = 0.0
            mag = 0.0
            for q in range(0, b, 4):
                z0 = g[j, q]
                z1 = g[j, q + 1]
                z2 = g[j, q + 2]
                z3 = g[j, q + 3]
                for k in range(cptr[j], cptr[j + 1]):
                    wk = wt[k]
                    i = ctargets[k]
                    z0 += wk * src[i, q]
                    z1 += wk * src[i, q + 1]
                    z2 += wk * src[i, q + 2]
                    z3 += wk * src[i, q + 3]
                v0 = _flush(_clip(slope[j, q] * z0, limit))
                v1 = _flush(_clip(slope[j, q + 1] * z1, limit))
                v2 = _flush(_clip(slope[j, q + 2] * z2, limit))
                v3 = _flush(_clip(slope[j, q + 3] * z3, limit))
                local += abs(v0 - src[j, q]) + abs(v1 - src[j, q + 1]) + abs(v2 - src[j, q + 2]) + abs(v3 - src[j, q + 3])
                mag += abs(v0) + abs(v1) + abs(v2) + abs(v3)
                dst[j, q] = v0
                dst[j, q + 1] = v1
                dst[j, q + 2] = v2
                dst[j, q + 3] = v3
            change += local
            size += mag
        return change, size

    return one_step


@numba.njit(**_OPTS)
def edge_gradient(sources, targets, mu, x, out):
    """out[k] = sum over samples of mu[target_k] * x[source_k]: dL/dw."""
    b = mu.shape[1]
    for k in range(sources.shape[0]):
        s = 0.0
        i = targets[k]
        j = sources[k]
        for q in range(b):
            s += mu[i, q] * x[j, q]
        out[k] = s


step_serial = _make_steps(False)
step_parallel = _make_steps(True)
adjoint_step_serial = _make_adjoint(False)
adjoint_step_parallel = _make_adjoint(True)


def iterate_forward(step, indptr, indices, w, c, x, work, steps, leak, slope, tol) -> int:
    """Iterate x <- MML(A x + c) from x = 0, at most ``steps`` times (a Python loop over compiled steps).

    ``c`` has a multiple of 4 columns (zero padding is inert: it stays 0).
    Stops early once a step's summed absolute change is at most ``tol`` times
    the summed absolute state (``tol=0``: never). Fills ``slope`` with
    MML'(z) of the last step; returns the number of steps taken.
    """
    x[:, :] = 0.0
    src, dst = x, work
    taken = 0
    while taken < steps:
        change, size = step(indptr, indices, w, c, src, dst, slope, leak, False)
        taken += 1
        if taken == steps or change <= tol * size:
            break
        src, dst = dst, src
    step(indptr, indices, w, c, src, dst, slope, leak, True)
    if dst is not x:
        x[:, :] = dst
    return taken


def iterate_adjoint(step, cptr, ctargets, wt, slope, g, mu, work, steps, limit, tol) -> int:
    """Iterate mu <- clip(slope * (g + A^T mu)) from mu = 0, at most ``steps`` times; stops like the forward."""
    mu[:, :] = 0.0
    src, dst = mu, work
    taken = 0
    while taken < steps:
        change, size = step(cptr, ctargets, wt, slope, g, src, dst, limit)
        taken += 1
        if taken == steps or change <= tol * size:
            break
        src, dst = dst, src
    if dst is not mu:
        mu[:, :] = dst
    return taken
