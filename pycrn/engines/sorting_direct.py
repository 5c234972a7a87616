"""The sorting direct method.

J. M. McCollum, G. D. Peterson, C. D. Cox, M. L. Simpson and N. F. Samatova,
"The sorting direct method for stochastic simulation of biochemical systems
with varying reaction execution behavior", Comput. Biol. Chem. 30:39-49
(2006); JumpProcesses' ``SortingDirect`` aggregator.

The direct method, but the linear search runs over a permutation of the
reactions that is kept roughly ordered by firing frequency: each time a
reaction fires it swaps places with its predecessor in the search order, so
frequent reactions bubble to the front and the expected search depth falls.
The sampled process is identical in law to the direct method's.
"""

from __future__ import annotations

from . import ssa_stepper

NAME = "sorting_direct"


def agg_setup(a):
    """The search order, initially the reaction index order (as JumpProcesses starts)."""
    return np.arange(a.shape[0])  # noqa: F821


def agg_select(a, r, aux, s):
    """Search in ``aux`` order; move the chosen reaction one place forward."""
    acc = 0.0
    for q in range(aux.shape[0]):
        j = aux[q]
        acc += a[j]
        if r < acc:
            if q > 0:
                aux[q] = aux[q - 1]
                aux[q - 1] = j
            return j
    return -1


SOURCES = (agg_setup, agg_select, *ssa_stepper.SEARCH_HOOKS, *ssa_stepper.SOURCES)
