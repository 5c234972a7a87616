"""Explicit Poisson tau-leaping with a fixed step.

D. T. Gillespie, "Approximate accelerated stochastic simulation of chemically
reacting systems", J. Chem. Phys. 115:1716 (2001); JumpProcesses'
``SimpleTauLeaping``. Each step of length ``dt`` (the ``dt`` argument of
:func:`pycrn.simulate`, shortened to land on save times and time events)
fires every reaction a Poisson(a_j dt) number of times with the propensities
frozen at the start of the step. Nothing prevents a count from going
negative: if one does, the run stops with a clear error (use a smaller
``dt``, or ``method="tau_leaping"``, which guards against it).
"""

from __future__ import annotations

from . import leap_stepper

NAME = "simple_tau_leaping"


def constants_source(net) -> str:
    S = net.stoichiometry
    m, n = S.shape[1], S.shape[0]
    rows = ", ".join("[" + ", ".join(str(int(S[i, j])) for i in range(n)) + "]" for j in range(m))
    return f"NU = np.array([{rows}], dtype=np.int64).reshape({m}, {n})\n"


def _step(x, a, tau, s):
    """Fire every reaction Poisson(a_j tau) times.

    Returns 0, ``STATUS_NEGATIVE_LEAP`` if a count went negative, or
    ``STATUS_OVERFLOW - i`` if the count of species ``i`` would pass
    ``COUNT_LIMIT``.
    """
    negative = False
    for j in range(a.shape[0]):
        if a[j] <= 0.0:
            continue
        k = _poisson_firings(s, a[j] * tau)  # noqa: F821
        if k != 0:
            i = _add_firings(x, j, k)  # noqa: F821
            if i >= 0:
                return STATUS_OVERFLOW - i  # noqa: F821
            if i == -2:
                negative = True
                break
    for i in range(x.shape[0]):
        if x[i] < 0:
            negative = True
    return STATUS_NEGATIVE_LEAP if negative else 0  # noqa: F821


def advance(net, x, pl, t, t_stop, a, total, crit, xn, s, dt, burst, single):
    """One step of length dt, shortened to land exactly on t_stop (see leap_stepper; never a burst)."""
    # No sliver steps from rounding: snap to t_stop when within 1e-9 dt of it.
    tau = dt if t + dt < t_stop - 1e-9 * dt else t_stop - t
    for i in range(x.shape[0]):
        xn[i] = x[i]
    code = _step(xn, a, tau, s)
    if code != 0:
        # x keeps the state before the failed step, for the error message.
        return t, 1, code, total, 0
    for i in range(x.shape[0]):
        x[i] = xn[i]
    return (t + tau if tau == dt else t_stop), 1, 0, total, 0


SOURCES = (_step, advance, *leap_stepper.SOURCES)
