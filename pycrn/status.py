"""Status codes of the compiled engines, and their decoding into errors.

Every engine reports one integer per trajectory. The fixed codes are the
members of :class:`Status`; two ranges carry an index: ``1 + j`` (reaction
``j`` produced an invalid propensity or a negative count) and
``-(2 + e)`` (event ``e`` made an invalid assignment, for ``e`` below
:data:`EVENT_RANGE`). The constants are pasted into every generated
module (:func:`constants_source`), so the kernels and this decoder share
one definition; :func:`raise_for_status` is the only place a code becomes a
message.
"""

from __future__ import annotations

import math
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


#: Event codes are ``-(2 + e)`` for ``0 <= e < EVENT_RANGE``.
EVENT_RANGE = 998


def constants_source() -> str:
    """The status constants as numba-subset source, for the generated modules."""
    return "".join(f"STATUS_{s.name} = {int(s)}\n" for s in Status)


def reaction_code(j: int) -> int:
    """The code of a failure in reaction ``j`` (0-based)."""
    return 1 + j


def _format_mapping(items) -> str:
    return " ".join(f"{k}={v!r}" for k, v in items)


def raise_for_status(
    net: ReactionNetwork, p: np.ndarray, x, t: float, code: int, trajectory: int | None = None
) -> None:
    """Raise the :class:`~pycrn.SimulationError` that status ``code`` stands for.

    ``x`` and ``t`` are the state and time at which the trajectory stopped;
    the message names the reaction or event, the time, the trajectory and
    the state. ``INTERRUPTED`` raises ``KeyboardInterrupt``.
    """
    from .propensity import evaluate_propensity

    if code == Status.INTERRUPTED:
        raise KeyboardInterrupt
    x = np.asarray(x, dtype=np.int64).copy()
    where = f" (trajectory {trajectory})" if trajectory is not None else ""
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
    for j, r in enumerate(net.reactions):
        v = evaluate_propensity(net, j, x, p, t)
        if not (v >= 0.0 and math.isfinite(v)):
            kind = "NaN" if math.isnan(v) else ("infinite" if math.isinf(v) else "negative")
            raise SimulationError(
                f"propensity of reaction {j + 1} ({r}) is {kind} ({v!r}) at t={t:.6g}{where} "
                f"in state {state}"
            )
    name = Status(code).name if code in Status._value2member_map_ else f"code {code}"
    raise SimulationError(f"simulation failed at t={t:.6g}{where} in state {state} ({name})")
