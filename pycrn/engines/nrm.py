"""The next reaction method.

M. A. Gibson and J. Bruck, "Efficient exact stochastic simulation of chemical
systems with many species and many channels", J. Phys. Chem. A
104:1876-1889 (2000); JumpProcesses' ``NRM`` aggregator.

Every reaction keeps an absolute putative firing time in an indexed binary
min-heap; the next reaction is the heap's top (O(1)), and firing it updates
only the reactions whose propensity it changed (the dependency graph), each
in O(log M). A changed reaction's time is rescaled,
``tau_k = t + (a_old / a_new) (tau_k - t)``, which reuses its unused
exponential clock exactly (the random time change representation); a
reaction whose propensity was zero, and the reaction that fired, draw a
fresh exponential time. One exponential number per reaction fired, none for
the selection. After an event the propensities are recomputed and every
clock is drawn afresh, which is exact because the clocks are memoryless.

The cost per reaction grows with the number of dependents times log M
rather than with M: this is the method for large, sparse networks.
Events, save grids and ``save="events"`` behave exactly as in the direct
method (:mod:`pycrn.engines.ssa_stepper`), and the engine runs on the
generated or the shared kernels alike.
"""

from __future__ import annotations

from . import ssa_stepper

NAME = "nrm"


def _sift_down(tau, heap, pos, q):
    """Move ``heap[q]`` down until no child is earlier; the subtrees below q must be heaps."""
    n = heap.shape[0]
    k = heap[q]
    v = tau[k]
    while True:
        child = 2 * q + 1
        if child >= n:
            break
        if child + 1 < n and tau[heap[child + 1]] < tau[heap[child]]:
            child += 1
        kc = heap[child]
        if tau[kc] >= v:
            break
        heap[q] = kc
        pos[kc] = q
        q = child
    heap[q] = k
    pos[k] = q


def _sift(tau, heap, pos, q):
    """Restore the heap property at position q after ``tau[heap[q]]`` changed (the rest being a heap)."""
    k = heap[q]
    v = tau[k]
    while q > 0:
        parent = (q - 1) >> 1
        kp = heap[parent]
        if tau[kp] <= v:
            break
        heap[q] = kp
        pos[kp] = q
        q = parent
    heap[q] = k
    _sift_down(tau, heap, pos, q)


def _heapify(tau, heap, pos):
    """Build the heap of all reactions from scratch, bottom-up (Floyd).

    Only downward moves: at each position the subtrees below are already
    heaps but the positions above are not yet, so moving an entry up there
    (as ``_sift`` would) leaves the entry it displaces above a smaller one.
    """
    m = tau.shape[0]
    for k in range(m):
        heap[k] = k
        pos[k] = k
    for q in range((m >> 1) - 1, -1, -1):
        _sift_down(tau, heap, pos, q)


def _draw_all(a, t, s, tau, heap, pos):
    """Fresh exponential clocks for every reaction at time t; rebuild the heap."""
    for k in range(a.shape[0]):
        tau[k] = t + rng_exponential(s) / a[k] if a[k] > 0.0 else np.inf  # noqa: F821
    _heapify(tau, heap, pos)


def _after_firing(net, j, t, a, aold, s, tau, heap, pos):
    """Rescale the clocks of the reactions whose propensity changed; a fresh clock for the one that fired."""
    ptr, idx = dependency_arrays(net)  # noqa: F821
    for q in range(ptr[j], ptr[j + 1]):
        k = idx[q]
        if k == j:
            continue
        if a[k] > 0.0:
            if aold[k] > 0.0:
                tau[k] = t + (aold[k] / a[k]) * (tau[k] - t)
            else:
                tau[k] = t + rng_exponential(s) / a[k]  # noqa: F821
        else:
            tau[k] = np.inf  # noqa: F821
        _sift(tau, heap, pos, pos[k])
    tau[j] = t + rng_exponential(s) / a[j] if a[j] > 0.0 else np.inf  # noqa: F821
    _sift(tau, heap, pos, pos[j])


def _fire(net, j, x, pl, t, a, aold, total):
    """Keep the old propensities of j's dependents, then fire j (the kernels' ``fire``)."""
    ptr, idx = dependency_arrays(net)  # noqa: F821
    for q in range(ptr[j], ptr[j + 1]):
        aold[idx[q]] = a[idx[q]]
    return fire(net, j, x, pl, t, a, total)  # noqa: F821


def _work(net):
    m = num_reactions(net)  # noqa: F821
    return (
        np.empty(m, dtype=np.float64),  # a
        np.empty(m, dtype=np.float64),  # aold
        np.empty(m, dtype=np.float64),  # tau
        np.empty(m, dtype=np.int64),  # heap
        np.empty(m, dtype=np.int64),  # pos
    )


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """The next reaction method on the save grid; the contract of the SSA stepper's ``simulate_grid``."""
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    a, aold, tau, heap, pos = _work(net)
    m = a.shape[0]
    budget = opts[1]
    x = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()  # noqa: F821
    for i in range(n):
        if _stopped(stop, status, i):  # noqa: F821
            return
        t = t0
        nsteps = 0
        k = np.int64(0)  # not a literal: numba would compile the save helper for the literal too
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
        total = rates(net, x, pl, t, a)  # noqa: F821
        if not (total <= MAX_FLOAT) and code == 0:  # noqa: F821
            code = STATUS_INVALID_PROPENSITY  # noqa: F821
        if code != 0:
            for q in range(m):
                a[q] = 0.0
            next_ev = np.inf
        _draw_all(a, t, s, tau, heap, pos)
        next_save = save_times[0]
        while True:
            t_next = tau[heap[0]] if m > 0 else np.inf
            if NUM_EVENTS > 0 and next_ev < t_next and next_ev <= save_times[nsave - 1]:  # noqa: F821
                k = _save_before(x, out, i, k, save_times, next_ev)
                next_save = save_times[k]  # next_ev is at most the last save time
                t = next_ev
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                if code != 0:
                    break
                next_ev = _next_event_time(ev_time, ev_done)  # noqa: F821
                total = rates(net, x, pl, t, a)  # noqa: F821
                if not (total <= MAX_FLOAT):  # noqa: F821
                    code = STATUS_INVALID_PROPENSITY  # noqa: F821
                    break
                _draw_all(a, t, s, tau, heap, pos)
                continue
            if next_save < t_next:
                k = _save_before(x, out, i, k, save_times, t_next)
                if k == nsave or code != 0:
                    break
                next_save = save_times[k]
            if nsteps >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            j = heap[0]
            t = t_next
            total = _fire(net, j, x, pl, t, a, aold, total)
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = 1 + j
                break
            nsteps += 1
            _after_firing(net, j, t, a, aold, s, tau, heap, pos)
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, fired = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                if code != 0:
                    break
                if fired:
                    total = rates(net, x, pl, t, a)  # noqa: F821
                    if not (total <= MAX_FLOAT):  # noqa: F821
                        code = STATUS_INVALID_PROPENSITY  # noqa: F821
                        break
                    _draw_all(a, t, s, tau, heap, pos)
            if (nsteps & (RESUM - 1)) == 0 and stop[0] != 0:  # noqa: F821
                code = STATUS_INTERRUPTED  # noqa: F821
                break
        if _end_trajectory(i, code, x, t, nsteps, 0, out, status, steps, final_t):  # noqa: F821
            return


def simulate_events(net, x0, p, t0, tf, seed, capacity, opts, stop):
    """One trajectory recorded after every jump and event; the contract of the SSA stepper's."""
    nspecies = x0.shape[0]
    a, aold, tau, heap, pos = _work(net)
    m = a.shape[0]
    budget = opts[1]
    x = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()  # noqa: F821
    times = np.empty(capacity, dtype=np.float64)
    states = np.empty((capacity, nspecies), dtype=np.int64)
    t = t0
    code, next_ev = _start_trajectory(x0, seed, p, x, s, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
    times[0] = t
    states[0, :] = x
    count = np.int64(1)  # not a literal: numba would compile _record for the literal too
    if code != 0:
        return times, states, count, code, x, t
    total = rates(net, x, pl, t, a)  # noqa: F821
    if not (total <= MAX_FLOAT):  # noqa: F821
        return times, states, count, STATUS_INVALID_PROPENSITY, x, t  # noqa: F821
    _draw_all(a, t, s, tau, heap, pos)
    nsteps = 0
    while True:
        t_next = tau[heap[0]] if m > 0 else np.inf
        changed = False
        if NUM_EVENTS > 0 and next_ev < t_next and next_ev <= tf:  # noqa: F821
            t = next_ev
            code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
            if code != 0:
                break
            next_ev = _next_event_time(ev_time, ev_done)  # noqa: F821
            changed = True
        else:
            if t_next > tf:
                break
            if nsteps >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            j = heap[0]
            t = t_next
            total = _fire(net, j, x, pl, t, a, aold, total)
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = 1 + j
                break
            nsteps += 1
            _after_firing(net, j, t, a, aold, s, tau, heap, pos)
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, changed = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                if code != 0:
                    break
            if (nsteps & (RESUM - 1)) == 0 and stop[0] != 0:  # noqa: F821
                code = STATUS_INTERRUPTED  # noqa: F821
                break
        if changed:
            total = rates(net, x, pl, t, a)  # noqa: F821
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = STATUS_INVALID_PROPENSITY  # noqa: F821
                break
            _draw_all(a, t, s, tau, heap, pos)
        times, states, recorded = _record(times, states, count, t, x, stop)  # noqa: F821
        if not recorded:
            code = STATUS_INTERRUPTED  # noqa: F821
            break
        count += 1
    return times, states, count, code, x, t


SOURCES = (
    f"RESUM = {ssa_stepper.RESUM}\n",
    *ssa_stepper.EVENT_SOURCES,
    _sift_down,
    _sift,
    _heapify,
    _draw_all,
    _after_firing,
    _fire,
    _work,
    simulate_grid,
    simulate_events,
)
