"""The composition-rejection table of DirectCR and RSSA-CR, run as plain Python.

The table's functions are numba-subset source that the engines paste into
their compiled modules; executed here by the interpreter, the invariants
can be checked as the table changes: the groups partition the indices, each
weight lies in its group's binade, the group sums equal their members', and
a draw returns index k with probability w_k / sum(w).
"""

from __future__ import annotations

import inspect
import math
import sys
import textwrap

import numpy as np
import pytest
from exact import chi_square_pvalue

from pycrn.engines import composition_rejection as cr

MAX_FLOAT = sys.float_info.max


@pytest.fixture
def table_ns():
    """The table's functions in a namespace, drawing uniforms from a seeded numpy Generator."""
    rng = np.random.default_rng(2024)
    ns = {"np": np, "math": math, "MAX_FLOAT": MAX_FLOAT, "rng_uniform": lambda s: rng.random()}
    source = "".join(part if isinstance(part, str) else textwrap.dedent(inspect.getsource(part)) + "\n"
                     for part in cr.SOURCES)
    exec(compile(source, "composition_rejection", "exec"), ns)
    return ns


def _check_invariants(ns, tab, weights):
    w, gsum, upper, ebase, top, start, grp, pos, order = cr.table_views(tab)
    m = len(weights)
    np.testing.assert_array_equal(w, weights)
    np.testing.assert_array_equal(np.sort(order), np.arange(m))
    np.testing.assert_array_equal(pos[order], np.arange(m))
    assert start[0] == 0 and start[-1] == m and np.all(np.diff(start) >= 0)
    # Each index sits inside its group's slice of ``order``.
    assert np.all((start[grp] <= pos) & (pos < start[grp + 1]))
    # Group 0 holds the zeros; group g the binade [2**(e-1), 2**e) with e = g + ebase.
    positive = weights > 0
    np.testing.assert_array_equal(grp[~positive], 0)
    np.testing.assert_array_equal(grp[positive], np.frexp(weights[positive])[1] - ebase)
    sums = np.bincount(grp, weights=weights, minlength=cr.NUM_GROUPS)
    sums[0] = 0.0
    np.testing.assert_allclose(gsum, sums, rtol=1e-12, atol=0)
    assert top >= grp.max()
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(upper, np.ldexp(1.0, np.arange(cr.NUM_GROUPS) + ebase))


def test_changes_keep_the_groups_a_partition_by_binade(table_ns):
    rng = np.random.default_rng(5)
    m = 40
    weights = rng.choice([0.0, 1.0], m) * 10.0 ** rng.uniform(-3, 3, m)
    tab = table_ns["table_new"](m)
    table_ns["table_reset"](tab, weights)
    _check_invariants(table_ns, tab, weights)
    for step in range(3000):
        k = int(rng.integers(m))
        kind = rng.integers(4)
        # Small moves (neighbouring groups), zeros, far jumps, and weights far below the base (a rebuild).
        new = (
            weights[k] * rng.uniform(0.5, 2.0) if kind == 0
            else 0.0 if kind == 1
            else 10.0 ** rng.uniform(-6, 6) if kind == 2
            else 10.0 ** rng.uniform(-300, 300)
        )
        weights[k] = new
        table_ns["table_change_many"](tab, np.array([k]), 0, 1, weights)
        if step % 10 == 0:
            _check_invariants(table_ns, tab, weights)
    _check_invariants(table_ns, tab, weights)


def test_a_draw_picks_each_index_in_proportion_to_its_weight(table_ns):
    """Chi-square of 200,000 draws against w / sum(w), over weights spanning nine binary orders and zeros."""
    weights = np.array([0.0, 1.0, 1.5, 3.0, 0.0, 7.9, 0.26, 64.0, 100.0, 0.9, 2.2, 0.0, 511.0, 1.0])
    tab = table_ns["table_new"](weights.size)
    total = table_ns["table_reset"](tab, weights)
    assert total == pytest.approx(weights.sum(), rel=1e-15)
    rng = np.random.default_rng(8)
    draws = np.array([table_ns["table_pick"](tab, r, None) for r in rng.random(200_000) * total])
    assert np.all(draws >= 0) and np.all(weights[draws] > 0)
    p = chi_square_pvalue(draws, weights / weights.sum())
    assert p > 1e-3, f"chi-square p = {p:.2e}"


def test_a_draw_past_the_total_asks_for_a_resum(table_ns):
    weights = np.array([1.0, 2.0, 3.0])
    tab = table_ns["table_new"](3)
    table_ns["table_reset"](tab, weights)
    tab[1][:] = 0.0  # a drifted sum
    assert table_ns["table_pick"](tab, 5.9, None) == -1
    # The sums were recomputed; the walk goes from the top binade ({2, 3}, sum 5) down to {1}.
    assert table_ns["table_pick"](tab, 5.9, None) == 0
    assert table_ns["table_pick"](tab, 4.9, None) in (1, 2)


def test_an_empty_table_draws_nothing(table_ns):
    tab = table_ns["table_new"](3)
    assert table_ns["table_reset"](tab, np.zeros(3)) == 0.0
    assert table_ns["table_pick"](tab, 0.0, None) == -1


def test_weights_in_the_top_binade_are_drawn(table_ns):
    """Weights near the largest double: their binade's bound 2**1024 is not a double (this hung once)."""
    weights = np.array([1.0e308, 1.7e308, 0.0, 1.0])
    tab = table_ns["table_new"](weights.size)
    with np.errstate(over="ignore"):
        total = table_ns["table_reset"](tab, weights)
    assert np.isinf(total)  # the caller refuses such a sum; a draw must still end
    rng = np.random.default_rng(9)
    draws = np.array([table_ns["table_pick"](tab, r, None) for r in rng.random(20_000) * MAX_FLOAT])
    p = chi_square_pvalue(draws, np.array([1.0, 1.7, 0.0, 0.0]) / 2.7)
    assert p > 1e-3, f"chi-square p = {p:.2e}"
