"""The time loop shared by the leaping engines (tau-leaping, fixed-step tau-leaping).

A leaping engine supplies, in the numba subset,

``advance(net, x, p, t, t_stop, a, total, crit, xn, s, opt)``
    move the state from ``t`` towards ``t_stop`` (never beyond) by one leap or
    a burst of exact steps, given the propensities ``a`` (summing to
    ``total``) at ``t``; ``crit`` and ``xn`` are work arrays; ``opt`` is the
    engine's option (epsilon or the fixed step). Returns ``(t, steps, code)``.

The loop lands exactly on every save time and time event: the saved state at
a save time is the state after the leap that ends there and after any event
due then (right-continuous); state events are checked after each leap.
"""

from __future__ import annotations

from . import ssa_stepper


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """Leaping ensemble on the save grid; same contract as the SSA stepper's (``stop`` read every leap)."""
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    a = np.empty(num_reactions(net), dtype=np.float64)  # noqa: F821
    crit = np.empty(num_reactions(net), dtype=np.bool_)  # noqa: F821
    x = np.empty(nspecies, dtype=np.int64)
    xn = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()
    for i in range(n):
        if stop[0] != 0:
            for q in range(i, n):
                status[q] = STATUS_INTERRUPTED  # noqa: F821
            return
        t = t0
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)
        nsteps = 0
        k = 0
        while k < nsave and code == 0:
            if stop[0] != 0:
                code = STATUS_INTERRUPTED  # noqa: F821
                break
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
            total = rates(net, x, pl, t, a)  # noqa: F821
            if total != total:
                code = STATUS_INVALID_PROPENSITY  # noqa: F821
                break
            if total <= 0.0:
                t = t_stop
                continue
            t, taken, code = advance(net, x, pl, t, t_stop, a, total, crit, xn, s, opts[0])  # noqa: F821
            nsteps += taken
            if code == 0 and NUM_STATE_EVENTS > 0:  # noqa: F821
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
        status[i] = code
        steps[i, 0] = nsteps
        final_t[i] = t
        if code != 0:
            for q in range(nspecies):
                out[q, i, nsave - 1] = x[q]


def simulate_events(net, x0, p, t0, tf, seed, capacity, opts, stop):
    """One trajectory recorded after every leap (and event); same contract as the SSA stepper's."""
    nspecies = x0.shape[0]
    a = np.empty(num_reactions(net), dtype=np.float64)  # noqa: F821
    crit = np.empty(num_reactions(net), dtype=np.bool_)  # noqa: F821
    x = np.empty(nspecies, dtype=np.int64)
    xn = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()
    times = np.empty(capacity, dtype=np.float64)
    states = np.empty((capacity, nspecies), dtype=np.int64)
    t = t0
    code, next_ev = _start_trajectory(x0, seed, p, x, s, pl, t, ev_time, ev_done, prev, trig)
    times[0] = t
    states[0, :] = x
    count = 1
    while t < tf and code == 0:
        if stop[0] != 0:
            code = STATUS_INTERRUPTED  # noqa: F821
            break
        if next_ev <= t:
            code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
            next_ev = _next_event_time(ev_time, ev_done)
        else:
            total = rates(net, x, pl, t, a)  # noqa: F821
            if total != total:
                code = STATUS_INVALID_PROPENSITY  # noqa: F821
                break
            if total <= 0.0:
                t = min(tf, next_ev)
            else:
                t, _, code = advance(net, x, pl, t, min(tf, next_ev), a, total, crit, xn, s, opts[0])  # noqa: F821
                if code == 0 and NUM_STATE_EVENTS > 0:  # noqa: F821
                    code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
        if count == times.shape[0]:
            times, states = _grow(times, states, count)
        times[count] = t
        states[count, :] = x
        count += 1
    return times, states, count, code, x, t


SOURCES = (
    *ssa_stepper.EVENT_SOURCES,
    simulate_grid,
    simulate_events,
)
