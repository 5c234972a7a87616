"""Status codes of the compiled engines, and their decoding into errors.

Every engine reports one integer per trajectory. The fixed codes are the
members of :class:`Status`; two ranges carry an index: ``1 + j`` (reaction
``j`` produced an invalid propensity or a negative count) and
``-(2 + e)`` (event ``e`` made an invalid assignment, for ``e`` below
:data:`EVENT_RANGE`), ``BOUND_VIOLATED - j`` and ``UNBOUNDED - j`` (thinning:
reaction ``j``'s propensity passed its bound, or has none near the time), ``NEGATIVE_AMOUNT - i``
(hybrid: continuous species ``i`` would go below zero; :mod:`pycrn.engines.hybrid` words
these and its other failures), and ``OVERFLOW - i`` (the count of species ``i``
would pass :data:`COUNT_LIMIT`; leaping and batched engines, which detect it
before applying a leap or a segment). The constants are pasted into every generated
module (:func:`constants_source`), so the kernels and this decoder share
one definition; :func:`raise_for_status` is the only place a code becomes a
message.
"""

from __future__ import annotations

import math
import sys
from enum import IntEnum

import numpy as np

from .errors import SimulationError
from .network import ReactionNetwork


class Status(IntEnum):
    """The fixed status codes (see the module docstring for the indexed ranges)."""

    OK = 0
    #: The propensities at the start of the run, or after an event, are invalid.
    INVALID_PROPENSITY = -1
    #: State events kept triggering one another at one instant.
    EVENT_CASCADE = -1000
    #: A fixed-step tau leap drove a count negative.
    NEGATIVE_LEAP = -3000
    #: The caller asked the kernel to stop (Ctrl-C); turned back into ``KeyboardInterrupt``.
    INTERRUPTED = -4000
    #: The trajectory used up its step budget (the method's ``max_steps``).
    BUDGET = -5000
    #: The start of the range ``BOUND_VIOLATED - j``: reaction ``j``'s propensity passed its bound (thinning).
    BOUND_VIOLATED = -2_000_000
    #: The start of the range ``UNBOUNDED - j``: reaction ``j``'s rate has no finite bound over any window near t.
    UNBOUNDED = -3_000_000
    #: The start of the range ``NEGATIVE_AMOUNT - i``: continuous species ``i`` would go below zero (hybrid).
    NEGATIVE_AMOUNT = -4_000_000
    #: The ODE part of a hybrid run could not advance (its step fell below the resolution of t).
    STALLED = -6000
    #: The start of the range ``OVERFLOW - i``: species ``i``'s count would pass :data:`COUNT_LIMIT`.
    OVERFLOW = -1_000_000_000


#: Event codes are ``-(2 + e)`` for ``0 <= e < EVENT_RANGE``.
EVENT_RANGE = 998
#: The width of the ranges that carry a reaction index (``BOUND_VIOLATED - j``, ``UNBOUNDED - j``).
RANGE = 1_000_000

#: The largest count the engines hold (int64). Every engine checks, before a
#: change is applied, that it cannot pass this, and stops the trajectory with
#: an overflow error instead of wrapping around.
COUNT_LIMIT = 2**63 - 1
#: The largest total number of molecules the batched engine handles (about
#: 2.9e17): its segments sum counts and a catalyst of up to 8 times their
#: total in int64, so the total is checked, in floating point, below this.
BATCHED_TOTAL_LIMIT = 2**58


def constants_source() -> str:
    """The status constants as numba-subset source, for the generated modules."""
    return "".join(f"STATUS_{s.name} = {int(s)}\n" for s in Status) + (
        f"COUNT_LIMIT = {COUNT_LIMIT}\nBATCHED_TOTAL_LIMIT = {float(BATCHED_TOTAL_LIMIT)!r}\n"
        # `not (v <= MAX_FLOAT)` is true for NaN and infinity: one comparison rejects both.
        f"MAX_FLOAT = {sys.float_info.max!r}\n"
    )


def reaction_code(j: int) -> int:
    """The code of a failure in reaction ``j`` (0-based)."""
    return 1 + j


def _format_mapping(items) -> str:
    return " ".join(f"{k}={v!r}" for k, v in items)


def raise_for_status(
    net: ReactionNetwork, p: np.ndarray, x, t: float, code: int, trajectory: int | None = None,
    budget: int | None = None, tf: float | None = None, method: str | None = None,
) -> None:
    """Raise the :class:`~pycrn.SimulationError` that status ``code`` stands for.

    ``x`` and ``t`` are the state and time at which the trajectory stopped;
    the message names the reaction, species or event, the time, the
    trajectory and the state. ``budget``, ``tf`` and ``method`` (the
    method's ``max_steps``, the end of the run, the method's name) complete
    the message of a used-up budget. ``INTERRUPTED`` raises ``KeyboardInterrupt``.
    """
    from .propensity import evaluate_bound, evaluate_propensity

    if code == Status.INTERRUPTED:
        raise KeyboardInterrupt
    where = f" (trajectory {trajectory})" if trajectory is not None else ""
    if method in ("hybrid", "hybrid_sde"):
        from .engines import hybrid

        if hybrid.owns(code):
            raise SimulationError(hybrid.failure_message(net, p, x, t, code, where))
    x = np.asarray(x, dtype=np.int64).copy()
    state = _format_mapping(zip(net.species_names, x.tolist()))
    if code == Status.NEGATIVE_LEAP:
        raise SimulationError(
            f"simple tau-leaping drove a count negative at t={t:.6g}{where} (state {state}); "
            "use a smaller dt, or method='tau_leaping', which prevents it"
        )
    if code == Status.EVENT_CASCADE:
        raise SimulationError(
            f"events keep triggering one another at t={t:.6g}{where} (more than 100 rounds) in state {state}"
        )
    if code == Status.BUDGET:
        raise SimulationError(_budget_message(net, p, x, t, where, state, budget, tf, method))
    if code <= Status.OVERFLOW and method == "batched":
        i = Status.OVERFLOW - code
        raise SimulationError(
            f"the population would pass {BATCHED_TOTAL_LIMIT:.3g} molecules (2**58), the most the batched engine "
            f"handles, at t={t:.6g}{where} (largest count: {net.species_names[i]}={int(x[i]):,}); stopped "
            f"instead of wrapping around. Larger populations: method='tau_leaping' or 'ode' (state {state})"
        )
    if code <= Status.OVERFLOW:
        i = Status.OVERFLOW - code
        raise SimulationError(
            f"the count of species {net.species_names[i]!r} would pass {COUNT_LIMIT:,} (the int64 limit of the "
            f"engines) at t={t:.6g}{where}; stopped instead of wrapping around (state {state})"
        )
    if Status.UNBOUNDED - RANGE < code <= Status.UNBOUNDED:
        j = Status.UNBOUNDED - code
        # Only an undefined (NaN) declared bound fails a window; an infinite one leaves the enclosure in charge.
        if net.reactions[j].bound is not None and math.isnan(evaluate_bound(net, j, x, p)):
            raise SimulationError(
                f"the declared @bound of reaction {j + 1} ({net.reactions[j]}) is undefined (NaN) at "
                f"t={t:.6g}{where} (state {state}, parameters "
                f"{_format_mapping(zip(net.parameter_names, np.asarray(p).tolist()))})"
            )
        raise SimulationError(
            f"the rate of reaction {j + 1} ({net.reactions[j]}) has no finite bound over any time window near "
            f"t={t:.6g}{where} (it grows without bound or is undefined there, e.g. a division by zero at that time), "
            f"so thinning cannot go past it (state {state})"
        )
    if Status.BOUND_VIOLATED - RANGE < code <= Status.BOUND_VIOLATED:
        j = Status.BOUND_VIOLATED - code
        declared = evaluate_bound(net, j, x, p)
        value = evaluate_propensity(net, j, x, p, t)
        if value > declared:
            raise SimulationError(
                f"the propensity of reaction {j + 1} ({net.reactions[j]}) at t={t:.6g}{where} is {value:.6g}, "
                f"above its declared @bound ({declared:.6g} in this state): the bound is wrong, and thinning "
                f"against it would give wrong samples, so the run stopped (state {state}). Raise the bound"
            )
        raise SimulationError(
            f"the propensity of reaction {j + 1} ({net.reactions[j]}) at t={t:.6g}{where} is above the bound "
            f"derived for its window: the thinning would be wrong, so the run stopped (state {state}). "
            "This is a bug in pycrn's interval bounds; please report the model"
        )
    if -(2 + EVENT_RANGE) < code <= -2:
        e = -code - 2
        ev = net.events[e]
        raise SimulationError(
            f"event {e + 1} ({ev}) at t={t:.6g}{where} assigned an invalid value: species need "
            f"non-negative whole numbers up to 2**53 (event values are doubles), parameters finite numbers "
            f"(state before: {state})"
        )
    if code > 0 and any(v < 0 for v in x):
        j = code - 1
        r = net.reactions[j]
        raise SimulationError(
            f"reaction {j + 1} ({r}) fired at t={t:.6g}{where} and drove a count negative "
            f"(state {state}); its rate law must vanish when its reactants run out"
        )
    if code > 0:
        j = code - 1
        change = net.stoichiometry[:, j]
        over = [i for i in np.flatnonzero(change > 0) if int(x[i]) > COUNT_LIMIT - int(change[i])]
        if over:
            names = ", ".join(repr(net.species_names[i]) for i in over)
            raise SimulationError(
                f"reaction {j + 1} ({net.reactions[j]}) at t={t:.6g}{where} would push the count of {names} past "
                f"{COUNT_LIMIT:,} (the int64 limit of the engines); stopped instead of wrapping around (state {state})"
            )
    invalid = _invalid_propensity(net, x, p, t)
    if invalid:
        raise SimulationError(f"{invalid} at t={t:.6g}{where} in state {state}")
    # The kernel's parameters may differ from p: an event can reassign them.
    for e, ev in enumerate(net.events):
        changed = parameters_after(net, e, x, p, t)
        invalid = _invalid_propensity(net, x, changed, t) if changed is not None else None
        if invalid:
            raise SimulationError(f"after event {e + 1} ({ev}), {invalid} at t={t:.6g}{where} in state {state}")
    if method == "batched" and code > 0:
        raise SimulationError(
            f"the rate constant of reaction {code} ({net.reactions[code - 1]}) is above 1e300 at t={t:.6g}{where}, "
            "beyond what the batched engine's uniformised rates hold; use method='direct'"
        )
    if sum(evaluate_propensity(net, j, x, p, t) for j in range(len(net.reactions))) == math.inf:
        raise SimulationError(
            f"the propensities sum to more than the largest double ({sys.float_info.max:.3g}) at t={t:.6g}{where} "
            f"in state {state}"
        )
    name = Status(code).name if code in Status._value2member_map_ else f"code {code}"
    raise SimulationError(f"simulation failed at t={t:.6g}{where} in state {state} ({name})")


def invalid_kind(v: float) -> str:
    """How an invalid propensity or rate is invalid: ``"NaN"``, ``"infinite"`` or ``"negative"``."""
    return "NaN" if math.isnan(v) else ("infinite" if math.isinf(v) else "negative")


def _invalid_propensity(net: ReactionNetwork, x: np.ndarray, p: np.ndarray, t: float) -> str | None:
    """``"propensity of reaction j (...) is negative (-1.0)"`` for the first invalid one, or ``None``."""
    from .propensity import evaluate_propensity

    for j, r in enumerate(net.reactions):
        v = evaluate_propensity(net, j, x, p, t)
        if not (v >= 0.0 and math.isfinite(v)):
            return f"propensity of reaction {j + 1} ({r}) is {invalid_kind(v)} ({v!r})"
    return None


def parameters_after(net: ReactionNetwork, e: int, x: np.ndarray, p: np.ndarray, t: float) -> np.ndarray | None:
    """The parameters after event ``e``'s assignments to parameters, or ``None`` if it assigns none."""
    from .propensity import symbols

    assigned = [(net.parameter_names.index(target), expr) for target, expr in net.events[e].assignments
                if target in net.parameter_names]
    if not assigned:
        return None
    table = symbols(net)
    out = np.array(p, dtype=np.float64)
    for k, expr in assigned:
        try:
            with np.errstate(all="ignore"):
                out[k] = float(eval(expr.to_source(table), {"math": math, "x": x, "p": p, "t": t}))  # noqa: S307
        except (ZeroDivisionError, OverflowError, ValueError):
            out[k] = math.nan
    return out


def _budget_message(net, p, x, t, where, state, budget, tf, method) -> str:
    """What ran away: the steps taken, how far the run got, the fastest reaction and the largest count."""
    from .propensity import evaluate_propensity

    took = f"used up its budget of {budget:,} steps" if budget is not None else "used up its step budget"
    reached = f"reached only t={t:.6g} of {tf:.6g}" if tf is not None else f"stopped at t={t:.6g}"
    parts = []
    values = [evaluate_propensity(net, j, x, p, t) for j in range(len(net.reactions))]
    if values:
        j = int(np.nanargmax(np.where(np.isfinite(values), values, -np.inf))) if np.isfinite(values).any() else 0
        parts.append(f"the fastest reaction is {j + 1} ({net.reactions[j]}) with propensity {values[j]:.4g}")
    if x.size:
        i = int(np.argmax(x))
        parts.append(f"the largest count {net.species_names[i]}={int(x[i]):,}")
    how = f"pycrn.methods.{_class_name(method)}(max_steps=...)" if method else "the method's max_steps"
    return (
        f"a trajectory ran away{where}: it {took} (max_steps) and {reached}; "
        f"{'; '.join(parts)} (state {state}). Check the rates and initial counts, or raise the budget "
        f"with method={how} (max_steps=None: no budget)"
    )


def _class_name(method: str) -> str:
    from .methods import METHODS

    cls = METHODS.get(method)
    return cls.__name__ if cls is not None else "<Method>"
