"""Gillespie's direct method.

D. T. Gillespie, "Exact stochastic simulation of coupled chemical reactions",
J. Phys. Chem. 81:2340-2361 (1977); JumpProcesses' ``Direct`` aggregator.

The waiting time to the next reaction is exponential with the total
propensity as rate; the reaction is chosen with probability proportional to
its propensity by a linear search over the propensities in index order. Only
the propensities that the dependency graph says changed are recomputed after
a reaction fires (see :mod:`pycrn.engines.ssa_stepper`).
"""

from __future__ import annotations

from . import ssa_stepper

NAME = "direct"


def agg_setup(a):
    """No auxiliary state: an empty array."""
    return np.empty(0, dtype=np.int64)  # noqa: F821


def agg_select(a, r, aux, s):
    """Linear search: the first j whose cumulative propensity exceeds r."""
    acc = 0.0
    for j in range(a.shape[0]):
        acc += a[j]
        if r < acc:
            return j
    return -1


SOURCES = (agg_setup, agg_select, *ssa_stepper.SEARCH_HOOKS, *ssa_stepper.SOURCES)
