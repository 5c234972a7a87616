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
it, so a selection costs O(sqrt(M)) rather than O(M). (Thanh and
colleagues' RSSA-CR uses composition-rejection over groups of similar
upper bounds instead; the two-level search is exact without a second
rejection loop and needs no group bookkeeping.)

The engine runs on the shared data-driven kernels (mass-action networks
whose rate constants do not change during a run, without events);
``opts[0]`` is the bracket's relative half-width.
"""

from __future__ import annotations

import math

from ..errors import ModelError
from . import ssa_stepper

NAME = "rssa"
#: The engine reads the network from the shared kernels' arrays (its brackets need the reader lists).
SHARED_ONLY = True
RESUM = 4096


def check_network(net) -> None:
    """Refuse, naming the reaction or event, a network the rejection-based SSA cannot simulate."""
    from ..network_arrays import shared_kernels_apply

    if net.events:
        raise ModelError(
            f"method 'rssa' does not support events (event {net.events[0]}); use method='direct' or 'nrm'"
        )
    if not shared_kernels_apply(net):
        species = set(net.species_names)
        for j, r in enumerate(net.reactions):
            if not r.mass_action or r.rate.depends_on_time or set(r.rate.names) & species:
                raise ModelError(
                    f"reaction {j + 1} ({r}): method 'rssa' needs mass-action reactions whose rate constant "
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


def _rebound_reactions(net, i, k_eff, lo, hi, alo, ahi, bsum, bs, total):
    """Recompute the bounds of the reactions reading species i; return the new sum of upper bounds."""
    sp = net[net[_SP] + i]  # noqa: F821
    se = net[net[_SP] + i + 1]  # noqa: F821
    readers = net[_SI]  # noqa: F821
    for q in range(sp, se):
        k = net[readers + q]
        old = ahi[k]
        alo[k] = _propensity(net, k, lo, k_eff)  # noqa: F821
        new = _propensity(net, k, hi, k_eff)  # noqa: F821
        ahi[k] = new
        bsum[k // bs] += new - old
        total += new - old
    return total


def _init_bounds(net, x, k_eff, delta, lo, hi, alo, ahi, bsum, bs):
    """Brackets of every species around x, the bounds of every reaction and the block sums; returns their total."""
    for i in range(x.shape[0]):
        _bracket(x[i], delta, lo, hi, i)
    for b in range(bsum.shape[0]):
        bsum[b] = 0.0
    total = 0.0
    for k in range(alo.shape[0]):
        alo[k] = _propensity(net, k, lo, k_eff)  # noqa: F821
        ahi[k] = _propensity(net, k, hi, k_eff)  # noqa: F821
        bsum[k // bs] += ahi[k]
        total += ahi[k]
    return total


def _resum(ahi, bsum, bs):
    total = 0.0
    for b in range(bsum.shape[0]):
        s = 0.0
        for k in range(b * bs, min(ahi.shape[0], (b + 1) * bs)):
            s += ahi[k]
        bsum[b] = s
        total += s
    return total


def _select(ahi, bsum, bs, r):
    """The reaction j whose upper bound covers r in the cumulative sums (block, then member); -1 on rounding."""
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


def _candidate(net, x, k_eff, alo, ahi, bsum, bs, total, s):
    """Select a candidate and decide acceptance. Returns (j, accepted); j = -1 asks for a resum."""
    j = _select(ahi, bsum, bs, rng_uniform(s) * total)  # noqa: F821
    if j < 0:
        return -1, False
    u = rng_uniform(s) * ahi[j]  # noqa: F821
    if u < alo[j]:
        return j, True
    return j, u < _propensity(net, j, x, k_eff)  # noqa: F821


def _apply(net, j, x, k_eff, delta, lo, hi, alo, ahi, bsum, bs, total):
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
            total = _rebound_reactions(net, i, k_eff, lo, hi, alo, ahi, bsum, bs, total)
    return total


def _work(net, nspecies, bs):
    m = num_reactions(net)  # noqa: F821
    return (
        np.empty(nspecies, dtype=np.int64),  # lo
        np.empty(nspecies, dtype=np.int64),  # hi
        np.empty(m, dtype=np.float64),  # alo
        np.empty(m, dtype=np.float64),  # ahi
        np.empty((m + bs - 1) // bs if m > 0 else 0, dtype=np.float64),  # bsum
    )


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """The rejection-based SSA on the save grid; the contract of the SSA stepper's ``simulate_grid``.

    ``steps[i, 0]`` receives the reactions fired, ``steps[i, 1]`` the rejected candidates.
    """
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    delta = opts[0]
    budget = opts[1]
    bs = _block_size(num_reactions(net))  # noqa: F821
    lo, hi, alo, ahi, bsum = _work(net, nspecies, bs)
    x = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    for i in range(n):
        if stop[0] != 0:
            for q in range(i, n):
                status[q] = STATUS_INTERRUPTED  # noqa: F821
            return
        for q in range(nspecies):
            x[q] = x0[i, q]
        for q in range(4):
            s[q] = seeds[i, q]
        t = t0
        nsteps = 0
        rejected = 0
        k = 0
        code = 0
        total = _init_bounds(net, x, p, delta, lo, hi, alo, ahi, bsum, bs)
        if not (total <= MAX_FLOAT):  # noqa: F821
            code = STATUS_INVALID_PROPENSITY  # noqa: F821
            total = 0.0
        next_save = save_times[0]
        while True:
            if total > 0.0:
                t_next = t + rng_exponential(s) / total  # noqa: F821
            else:
                t_next = np.inf
            if next_save < t_next:
                while next_save < t_next:
                    for q in range(nspecies):
                        out[q, i, k] = x[q]
                    k += 1
                    if k == nsave:
                        break
                    next_save = save_times[k]
                if k == nsave:
                    break
            # The budget counts candidates: bounds far above the propensities would otherwise reject
            # without end while time advances by nothing.
            if nsteps + rejected >= budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            j, accepted = _candidate(net, x, p, alo, ahi, bsum, bs, total, s)
            if j < 0:
                total = _resum(ahi, bsum, bs)
                continue
            t = t_next
            if not accepted:
                rejected += 1
                if (rejected & (RESUM - 1)) == 0 and stop[0] != 0:
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
                continue
            total = _apply(net, j, x, p, delta, lo, hi, alo, ahi, bsum, bs, total)
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = 1 + j
                break
            nsteps += 1
            if (nsteps & (RESUM - 1)) == 0:
                total = _resum(ahi, bsum, bs)
                if stop[0] != 0:
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
        status[i] = code
        steps[i, 0] = nsteps
        steps[i, 1] = rejected
        final_t[i] = t
        if code != 0:
            for q in range(nspecies):
                out[q, i, nsave - 1] = x[q]
            # Fail fast: the caller raises for this trajectory; the rest are not run.
            for q in range(i + 1, n):
                status[q] = STATUS_INTERRUPTED  # noqa: F821
            return


def simulate_events(net, x0, p, t0, tf, seed, capacity, opts, stop):
    """One trajectory recorded after every reaction; the contract of the SSA stepper's ``simulate_events``."""
    nspecies = x0.shape[0]
    delta = opts[0]
    budget = opts[1]
    bs = _block_size(num_reactions(net))  # noqa: F821
    lo, hi, alo, ahi, bsum = _work(net, nspecies, bs)
    x = x0.copy()
    s = seed.copy()
    times = np.empty(capacity, dtype=np.float64)
    states = np.empty((capacity, nspecies), dtype=np.int64)
    t = t0
    times[0] = t
    states[0, :] = x
    count = 1
    code = 0
    total = _init_bounds(net, x, p, delta, lo, hi, alo, ahi, bsum, bs)
    if not (total <= MAX_FLOAT):  # noqa: F821
        return times, states, count, STATUS_INVALID_PROPENSITY, x, t  # noqa: F821
    nsteps = 0
    rejected = 0
    while True:
        t_next = t + rng_exponential(s) / total if total > 0.0 else np.inf  # noqa: F821
        if t_next > tf:
            break
        if nsteps + rejected >= budget:
            code = STATUS_BUDGET  # noqa: F821
            break
        j, accepted = _candidate(net, x, p, alo, ahi, bsum, bs, total, s)
        if j < 0:
            total = _resum(ahi, bsum, bs)
            continue
        t = t_next
        if not accepted:
            rejected += 1
            if (rejected & (RESUM - 1)) == 0 and stop[0] != 0:
                code = STATUS_INTERRUPTED  # noqa: F821
                break
            continue
        total = _apply(net, j, x, p, delta, lo, hi, alo, ahi, bsum, bs, total)
        if not (total <= MAX_FLOAT):  # noqa: F821
            code = 1 + j
            break
        nsteps += 1
        if (nsteps & (RESUM - 1)) == 0:
            total = _resum(ahi, bsum, bs)
            if stop[0] != 0:
                code = STATUS_INTERRUPTED  # noqa: F821
                break
        if count == times.shape[0]:
            times, states = _grow(times, states, count)  # noqa: F821
        times[count] = t
        states[count, :] = x
        count += 1
    return times, states, count, code, x, t


SOURCES = (
    f"RESUM = {RESUM}\n",
    ssa_stepper._grow,
    _block_size,
    _bracket,
    _rebound_reactions,
    _init_bounds,
    _resum,
    _select,
    _candidate,
    _apply,
    _work,
    simulate_grid,
    simulate_events,
)
