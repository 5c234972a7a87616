"""Deterministic mean field: the reaction rate equations.

dx/dt = S a(x, t), with S the net stoichiometry and a the deterministic
propensities: for mass action the continuum limit ``k prod_i x_i^nu_i / nu_i!``
of the combinatorial term (so ``2A`` contributes ``k A^2 / 2``), for general
rate laws (``=>``) the rate expression itself. Solved with scipy's
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

NAME = "ode"


def _symbols(net: ReactionNetwork) -> dict[str, str]:
    return symbol_table(net.species_names, net.parameter_names, "y[{i}]")


def _rate_source(net: ReactionNetwork, j: int) -> str:
    return propensity_expression(net, j, "y[{i}]", deterministic=True)


def rhs_function(net: ReactionNetwork):
    """``f(t, y, p) -> dy/dt`` for the reaction rate equations of ``net``."""
    S = net.stoichiometry
    lines = ["def f(t, y, p):", f"    dy = np.zeros({S.shape[0]})"]
    for j in range(len(net.reactions)):
        lines.append(f"    a = {_rate_source(net, j)}")
        for i in np.flatnonzero(S[:, j]):
            lines.append(f"    dy[{i}] += {int(S[i, j])} * a")
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
    values = [
        eval(expr.to_source(symbols), {"math": math, "y": y, "p": p, "t": t})  # noqa: S307
        for _, expr in net.events[e].assignments
    ]
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
) -> np.ndarray:
    """Integrate the rate equations; returns the state at ``save_times``, shape (species, 1, times)."""
    # Imported here: scipy.integrate took 0.4-0.6 s of `import pycrn`.
    from scipy.integrate import solve_ivp

    raw = rhs_function(net)

    def f(t, y, p):
        with np.errstate(all="ignore"):
            dy = raw(t, y, p)
        if not np.all(np.isfinite(dy)):
            # Abort at once: stiff integrators otherwise keep shrinking the step.
            raise SimulationError(f"ODE right-hand side is not finite at t={t:.6g} (state {y.tolist()})")
        return dy

    y = np.asarray(x0, dtype=np.float64).copy()
    p = np.asarray(p, dtype=np.float64).copy()
    out = np.empty((y.size, 1, save_times.size))
    tf = float(save_times[-1])
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
                raise SimulationError(f"ODE integration failed at t={sol.t[-1]:.6g}: {sol.message}")
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
                        break
                continue
        while time_events and time_events[0][0] <= t:
            _apply(net, time_events.pop(0)[1], y, p, t)
        if t >= tf:
            while k < save_times.size:
                out[:, 0, k] = y
                k += 1
            return out
    raise SimulationError(f"events keep firing at t={t:.6g}; the integration cannot advance")
