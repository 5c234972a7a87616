"""Hybrid simulation: continuous species by ODEs, the other reactions as jumps.

The partition is by species (as in Haseltine and Rawlings, "Approximate
simulation of coupled fast and slow reactions for stochastic chemical
kinetics", J. Chem. Phys. 117:6959, 2002, and GillesPy2's TauHybridSolver):
species marked continuous hold real amounts; a reaction that changes only
continuous species contributes its rate to their rate equations (the
reaction rate equations' term, the continuum mass-action ``x^nu / nu!`` for
continuous reactants), and every other reaction fires as a jump. Jumps may
read the continuous species and ``t``, so their propensities move between
jumps: the engine integrates the total jump propensity with the ODEs,
``dLambda/dt = a_0(x(t), t)``, and fires a jump when ``Lambda`` reaches an
exponential variate (the random time change of a jump process with
intensity ``a_0(t)``; JumpProcesses' ``VariableRateJump`` on an ODE solver).
The jump time is located within the step that crosses ``xi``: first the root
of ``Lambda``'s cubic Hermite interpolant, then secant (Illinois) iteration on
the step size, each iterate a full Runge-Kutta step from the step's start,
until ``|Lambda - xi| <= root_tol``;
the reaction is picked with probability ``a_j / a_0`` at that time, and its
stoichiometry applied (to continuous species too: a jump that would take one
below zero stops the run).

The integrator is Dormand and Prince's explicit 5(4) pair (J. R. Dormand and
P. J. Prince, "A family of embedded Runge-Kutta formulae", J. Comput. Appl.
Math. 6:19, 1980; scipy's RK45, of the order of the tutorial's Tsit5) with
the usual step control on ``atol + rtol |y|`` over the continuous species
and ``Lambda``. It is explicit: a stiff continuous part takes many small
steps (the budget ends a runaway), and once a stiffly decaying amount falls
below ``atol`` the steps grow past the stability bound and it swings about
zero at a scale the error estimate allows, which may be far above ``atol``
(1.5e-4 at the default 1e-6 for a decay at 1e6/s; scipy's RK45 does the
same); an ``atol`` below the amounts that matter keeps them accurate. For such a
stiff continuous part, ``integrator="rosenbrock23"`` runs this engine on an
L-stable step (:mod:`pycrn.engines.hybrid_rosenbrock`).
A continuous amount below zero is an error only while it is still falling
there: the rates read it as 0, so only a rate law that does not vanish when
its reactant runs out drains it further.

Exact up to the integration tolerance: with no continuous species the
jump times are those of the time-inhomogeneous jump process, integrated to
``rtol``/``atol`` instead of bounded (``extrande`` is exact with no
tolerance where a bound can be proven). With continuous species the result
is the piecewise-deterministic approximation (the continuous species'
noise is left out), exact for that model up to the tolerance.

Events: time events end steps. State events are checked after every jump
and every integration step; when a step makes a trigger true, the time it
became true is located by bisection on the step size (each iterate a full
Runge-Kutta step from the step's start) to ``EVENT_TIME_TOL`` of
``max(1, |t|)``, the step ends there and the event fires; a jump located
later in that step is located afresh after the event. A trigger that turns
true and false again within one step is not seen (steps are limited by the
tolerances, not by the triggers).

``opts``: ``[rtol, budget, atol, root_tol, first_step]``. ``steps[i, 0]``
counts jumps, ``steps[i, 1]`` integration steps (accepted, rejected and
root-finding iterates); the budget counts integration steps.
"""

from __future__ import annotations

import math

import numpy as np

from ..network import MAX_EXACT_DOUBLE, ReactionNetwork
from ..propensity import symbols
from ..status import RANGE, Status, invalid_kind, parameters_after
from . import ssa_stepper

NAME = "hybrid"
GENERATED_FUNCTIONS = ("hybrid_field", "hybrid_jump")
#: Event assignments to continuous species take any non-negative amount (see :mod:`pycrn.codegen`).
CONTINUOUS_EVENTS = True
#: A step shorter than this fraction of ``|t|`` ends the run: the solution is singular or too stiff. Not of
#: ``max(1, |t|)``: a transient at 1e12/s from t = 0 needs steps of 1e-15.
MIN_STEP = 1e-13
#: State events are located to this fraction of ``max(1, |t|)`` in time.
EVENT_TIME_TOL = 1e-12
#: ``TERM_CODE + i``: the rate of change (an ``@equation`` term) or, for ``hybrid_sde``, the noise of
#: continuous species ``i`` is not a finite number (above any ``1 + j`` reaction code).
TERM_CODE = 10**7

# Dormand-Prince 5(4): nodes, the stage matrix (row s: the weights of stages 0..s-1), the 5th-order
# weights (the last row: the 7th stage is evaluated at the new state, first-same-as-last) and the
# error weights (5th minus 4th order).
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


def partition(net: ReactionNetwork) -> tuple[list[int], list[int]]:
    """``(deterministic, jumps)``: the reaction indices that change only continuous species, and the others.

    A reaction that changes nothing (a boundary species' catalysis) is neither.
    """
    S = net.stoichiometry
    cont = {net.species_index(n) for n in net.continuous_species}
    deterministic, jumps = [], []
    for j in range(len(net.reactions)):
        changed = set(np.flatnonzero(S[:, j]).tolist())
        if not changed:
            continue
        (deterministic if changed <= cont else jumps).append(j)
    return deterministic, jumps


def check_problem(problem) -> None:
    """Refuse counts the float state cannot hold exactly (above 2**53), naming the species."""
    from ..errors import ModelError

    continuous = set(problem.net.continuous_species)
    big = [(s, int(v)) for s, v in zip(problem.net.species_names, problem.x0.tolist())
           if s not in continuous and v > MAX_EXACT_DOUBLE]
    if big:
        name, value = big[0]
        raise ModelError(f"method 'hybrid' holds counts as doubles, exact up to 2**53; species {name!r} starts at "
                         f"{value:,}: mark it continuous, or use an exact method")


def _species_code(net: ReactionNetwork) -> dict[str, str]:
    # Continuous amounts are read clamped at zero: Runge-Kutta stages overshoot zero by about the
    # tolerance, and a rate term must not turn negative there.
    table = symbols(net, "x[{i}]")
    for name in net.continuous_species:
        table[name] = f"max(x[{net.species_index(name)}], 0.0)"
    return table


def rate_source(net: ReactionNetwork, j: int) -> str:
    """Reaction ``j``'s rate as the hybrid engine reads it.

    Mass action: the rate expression times ``x^nu / nu!`` for continuous
    reactants and the falling factorial ``x (x-1) ... / nu!`` for counts.
    """
    table = _species_code(net)
    r = net.reactions[j]
    expr = r.rate.to_source(table)
    if not r.mass_action or not r.reactants:
        return expr
    continuous = set(net.continuous_species)
    terms = []
    for name, nu in r.reactants:
        xi = table[name]
        if nu == 1:
            terms.append(xi)
        elif name in continuous:
            terms.append(f"({xi} ** {nu} / {float(math.factorial(nu))!r})")
        else:
            falling = " * ".join(f"({xi} - {m}.0)" if m else xi for m in range(nu))
            terms.append(f"({falling} / {float(math.factorial(nu))!r})")
    return f"{expr} * " + " * ".join(terms)


def constants_source(net: ReactionNetwork) -> str:
    """``hybrid_field`` and ``hybrid_jump`` for ``net``'s partition.

    ``hybrid_field(x, p, t, dy, a)`` writes the continuous species' rates of
    change into ``dy`` and the jump propensities into ``a``, and returns
    their total, or ``-(1 + j)`` if reaction ``j``'s rate is invalid (NaN,
    infinite or negative). ``hybrid_jump(q, x)`` applies jump ``q``; it
    returns 0, ``1 + j`` if it drove a count negative (reaction ``j``: a
    general rate law that does not vanish), ``STATUS_NEGATIVE_AMOUNT - i`` if continuous species ``i`` would go below
    zero, ``STATUS_OVERFLOW - i`` if a count would pass 2**53 (the float state holds counts exactly up to there).
    """
    deterministic, jumps = partition(net)
    S = net.stoichiometry
    cont = [net.species_index(n) for n in net.continuous_species]
    table = _species_code(net)
    lines = [
        f"CONTINUOUS = np.array({cont!r}, dtype=np.int64)",
        f"NUM_JUMPS = {len(jumps)}",
        "",
        "def hybrid_field(x, p, t, dy, a):",
    ]
    for i in cont:
        lines.append(f"    dy[{i}] = 0.0")
    for j in deterministic:
        lines.append(f"    v = {rate_source(net, j)}")
        lines.append("    if not (v >= 0.0 and v <= MAX_FLOAT):")
        lines.append(f"        return -{float(1 + j)!r}")
        for i in np.flatnonzero(S[:, j]):
            lines.append(f"    dy[{i}] += {float(S[i, j])!r} * v")
    for target, expr in net.equations:
        i = net.species_index(target)
        lines.append(f"    v = {expr.to_source(table)}")
        lines.append("    if not (v >= -MAX_FLOAT and v <= MAX_FLOAT):")
        lines.append(f"        return -{float(TERM_CODE + i)!r}")
        lines.append(f"    dy[{i}] += v")
    lines.append("    total = 0.0")
    for q, j in enumerate(jumps):
        lines.append(f"    v = {rate_source(net, j)}")
        lines.append("    if not (v >= 0.0 and v <= MAX_FLOAT):")
        lines.append(f"        return -{float(1 + j)!r}")
        lines.append(f"    a[{q}] = v")
        lines.append("    total += v")
    lines.append("    return total")
    lines += ["", "def hybrid_jump(q, x):"]
    continuous = set(cont)
    for q, j in enumerate(jumps):
        lines.append(f"    {'if' if q == 0 else 'elif'} q == {q}:")
        changed = [(int(i), int(S[i, j])) for i in np.flatnonzero(S[:, j])]
        for i, nu in changed:
            if nu < 0 and i in continuous:
                lines.append(f"        if x[{i}] + {float(nu)!r} < 0.0:")
                lines.append(f"            return STATUS_NEGATIVE_AMOUNT - {i}")
            elif nu > 0 and i not in continuous:
                lines.append(f"        if x[{i}] > {float(MAX_EXACT_DOUBLE)!r} - {float(nu)!r}:")
                lines.append(f"            return STATUS_OVERFLOW - {i}")
        for i, nu in changed:
            lines.append(f"        x[{i}] += {float(nu)!r}")
        # A general rate law may fire without its reactants: as in the SSAs, the count is left
        # negative for the message, which names the reaction.
        for i, nu in changed:
            if nu < 0 and i not in continuous:
                lines.append(f"        if x[{i}] < 0.0:")
                lines.append(f"            return {1 + j}")
    lines.append("    return 0")
    return "\n".join(lines) + "\n"


def _step(x, lam, p, t, h, K, KL, xs, x1, a, rtol, atol):
    """One Dormand-Prince step of size ``h`` from ``(x, lam)`` with stage 0 in ``K[0]``, ``KL[0]``.

    Writes the new state into ``x1``; returns ``(lam1, error_norm, code)``,
    code 0 or ``-(1 + j)`` (reaction ``j``'s rate was invalid at a stage).
    """
    nc = CONTINUOUS.shape[0]  # noqa: F821
    for q in range(x.shape[0]):
        xs[q] = x[q]
        # The discrete counts too: state-event triggers read them from x1.
        x1[q] = x[q]
    for s in range(1, 7):
        for c in range(nc):
            i = CONTINUOUS[c]  # noqa: F821
            acc = 0.0
            for r in range(s):
                acc += DP_A[s, r] * K[r, i]  # noqa: F821
            xs[i] = x[i] + h * acc
        a0 = hybrid_field(xs, p, t + DP_C[s] * h, K[s], a)  # noqa: F821
        if a0 < 0.0:
            return 0.0, np.inf, int(a0)
        KL[s] = a0
    lam_acc = 0.0
    lam_err = 0.0
    for r in range(7):
        lam_acc += DP_A[6, r] * KL[r]  # noqa: F821 (the last row's 7th weight is 0)
        lam_err += DP_E[r] * KL[r]  # noqa: F821
    lam1 = lam + h * lam_acc
    # The error norm: RMS over the continuous species and Lambda (Hairer, Norsett and Wanner's).
    sc = atol + rtol * max(abs(lam), abs(lam1))
    total = (h * lam_err / sc) ** 2
    for c in range(nc):
        i = CONTINUOUS[c]  # noqa: F821
        x1[i] = xs[i]  # the last stage is evaluated at the new state
        e = 0.0
        for r in range(7):
            e += DP_E[r] * K[r, i]  # noqa: F821
        sc = atol + rtol * max(abs(x[i]), abs(x1[i]))
        total += (h * e / sc) ** 2
    return lam1, math.sqrt(total / (nc + 1)), 0


def _hermite_root(y0, y1, d0, d1, target):
    """The theta in (0, 1) where the cubic Hermite interpolant of (y0, d0), (y1, d1) reaches ``target``.

    Newton's method from the linear guess; ``y0 < target <= y1`` and the
    slopes (propensity totals times the step) are non-negative.
    """
    theta = (target - y0) / (y1 - y0)
    for _ in range(8):
        t2 = theta * theta
        t3 = t2 * theta
        value = (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + theta) * d0 + (3 * t2 - 2 * t3) * y1 + (t3 - t2) * d1
        slope = (6 * t2 - 6 * theta) * y0 + (3 * t2 - 4 * theta + 1) * d0 + (6 * theta - 6 * t2) * y1 \
            + (3 * t2 - 2 * theta) * d1
        if not (slope > 0.0):
            break
        step = (value - target) / slope
        theta = min(max(theta - step, 1e-12), 1.0 - 1e-12)
        if abs(step) < 1e-14:
            break
    return theta


def _event_crossed(x1, p, t, prev, trig):
    """Whether a state event's trigger is true at ``x1`` and was false at the step's start (``prev``)."""
    event_triggers(x1, p, t, trig)  # noqa: F821
    for e in range(NUM_EVENTS):  # noqa: F821
        if not TIME_EVENT[e] and trig[e] and not prev[e]:  # noqa: F821
            return True
    return False


def _locate_event(x, lam, p, t, hend, K, KL, xs, x1, a, rtol, atol, prev, trig):
    """The first step size in ``(0, hend]`` at which a state event's trigger becomes true, by bisection.

    Each iterate is a full Runge-Kutta step from ``t`` (as the jump times
    are); the bracket shrinks to :data:`EVENT_TIME_TOL` of ``max(1, |t|)``.
    Returns ``(h, lam_h, steps, code)`` with the step to ``t + h`` in
    ``x1``, ``K[6]`` and ``KL[6]``.
    """
    lo = 0.0
    hi = hend
    tol = EVENT_TIME_TOL * max(1.0, abs(t))  # noqa: F821
    steps = 0
    while hi - lo > tol and steps < 200:
        mid = 0.5 * (lo + hi)
        if not (mid > lo and mid < hi):
            break
        steps += 1
        _, _, bad = _step(x, lam, p, t, mid, K, KL, xs, x1, a, rtol, atol)
        if bad != 0:
            return hi, lam, steps, bad
        if _event_crossed(x1, p, t + mid, prev, trig):
            hi = mid
        else:
            lo = mid
    steps += 1
    lam_h, _, bad = _step(x, lam, p, t, hi, K, KL, xs, x1, a, rtol, atol)
    return hi, lam_h, steps, bad


def _accept(x, x1, K, KL):
    """Take the step's end state ``x1`` and its last stage as the next step's first (first-same-as-last)."""
    for c in range(CONTINUOUS.shape[0]):  # noqa: F821
        q = CONTINUOUS[c]  # noqa: F821
        x[q] = x1[q]
        K[0, q] = K[6, q]
    KL[0] = KL[6]


def _grown(h, err):
    """The next step size after an accepted or rejected step with error norm ``err``."""
    if err == 0.0:
        return 5.0 * h
    return h * min(5.0, max(0.2, 0.9 * err ** -STEP_EXPONENT))  # noqa: F821


def simulate_grid(net, x0, p, t0, save_times, seeds, out, status, steps, final_t, opts, stop):
    """Hybrid ODE/jump simulation on the save grid; the contract of the SSA stepper's ``simulate_grid``.

    ``x0`` and ``out`` are float64 (counts held as whole numbers).
    """
    n = x0.shape[0]
    nspecies = x0.shape[1]
    nsave = save_times.shape[0]
    rtol = opts[0]
    budget = opts[1]
    atol = opts[2]
    root_tol = opts[3]
    tf = save_times[nsave - 1]
    first = opts[4] if opts[4] > 0.0 else (tf - t0) * 1e-3
    nc = CONTINUOUS.shape[0]  # noqa: F821
    a = np.empty(max(NUM_JUMPS, 1), dtype=np.float64)  # noqa: F821
    # Rows 7 on: the step's own work space (STEP_WORK_ROWS; none for Dormand-Prince).
    K = np.zeros((7 + STEP_WORK_ROWS, nspecies), dtype=np.float64)  # noqa: F821
    KL = np.zeros(7, dtype=np.float64)
    x = np.empty(nspecies, dtype=np.float64)
    xs = np.empty(nspecies, dtype=np.float64)
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
        h = first
        code, next_ev = _start_trajectory(x0[i], seeds[i], p, x, s, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
        lam = 0.0
        xi = rng_exponential(s)  # noqa: F821
        fresh = True  # K[0] must be evaluated at (t, x)
        while code == 0:
            if NUM_EVENTS > 0 and t == next_ev:  # noqa: F821
                # Before the save at t: a saved state includes what happens at its time.
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                next_ev = _next_event_time(ev_time, ev_done)  # noqa: F821
                fresh = True
                continue
            k = _save_through(x, out, i, k, save_times, t)
            if k == nsave:
                break
            if fresh:
                a0 = hybrid_field(x, pl, t, K[0], a)  # noqa: F821
                if a0 < 0.0:
                    code = int(-a0)
                    break
                KL[0] = a0
                fresh = False
            target = min(save_times[k], next_ev)
            span = target - t
            floor = MIN_STEP * max(1e-290, abs(t))  # noqa: F821 (above zero at t = 0)
            work += 1
            if work > budget:
                code = STATUS_BUDGET  # noqa: F821
                break
            if (work & (RESUM - 1)) == 0 and stop[0] != 0:  # noqa: F821
                code = STATUS_INTERRUPTED  # noqa: F821
                break
            hh = min(h, span)
            lam1, err, bad = _step(x, lam, pl, t, hh, K, KL, xs, x1, a, rtol, atol)
            if bad != 0 or err > 1.0:
                # A rate that is invalid only at a trial stage (past a pole, say) asks for a smaller step too.
                h = hh * (0.25 if bad != 0 else max(0.2, 0.9 * err ** -STEP_EXPONENT))  # noqa: F821
                if h < floor:
                    code = -bad if bad != 0 else STATUS_STALLED  # noqa: F821
                    break
                continue
            if lam1 < xi:
                # No jump in the step: accept it, up to the first state event it crosses.
                hs = hh
                if NUM_STATE_EVENTS > 0 and _event_crossed(x1, pl, t + hh, prev, trig):  # noqa: F821
                    hs, lam1, extra, bad = _locate_event(x, lam, pl, t, hh, K, KL, xs, x1, a, rtol, atol, prev, trig)
                    work += extra
                    if bad != 0:
                        code = -bad
                        break
                _accept(x, x1, K, KL)
                lam = lam1
                t = target if hs == span else t + hs
                # A step cut short to land on a save or event time does not shrink the next one.
                grown = _grown(hh, err)
                h = grown if hh == h else max(h, grown)
                code = _negative(x, K[0])
                if code == 0 and NUM_STATE_EVENTS > 0:  # noqa: F821
                    code, fired = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                    fresh = fresh or fired
                continue
            # Lambda reaches xi within the step: the root of its cubic Hermite interpolant first, then
            # secant iteration (Illinois) on the step size, each iterate a full step from t.
            lo, flo = 0.0, lam - xi
            hi, fhi = hh, lam1 - xi
            side = 0
            hs = hh
            lam_s = lam1
            for it in range(100):
                if abs(lam_s - xi) <= root_tol:
                    break
                if it == 0:
                    hs = hh * _hermite_root(lam, lam1, hh * KL[0], hh * KL[6], xi)
                else:
                    hs = hi - fhi * (hi - lo) / (fhi - flo)
                if not (hs > lo and hs < hi):
                    hs = 0.5 * (lo + hi)
                work += 1
                lam_s, _, bad = _step(x, lam, pl, t, hs, K, KL, xs, x1, a, rtol, atol)
                if bad != 0:
                    break
                f = lam_s - xi
                if f < 0.0:
                    lo, flo = hs, f
                    if side == -1:
                        fhi *= 0.5
                    side = -1
                else:
                    hi, fhi = hs, f
                    if side == 1:
                        flo *= 0.5
                    side = 1
            if bad != 0:
                code = -bad
                break
            if NUM_STATE_EVENTS > 0 and _event_crossed(x1, pl, t + hs, prev, trig):  # noqa: F821
                # A state event comes before the jump: the step ends there, and the jump is located afresh
                # after it (Lambda is below xi at the event).
                he, lam, extra, bad = _locate_event(x, lam, pl, t, hs, K, KL, xs, x1, a, rtol, atol, prev, trig)
                work += extra
                if bad != 0:
                    code = -bad
                    break
                _accept(x, x1, K, KL)
                t = target if he == span else min(t + he, target)
                code = _negative(x, K[0])
                if code == 0:
                    code, fired = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
                    fresh = fresh or fired
                continue
            # x1 holds the state of the last iterate (the full step if that already hit xi).
            for c in range(nc):
                q = CONTINUOUS[c]  # noqa: F821
                x[q] = x1[q]
            t = target if hs == span else min(t + hs, target)
            a0 = hybrid_field(x, pl, t, K[0], a)  # noqa: F821
            if a0 < 0.0:
                code = int(-a0)
                break
            r = rng_uniform(s) * a0  # noqa: F821
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
            code = _negative(x, K[0])  # K[0]: the rates just before the jump; the next step checks again
            if code == 0 and NUM_STATE_EVENTS > 0:  # noqa: F821
                code, _ = _fire_events(x, pl, t, ev_time, ev_done, prev, trig)  # noqa: F821
        if _end_trajectory(i, code, x, t, jumps, work, out, status, steps, final_t):  # noqa: F821
            return


def _negative(x, dx):
    """``STATUS_NEGATIVE_AMOUNT - i`` for the first continuous species below zero and still falling, else 0.

    ``dx`` is the rate of change at ``x``. Runge-Kutta steps may overshoot zero by about the tolerance,
    and a stiff decay, stepped at the edge of the explicit method's stability, keeps oscillating about
    zero at that scale; the rates read negative amounts as 0, so a mass-action consumer stops there.
    A rate law that does not vanish when its reactant runs out still drains it below zero: that, not
    the size of the undershoot, is the error.
    """
    for c in range(CONTINUOUS.shape[0]):  # noqa: F821
        q = CONTINUOUS[c]  # noqa: F821
        if x[q] < -1e-6 * max(1.0, abs(x[q])) - 1e-9 and dx[q] < 0.0:
            return STATUS_NEGATIVE_AMOUNT - q  # noqa: F821
    return 0


#: The step floor and event tolerance as module constants of the generated source (the same for every network).
LIMITS = f"MIN_STEP = {MIN_STEP!r}\nEVENT_TIME_TOL = {EVENT_TIME_TOL!r}\n"
#: The tableau, and the exponent of the step-size control (one over the error estimate's order plus one).
TABLEAU = (
    "STEP_EXPONENT = 0.2\nSTEP_WORK_ROWS = 0\n"
    f"DP_C = np.array({list(_C)!r})\n"
    f"DP_E = np.array({list(_E)!r})\n"
    f"DP_A = np.array({[list(row) + [0.0] * (7 - len(row)) for row in _A]!r})\n"
)

SOURCES = (
    f"RESUM = {ssa_stepper.RESUM}\n",
    LIMITS,
    TABLEAU,
    *ssa_stepper.EVENT_SOURCES,
    _step,
    _hermite_root,
    _event_crossed,
    _locate_event,
    _accept,
    _grown,
    _negative,
    simulate_grid,
)


def _state_text(net: ReactionNetwork, x: np.ndarray) -> str:
    cont = set(net.continuous_species)
    return " ".join(f"{n}={v:.6g}" if n in cont else f"{n}={int(v)}" for n, v in zip(net.species_names, x.tolist()))


def evaluate_rate(net: ReactionNetwork, j: int, x: np.ndarray, p: np.ndarray, t: float) -> float:
    """Reaction ``j``'s rate as the engine computes it (:func:`rate_source`), in Python."""
    try:
        with np.errstate(all="ignore"):
            return float(eval(rate_source(net, j), {"math": math, "x": x, "p": p, "t": t}))  # noqa: S307
    except (ZeroDivisionError, OverflowError):
        return math.inf
    except ValueError:
        return math.nan


def owns(code: int) -> bool:
    """Whether status ``code`` is one this engine's :func:`failure_message` explains."""
    return code > 0 or code == Status.STALLED or code <= Status.OVERFLOW or \
        Status.NEGATIVE_AMOUNT - RANGE < code <= Status.NEGATIVE_AMOUNT


def failure_message(net: ReactionNetwork, p: np.ndarray, x, t: float, code: int, where: str) -> str:
    """The message of a failed hybrid trajectory: the species, reaction or integration problem, time and state."""
    x = np.asarray(x, dtype=np.float64)
    state = _state_text(net, x)
    deterministic, jumps = partition(net)
    if code == Status.STALLED:
        values = [evaluate_rate(net, j, x, p, t) for j in range(len(net.reactions))]
        bad = [j for j, v in enumerate(values) if not (v >= 0.0 and math.isfinite(v))]
        if bad:
            j = bad[0]
            kind = "rate term" if j in deterministic else "jump propensity"
            culprit = (f"the {kind} of reaction {j + 1} ({net.reactions[j]}) is {invalid_kind(values[j])} "
                       f"({values[j]!r}) there")
        elif values:
            j = int(np.argmax(values))
            culprit = f"the fastest rate is that of reaction {j + 1} ({net.reactions[j]}), {values[j]:.4g}"
        else:
            culprit = "the equations' terms grow without bound there"
        return (f"the hybrid integration could not advance at t={t:.6g}{where}: its step fell below "
                f"{MIN_STEP:g} of the time, in state {state}; {culprit} (a singular rate law, a continuous part "
                "too stiff for the explicit integrator: methods.Hybrid(integrator='rosenbrock23') steps over fast "
                "decays)")
    if code >= TERM_CODE:
        i = code - TERM_CODE
        name = net.species_names[i]
        terms = [f"@equation D({name}) ~ {law}" for k, law in net.equations if k == name]
        terms += [f"@noise {name} ~ {law}" for k, law in net.noise if k == name]
        return (f"the rate of change of continuous species {name!r} is not a finite number at t={t:.6g}{where} "
                f"in state {state}: its terms ({'; '.join(terms) or 'reaction rate terms'}) are NaN or infinite "
                "there (a square root or logarithm of a negative amount, say)")
    if code <= Status.OVERFLOW:
        i = Status.OVERFLOW - code
        return (f"the count of species {net.species_names[i]!r} would pass 2**53 = {MAX_EXACT_DOUBLE:,}, the largest "
                f"count the hybrid method's float state holds exactly, at t={t:.6g}{where}; stopped instead of "
                f"rounding (mark it continuous, or use an exact method) (state {state})")
    if Status.NEGATIVE_AMOUNT - RANGE < code <= Status.NEGATIVE_AMOUNT:
        i = Status.NEGATIVE_AMOUNT - code
        name = net.species_names[i]
        S = net.stoichiometry
        removing = [j + 1 for j in jumps if S[i, j] < 0]
        draining = [j + 1 for j in deterministic if S[i, j] < 0]
        parts = []
        if removing:
            parts.append(f"the jumps of reaction(s) {removing} remove whole molecules of it (mark the other species "
                         f"they change continuous too, or {name!r} discrete)")
        if draining:
            parts.append(f"the rate law(s) of reaction(s) {draining} must vanish when it runs out")
        if any(target == name for target, _ in net.equations):
            parts.append(f"its equation D({name}) must not drive it below zero")
        return (f"continuous species {name!r} would go negative ({x[i]:.6g}) at t={t:.6g}{where} "
                f"in state {state}: " + "; ".join(parts or ["nothing should consume it"]))
    j = code - 1
    if (x < 0).any():
        return (f"reaction {j + 1} ({net.reactions[j]}) fired at t={t:.6g}{where} and drove a count negative "
                f"(state {state}); its rate law must vanish when its reactants run out")
    kind = "rate term" if j in deterministic else "jump propensity"
    v = evaluate_rate(net, j, x, p, t)
    if not (v >= 0.0 and math.isfinite(v)):
        return (f"the {kind} of reaction {j + 1} ({net.reactions[j]}) is {invalid_kind(v)} ({v!r}) at "
                f"t={t:.6g}{where} in state {state}")
    # The kernel's parameters may differ from p: an event can reassign them.
    for e, ev in enumerate(net.events):
        changed = parameters_after(net, e, x, p, t)
        v = evaluate_rate(net, j, x, changed, t) if changed is not None else 0.0
        if not (v >= 0.0 and math.isfinite(v)):
            return (f"after event {e + 1} ({ev}), the {kind} of reaction {j + 1} ({net.reactions[j]}) is "
                    f"{invalid_kind(v)} ({v!r}) at t={t:.6g}{where} in state {state}")
    return (f"the {kind} of reaction {j + 1} ({net.reactions[j]}) became invalid (NaN, infinite or negative) "
            f"within an integration step from t={t:.6g}{where}, even at the smallest step, in state {state}")
