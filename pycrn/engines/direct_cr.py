"""The composition-rejection direct method (DirectCR).

A. Slepoy, A. P. Thompson and S. J. Plimpton, "A constant-time kinetic
Monte Carlo algorithm for simulation of large biochemical reaction
networks", J. Chem. Phys. 128:205101 (2008); JumpProcesses' ``DirectCR``
aggregator.

The direct method's exponential waiting time with the total propensity as
rate, but the reaction is chosen by composition-rejection instead of a
linear search: the propensities are grouped by binary exponent, a group is
chosen by its sum and a member inside it by rejection (accepted with
probability at least one half), see
:mod:`pycrn.engines.composition_rejection`. A selection costs about the
number of occupied exponents rather than the number of reactions, and a
firing updates only its dependents' groups (the dependency graph), so the
cost per reaction does not grow with the size of the network. The sampled
process is identical in law to the direct method's. Events, save grids,
``save="events"`` and both kernel kinds work as in the direct method
(:mod:`pycrn.engines.ssa_stepper`).
"""

from __future__ import annotations

from . import composition_rejection, ssa_stepper

NAME = "direct_cr"


def agg_setup(a):
    """The composition-rejection table of the propensities ``a``."""
    tab = table_new(a.shape[0])  # noqa: F821
    table_reset(tab, a)  # noqa: F821
    return tab


def agg_select(a, r, aux, s):
    """Composition over the exponent groups, rejection inside the group."""
    return table_pick(aux, r, s)  # noqa: F821


def agg_update(net, j, a, aux):
    """Move the dependents of the reaction that fired to the groups of their new propensities."""
    ptr, idx = dependency_arrays(net)  # noqa: F821
    table_change_many(aux, idx, ptr[j], ptr[j + 1], a)  # noqa: F821


def agg_reset(a, aux):
    """Regroup every propensity (after an event)."""
    table_reset(aux, a)  # noqa: F821


SOURCES = (*composition_rejection.SOURCES, agg_setup, agg_select, agg_update, agg_reset, *ssa_stepper.SOURCES)
