"""The time loop shared by the exact SSAs (JumpProcesses' ``SSAStepper``).

An exact aggregator module supplies four functions in the numba subset
(direct and sorting direct take the no-op ``SEARCH_HOOKS`` for the last two):

``agg_setup(a)``
    its auxiliary state (an array, e.g. the search order, or a tuple of
    arrays), given the initial propensities ``a``;
``agg_select(a, r, aux, s)``
    the reaction ``j`` with ``sum(a[:j]) <= r < sum(a[:j+1])`` in the
    aggregator's own order (or ``-1`` if rounding left ``r`` past the end),
    updating ``aux`` as the aggregator requires; a sampler that needs more
    random numbers than ``r`` (composition-rejection) draws them from the
    trajectory's stream ``s``;
``agg_update(net, j, a, aux)``
    after reaction ``j`` fired and its dependents' propensities in ``a``
    were recomputed: bring ``aux`` up to date (a no-op for a linear search);
``agg_reset(a, aux)``
    after every propensity was recomputed (an event).

The model kernels supply ``num_reactions(net)``, ``rates(net, x, p, t, a)``
(fill all propensities, return their sum, or NaN if one is invalid) and
``fire(net, j, x, p, t, a, total)`` (apply reaction ``j`` to ``x``, recompute
the propensities that changed, return the new total, or NaN if a propensity
became invalid or a count negative): generated per network
(:mod:`pycrn.codegen`, ``net`` unused) or shared by all mass-action networks
(:mod:`pycrn.engines.mass_action`, the network in the int64 array ``net``).
The engine entry points take ``net`` first and pass it through.

The total propensity is kept incrementally and recomputed exactly every
``RESUM`` steps and whenever rounding could matter (selection past the end,
a total that is not positive), so drift never biases the process.

Status codes returned per trajectory (see :mod:`pycrn.status`): 0 finished,
``1 + j`` reaction ``j`` produced an invalid propensity or a negative count,
``STATUS_INVALID_PROPENSITY`` the propensities at the start or after an
event are invalid (NaN, negative, or summing to infinity),
``STATUS_BUDGET`` the trajectory would fire more than ``opts[1]``
reactions (the method's ``max_steps``), ``STATUS_INTERRUPTED`` the caller
set ``stop[0]``.

Interruption: every kernel takes ``stop``, a one-element int64 array that the
caller sets (from another thread) to ask it to return. It is read before each
trajectory and every ``RESUM`` reactions, so a kernel returns within
milliseconds even in a single long trajectory.
"""

from __future__ import annotations

RESUM = 4096
#: Records copied between two checks of the stop flag while an event record grows.
GROW_BLOCK = 1 << 16
#: Rounds of state events triggering one another at one instant before giving up.
MAX_CASCADE = 100


def _total(a):
    s = 0.0
    for j in range(a.shape[0]):
        s += a[j]
    return s


def _events_start(p, t, ev_time, ev_done, prev):
    """Reset the event bookkeeping of a trajectory starting at ``t``."""
    event_times(p, ev_time)  # noqa: F821
    for e in range(NUM_EVENTS):  # noqa: F821
        prev[e] = INITIAL_VALUE[e]  # noqa: F821
        # A time trigger already true at the start fires only if its
        # initial value is false (SBML trigger semantics).
        ev_done[e] = (not TIME_EVENT[e]) or (INITIAL_VALUE[e] and ev_time[e] <= t)  # noqa: F821


def _next_event_time(ev_time, ev_done):
    m = np.inf  # noqa: F821
    for e in range(NUM_EVENTS):  # noqa: F821
        if not ev_done[e] and ev_time[e] < m:
            m = ev_time[e]
    return m


def _fire_events(x, p, t, ev_time, ev_done, prev, trig):
    """Fire the time events due at ``t``, then state events whose trigger became true.

    State events may trigger one another; rounds repeat until none fires.
    Returns ``(code, fired)``: code 0, ``-(2 + e)`` if event ``e`` made an
    invalid assignment, ``-1000`` for a runaway cascade.
    """
    fired = False
    for e in range(NUM_EVENTS):  # noqa: F821
        if not ev_done[e] and ev_time[e] <= t:
            ev_done[e] = True
            fired = True
            if apply_event(e, x, p, t) != 0:  # noqa: F821
                return -(2 + e), fired
    if NUM_STATE_EVENTS == 0:  # noqa: F821
        return 0, fired
    for _ in range(MAX_CASCADE):
        event_triggers(x, p, t, trig)  # noqa: F821
        now = False
        for e in range(NUM_EVENTS):  # noqa: F821
            if TIME_EVENT[e]:  # noqa: F821
                continue
            if trig[e] and not prev[e]:
                now = True
                if apply_event(e, x, p, t) != 0:  # noqa: F821
                    return -(2 + e), True
            prev[e] = trig[e]
        if not now:
            return 0, fired
        fired = True
    return STATUS_EVENT_CASCADE, fired  # noqa: F821


def _event_work():
    """Work arrays of the event bookkeeping: firing times, fired flags, previous and current trigger values."""
    return (
        np.empty(NUM_EVENTS, dtype=np.float64),  # noqa: F821
        np.empty(NUM_EVENTS, dtype=np.bool_),  # noqa: F821
        np.empty(NUM_EVENTS, dtype=np.bool_),  # noqa: F821
        np.empty(NUM_EVENTS, dtype=np.bool_),  # noqa: F821
    )


def _start_trajectory(x0i, seed, p, x, s, pl, t, ev_time, ev_done, prev, trig):
    """Load a trajectory's initial state, stream and parameters; fire events due at the start.

    Returns ``(code, next_event_time)``.
    """
    for q in range(x.shape[0]):
        x[q] = x0i[q]
    for q in range(4):
        s[q] = seed[q]
    for q in range(p.shape[0]):
        pl[q] = p[q]
    if NUM_EVENTS == 0:  # noqa: F821
        return 0, np.inf
    _events_start(pl, t, ev_time, ev_done, prev)
    code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
    return code, _next_event_time(ev_time, ev_done)


def _stopped(stop, status, i):
    """Whether the caller asked to stop before trajectory ``i``; if so it and the rest report INTERRUPTED."""
    if stop[0] == 0:
        return False
    for q in range(i, status.shape[0]):
        status[q] = STATUS_INTERRUPTED  # noqa: F821
    return True


def _end_trajectory(i, code, x, t, work, second, out, status, steps, final_t):
    """Record trajectory ``i``'s outcome: status, the two work counters and the time it stopped at.

    A failure leaves the failing state in the last save time, where the
    caller diagnoses it, and marks the rest INTERRUPTED (fail fast: the caller
    raises for this trajectory). Returns whether the run must stop.
    """
    status[i] = code
    steps[i, 0] = work
    steps[i, 1] = second
    final_t[i] = t
    if code == 0:
        return False
    for q in range(out.shape[0]):
        out[q, i, out.shape[2] - 1] = x[q]
    for q in range(i + 1, status.shape[0]):
        status[q] = STATUS_INTERRUPTED  # noqa: F821
    return True


def _save_before(x, out, i, k, save_times, until):
    """Record ``x`` in trajectory ``i`` at the save times from index ``k`` on that come strictly before
    ``until`` (the state holds there: the next change is at ``until``); return the first index not saved."""
    while k < save_times.shape[0] and save_times[k] < until:
        for q in range(x.shape[0]):
            out[q, i, k] = x[q]
        k += 1
    return k


def _save_through(x, out, i, k, save_times, t):
    """Record ``x`` at the save times from index ``k`` up to and including ``t`` (the state is the one after
    everything at ``t``: right-continuous); return the first index not saved."""
    while k < save_times.shape[0] and save_times[k] <= t:
        for q in range(x.shape[0]):
            out[q, i, k] = x[q]
        k += 1
    return k


def _record(times, states, count, t, x, stop):
    """Write ``(t, x)`` as record ``count``, doubling the record first when it is full.

    Returns ``(times, states, recorded)``; ``recorded`` is False, and the
    record unchanged, if ``stop`` was set while the record grew. A record of
    1e8 jumps is gigabytes: copying it at once (page faults included) took
    most of a second, during which Ctrl-C went unanswered, so the copy goes in
    blocks with ``stop`` checked between them.
    """
    if count == times.shape[0]:
        grown_t = np.empty(2 * count, dtype=np.float64)
        grown_x = np.empty((2 * count, states.shape[1]), dtype=np.int64)
        for start in range(0, count, GROW_BLOCK):
            if stop[0] != 0:
                return times, states, False
            end = min(count, start + GROW_BLOCK)
            grown_t[start:end] = times[start:end]
            grown_x[start:end] = states[start:end]
        times, states = grown_t, grown_x
    times[count] = t
    states[count, :] = x
    return times, states, True


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """Simulate ``x0.shape[0]`` trajectories, recording the state at ``save_times``.

    ``out[q, i, k]`` receives the count of species ``q`` in trajectory ``i`` at
    ``save_times[k]`` (right-continuous); species-major, so that each species
    is one contiguous block of the results. A trajectory stops at the last save
    time. ``opts[1]`` is the step budget: a trajectory that would fire more
    reactions stops with ``STATUS_BUDGET``. Events are
    exact: a time event ends the current waiting time (the
    exponential clock is memoryless, so drawing afresh afterwards is exact),
    state events are checked after every jump.
    """
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    budget = opts[1]
    a = np.empty(num_reactions(net), dtype=np.float64)  # noqa: F821
    x = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()
    for i in range(n):
        if _stopped(stop, status, i):  # noqa: F821
            return
        t = t0
        nsteps = 0
        k = np.int64(0)  # not a literal: numba would compile the save helper for the literal too
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)
        total = rates(net, x, pl, t, a)  # noqa: F821
        if not (total <= MAX_FLOAT) and code == 0:  # noqa: F821
            code = STATUS_INVALID_PROPENSITY  # noqa: F821
        if code != 0:
            total = 0.0
            next_ev = np.inf
        aux = agg_setup(a)  # noqa: F821
        next_save = save_times[0]
        while True:
            if total > 0.0:
                t_next = t + rng_exponential(s) / total  # noqa: F821
            else:
                t_next = np.inf
            # NUM_EVENTS is a constant of the module: without events numba prunes the branch, and the event
            # helpers are never compiled (about 1.5 s of a first call).
            if NUM_EVENTS > 0 and next_ev < t_next and next_ev <= save_times[nsave - 1]:  # noqa: F821
                # A time event comes first: save the state before it, apply it.
                k = _save_before(x, out, i, k, save_times, next_ev)
                next_save = save_times[k]  # next_ev is at most the last save time
                t = next_ev
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                if code != 0:
                    break
                next_ev = _next_event_time(ev_time, ev_done)
                total = rates(net, x, pl, t, a)  # noqa: F821
                if not (total <= MAX_FLOAT):  # noqa: F821
                    code = STATUS_INVALID_PROPENSITY  # noqa: F821
                    break
                agg_reset(a, aux)  # noqa: F821
                continue
            if next_save < t_next:
                # Record every save time the current state covers.
                k = _save_before(x, out, i, k, save_times, t_next)
                if k == nsave or code != 0:
                    break
                next_save = save_times[k]
            if nsteps >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            j = agg_select(a, rng_uniform(s) * total, aux, s)  # noqa: F821
            if j < 0:
                # Rounding put r past the end: resum and redraw this step.
                total = _total(a)
                continue
            t = t_next
            total = fire(net, j, x, pl, t, a, total)  # noqa: F821
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = 1 + j
                break
            agg_update(net, j, a, aux)  # noqa: F821
            nsteps += 1
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, fired = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                if code != 0:
                    break
                if fired:
                    total = rates(net, x, pl, t, a)  # noqa: F821
                    if not (total <= MAX_FLOAT):  # noqa: F821
                        code = STATUS_INVALID_PROPENSITY  # noqa: F821
                        break
                    agg_reset(a, aux)  # noqa: F821
                    continue
            if total <= 0.0 or (nsteps & (RESUM - 1)) == 0:
                total = _total(a)
                if stop[0] != 0:
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
        if _end_trajectory(i, code, x, t, nsteps, 0, out, status, steps, final_t):  # noqa: F821
            return


def _advance_compensators(a, ck, dt):
    """Add the propensities' integral over ``dt`` (they are constant there) to ``ck``."""
    for j in range(ck.shape[0]):
        ck[j] += a[j] * dt


def _save_counters(rk, ck, a, dt, fired, compensator, i, k):
    for j in range(rk.shape[0]):
        fired[j, i, k] = rk[j]
        compensator[j, i, k] = ck[j] + a[j] * dt


def simulate_compensators(net, x0, p, t0, save_times, seeds, out, fired, compensator, status, steps, final_t,
                          opts, stop):
    """:func:`simulate_grid`, also recording each reaction's counting process and its compensator.

    ``fired[j, i, k]`` is the number of times reaction ``j`` fired in
    trajectory ``i`` up to ``save_times[k]`` (``R_j``) and
    ``compensator[j, i, k]`` the integral of its propensity over the same
    time (``int a_j(X(s)) ds``, exact: the propensities are constant between
    jumps), so ``R_j - int a_j`` is the martingale of the random time change
    representation (Kurtz), sampled on the grid.

    A loop of its own: :func:`simulate_grid` running this one with the
    recording arrays None (numba prunes those branches) compiled 1-2 s
    slower per network (direct: 3.9 s -> 5.8-6.7 s, measured), a cost every
    first call would pay.
    """
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    budget = opts[1]
    a = np.empty(num_reactions(net), dtype=np.float64)  # noqa: F821
    x = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()
    rk = np.zeros(a.shape[0], dtype=np.int64)
    ck = np.zeros(a.shape[0], dtype=np.float64)
    for i in range(n):
        if _stopped(stop, status, i):  # noqa: F821
            return
        t = t0
        nsteps = 0
        k = np.int64(0)  # not a literal: numba would compile _save_counters for the literal too
        rk[:] = 0
        ck[:] = 0.0
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)
        total = rates(net, x, pl, t, a)  # noqa: F821
        if not (total <= MAX_FLOAT) and code == 0:  # noqa: F821
            code = STATUS_INVALID_PROPENSITY  # noqa: F821
        if code != 0:
            total = 0.0
            next_ev = np.inf
        aux = agg_setup(a)  # noqa: F821
        next_save = save_times[0]
        while True:
            if total > 0.0:
                t_next = t + rng_exponential(s) / total  # noqa: F821
            else:
                t_next = np.inf
            if NUM_EVENTS > 0 and next_ev < t_next and next_ev <= save_times[nsave - 1]:  # noqa: F821
                # A time event comes first: save the state before it, apply it.
                while next_save < next_ev:
                    for q in range(nspecies):
                        out[q, i, k] = x[q]
                    _save_counters(rk, ck, a, next_save - t, fired, compensator, i, k)
                    k += 1
                    next_save = save_times[k]
                _advance_compensators(a, ck, next_ev - t)
                t = next_ev
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                if code != 0:
                    break
                next_ev = _next_event_time(ev_time, ev_done)
                total = rates(net, x, pl, t, a)  # noqa: F821
                if not (total <= MAX_FLOAT):  # noqa: F821
                    code = STATUS_INVALID_PROPENSITY  # noqa: F821
                    break
                agg_reset(a, aux)  # noqa: F821
                continue
            if next_save < t_next:
                # Record every save time the current state covers.
                while next_save < t_next:
                    for q in range(nspecies):
                        out[q, i, k] = x[q]
                    _save_counters(rk, ck, a, next_save - t, fired, compensator, i, k)
                    k += 1
                    if k == nsave:
                        break
                    next_save = save_times[k]
                if k == nsave or code != 0:
                    break
            if nsteps >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            j = agg_select(a, rng_uniform(s) * total, aux, s)  # noqa: F821
            if j < 0:
                # Rounding put r past the end: resum and redraw this step.
                total = _total(a)
                continue
            _advance_compensators(a, ck, t_next - t)
            rk[j] += 1
            t = t_next
            total = fire(net, j, x, pl, t, a, total)  # noqa: F821
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = 1 + j
                break
            agg_update(net, j, a, aux)  # noqa: F821
            nsteps += 1
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, ev_fired = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                if code != 0:
                    break
                if ev_fired:
                    total = rates(net, x, pl, t, a)  # noqa: F821
                    if not (total <= MAX_FLOAT):  # noqa: F821
                        code = STATUS_INVALID_PROPENSITY  # noqa: F821
                        break
                    agg_reset(a, aux)  # noqa: F821
                    continue
            if total <= 0.0 or (nsteps & (RESUM - 1)) == 0:
                total = _total(a)
                if stop[0] != 0:
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
        if _end_trajectory(i, code, x, t, nsteps, 0, out, status, steps, final_t):  # noqa: F821
            return


def simulate_events(net, x0, p, t0, tf, seed, capacity, opts, stop):
    """Simulate one trajectory, recording the time and state after every jump and event.

    Returns ``(times, states, count, status, x, t)``: the first ``count``
    records (the first at ``t0``), the status code, and the final state and
    time (the failing ones if ``status != 0``).
    """
    nspecies = x0.shape[0]
    budget = opts[1]
    a = np.empty(num_reactions(net), dtype=np.float64)  # noqa: F821
    x = np.empty(nspecies, dtype=np.int64)
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
    if code != 0:
        return times, states, count, code, x, t
    total = rates(net, x, pl, t, a)  # noqa: F821
    if not (total <= MAX_FLOAT):  # noqa: F821
        return times, states, count, STATUS_INVALID_PROPENSITY, x, t  # noqa: F821
    aux = agg_setup(a)  # noqa: F821
    nsteps = 0
    while True:
        if total > 0.0:
            t_next = t + rng_exponential(s) / total  # noqa: F821
        else:
            t_next = np.inf
        changed = False
        if NUM_EVENTS > 0 and next_ev < t_next and next_ev <= tf:  # noqa: F821
            t = next_ev
            code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
            if code != 0:
                break
            next_ev = _next_event_time(ev_time, ev_done)
            changed = True
        else:
            if t_next > tf:
                break
            if nsteps >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            j = agg_select(a, rng_uniform(s) * total, aux, s)  # noqa: F821
            if j < 0:
                total = _total(a)
                continue
            t = t_next
            total = fire(net, j, x, pl, t, a, total)  # noqa: F821
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = 1 + j
                break
            agg_update(net, j, a, aux)  # noqa: F821
            nsteps += 1
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, changed = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                if code != 0:
                    break
            if total <= 0.0 or (nsteps & (RESUM - 1)) == 0:
                total = _total(a)
                if stop[0] != 0:
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
        if changed:
            total = rates(net, x, pl, t, a)  # noqa: F821
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = STATUS_INVALID_PROPENSITY  # noqa: F821
                break
            agg_reset(a, aux)  # noqa: F821
        times, states, recorded = _record(times, states, count, t, x, stop)  # noqa: F821
        if not recorded:
            code = STATUS_INTERRUPTED  # noqa: F821
            break
        count += 1
    return times, states, count, code, x, t


def agg_update(net, j, a, aux):
    """Nothing to update: a linear search reads ``a`` itself."""
    return


def agg_reset(a, aux):
    """Nothing to reset."""
    return


#: The bookkeeping hooks of aggregators that search ``a`` directly (direct, sorting direct).
SEARCH_HOOKS = (agg_update, agg_reset)
#: Event handling and trajectory set-up, shared with the leaping engines.
EVENT_SOURCES = (
    f"MAX_CASCADE = {MAX_CASCADE}\nGROW_BLOCK = {GROW_BLOCK}\n",
    _events_start,
    _next_event_time,
    _fire_events,
    _event_work,
    _start_trajectory,
    _stopped,
    _end_trajectory,
    _save_before,
    _save_through,
    _record,
)
SOURCES = (
    f"RESUM = {RESUM}\n", _total, *EVENT_SOURCES, _advance_compensators, _save_counters, simulate_grid,
    simulate_compensators, simulate_events,
)
