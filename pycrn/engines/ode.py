"""Deterministic mean field: the reaction rate equations.

dx/dt = S a(x, t), with S the net stoichiometry and a the deterministic
propensities: for mass action the continuum limit ``k prod_i x_i^nu_i / nu_i!``
of the combinatorial term (so ``2A`` contributes ``k A^2 / 2``), for general
rate laws (``=>``) the rate expression itself; plus the terms of the
network's equations (``@equation D(V) ~ ...``). Solved with scipy's
``solve_ivp`` (LSODA by default, which switches between stiff and non-stiff
methods; ``ode_method`` picks another, e.g. ``"BDF"`` or ``"Radau"``).

Events: the integration stops at each time event and restarts after the
assignments; state events with a single comparison are located by root
finding on ``lhs - rhs`` (scipy's event detection), in the direction in which
the condition becomes true.

Unlike the stochastic engines this one runs in Python (the cost is in
scipy's integrator, not in the right-hand side) and returns float states.
"""

from __future__ import annotations

import ast
import math

import numpy as np

from ..errors import ModelError, SimulationError
from ..network import ReactionNetwork
from ..propensity import propensity_expression
from ..ratelaws import RateLaw, symbol_table
from ..status import invalid_kind

NAME = "ode"
#: Right-hand-side evaluations without progress after which the integration is declared stalled.
STALL_EVALUATIONS = 20_000


def _symbols(net: ReactionNetwork) -> dict[str, str]:
    return symbol_table(net.species_names, net.parameter_names, "y[{i}]")


def _rate_source(net: ReactionNetwork, j: int) -> str:
    return propensity_expression(net, j, "y[{i}]", deterministic=True)


def rate_functions(net: ReactionNetwork) -> list:
    """One ``a_j(t, y, p)`` per reaction: the deterministic propensities, for diagnosis and checks."""
    namespace = {"np": np, "math": math}
    source = "\n".join(f"def a{j}(t, y, p):\n    return {_rate_source(net, j)}" for j in range(len(net.reactions)))
    exec(source, namespace)  # noqa: S102 (generated from a validated network)
    return [namespace[f"a{j}"] for j in range(len(net.reactions))]


def _state_text(net: ReactionNetwork, y: np.ndarray) -> str:
    return " ".join(f"{n}={v:.6g}" for n, v in zip(net.species_names, np.asarray(y, dtype=float).tolist()))


def invalid_rate(net: ReactionNetwork, rates: list, t: float, y: np.ndarray, p: np.ndarray) -> str | None:
    """The message for the first reaction whose rate is invalid at (t, y), or ``None`` if all are valid.

    Invalid: raising (division by zero, a math domain or range error), NaN,
    infinite or negative, as the stochastic engines judge a propensity.
    """
    for j, fn in enumerate(rates):
        try:
            with np.errstate(all="ignore"):
                v = float(fn(t, y, p))
        except (ZeroDivisionError, OverflowError, ValueError) as exc:
            return (f"the rate of reaction {j + 1} ({net.reactions[j]}) cannot be evaluated at t={t:.6g} "
                    f"({type(exc).__name__}: {exc}) in state {_state_text(net, y)}")
        if not (v >= 0.0 and math.isfinite(v)):
            return (f"the rate of reaction {j + 1} ({net.reactions[j]}) is {invalid_kind(v)} ({v!r}) at t={t:.6g} "
                    f"in state {_state_text(net, y)}")
    return None


def rhs_function(net: ReactionNetwork):
    """``f(t, y, p) -> dy/dt`` for the reaction rate equations of ``net``, with its equations' terms."""
    S = net.stoichiometry
    lines = ["def f(t, y, p):", f"    dy = np.zeros({S.shape[0]})"]
    for j in range(len(net.reactions)):
        lines.append(f"    a = {_rate_source(net, j)}")
        for i in np.flatnonzero(S[:, j]):
            lines.append(f"    dy[{i}] += {int(S[i, j])} * a")
    table = _symbols(net)
    for target, expr in net.equations:
        lines.append(f"    dy[{net.species_index(target)}] += {expr.to_source(table)}")
    lines.append("    return dy")
    namespace = {"np": np, "math": math}
    exec("\n".join(lines), namespace)  # noqa: S102 (generated from a validated network)
    return namespace["f"]


def _state_event_function(net: ReactionNetwork, e: int):
    """Root function of a single-comparison trigger, with the direction in which it becomes true."""
    ev = net.events[e]
    node = ev.trigger.tree
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        raise ModelError(
            f"method 'ode' locates state events by root finding and needs a single comparison; "
            f"event {e + 1} has trigger {str(ev.trigger)!r}"
        )
    lhs = RateLaw.parse(ast.unparse(node.left)).to_source(_symbols(net))
    rhs = RateLaw.parse(ast.unparse(node.comparators[0])).to_source(_symbols(net))
    namespace = {"math": math}
    exec(f"def g(t, y, p):\n    return ({lhs}) - ({rhs})\n", namespace)  # noqa: S102
    g = namespace["g"]
    op = node.ops[0]
    direction = 1.0 if isinstance(op, (ast.Gt, ast.GtE)) else -1.0 if isinstance(op, (ast.Lt, ast.LtE)) else 0.0
    return g, direction


def _apply(net: ReactionNetwork, e: int, y: np.ndarray, p: np.ndarray, t: float) -> None:
    symbols = _symbols(net)
    try:
        with np.errstate(all="ignore"):
            values = [
                float(eval(expr.to_source(symbols), {"math": math, "y": y, "p": p, "t": t}))  # noqa: S307
                for _, expr in net.events[e].assignments
            ]
    except (ZeroDivisionError, OverflowError, ValueError) as exc:
        raise SimulationError(
            f"event {e + 1} ({net.events[e]}) cannot evaluate its assignments at t={t:.6g} "
            f"({type(exc).__name__}: {exc}) in state {_state_text(net, y)}"
        ) from None
    for (target, _), v in zip(net.events[e].assignments, values):
        if not math.isfinite(v):
            raise SimulationError(f"event {e + 1} ({net.events[e]}) assigned a non-finite value at t={t:.6g}")
        if target in net.species_names:
            if v < 0:
                raise SimulationError(f"event {e + 1} ({net.events[e]}) assigned a negative amount at t={t:.6g}")
            y[net.species_index(target)] = v
        else:
            p[net.parameter_names.index(target)] = v


def solve(
    net: ReactionNetwork,
    x0: np.ndarray,
    p: np.ndarray,
    t0: float,
    save_times: np.ndarray,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    ode_method: str = "LSODA",
    max_steps: int | None = None,
) -> np.ndarray:
    """Integrate the rate equations; returns the state at ``save_times``, shape (species, 1, times).

    Errors are :class:`~pycrn.SimulationError` naming the reaction, time and
    state, as in the stochastic engines: a rate that cannot be evaluated, is
    not finite or is negative (at the start, after an event, or during the
    integration), a species driven negative, or more than ``max_steps``
    right-hand-side evaluations (a solution running into a singularity
    makes stiff solvers shrink their step without end).
    """
    # Imported here: scipy.integrate took 0.4-0.6 s of `import pycrn`.
    from scipy.integrate import solve_ivp

    raw = rhs_function(net)
    rates = rate_functions(net)
    tf = float(save_times[-1])
    evaluations = [0]
    last: dict = {}  # the last finite state evaluated, to name the culprit of a blow-up
    # Progress watch: evaluations since the integration last advanced by a 1e-9 of the time span.
    progress = {"t": float(t0), "at": 0}
    resolution = 1e-9 * (tf - float(t0))

    def f(t, y, p):
        evaluations[0] += 1
        if t > progress["t"] + resolution:
            progress["t"], progress["at"] = t, evaluations[0]
        elif evaluations[0] - progress["at"] > STALL_EVALUATIONS:
            raise SimulationError(
                f"the ODE integration stalled at t={t:.6g} (of {tf:.6g}): {STALL_EVALUATIONS:,} right-hand-side "
                f"evaluations without advancing by 1e-9 of the time span, in state {_state_text(net, y)}; the "
                f"solution runs into a singularity there (a rate law with a pole?)"
            )
        if max_steps is not None and evaluations[0] > max_steps:
            raise SimulationError(
                f"the ODE integration used up its budget of {max_steps:,} right-hand-side evaluations "
                f"(max_steps) and reached only t={t:.6g} of {tf:.6g}, in state {_state_text(net, y)}; the "
                f"solution may run into a singularity there. Check the rate laws, or raise the budget with "
                f"method=pycrn.methods.ODE(max_steps=...)"
            )
        try:
            with np.errstate(all="ignore"):
                dy = raw(t, y, p)
        except (ZeroDivisionError, OverflowError, ValueError):
            dy = None
        if dy is None or not np.all(np.isfinite(dy)):
            # Abort at once, naming the reaction: stiff integrators otherwise keep shrinking the step.
            if not np.all(np.isfinite(y)) and last:
                # The solver's trial state itself overflowed: blame the fastest rate at the last finite state.
                t1, y1 = last["t"], last["y"]
                with np.errstate(all="ignore"):
                    values = [abs(float(fn(t1, y1, p))) for fn in rates]
                j = int(np.argmax(values))
                raise SimulationError(
                    f"the ODE solution blew up at t={t:.6g} (state {_state_text(net, y)}): the fastest rate at "
                    f"t={t1:.6g} was that of reaction {j + 1} ({net.reactions[j]}), {values[j]:.4g}, in state "
                    f"{_state_text(net, y1)}"
                )
            raise SimulationError(
                invalid_rate(net, rates, t, y, p)
                or f"the ODE right-hand side is not finite at t={t:.6g} in state {_state_text(net, y)}"
            )
        if np.all(np.isfinite(y)):
            last["t"], last["y"] = t, y.copy()
        return dy

    def check_rates(t, y, p, when):
        message = invalid_rate(net, rates, t, y, p)
        if message is not None:
            raise SimulationError(f"{when}: {message}")

    def check_signs(ts, ys):
        # Solvers overshoot zero by about their tolerance; a rate law that does not vanish
        # without its reactants drives the species far below it.
        scale = np.maximum(1.0, np.abs(ys).max(axis=1))
        low = ys < -(100.0 * atol + 1e-6 * scale)[:, None]
        if low.any():
            i, k = np.argwhere(low)[0]
            consumers = [j + 1 for j in range(len(net.reactions)) if net.stoichiometry[i, j] < 0]
            raise SimulationError(
                f"species {net.species_names[i]!r} went negative ({ys[i, k]:.6g}) at t={ts[k]:.6g}: the rate "
                f"law of reaction(s) {consumers} consuming it must vanish when it runs out"
            )

    y = np.asarray(x0, dtype=np.float64).copy()
    p = np.asarray(p, dtype=np.float64).copy()
    out = np.empty((y.size, 1, save_times.size))
    time_events, state_events = [], []
    for e, ev in enumerate(net.events):
        threshold = ev.trigger.time_threshold()
        if threshold is not None:
            value = eval(threshold.to_source(_symbols(net)), {"math": math, "y": y, "p": p, "t": t0})  # noqa: S307
            if value > t0 or (value <= t0 and not ev.initial_value):
                time_events.append((max(float(value), t0), e))
        else:
            g, direction = _state_event_function(net, e)
            state_events.append((g, direction, e))
    time_events.sort()
    t = t0
    k = 0
    # A state trigger already true at t0 fires there when its initial value is false.
    for g, direction, e in state_events:
        if direction != 0 and direction * g(t, y, p) >= 0 and not net.events[e].initial_value:
            _apply(net, e, y, p, t)
    check_rates(t, y, p, "at the start")
    for _ in range(100_000):
        next_time_event = time_events[0][0] if time_events else np.inf
        t_stop = min(next_time_event, tf)
        if t_stop > t:
            roots = []
            for g, direction, _ in state_events:
                fn = (lambda gg: (lambda tt, yy: gg(tt, yy, p)))(g)
                fn.terminal = True
                fn.direction = direction
                roots.append(fn)
            sol = solve_ivp(
                lambda tt, yy: f(tt, yy, p), (t, t_stop), y, method=ode_method, rtol=rtol, atol=atol,
                dense_output=True, events=roots or None,
            )
            if not sol.success:
                raise SimulationError(
                    f"ODE integration failed at t={sol.t[-1]:.6g} in state {_state_text(net, sol.y[:, -1])}: "
                    f"{sol.message}"
                )
            check_signs(sol.t, sol.y)
            t_end = float(sol.t[-1])
            while k < save_times.size and save_times[k] < t_end:
                out[:, 0, k] = sol.sol(save_times[k])
                k += 1
            y = sol.y[:, -1].copy()
            if not np.all(np.isfinite(y)):
                raise SimulationError(f"ODE solution became non-finite at t={t_end:.6g}")
            t = t_end
            if sol.status == 1:  # a state event fired
                for idx, (_, _, e) in enumerate(state_events):
                    if sol.t_events[idx].size and sol.t_events[idx][-1] == t_end:
                        _apply(net, e, y, p, t)
                        check_rates(t, y, p, f"after event {e + 1} ({net.events[e]})")
                        break
                continue
        while time_events and time_events[0][0] <= t:
            e = time_events.pop(0)[1]
            _apply(net, e, y, p, t)
            check_rates(t, y, p, f"after event {e + 1} ({net.events[e]})")
        if t >= tf:
            while k < save_times.size:
                out[:, 0, k] = y
                k += 1
            return out
    raise SimulationError(f"events keep firing at t={t:.6g}; the integration cannot advance")
