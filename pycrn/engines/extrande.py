"""Exact simulation with time-dependent propensities by thinning (Extrande).

M. Voliotis, P. Thomas, R. Grima and C. G. Bowsher, "Stochastic simulation
of biomolecular networks in dynamic environments", PLoS Comput. Biol.
12:e1004923 (2016); the same scheme as JumpProcesses' bounded
``VariableRateJump``.

Between jumps the counts are fixed and the propensities ``a_j(t)`` move with
``t`` only. Over a window ``[t, t + L]`` the engine takes a bound ``B`` of
the total propensity (:mod:`pycrn.rate_bounds`: interval arithmetic on the
rate expressions, a proof rather than an estimate), proposes candidate times
as a Poisson process of rate ``B`` and accepts a candidate at ``s`` with
probability ``a_0(s) / B``, then picks reaction ``j`` with probability
``a_j(s) / a_0(s)``. The accepted times form the jump process with intensity
``a_0(t)`` exactly (Lewis and Shedler's thinning); nothing is integrated
or discretised. A candidate whose propensity exceeds the bound (impossible
unless the enclosure is wrong) stops the run with an error naming the
reaction and the time. A bound the model declares (``@bound``, see
:class:`~pycrn.Reaction`) replaces the enclosure where it is lower; it is
checked reaction by reaction at every candidate, and a propensity above it
stops the run with an error naming the reaction and the time (a check at
the candidate times: a violation between candidates goes unseen, as in any
thinning scheme).

The window length ``L`` adapts to the past only (so the scheme stays exact):
halved while the bound is loose (more than twice the propensity at the
window's start, with several candidates expected) and doubled when the window
is expected to hold less than one candidate. A rate that cannot be bounded
over any window (a singularity at some time) shrinks the window to nothing
and stops the run with an error naming the reaction and the time.

Time events end windows; state events are checked after every jump, as in
the direct method. ``opts[0]`` is the first window (0: a sixteenth of the
run); ``steps[i, 1]`` counts the rejected candidates. The budget counts
accepted and rejected candidates and empty windows.
"""

from __future__ import annotations

import numpy as np

from ..network import ReactionNetwork
from ..rate_bounds import bounds_source, has_user_bounds
from . import intervals, ssa_stepper

NAME = "extrande"
GENERATED_FUNCTIONS = ("rate_bounds",)
#: A window shorter than this fraction of ``max(1, |t|)`` is refused: the rate cannot be bounded near t.
MIN_WINDOW = 1e-13
#: Relative slack of the bound check: rounding of the propensity itself, far below any real violation.
BOUND_SLACK = 1e-9


def constants_source(net: ReactionNetwork) -> str:
    """The generated ``rate_bounds`` (see :mod:`pycrn.rate_bounds`) and whether reactions declare bounds."""
    return f"USER_BOUNDS = {has_user_bounds(net)}\n" + bounds_source(net)


def _first_over(a, b):
    """The first reaction whose propensity is above its bound (or whose bound is not finite), or -1."""
    for j in range(a.shape[0]):
        if not (a[j] <= b[j] * (1.0 + BOUND_SLACK)) or not (b[j] <= MAX_FLOAT):  # noqa: F821
            return j
    return -1


def _window(x, pl, t, length, horizon, a0, b):
    """A bound of the total propensity over ``[t, t_end]``: ``(B, t_end, length)``.

    ``length`` is halved while the bound is loose with several candidates
    expected, and while no finite bound exists; ``B`` is NaN or infinite if
    the window became too short.
    """
    floor = MIN_WINDOW * max(1.0, abs(t))
    while True:
        t_end = min(t + length, horizon)
        bound = rate_bounds(x, pl, t, t_end, b)  # noqa: F821
        finite = bound <= MAX_FLOAT  # noqa: F821
        loose = finite and bound * (t_end - t) > 4.0 and bound > 2.0 * a0
        if finite and not loose:
            return bound, t_end, length
        if length < floor or (t_end - t) < floor:
            return bound, t_end, length
        if finite and length < 64.0 * floor:
            return bound, t_end, length
        length *= 0.5


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """Thinning on the save grid; the contract of the SSA stepper's ``simulate_grid``."""
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    budget = opts[1]
    tf = save_times[nsave - 1]
    longest = max(tf - t0, 1e-300)
    first = opts[0] if opts[0] > 0.0 else longest / 16.0
    m = num_reactions(net)  # noqa: F821
    a = np.empty(m, dtype=np.float64)
    b = np.empty(m, dtype=np.float64)
    x = np.empty(nspecies, dtype=np.int64)
    s = np.empty(4, dtype=np.uint64)
    pl = np.empty(p.shape[0], dtype=np.float64)
    ev_time, ev_done, prev, trig = _event_work()
    for i in range(n):
        if _stopped(stop, status, i):  # noqa: F821
            return
        t = t0
        fired = 0
        rejected = np.int64(0)  # not a literal: numba would compile _end_trajectory for the literal too
        work = 0
        k = np.int64(0)  # not a literal: numba would compile the save helper for the literal too
        length = first
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)
        next_save = save_times[0]
        while code == 0:
            # A window starts: the propensities here, then a bound over the window.
            a0 = rates(net, x, pl, t, a)  # noqa: F821
            if not (a0 <= MAX_FLOAT):  # noqa: F821
                code = STATUS_INVALID_PROPENSITY  # noqa: F821
                break
            horizon = min(next_ev, tf)
            bound, t_end, length = _window(x, pl, t, length, horizon, a0, b)
            if not (bound <= MAX_FLOAT):  # noqa: F821
                code = STATUS_UNBOUNDED - max(_first_over(a, b), 0)  # noqa: F821
                break
            if bound * (t_end - t) < 1.0:
                length = min(2.0 * length, longest)
            accepted = False
            while True:
                work += 1
                if work > budget:
                    code = STATUS_BUDGET  # noqa: F821
                    break
                if (work & (RESUM - 1)) == 0 and stop[0] != 0:  # noqa: F821
                    code = STATUS_INTERRUPTED  # noqa: F821
                    break
                tc = t + rng_exponential(s) / bound if bound > 0.0 else np.inf  # noqa: F821
                if tc >= t_end:
                    break
                t = tc
                a0 = rates(net, x, pl, t, a)  # noqa: F821
                if not (a0 <= MAX_FLOAT):  # noqa: F821
                    code = STATUS_INVALID_PROPENSITY  # noqa: F821
                    break
                if a0 > bound * (1.0 + BOUND_SLACK):
                    code = STATUS_BOUND_VIOLATED - max(_first_over(a, b), 0)  # noqa: F821
                    break
                if USER_BOUNDS:  # noqa: F821
                    # A declared bound is the user's claim: one reaction above it is an error even when the
                    # total is still under the total bound (which keeps the sample exact).
                    over = _first_over(a, b)
                    if over >= 0:
                        code = STATUS_BOUND_VIOLATED - over  # noqa: F821
                        break
                r = rng_uniform(s) * bound  # noqa: F821
                if r < a0:
                    accepted = True
                    break
                rejected += 1
            if code != 0:
                break
            if not accepted:
                # No jump in the window: the state holds to its end.
                while next_save < t_end or (t_end == tf and next_save <= tf and next_ev > tf):
                    for q in range(nspecies):
                        out[q, i, k] = x[q]
                    k += 1
                    if k == nsave:
                        break
                    next_save = save_times[k]
                if k == nsave:
                    break
                t = t_end
                if NUM_EVENTS > 0 and t == next_ev:  # noqa: F821
                    code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
                    next_ev = _next_event_time(ev_time, ev_done)
                continue
            k = _save_before(x, out, i, k, save_times, t)
            next_save = save_times[k]  # t < t_end <= tf, the last save time
            # r is uniform on [0, a0) given acceptance: it picks the reaction too.
            j = 0
            acc = a[0]
            while r >= acc and j < m - 1:
                j += 1
                acc += a[j]
            total = fire(net, j, x, pl, t, a, a0)  # noqa: F821
            if not (total <= MAX_FLOAT):  # noqa: F821
                code = 1 + j
                break
            fired += 1
            if NUM_STATE_EVENTS > 0:  # noqa: F821
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)
        if _end_trajectory(i, code, x, t, fired, rejected, out, status, steps, final_t):  # noqa: F821
            return


SOURCES = (
    f"RESUM = {ssa_stepper.RESUM}\nMIN_WINDOW = {MIN_WINDOW!r}\nBOUND_SLACK = {BOUND_SLACK!r}\n",
    *intervals.SOURCES,
    *ssa_stepper.EVENT_SOURCES,
    _first_over,
    _window,
    simulate_grid,
)
