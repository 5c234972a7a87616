"""record="compensators": each reaction's counting process R_j and its compensator, against theory.

On immigration-death (0 --> X at a, X --> 0 at mu X) the martingale
M_j = R_j - int a_j ds has mean 0 and, its compensator being continuous,
variance E[int a_j ds] (its predictable quadratic variation). The compensator
of the immigration is a t exactly, and E of the death's is
mu int_0^t E X(s) ds in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

import pycrn

A, MU, X0 = 10.0, 0.5, 3
NET = f"@parameters a={A} mu={MU}\n@species X={X0}\na, 0 --> X\nmu, X --> 0"
TIMES = np.linspace(0.0, 4.0, 9)
N = 20_000


def _expected_death_compensator(t: np.ndarray) -> np.ndarray:
    """mu int_0^t E X(s) ds, with E X(s) = a/mu + (X0 - a/mu) exp(-mu s)."""
    stationary = A / MU
    return MU * (stationary * t + (X0 - stationary) * (1 - np.exp(-MU * t)) / MU)


@pytest.fixture(scope="module")
def ds():
    return pycrn.simulate(pycrn.parse(NET), tspan=(0, 4), saveat=TIMES, trajectories=N, seed=3, method="direct",
                          record="compensators")


def test_counting_processes_rebuild_the_state_and_the_compensators_are_exact(ds):
    fired, comp = ds["fired"].values, ds["compensator"].values
    assert ds["fired"].dims == ("reaction", "trajectory", "time") and fired.dtype == np.int64
    assert list(ds["reaction_text"].values) == ["a, 0 --> X", "mu, X --> 0"]
    np.testing.assert_array_equal(ds["X"].values, X0 + fired[0] - fired[1])  # pathwise
    np.testing.assert_allclose(comp[0], np.broadcast_to(A * TIMES, comp[0].shape), rtol=1e-12, atol=1e-12)
    assert np.all(np.diff(fired, axis=2) >= 0) and np.all(np.diff(comp, axis=2) >= -1e-12)


@pytest.mark.parametrize("j", [0, 1], ids=["immigration", "death"])
def test_the_martingale_has_mean_zero_and_variance_equal_to_the_mean_compensator(ds, j):
    m = (ds["fired"].values[j] - ds["compensator"].values[j])[:, 1:]
    expected_c = (A * TIMES if j == 0 else _expected_death_compensator(TIMES))[1:]
    # Mean: z-scores with the sample sd; 8 correlated times, Bonferroni at 1e-3 family-wise.
    z = np.sqrt(N) * m.mean(axis=0) / m.std(axis=0, ddof=1)
    assert np.abs(z).max() < 3.9, z
    # The mean compensator against its closed form.
    c = ds["compensator"].values[j][:, 1:]
    zc = np.sqrt(N) * (c.mean(axis=0) - expected_c) / np.maximum(c.std(axis=0, ddof=1), 1e-12)
    assert np.abs(zc).max() < 3.9, zc
    # Var M = E[compensator]: the sample variance's standard error from the fourth moment.
    var = m.var(axis=0, ddof=1)
    se = np.sqrt((((m - m.mean(axis=0)) ** 4).mean(axis=0) - var**2) / N)
    zv = (var - expected_c) / se
    assert np.abs(zv).max() < 3.9, zv


def test_reproducible_and_the_same_trajectories_as_without_recording():
    net = pycrn.parse(NET)
    kw = dict(tspan=(0, 4), saveat=1.0, trajectories=50, seed=8, method="direct")
    plain = pycrn.simulate(net, **kw)
    one = pycrn.simulate(net, record="compensators", threads=1, **kw)
    two = pycrn.simulate(net, record="compensators", threads=2, **kw)
    np.testing.assert_array_equal(plain["X"].values, one["X"].values)
    for name in ("X", "fired", "compensator"):
        np.testing.assert_array_equal(one[name].values, two[name].values)


def test_with_a_time_event_the_compensator_follows_the_new_rate():
    """At t = 2 the immigration rate doubles: its compensator is a t, then 2 a (t - 2) on top."""
    net = pycrn.parse(NET + "\n@event t >= 2: a = 2 * a")
    ds = pycrn.simulate(net, tspan=(0, 4), saveat=TIMES, trajectories=5, seed=1, method="direct",
                        record="compensators")
    expected = np.where(TIMES <= 2, A * TIMES, 2 * A + 2 * A * (TIMES - 2))
    np.testing.assert_allclose(ds["compensator"].values[0], np.broadcast_to(expected, (5, TIMES.size)), rtol=1e-12)


def test_refused_where_not_recorded():
    net = pycrn.parse(NET)
    with pytest.raises(ValueError, match="record='compensators' needs save='grid' and one of the methods 'direct'"):
        pycrn.simulate(net, tspan=(0, 1), method="nrm", record="compensators")
    with pytest.raises(ValueError, match="needs save='grid'"):
        pycrn.simulate(net, tspan=(0, 1), save="events", record="compensators")
    with pytest.raises(ValueError, match="record must be None or 'compensators'"):
        pycrn.simulate(net, tspan=(0, 1), record="fired")
    with pytest.raises(ValueError, match="backend='julia' .* no record="):
        pycrn.simulate(net, tspan=(0, 1), backend="julia", record="compensators")
