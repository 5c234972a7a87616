"""The time loop shared by the leaping engines (tau-leaping, fixed-step tau-leaping).

A leaping engine supplies, in the numba subset,

``advance(net, x, p, t, t_stop, a, total, crit, xn, s, opt, burst, single)``
    move the state from ``t`` towards ``t_stop`` (never beyond) by one leap or
    a burst of exact steps, given the propensities ``a`` (summing to
    ``total``) at ``t``; ``crit`` and ``xn`` are work arrays; ``opt`` is the
    engine's option (epsilon or the fixed step); ``burst`` is the number of
    exact steps left in a burst the engine started (0 otherwise), and with
    ``single`` a burst returns after each exact step (when there are state
    events to check, or jumps to record). Returns ``(t, steps, code, total,
    burst)``: within a burst ``a`` and ``total`` are kept up to date by the
    engine, and the loop computes them afresh only when ``burst`` is 0 (or an
    event has fired).

``opts[1]`` is the step budget (the method's ``max_steps``), checked before
each leap or exact step against the steps taken so far.

The loop lands exactly on every save time and time event: the saved state at
a save time is the state after the leap that ends there and after any event
due then (right-continuous); state events are checked after each leap and
each exact step, and ``simulate_events`` records after each of them.
"""

from __future__ import annotations

from . import ssa_stepper

#: The largest Poisson mean a leap draws: a variate near it still fits int64 with room for the products.
POISSON_MAX = 1e18
#: Counts below minus this are not formed: the leap is rejected as negative before the product could wrap.
NEGATIVE_FLOOR = 2**62


def _poisson_firings(s, lam):
    """A Poisson(lam) number of firings, or -1 if ``lam`` is too large (or NaN) to draw a count from."""
    if not (lam <= POISSON_MAX):
        return -1
    return rng_poisson(s, lam)  # noqa: F821


def _add_firings(x, j, k):
    """``x += k * NU[j]`` without ever wrapping around.

    Returns -1 when done; ``i >= 0`` if the count of species ``i`` would
    pass ``COUNT_LIMIT`` (an overflow: ``x`` is left partly updated); -2 if
    a count would fall below ``-NEGATIVE_FLOOR`` plus less than one firing's
    change (the leap is negative, as it would be anyway, and is rejected
    like any negative leap).
    ``k = -1`` (a mean too large to draw) is an overflow of the first species
    the reaction increases, a negative leap if it only decreases counts, and
    nothing if it changes none (a reaction such as ``A --> A`` or ``0 --> 0``).
    """
    if k < 0:
        decreases = False
        for i in range(x.shape[0]):
            if NU[j, i] > 0:  # noqa: F821
                return i
            if NU[j, i] < 0:  # noqa: F821
                decreases = True
        return -2 if decreases else -1
    for i in range(x.shape[0]):
        nu = NU[j, i]  # noqa: F821
        if nu > 0:
            room = COUNT_LIMIT - x[i] if x[i] >= 0 else COUNT_LIMIT  # noqa: F821
            if k > room // nu:
                return i
            x[i] += k * nu
        elif nu < 0:
            # Not (x + NEGATIVE_FLOOR) // m: that sum wraps for counts from 2**62 up.
            m = -nu
            q = x[i] // m
            if k <= q:
                x[i] -= k * m  # k m <= q m <= x
            else:
                deficit = k - q
                if deficit > NEGATIVE_FLOOR // m:
                    return -2
                x[i] = (x[i] - q * m) - deficit * m  # x mod m minus at most NEGATIVE_FLOOR
    return -1


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """Leaping ensemble on the save grid; same contract as the SSA stepper's (``stop`` read every leap)."""
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    budget = opts[1]
    a = np.empty(num_reactions(net), dtype=np.float64)  # noqa: F821
    crit = np.empty(num_reactions(net), dtype=np.bool_)  # noqa: F821
    x = np.empty(nspecies, dtype=np.int64)
    xn = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()
    for i in range(n):
        if _stopped(stop, status, i):  # noqa: F821
            return
        t = t0
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)
        nsteps = 0
        burst = np.int64(0)  # not a literal: numba would compile advance for the literal too
        total = 0.0
        k = np.int64(0)  # not a literal: numba would compile the save helper for the literal too
        while k < nsave and code == 0:
            if stop[0] != 0:
                code = STATUS_INTERRUPTED  # noqa: F821
                break
            if NUM_EVENTS > 0 and next_ev <= t:  # noqa: F821
                # Events first: the saved state is right-continuous.
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                next_ev = _next_event_time(ev_time, ev_done)
                burst = np.int64(0)
                continue
            k = _save_through(x, out, i, k, save_times, t)
            if k == nsave:
                break
            t_stop = min(save_times[k], next_ev)
            if burst == 0:
                total = rates(net, x, pl, t, a)  # noqa: F821
                if not (total <= MAX_FLOAT):  # noqa: F821
                    code = STATUS_INVALID_PROPENSITY  # noqa: F821
                    break
                if total <= 0.0:
                    t = t_stop
                    continue
            if nsteps >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            t, taken, code, total, burst = advance(net, x, pl, t, t_stop, a, total, crit, xn, s, opts[0],  # noqa: F821
                                                   burst, NUM_STATE_EVENTS > 0)  # noqa: F821
            nsteps += taken
            if code == 0 and NUM_STATE_EVENTS > 0:  # noqa: F821
                code, fired = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                if fired:
                    burst = np.int64(0)
        if _end_trajectory(i, code, x, t, nsteps, 0, out, status, steps, final_t):  # noqa: F821
            return


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
    count = np.int64(1)  # not a literal: numba would compile _record for the literal too
    budget = opts[1]
    nsteps = 0
    burst = np.int64(0)
    total = 0.0
    while t < tf and code == 0:
        if stop[0] != 0:
            code = STATUS_INTERRUPTED  # noqa: F821
            break
        if NUM_EVENTS > 0 and next_ev <= t:  # noqa: F821
            code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
            next_ev = _next_event_time(ev_time, ev_done)
            burst = np.int64(0)
        else:
            if burst == 0:
                total = rates(net, x, pl, t, a)  # noqa: F821
                if not (total <= MAX_FLOAT):  # noqa: F821
                    code = STATUS_INVALID_PROPENSITY  # noqa: F821
                    break
            if total <= 0.0:
                t = min(tf, next_ev)
            elif nsteps >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            else:
                t, taken, code, total, burst = advance(net, x, pl, t, min(tf, next_ev), a, total, crit, xn,  # noqa: F821
                                                       s, opts[0], burst, True)
                nsteps += taken
                if code == 0 and NUM_STATE_EVENTS > 0:  # noqa: F821
                    code, fired = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                    if fired:
                        burst = np.int64(0)
        times, states, recorded = _record(times, states, count, t, x, stop)  # noqa: F821
        if not recorded:
            code = STATUS_INTERRUPTED  # noqa: F821
            break
        count += 1
    return times, states, count, code, x, t


SOURCES = (
    f"POISSON_MAX = {POISSON_MAX!r}\nNEGATIVE_FLOOR = {NEGATIVE_FLOOR}\n",
    _poisson_firings,
    _add_firings,
    *ssa_stepper.EVENT_SOURCES,
    simulate_grid,
    simulate_events,
)
