"""Composition-rejection sampling of an index by weight: the table of DirectCR and RSSA-CR.

A. Slepoy, A. P. Thompson and S. J. Plimpton, "A constant-time kinetic
Monte Carlo algorithm for simulation of large biochemical reaction
networks", J. Chem. Phys. 128:205101 (2008).

Weights are grouped by their binary exponent: group ``g`` holds the indices
whose weight ``w`` has ``frexp(w)`` exponent ``e = g + ebase``, so
``2**(e-1) <= w < 2**e``. An index is sampled by *composition* (a group
chosen with probability proportional to its sum of weights, by a walk from
the heaviest exponent down: a few dozen groups span every propensity of a
network) and *rejection* inside the group (a member drawn uniformly is
accepted with probability ``w / 2**e >= 1/2``, so fewer than two draws on
average). The result is an exact draw with probability ``w_k / sum(w)``,
at a cost that does not grow with the number of indices; changing one
weight is O(1) when it stays near its exponent.

Layout (numba: a tuple of four arrays of fixed sizes, so that nothing is
ever reallocated): the indices sorted by group in ``order``, group ``g``
occupying ``order[start[g]:start[g+1]]``, ``pos`` the inverse permutation.
Group 0 holds the zero weights, which are never proposed. An index moving
from group ``g1`` to ``g2`` travels across the groups between by one swap
and one boundary shift each. ``ebase`` is chosen at a rebuild 16 binades
below the smallest positive weight; a weight below it rebuilds the table
(rare: each rebuild makes room for 16 more halvings). Group sums are kept
incrementally and recomputed from their members every ``RESUM_CHANGES``
changes and whenever a draw falls past their total, so rounding never
biases the draw.
"""

from __future__ import annotations

import math

#: Groups: every binary exponent of a positive double (-1073 .. 1024) above a base up to 16 lower.
NUM_GROUPS = 2200
#: Binades left free below the smallest positive weight at a rebuild.
MARGIN = 2
#: Incremental changes between exact recomputations of the group sums.
RESUM_CHANGES = 65536


def _group(w, ebase):
    """The group of weight ``w``: 0 for a zero (or invalid) weight, else its exponent minus ``ebase``.

    May fall outside ``[1, NUM_GROUPS)`` for a positive weight: the caller rebuilds. An infinite weight
    goes to the top group (the run is about to fail on it; no index may go out of bounds first).
    """
    if not (w > 0.0):
        return 0
    if w > MAX_FLOAT:  # noqa: F821
        return NUM_GROUPS - 1
    return math.frexp(w)[1] - ebase


#: Offsets in the integer array of a table: ``ebase``, the highest possibly non-empty group, the
#: changes since the last resum, then ``start`` (``NUM_GROUPS + 1``), ``grp``, ``pos``, ``order``.
_EBASE, _TOP, _CHANGES, _START = 0, 1, 2, 3
_GRP = _START + NUM_GROUPS + 1


def table_new(m):
    """An empty table for ``m`` weights: ``(w, gsum, upper, ints)``.

    ``upper[g] = 2**(g + ebase)`` bounds group g's weights from above. The integers are one array
    (offsets above: index arithmetic rather than views, since a table changes once per dependent
    of every reaction fired and views cost more than the change itself).
    """
    return (
        np.zeros(m, dtype=np.float64),  # noqa: F821
        np.zeros(NUM_GROUPS, dtype=np.float64),  # noqa: F821
        np.zeros(NUM_GROUPS, dtype=np.float64),  # noqa: F821
        np.zeros(_GRP + 3 * m, dtype=np.int64),  # noqa: F821
    )


def table_reset(tab, weights):
    """Load all weights afresh and sort them into groups (a counting sort, O(m + groups)); return their total.

    ``weights`` may be the table's own weights (a rebuild with a new base).
    """
    w, gsum, upper, ints = tab
    m = w.shape[0]
    pos = _GRP + m
    order = _GRP + 2 * m
    emin = 1 << 20
    for k in range(m):
        w[k] = weights[k]
        if w[k] > 0.0 and w[k] <= MAX_FLOAT:  # noqa: F821
            e = math.frexp(w[k])[1]
            if e < emin:
                emin = e
    ebase = (emin if emin < (1 << 20) else 0) - MARGIN
    ints[_EBASE] = ebase
    for g in range(NUM_GROUPS):
        upper[g] = math.ldexp(1.0, int(g + ebase)) if g + ebase <= 1023 else np.inf  # noqa: F821
    for g in range(NUM_GROUPS + 1):
        ints[_START + g] = 0
    for k in range(m):
        g = _group(w[k], ebase)
        ints[_GRP + k] = g
        ints[_START + g + 1] += 1
    for g in range(NUM_GROUPS):
        ints[_START + g + 1] += ints[_START + g]
    cursor = ints[_START:_START + NUM_GROUPS].copy()
    for k in range(m):
        g = ints[_GRP + k]
        ints[order + cursor[g]] = k
        ints[pos + k] = cursor[g]
        cursor[g] += 1
    top = 0
    for g in range(NUM_GROUPS - 1, 0, -1):
        if ints[_START + g + 1] > ints[_START + g]:
            top = g
            break
    ints[_TOP] = top
    return table_resum(tab)


def table_resum(tab):
    """Recompute every group sum from its members; return their total."""
    w, gsum, upper, ints = tab
    for g in range(NUM_GROUPS):
        gsum[g] = 0.0
    total = 0.0
    for k in range(w.shape[0]):
        g = ints[_GRP + k]
        if g > 0:
            gsum[g] += w[k]
            total += w[k]
    ints[_CHANGES] = 0
    return total


def table_change_many(tab, idx, lo, hi, weights):
    """Set the weights of indices ``idx[lo:hi]`` to their values in ``weights``.

    One call for all the dependents of a reaction, with the change written out in the loop: a
    call per change (passing the table's arrays) costs reference counting per array, several
    times more than the change itself. Moving from group g1 to g2 walks across the groups
    between: at each, one swap puts k at the boundary and the boundary shifts past it.
    """
    w, gsum, upper, ints = tab
    m = w.shape[0]
    pos = _GRP + m
    order = _GRP + 2 * m
    for q in range(lo, hi):
        k = idx[q]
        wnew = weights[k]
        old = w[k]
        if wnew == old:
            # The commonest case in large networks: a propensity that stays zero.
            continue
        g1 = ints[_GRP + k]
        w[k] = wnew
        if g1 > 0 and wnew < upper[g1] and wnew >= upper[g1 - 1]:
            # The next commonest: the weight stays in its binade.
            gsum[g1] += wnew - old
            continue
        if g1 == 0 and not (wnew > 0.0):
            continue
        g2 = _group(wnew, ints[_EBASE])
        if wnew > 0.0 and (g2 < 1 or g2 >= NUM_GROUPS):
            # Below the groups' range: a new base (the rest of the changes go to the new groups).
            table_reset(tab, w)
            continue
        step = 1 if g2 > g1 else -1
        for g in range(g1, g2, step):
            # The slot at the boundary of g toward g2: its last member going up, its first going down.
            edge = ints[_START + g + 1] - 1 if step > 0 else ints[_START + g]
            other = ints[order + edge]
            here = ints[pos + k]
            ints[order + here] = other
            ints[pos + other] = here
            ints[order + edge] = k
            ints[pos + k] = edge
            if step > 0:
                ints[_START + g + 1] -= 1
            else:
                ints[_START + g] += 1
        ints[_GRP + k] = g2
        if g1 != 0:
            # An emptied group's sum is exactly zero, whatever rounding left in it.
            gsum[g1] = gsum[g1] - old if ints[_START + g1 + 1] > ints[_START + g1] else 0.0
        if g2 != 0:
            gsum[g2] += wnew
            if g2 > ints[_TOP]:
                ints[_TOP] = g2
    ints[_CHANGES] += hi - lo
    if ints[_CHANGES] >= RESUM_CHANGES:
        table_resum(tab)


def table_pick(tab, r, s):
    """The index whose weight covers ``r`` in ``[0, sum(w))`` by composition, then rejection.

    The group is the one whose sum covers ``r`` in a walk from the top group down; the member is
    drawn uniformly inside it and accepted with probability ``w / 2**e`` (its mantissa, at least one
    half), using the stream ``s``. Returns -1 (after recomputing the group sums) if rounding put
    ``r`` past the groups' total.
    """
    w, gsum, upper, ints = tab
    order = _GRP + 2 * w.shape[0]
    g = ints[_TOP]
    while g > 0 and ints[_START + g + 1] == ints[_START + g]:
        g -= 1
    ints[_TOP] = g
    acc = 0.0
    while g > 0:
        acc += gsum[g]
        lo = ints[_START + g]
        n = ints[_START + g + 1] - lo
        if r < acc and n > 0:
            while True:
                q = lo + int(rng_uniform(s) * n)  # noqa: F821
                if q < lo + n:
                    k = ints[order + q]
                    # Accept with probability w / 2**e, the mantissa of w: no power of two is formed,
                    # since 2**1024 (the bound of the top binade) overflows to infinity.
                    if rng_uniform(s) < math.frexp(w[k])[0]:  # noqa: F821
                        return k
        g -= 1
    table_resum(tab)
    return -1


def table_views(tab):
    """``(w, gsum, upper, ebase, top, start, grp, pos, order)``: the table's parts by name (for tests)."""
    w, gsum, upper, ints = tab
    m = w.shape[0]
    return (w, gsum, upper, ints[_EBASE], ints[_TOP], ints[_START:_GRP], ints[_GRP:_GRP + m],
            ints[_GRP + m:_GRP + 2 * m], ints[_GRP + 2 * m:])


SOURCES = (
    f"NUM_GROUPS = {NUM_GROUPS}\nMARGIN = {MARGIN}\nRESUM_CHANGES = {RESUM_CHANGES}\n"
    f"_EBASE, _TOP, _CHANGES, _START = 0, 1, 2, 3\n_GRP = _START + NUM_GROUPS + 1\n",
    _group,
    table_new,
    table_reset,
    table_resum,
    table_change_many,
    table_pick,
)
