"""Hybrid simulation with noise on the continuous scale: SDEs coupled to jumps.

The partition is :mod:`pycrn.engines.hybrid`'s (continuous species hold real
amounts; a reaction that changes only continuous species is on the
continuous scale, every other reaction is a jump). The continuous species
follow the Itô SDE

    dX_i = f_i(X, t) dt + sum_j S_ij sqrt(a_j(X, t)) dW_j + g_i(X, t) dW'_i

where ``f`` is the hybrid engine's drift (the continuous-scale reactions'
rate terms plus ``@equation`` terms), the second term is the chemical
Langevin noise of the continuous-scale reactions (D. T. Gillespie, "The
chemical Langevin equation", J. Chem. Phys. 113:297, 2000; Catalyst's SDE
``physical_scale``), left out with ``cle=False``, and the last term is the
network's own noise amplitudes (``@noise V ~ g``, the tutorial's
``SDEProblem`` with diagonal noise). Jumps fire with the propensities of the
other reactions, which may read the continuous species and ``t``.

The scheme has a fixed step ``dt`` (cut to land on save and event times):
Euler-Maruyama for the SDE (P. E. Kloeden and E. Platen, "Numerical
Solution of Stochastic Differential Equations", 1992: strong order 1/2,
weak order 1), and the jump intensity integrated by the trapezoidal rule
along the simulated path, ``Lambda += h (a_0(start) + a_0(end)) / 2``. When
``Lambda`` passes its exponential target ``xi`` within a step, the jump time
is placed by linear interpolation of ``Lambda``, the continuous state at
that time by an Euler sub-step whose Wiener increments are drawn from the
Brownian bridge of the step's increments, and the reaction picked with
probability ``a_j / a_0`` there. The error is of order ``dt`` in the
moments (weak order 1): halving ``dt`` halves it; it is not an exact method
and ``dt`` is the accuracy knob (there is no adaptive step control).

Amounts: a step that takes a continuous species below zero (the Langevin
noise near zero amounts, where the approximation is not valid anyway) is
truncated at zero. Events: time events end steps; state events are checked
after every step and every jump (a condition on a continuous species fires
at the end of the step in which it became true: a delay below ``dt``).

``opts``: ``[dt, budget, cle]``. ``steps[i, 0]`` counts jumps, ``steps[i, 1]``
steps; the budget counts steps.
"""

from __future__ import annotations

import math

import numpy as np

from ..network import ReactionNetwork
from . import hybrid, ssa_stepper

NAME = "hybrid_sde"
GENERATED_FUNCTIONS = (*hybrid.GENERATED_FUNCTIONS, "sde_noise")
CONTINUOUS_EVENTS = True
check_problem = hybrid.check_problem
owns = hybrid.owns
failure_message = hybrid.failure_message
partition = hybrid.partition


def noise_sources(net: ReactionNetwork) -> list[tuple[str, int]]:
    """The Wiener processes, in order: ``("reaction", j)`` per continuous-scale reaction, ``("noise", i)`` per term."""
    deterministic, _ = partition(net)
    return [("reaction", j) for j in deterministic] + [("noise", net.species_index(k)) for k, _ in net.noise]


def constants_source(net: ReactionNetwork) -> str:
    """The hybrid engine's ``hybrid_field`` and ``hybrid_jump``, and ``sde_noise``.

    ``sde_noise(x, p, t, z, dx, cle)`` adds to ``dx`` the noise of one step
    whose Wiener increments are ``z`` (one per :func:`noise_sources` entry):
    ``S_ij sqrt(a_j) z_j`` for the continuous-scale reactions when ``cle``,
    and ``g_i z_i`` for the network's noise terms.
    """
    S = net.stoichiometry
    table = hybrid._species_code(net)
    lines = [f"NUM_WIENER = {len(noise_sources(net))}", "", "def sde_noise(x, p, t, z, dx, cle):"]
    deterministic, _ = partition(net)
    if deterministic:
        lines.append("    if cle:")
    for q, j in enumerate(deterministic):
        # The drift has already refused an invalid rate; a NaN here would come from the same state.
        lines.append(f"        v = math.sqrt(max({hybrid.rate_source(net, j)}, 0.0)) * z[{q}]")
        for i in np.flatnonzero(S[:, j]):
            lines.append(f"        dx[{i}] += {float(S[i, j])!r} * v")
    for q, (target, expr) in enumerate(net.noise, start=len(deterministic)):
        lines.append(f"    dx[{net.species_index(target)}] += ({expr.to_source(table)}) * z[{q}]")
    lines.append("    return")
    return hybrid.constants_source(net) + "\n".join(lines) + "\n"


def _normals(s, z, scale):
    """Fill ``z`` with independent normal variates of standard deviation ``scale`` (Marsaglia's polar method)."""
    n = z.shape[0]
    q = 0
    while q < n:
        while True:
            u = 2.0 * rng_uniform(s) - 1.0  # noqa: F821
            v = 2.0 * rng_uniform(s) - 1.0  # noqa: F821
            r = u * u + v * v
            if r < 1.0 and r > 0.0:
                break
        f = scale * math.sqrt(-2.0 * math.log(r) / r)
        z[q] = u * f
        if q + 1 < n:
            z[q + 1] = v * f
        q += 2


def _euler(x, p, t, h, drift, z, cle, x1, nc):
    """``x1 = x + h drift + noise(z)`` on the continuous species, truncated at zero.

    Returns 0, or ``TERM_CODE + i`` if species ``i``'s new amount is not finite (a noise amplitude
    that is NaN or infinite).
    """
    for q in range(x.shape[0]):
        x1[q] = x[q]
    sde_noise(x, p, t, z, x1, cle)  # noqa: F821 (adds the noise to x1)
    for c in range(nc):
        i = CONTINUOUS[c]  # noqa: F821
        x1[i] += h * drift[i]
        if not (x1[i] >= -MAX_FLOAT and x1[i] <= MAX_FLOAT):  # noqa: F821
            return TERM_CODE + i  # noqa: F821
        if x1[i] < 0.0:
            x1[i] = 0.0
    return 0


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """Euler-Maruyama with jumps on the save grid; the contract of the SSA stepper's ``simulate_grid``.

    ``x0`` and ``out`` are float64 (counts held as whole numbers).
    """
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    tf = save_times[nsave - 1]
    dt = opts[0] if opts[0] > 0.0 else (tf - t0) * 1e-3
    budget = opts[1]
    cle = opts[2] != 0.0
    nc = CONTINUOUS.shape[0]  # noqa: F821
    a = np.empty(max(NUM_JUMPS, 1), dtype=np.float64)  # noqa: F821
    drift = np.zeros(nspecies, dtype=np.float64)
    drift1 = np.zeros(nspecies, dtype=np.float64)
    z = np.zeros(max(NUM_WIENER, 1), dtype=np.float64)  # noqa: F821
    zb = np.zeros(max(NUM_WIENER, 1), dtype=np.float64)  # noqa: F821
    x = np.empty(nspecies, dtype=np.float64)
    x1 = np.empty(nspecies, dtype=np.float64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()  # noqa: F821
    for i in range(n):
        if _stopped(stop, status, i):  # noqa: F821
            return
        t = t0
        jumps = 0
        work = 0
        k = np.int64(0)  # not a literal: numba would compile the save helper for the literal too
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
        lam = 0.0
        xi = rng_exponential(s)  # noqa: F821
        fresh = True  # drift and a0 must be evaluated at (t, x)
        a0 = 0.0
        while code == 0:
            if NUM_EVENTS > 0 and t == next_ev:  # noqa: F821
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                next_ev = _next_event_time(ev_time, ev_done)  # noqa: F821
                fresh = True
                continue
            k = _save_through(x, out, i, k, save_times, t)
            if k == nsave:
                break
            if fresh:
                a0 = hybrid_field(x, pl, t, drift, a)  # noqa: F821
                if a0 < 0.0:
                    code = int(-a0)
                    break
                fresh = False
            target = min(save_times[k], next_ev)
            span = target - t
            # A last step within a millionth of dt of the target lands on it instead of leaving a sliver.
            h = span if span <= dt * (1.0 + 1e-6) else dt
            work += 1
            if work > budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            if (work & (RESUM - 1)) == 0 and stop[0] != 0:  # noqa: F821
                code = STATUS_INTERRUPTED  # noqa: F821
                break
            _normals(s, z, math.sqrt(h))
            code = _euler(x, pl, t, h, drift, z, cle, x1, nc)
            if code != 0:
                break
            t1 = target if h == span else t + h
            a1 = hybrid_field(x1, pl, t1, drift1, a)  # noqa: F821
            if a1 < 0.0:
                # Report the state and time where the rate is invalid.
                for q in range(nspecies):
                    x[q] = x1[q]
                t = t1
                code = int(-a1)
                break
            lam1 = lam + 0.5 * h * (a0 + a1)
            if lam1 < xi:
                for q in range(nspecies):
                    x[q] = x1[q]
                    drift[q] = drift1[q]
                a0 = a1
                lam = lam1
                t = t1
                if NUM_STATE_EVENTS > 0:  # noqa: F821
                    code, fired = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                    fresh = fresh or fired
                continue
            # The jump falls in the step: its time by linear interpolation of Lambda, the state there by an
            # Euler sub-step on the Brownian bridge of this step's increments.
            theta = (xi - lam) / (lam1 - lam)
            theta = min(max(theta, 0.0), 1.0)
            _normals(s, zb, math.sqrt(theta * (1.0 - theta) * h))
            for q in range(NUM_WIENER):  # noqa: F821
                zb[q] += theta * z[q]
            code = _euler(x, pl, t, theta * h, drift, zb, cle, x1, nc)
            if code != 0:
                break
            for q in range(nspecies):
                x[q] = x1[q]
            t = t1 if theta == 1.0 else min(t + theta * h, t1)
            at = hybrid_field(x, pl, t, drift, a)  # noqa: F821
            if at < 0.0:
                code = int(-at)
                break
            if at > 0.0:
                r = rng_uniform(s) * at  # noqa: F821
                j = 0
                acc = a[0]
                while r >= acc and j < NUM_JUMPS - 1:  # noqa: F821
                    j += 1
                    acc += a[j]
                code = hybrid_jump(j, x)  # noqa: F821
                if code != 0:
                    break
                jumps += 1
            lam = 0.0
            xi = rng_exponential(s)  # noqa: F821
            fresh = True
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
        if _end_trajectory(i, code, x, t, jumps, work, out, status, steps, final_t):  # noqa: F821
            return


SOURCES = (
    f"RESUM = {ssa_stepper.RESUM}\nTERM_CODE = {hybrid.TERM_CODE}\n",
    *ssa_stepper.EVENT_SOURCES,
    _normals,
    _euler,
    simulate_grid,
)
