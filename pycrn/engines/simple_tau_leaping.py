"""Explicit Poisson tau-leaping with a fixed step.

D. T. Gillespie, "Approximate accelerated stochastic simulation of chemically
reacting systems", J. Chem. Phys. 115:1716 (2001); JumpProcesses'
``SimpleTauLeaping``. Each step of length ``dt`` (the ``dt`` argument of
:func:`pycrn.simulate`, shortened to land on save times and time events)
fires every reaction a Poisson(a_j dt) number of times with the propensities
frozen at the start of the step. Nothing prevents a count from going
negative: if one does, the run stops with a clear error (use a smaller
``dt``, or ``method="tau_leaping"``, which guards against it).
"""

from __future__ import annotations

import numpy as np

from . import ssa_stepper

NAME = "simple_tau_leaping"
EXACT = False
SUPPORTS_TIME = False
#: Status code of a step that made a count negative.
NEGATIVE = -3000


def constants_source(net) -> str:
    S = net.stoichiometry
    m, n = S.shape[1], S.shape[0]
    rows = ", ".join("[" + ", ".join(str(int(S[i, j])) for i in range(n)) + "]" for j in range(m))
    return f"NU = np.array([{rows}], dtype=np.int64).reshape({m}, {n})\nNEGATIVE = {NEGATIVE}\n"


def _step(x, a, tau, s):
    """Fire every reaction Poisson(a_j tau) times; return False if a count went negative."""
    for j in range(a.shape[0]):
        if a[j] <= 0.0:
            continue
        k = rng_poisson(s, a[j] * tau)  # noqa: F821
        if k > 0:
            for i in range(x.shape[0]):
                x[i] += k * NU[j, i]  # noqa: F821
    for i in range(x.shape[0]):
        if x[i] < 0:
            return False
    return True


def simulate_grid(x0, p, t0, save_times, seeds, out, status, steps, final_t, opts):
    """Fixed-step tau-leaping ensemble on the save grid; opts[0] = dt."""
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    dt = opts[0]
    a = np.empty(NUM_REACTIONS, dtype=np.float64)  # noqa: F821
    x = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time = np.empty(NUM_EVENTS, dtype=np.float64)  # noqa: F821
    ev_done = np.empty(NUM_EVENTS, dtype=np.bool_)  # noqa: F821
    prev = np.empty(NUM_EVENTS, dtype=np.bool_)  # noqa: F821
    trig = np.empty(NUM_EVENTS, dtype=np.bool_)  # noqa: F821
    for i in range(n):
        for q in range(nspecies):
            x[q] = x0[i, q]
        for q in range(4):
            s[q] = seeds[i, q]
        for q in range(p.shape[0]):
            pl[q] = p[q]
        t = t0
        code = 0
        nsteps = 0
        next_ev = np.inf
        if NUM_EVENTS > 0:  # noqa: F821
            _events_start(pl, t, ev_time, ev_done, prev)
            code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
            next_ev = _next_event_time(ev_time, ev_done)
        k = 0
        while k < nsave and code == 0:
            if next_ev <= t:
                # Events first: the saved state is right-continuous.
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                next_ev = _next_event_time(ev_time, ev_done)
                continue
            while k < nsave and save_times[k] <= t:
                for q in range(nspecies):
                    out[q, i, k] = x[q]
                k += 1
            if k == nsave:
                break
            t_stop = min(save_times[k], next_ev)
            # Land exactly on save and event times: no sliver steps from rounding.
            tau = dt if t + dt < t_stop - 1e-9 * dt else t_stop - t
            total = rates(x, pl, t, a)  # noqa: F821
            if total != total:
                code = -1
                break
            if not _step(x, a, tau, s):
                code = NEGATIVE  # noqa: F821
                break
            t = t + tau if tau == dt else t_stop
            nsteps += 1
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
        status[i] = code
        steps[i] = nsteps
        final_t[i] = t
        if code != 0:
            for q in range(nspecies):
                out[q, i, nsave - 1] = x[q]


def simulate_events(x0, p, t0, tf, seed, capacity, opts):
    """One fixed-step trajectory, recorded after every step."""
    nsteps = int(np.ceil((tf - t0) / opts[0]))
    save_times = t0 + opts[0] * np.arange(1, nsteps + 1)
    save_times[-1] = min(save_times[-1], tf)
    times = np.empty(nsteps + 1, dtype=np.float64)
    times[0] = t0
    times[1:] = save_times
    out = np.empty((x0.shape[0], 1, nsteps + 1), dtype=np.int64)
    status = np.zeros(1, dtype=np.int64)
    steps = np.zeros(1, dtype=np.int64)
    final_t = np.zeros(1, dtype=np.float64)
    seeds = np.empty((1, 4), dtype=np.uint64)
    seeds[0, :] = seed
    x0s = np.empty((1, x0.shape[0]), dtype=np.int64)
    x0s[0, :] = x0
    simulate_grid(x0s, p, t0, times, seeds, out, status, steps, final_t, opts)
    states = out[:, 0, :].T.copy()
    return times, states, nsteps + 1, status[0], states[nsteps], final_t[0]


SOURCES = (
    ssa_stepper._events_start,
    ssa_stepper._next_event_time,
    ssa_stepper._fire_events,
    f"MAX_CASCADE = {ssa_stepper.MAX_CASCADE}\n",
    _step,
    simulate_grid,
    simulate_events,
)
