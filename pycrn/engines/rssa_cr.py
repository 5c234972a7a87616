"""The rejection-based SSA with composition-rejection selection (RSSA-CR).

V. H. Thanh, R. Zunino and C. Priami, "Efficient constant-time complexity
algorithm for stochastic simulation of large reaction networks", IEEE/ACM
Trans. Comput. Biol. Bioinform. 14:657-667 (2017); JumpProcesses'
``RSSACR`` aggregator.

The rejection-based SSA of :mod:`pycrn.engines.rssa` (species brackets,
propensity bounds, candidates thinned to exact firings), with the
candidate drawn by composition-rejection over the upper bounds (Slepoy,
Thompson and Plimpton, see :mod:`pycrn.engines.composition_rejection`)
instead of a two-level search: the upper bounds are grouped by binary
exponent, a group is chosen by its sum and a member by rejection against
the group's power of two. The candidate then faces RSSA's own acceptance
test (``alo / ahi`` at once, ``a(x) / ahi`` after one evaluation). A
candidate costs about the number of occupied exponents, not the number of
reactions; bounds change only when a species leaves its bracket. Same
scope as RSSA: mass-action networks on the data-driven kernels, events
included.
"""

from __future__ import annotations

from . import composition_rejection, rssa

NAME = "rssa_cr"
SHARED_ONLY = True


def check_network(net) -> None:
    """Refuse, naming it, what RSSA cannot simulate (the same scope)."""
    rssa.check_network(net, NAME)


def sel_new(m):
    """The composition-rejection table of ``m`` upper bounds."""
    return table_new(m)  # noqa: F821


def sel_reset(tab, ahi):
    """Regroup every upper bound; return their total."""
    return table_reset(tab, ahi)  # noqa: F821


def sel_change_many(tab, idx, lo, hi, ahi, aold):
    """Move the reactions ``idx[lo:hi]`` to the groups of their new upper bounds."""
    table_change_many(tab, idx, lo, hi, ahi)  # noqa: F821


def sel_pick(tab, ahi, r, s):
    """Composition over the exponent groups, rejection inside the group."""
    return table_pick(tab, r, s)  # noqa: F821


SOURCES = (*composition_rejection.SOURCES, sel_new, sel_reset, sel_change_many, sel_pick, *rssa.LOOP_SOURCES)
