"""The rejection-based SSA with a two-level search.

V. H. Thanh, C. Priami and R. Zunino, "Efficient rejection-based simulation
of biochemical reactions with stochastic noise and delays", J. Chem. Phys.
141:134116 (2014); JumpProcesses' ``RSSA`` aggregator.

Each species count is kept inside a bracket ``[lo, hi]`` around its value
(``w = floor(fluctuation * x) + 1`` on each side, none for an empty
species), and each reaction
inside the bracket of its propensity, ``alo = a(lo) <= a(x) <= a(hi) = ahi``
(mass action is nondecreasing in every count). Candidate firings come from
a Poisson process of rate ``sum(ahi)``; a candidate picks reaction ``j``
with probability ``ahi[j] / sum(ahi)`` and is accepted with probability
``a_j(x) / ahi[j]``: at once if a uniform number falls below
``alo[j] / ahi[j]``, otherwise after evaluating the one propensity
``a_j(x)``. Thinning a dominating Poisson process this way samples the
master equation exactly. Propensities are never updated when a reaction
fires: only when a species leaves its bracket are its bracket and the
bounds of the reactions that read it recomputed, which is what makes the
method fast on large networks where each reaction changes many
propensities a little.

The candidate is chosen by a two-level search: reactions in blocks of about
``sqrt(M)``, the block by its sum of upper bounds, then the reaction inside
it, so a selection costs O(sqrt(M)) rather than O(M). RSSA-CR
(:mod:`pycrn.engines.rssa_cr`) runs the same loop with a
composition-rejection selection instead. The selection is four hooks on an
opaque table ``sel``: ``sel_new(m)``, ``sel_reset(sel, ahi)`` (returns the
sum of the upper bounds), ``sel_change_many(sel, idx, lo, hi, ahi, aold)``
(after ``ahi[k]`` changed from ``aold[k]`` for k in ``idx[lo:hi]``) and
``sel_pick(sel, ahi, r, s)`` (the candidate covering ``r``, or -1 after
recomputing its sums when rounding put ``r`` past them).

The engine runs on the data-driven kernels (mass-action networks whose
rate constants read neither species nor t): the shared module for
networks without events, a module with the network's events and rate laws
compiled for it otherwise (after an event the rate constants, brackets and
bounds are computed afresh). ``opts[0]`` is the bracket's relative
half-width.
"""

from __future__ import annotations

import math

from ..errors import ModelError
from . import ssa_stepper

NAME = "rssa"
#: The engine reads the network from the data-driven kernels' arrays (its brackets need the reader lists).
SHARED_ONLY = True
RESUM = 4096


def check_network(net, name: str = NAME) -> None:
    """Refuse, naming the reaction, a network the rejection-based SSA (``name``) cannot simulate.

    Its bounds need propensities that grow with every count: mass action, with rate constants that
    read neither species nor t (events may change them: they are recomputed after every event).
    """
    from ..network_arrays import array_kernels_apply

    if not array_kernels_apply(net):
        species = set(net.species_names)
        for j, r in enumerate(net.reactions):
            if not r.mass_action or r.rate.depends_on_time or set(r.rate.names) & species:
                raise ModelError(
                    f"reaction {j + 1} ({r}): method '{name}' needs mass-action reactions whose rate constant "
                    "reads neither species nor t; use method='direct' or 'nrm'"
                )


def _block_size(m):
    """Reactions per block of the two-level search: about sqrt(M), at least 16."""
    return max(16, int(math.sqrt(max(m, 1))))


def _bracket(xi, delta, out_lo, out_hi, i):
    # An empty species gets the bracket [0, 0]: the reactions it feeds cannot fire, and proposing them
    # until it is produced would only waste candidates.
    w = int(delta * xi) + 1 if xi > 0 else 0
    out_lo[i] = xi - w if xi > w else 0
    out_hi[i] = xi + w if xi <= 9223372036854775807 - w else 9223372036854775807


def _rebound_reactions(net, i, k_eff, lo, hi, alo, ahi, aold, sel, total):
    """Recompute the bounds of the reactions reading species i; return the new sum of upper bounds."""
    sp = net[net[_SP] + i]  # noqa: F821
    se = net[net[_SP] + i + 1]  # noqa: F821
    readers = net[_SI]  # noqa: F821
    for q in range(sp, se):
        k = net[readers + q]
        aold[k] = ahi[k]
        alo[k] = _propensity(net, k, lo, k_eff)  # noqa: F821
        ahi[k] = _propensity(net, k, hi, k_eff)  # noqa: F821
        total += ahi[k] - aold[k]
    # The readers are net[readers + sp : readers + se]: the selection takes them in one call.
    sel_change_many(sel, net, readers + sp, readers + se, ahi, aold)  # noqa: F821
    return total


def _init_bounds(net, x, k_eff, delta, lo, hi, alo, ahi, sel):
    """Brackets of every species around x, the bounds of every reaction and the selection table; their total."""
    for i in range(x.shape[0]):
        _bracket(x[i], delta, lo, hi, i)
    for k in range(alo.shape[0]):
        alo[k] = _propensity(net, k, lo, k_eff)  # noqa: F821
        ahi[k] = _propensity(net, k, hi, k_eff)  # noqa: F821
    return sel_reset(sel, ahi)  # noqa: F821


def sel_new(m):
    """The block sums of the two-level search."""
    bs = _block_size(m)
    return np.empty((m + bs - 1) // bs if m > 0 else 0, dtype=np.float64)


def sel_reset(bsum, ahi):
    """Recompute every block sum; return their total."""
    bs = _block_size(ahi.shape[0])
    total = 0.0
    for b in range(bsum.shape[0]):
        s = 0.0
        for k in range(b * bs, min(ahi.shape[0], (b + 1) * bs)):
            s += ahi[k]
        bsum[b] = s
        total += s
    return total


def sel_change_many(bsum, idx, lo, hi, ahi, aold):
    """Move the changes of ``ahi[k]`` (from ``aold[k]``), k in ``idx[lo:hi]``, into their blocks' sums."""
    bs = _block_size(ahi.shape[0])
    for q in range(lo, hi):
        k = idx[q]
        bsum[k // bs] += ahi[k] - aold[k]


def sel_pick(bsum, ahi, r, s):
    """The reaction j whose upper bound covers r in the cumulative sums (block, then member); -1 on rounding."""
    bs = _block_size(ahi.shape[0])
    acc = 0.0
    for b in range(bsum.shape[0]):
        if r < acc + bsum[b]:
            for k in range(b * bs, min(ahi.shape[0], (b + 1) * bs)):
                acc += ahi[k]
                if r < acc:
                    return k
            return -1
        acc += bsum[b]
    return -1


def _candidate(net, x, k_eff, alo, ahi, sel, total, s):
    """Select a candidate and decide acceptance. Returns (j, accepted); j = -1 asks for a resum."""
    j = sel_pick(sel, ahi, rng_uniform(s) * total, s)  # noqa: F821
    if j < 0:
        return -1, False
    u = rng_uniform(s) * ahi[j]  # noqa: F821
    if u < alo[j]:
        return j, True
    return j, u < _propensity(net, j, x, k_eff)  # noqa: F821


def _apply(net, j, x, k_eff, delta, lo, hi, alo, ahi, aold, sel, total):
    """Fire reaction j; re-bracket the species that left their brackets. Returns the new total.

    NaN (nothing applied) if a count would pass ``COUNT_LIMIT``.
    """
    cp = net[_CP] + j  # noqa: F821
    cs = net[_CS]  # noqa: F821
    cd = net[_CD]  # noqa: F821
    for q in range(net[cp], net[cp + 1]):
        d = net[cd + q]
        if d > 0 and x[net[cs + q]] > COUNT_LIMIT - d:  # noqa: F821
            return np.nan
    for q in range(net[cp], net[cp + 1]):
        i = net[cs + q]
        x[i] += net[cd + q]
    for q in range(net[cp], net[cp + 1]):
        i = net[cs + q]
        if x[i] < lo[i] or x[i] > hi[i]:
            _bracket(x[i], delta, lo, hi, i)
            total = _rebound_reactions(net, i, k_eff, lo, hi, alo, ahi, aold, sel, total)
    return total


def _work(net, nspecies):
    m = num_reactions(net)  # noqa: F821
    return (
        np.empty(nspecies, dtype=np.int64),  # lo
        np.empty(nspecies, dtype=np.int64),  # hi
        np.empty(m, dtype=np.float64),  # alo
        np.empty(m, dtype=np.float64),  # ahi
        sel_new(m),  # noqa: F821
        np.empty(m, dtype=np.float64),  # k_eff
        np.empty(m, dtype=np.float64),  # aold: upper bounds before a re-bracketing
    )


def _restart(net, x, pl, k_eff, delta, lo, hi, alo, ahi, sel):
    """Rate constants from the parameters ``pl``, brackets and bounds around x: at the start and after an event.

    Returns the sum of the upper bounds, or NaN if a rate constant is negative or not finite.
    """
    kernel_constants(pl, k_eff)  # noqa: F821
    for j in range(k_eff.shape[0]):
        if not (k_eff[j] >= 0.0 and k_eff[j] <= MAX_FLOAT):  # noqa: F821
            return np.nan
    return _init_bounds(net, x, k_eff, delta, lo, hi, alo, ahi, sel)


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """The rejection-based SSA on the save grid; the contract of the SSA stepper's ``simulate_grid``.

    ``steps[i, 0]`` receives the reactions fired, ``steps[i, 1]`` the rejected candidates. Events
    as in the direct method: a time event ends the candidates' waiting time (the dominating Poisson
    process is memoryless), a state event is checked after every accepted reaction, and after an
    event the rate constants, brackets and bounds are computed afresh.
    """
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    delta = opts[0]
    budget = opts[1]
    lo, hi, alo, ahi, sel, k_eff, aold = _work(net, nspecies)
    x = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()  # noqa: F821
    for i in range(n):
        if _stopped(stop, status, i):  # noqa: F821
            return
        t = t0
        nsteps = 0
        rejected = 0
        k = np.int64(0)  # not a literal: numba would compile the save helper for the literal too
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
        total = _restart(net, x, pl, k_eff, delta, lo, hi, alo, ahi, sel)
        if not (total <= MAX_FLOAT) and code == 0:  # noqa: F821
            code = STATUS_INVALID_PROPENSITY  # noqa: F821
        if code != 0:
            total = 0.0
            next_ev = np.inf
        next_save = save_times[0]
        while True:
            if total > 0.0:
                t_next = t + rng_exponential(s) / total  # noqa: F821
            else:
                t_next = np.inf
            if NUM_EVENTS > 0 and next_ev < t_next and next_ev <= save_times[nsave - 1]:  # noqa: F821
                k = _save_before(x, out, i, k, save_times, next_ev)
                next_save = save_times[k]  # next_ev is at most the last save time
                t = next_ev
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                if code != 0:
                    break
                next_ev = _next_event_time(ev_time, ev_done)  # noqa: F821
                total = _restart(net, x, pl, k_eff, delta, lo, hi, alo, ahi, sel)
                if not (total <= MAX_FLOAT):  # noqa: F821
                    code = STATUS_INVALID_PROPENSITY  # noqa: F821
                    break
                continue
            if next_save < t_next:
                k = _save_before(x, out, i, k, save_times, t_next)
                if k == nsave or code != 0:
                    break
                next_save = save_times[k]
            # The budget counts candidates: bounds far above the propensities would otherwise reject
            # without end while time advances by nothing.
            if nsteps + rejected >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            j, accepted = _candidate(net, x, k_eff, alo, ahi, sel, total, s)
            if j < 0:
                total = sel_reset(sel, ahi)  # noqa: F821
                continue
            t = t_next
            if not accepted:
                rejected += 1
                if (rejected & (RESUM - 1)) == 0 and stop[0] != 0:
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
                continue
            total = _apply(net, j, x, k_eff, delta, lo, hi, alo, ahi, aold, sel, total)
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = 1 + j
                break
            nsteps += 1
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, fired = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                if code != 0:
                    break
                if fired:
                    total = _restart(net, x, pl, k_eff, delta, lo, hi, alo, ahi, sel)
                    if not (total <= MAX_FLOAT):  # noqa: F821
                        code = STATUS_INVALID_PROPENSITY  # noqa: F821
                        break
            if (nsteps & (RESUM - 1)) == 0:
                total = sel_reset(sel, ahi)  # noqa: F821
                if stop[0] != 0:
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
        if _end_trajectory(i, code, x, t, nsteps, rejected, out, status, steps, final_t):  # noqa: F821
            return


def simulate_events(net, x0, p, t0, tf, seed, capacity, opts, stop):
    """One trajectory recorded after every reaction and event; the contract of the SSA stepper's ``simulate_events``."""
    nspecies = x0.shape[0]
    delta = opts[0]
    budget = opts[1]
    lo, hi, alo, ahi, sel, k_eff, aold = _work(net, nspecies)
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
    total = _restart(net, x, pl, k_eff, delta, lo, hi, alo, ahi, sel)
    if not (total <= MAX_FLOAT):  # noqa: F821
        return times, states, count, STATUS_INVALID_PROPENSITY, x, t  # noqa: F821
    nsteps = 0
    rejected = 0
    while True:
        t_next = t + rng_exponential(s) / total if total > 0.0 else np.inf  # noqa: F821
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
            if nsteps + rejected >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            j, accepted = _candidate(net, x, k_eff, alo, ahi, sel, total, s)
            if j < 0:
                total = sel_reset(sel, ahi)  # noqa: F821
                continue
            t = t_next
            if not accepted:
                rejected += 1
                if (rejected & (RESUM - 1)) == 0 and stop[0] != 0:
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
                continue
            total = _apply(net, j, x, k_eff, delta, lo, hi, alo, ahi, aold, sel, total)
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = 1 + j
                break
            nsteps += 1
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, changed = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                if code != 0:
                    break
            if (nsteps & (RESUM - 1)) == 0:
                total = sel_reset(sel, ahi)  # noqa: F821
                if stop[0] != 0:
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
        if changed:
            total = _restart(net, x, pl, k_eff, delta, lo, hi, alo, ahi, sel)
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = STATUS_INVALID_PROPENSITY  # noqa: F821
                break
        times, states, recorded = _record(times, states, count, t, x, stop)  # noqa: F821
        if not recorded:
            code = STATUS_INTERRUPTED  # noqa: F821
            break
        count += 1
    return times, states, count, code, x, t


#: The rejection loop, shared with RSSA-CR (which brings its own ``sel_*`` selection).
LOOP_SOURCES = (
    f"RESUM = {RESUM}\n",
    *ssa_stepper.EVENT_SOURCES,
    _bracket,
    _rebound_reactions,
    _init_bounds,
    _candidate,
    _apply,
    _work,
    _restart,
    simulate_grid,
    simulate_events,
)
SOURCES = (_block_size, sel_new, sel_reset, sel_change_many, sel_pick, *LOOP_SOURCES)
