"""Hybrid simulation with a stiff integrator: :mod:`pycrn.engines.hybrid` on a Rosenbrock step.

Everything but the integration step is the hybrid engine's (the partition,
the integrated jump intensity, the location of jumps and state events, the
step-size control). The step is the L-stable Rosenbrock pair of orders 2
and 3 of L. F. Shampine and M. W. Reichelt, "The MATLAB ODE suite", SIAM J.
Sci. Comput. 18:1, 1997 (MATLAB's ode23s, OrdinaryDiffEq's Rosenbrock23),
applied to the continuous species and the integrated jump intensity
``Lambda``. Each step solves three linear systems with ``W = I - h d J``,
``d = 1 / (2 + sqrt(2))``, where ``J`` is the Jacobian of the continuous
species' rates, taken by forward differences at the step's start (one rate
evaluation per continuous species), and the rates' time derivative by one
forward difference in ``t``. ``Lambda`` does not feed back into the rates,
so its row of ``W`` is solved by substitution.

Where to use it: a continuous part with time scales far shorter than the
run (a fast reaction marked continuous, the reason to mark it). The explicit
Dormand-Prince step of :mod:`pycrn.engines.hybrid` must then keep ``h``
below the fastest time scale over the whole run, and a fast decay that has
run down swings about zero at a scale the error estimate allows; the
L-stable step takes steps set by the accuracy of the slow part and damps
the fast one. On a non-stiff system it needs more steps than Dormand-Prince
(its error is of order 2, not 4 or 5) and ``n + 3`` rate evaluations per
step for ``n`` continuous species, with an ``n x n`` linear solve.
"""

from __future__ import annotations

import math

import numpy as np

from . import hybrid

NAME = "hybrid_rosenbrock23"
GENERATED_FUNCTIONS = hybrid.GENERATED_FUNCTIONS
CONTINUOUS_EVENTS = hybrid.CONTINUOUS_EVENTS
check_problem = hybrid.check_problem
constants_source = hybrid.constants_source
owns = hybrid.owns
failure_message = hybrid.failure_message
partition = hybrid.partition

_D = 1.0 / (2.0 + math.sqrt(2.0))
_E32 = 6.0 + math.sqrt(2.0)

#: The pair's constants; its error estimate is of order 3, so the step-size exponent is 1/3. The work
#: rows below the stages (``K[7:]``): ``W`` (its LU factors), the jump total's gradient, the right-hand
#: side, the pivots.
TABLEAU = (
    f"STEP_EXPONENT = {1.0 / 3.0!r}\n"
    "STEP_WORK_ROWS = CONTINUOUS.shape[0] + 3\n"
    f"ROS_D = {_D!r}\n"
    f"ROS_E32 = {_E32!r}\n"
    f"ROS_DELTA = {math.sqrt(np.finfo(np.float64).eps)!r}\n"
)


def _lu_factor(W, n, piv):
    """LU factors of ``W[:n, :n]`` in place, partial pivoting (row swaps in ``piv``); False if singular.

    By hand, not ``np.linalg.solve``: the systems have a few rows, and numba's LAPACK binding allocates
    and copies on every call (with it, a run of the one-species linear test network took 2.8x as long as
    with Dormand-Prince; with this, 1.3x).
    """
    for k in range(n):
        p = k
        for i in range(k + 1, n):
            if abs(W[i, k]) > abs(W[p, k]):
                p = i
        piv[k] = p
        if p != k:
            for j in range(n):
                W[k, j], W[p, j] = W[p, j], W[k, j]
        if W[k, k] == 0.0 or not math.isfinite(W[k, k]):
            return False
        for i in range(k + 1, n):
            W[i, k] /= W[k, k]
            for j in range(k + 1, n):
                W[i, j] -= W[i, k] * W[k, j]
    return True


def _lu_solve(W, n, piv, b):
    """Solve ``W x = b`` in place in ``b`` from :func:`_lu_factor`'s factors."""
    for k in range(n):
        p = int(piv[k])
        if p != k:
            b[k], b[p] = b[p], b[k]
    for i in range(n):
        for j in range(i):
            b[i] -= W[i, j] * b[j]
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            b[i] -= W[i, j] * b[j]
        b[i] /= W[i, i]


def _solve(W, nc, piv, JL, hd, rhs, rhs_lam):
    """Solve the stage system in place in ``rhs``; return Lambda's component.

    Lambda's row of ``W`` is ``(-h d JL, 1)`` (it does not feed back into the rates): its component is
    ``rhs_lam + h d JL . k`` by substitution.
    """
    _lu_solve(W, nc, piv, rhs)
    k_lam = rhs_lam
    for c in range(nc):
        k_lam += hd * JL[c] * rhs[c]
    return k_lam


def _step(x, lam, p, t, h, K, KL, xs, x1, a, rtol, atol):
    """One Rosenbrock23 step of size ``h`` from ``(x, lam)`` with the rates at the start in ``K[0]``, ``KL[0]``.

    The contract of the hybrid engine's step: writes the new state into
    ``x1`` and the rates there into ``K[6]``, ``KL[6]``; returns ``(lam1,
    error_norm, code)``, code 0, ``-(1 + j)`` (reaction ``j``'s rate was
    invalid at an evaluation) or ``-STATUS_STALLED`` (``W`` singular: a
    growing mode with ``h d`` times its rate at 1; a smaller step avoids it).
    ``K[1:6]``, ``KL[1:6]`` and ``K[7:]`` are work space.
    """
    nc = CONTINUOUS.shape[0]  # noqa: F821
    W = K[7:7 + nc]
    JL = K[7 + nc]
    rhs = K[8 + nc]
    piv = K[9 + nc]
    for q in range(x.shape[0]):
        xs[q] = x[q]
        # The discrete counts too: state-event triggers read them from x1.
        x1[q] = x[q]
    hd = h * ROS_D  # noqa: F821
    # W = I - h d J over the continuous species, and the total jump propensity's gradient JL.
    for c in range(nc):
        i = CONTINUOUS[c]  # noqa: F821
        # Upwards: a small amount stepped below zero would read as 0 and hide the rate's slope.
        delta = ROS_DELTA * max(abs(x[i]), 1.0)  # noqa: F821
        xs[i] = x[i] + delta
        a0 = hybrid_field(xs, p, t, K[5], a)  # noqa: F821
        xs[i] = x[i]
        if a0 < 0.0:
            return 0.0, np.inf, int(a0)
        for r in range(nc):
            q = CONTINUOUS[r]  # noqa: F821
            W[r, c] = -hd * (K[5, q] - K[0, q]) / delta
        W[c, c] += 1.0
        JL[c] = (a0 - KL[0]) / delta
    if not _lu_factor(W, nc, piv):
        return 0.0, np.inf, -STATUS_STALLED  # noqa: F821 (the caller reports -code)
    # The time derivative of the rates (zero where no rate reads t): K[5], KL[5].
    dt = ROS_DELTA * max(abs(t), 1.0)  # noqa: F821
    a0 = hybrid_field(x, p, t + dt, K[5], a)  # noqa: F821
    if a0 < 0.0:
        return 0.0, np.inf, int(a0)
    for c in range(nc):
        i = CONTINUOUS[c]  # noqa: F821
        K[5, i] = (K[5, i] - K[0, i]) / dt
        rhs[c] = K[0, i] + hd * K[5, i]
    KL[5] = (a0 - KL[0]) / dt
    # k1 in K[1], KL[1].
    KL[1] = _solve(W, nc, piv, JL, hd, rhs, KL[0] + hd * KL[5])
    for c in range(nc):
        i = CONTINUOUS[c]  # noqa: F821
        K[1, i] = rhs[c]
        xs[i] = x[i] + 0.5 * h * rhs[c]
    # F1 = f(t + h/2, x + h k1 / 2) in K[4], KL[4]; k2 = W^-1 (F1 - k1) + k1 in K[2], KL[2].
    a0 = hybrid_field(xs, p, t + 0.5 * h, K[4], a)  # noqa: F821
    if a0 < 0.0:
        return 0.0, np.inf, int(a0)
    KL[4] = a0
    for c in range(nc):
        i = CONTINUOUS[c]  # noqa: F821
        rhs[c] = K[4, i] - K[1, i]
    KL[2] = _solve(W, nc, piv, JL, hd, rhs, KL[4] - KL[1]) + KL[1]
    for c in range(nc):
        i = CONTINUOUS[c]  # noqa: F821
        K[2, i] = rhs[c] + K[1, i]
        x1[i] = x[i] + h * K[2, i]
    lam1 = lam + h * KL[2]
    # F2 = f(t + h, x1) in K[6], KL[6] (the next step's first); k3 for the error estimate in K[3], KL[3].
    a0 = hybrid_field(x1, p, t + h, K[6], a)  # noqa: F821
    if a0 < 0.0:
        return 0.0, np.inf, int(a0)
    KL[6] = a0
    e32 = ROS_E32  # noqa: F821
    for c in range(nc):
        i = CONTINUOUS[c]  # noqa: F821
        rhs[c] = K[6, i] - e32 * (K[2, i] - K[4, i]) - 2.0 * (K[1, i] - K[0, i]) + hd * K[5, i]
    KL[3] = _solve(W, nc, piv, JL, hd, rhs, KL[6] - e32 * (KL[2] - KL[4]) - 2.0 * (KL[1] - KL[0]) + hd * KL[5])
    for c in range(nc):
        K[3, CONTINUOUS[c]] = rhs[c]  # noqa: F821
    # The error norm: RMS over the continuous species and Lambda, as the hybrid engine's.
    sc = atol + rtol * max(abs(lam), abs(lam1))
    total = (h / 6.0 * (KL[1] - 2.0 * KL[2] + KL[3]) / sc) ** 2
    for c in range(nc):
        i = CONTINUOUS[c]  # noqa: F821
        sc = atol + rtol * max(abs(x[i]), abs(x1[i]))
        total += (h / 6.0 * (K[1, i] - 2.0 * K[2, i] + K[3, i]) / sc) ** 2
    return lam1, math.sqrt(total / (nc + 1)), 0


def _sources():
    parts = []
    for part in hybrid.SOURCES:
        if part is hybrid.TABLEAU:
            parts.append(TABLEAU)
        elif part is hybrid._step:
            parts += [_lu_factor, _lu_solve, _solve, _step]
        else:
            parts.append(part)
    return tuple(parts)


SOURCES = _sources()
