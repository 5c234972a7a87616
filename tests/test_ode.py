"""method='ode': the reaction rate equations against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

import pycrn
from pycrn import SimulationError

T = np.linspace(0.0, 50.0, 51)


def _ode(net, **kw):
    return pycrn.simulate(net, method="ode", **{"tspan": (0, 50), "saveat": T, **kw})


def test_shape_and_float_values():
    ds = _ode(pycrn.models.birth_death())
    assert dict(ds.sizes) == {"trajectory": 1, "time": 51}
    assert ds["X"].dtype == np.float64
    assert ds.attrs["method"] == "ode"


def test_birth_death_mean_exact():
    ds = _ode(pycrn.models.birth_death())
    np.testing.assert_allclose(ds["X"].values[0], 100 * np.exp(-0.01 * T), rtol=1e-6)


def test_immigration_death_mean_exact():
    ds = _ode(pycrn.models.immigration_death(), u0={"X": 30})
    expected = 30 * np.exp(-0.1 * T) + 10 * (1 - np.exp(-0.1 * T))
    np.testing.assert_allclose(ds["X"].values[0], expected, rtol=1e-6)


def test_constitutive_gene_expression_means_exact():
    """R' = kr - gr R, P' = kp R - gp P from zero (a linear network: the ODE is the exact mean)."""
    kr, kp, gr, gp = 10.0, 2.0, 1.0, 0.5
    ds = pycrn.simulate(pycrn.models.constitutive_gene_expression(), method="ode", tspan=(0, 20), saveat=0.5)
    t = ds["time"].values
    r = kr / gr * (1 - np.exp(-gr * t))
    p = kp * kr / (gr * gp) * (1 - np.exp(-gp * t)) - kp * kr / (gr * (gp - gr)) * (np.exp(-gr * t) - np.exp(-gp * t))
    np.testing.assert_allclose(ds["R"].values[0, 1:], r[1:], rtol=1e-6)
    np.testing.assert_allclose(ds["P"].values[0, 1:], p[1:], rtol=1e-6)


def test_dimerisation_mass_action_is_the_continuum_limit():
    """2A -> B at k contributes k A^2 / 2: steady state of A' = kp - kd A - kf A^2 + 2 kb B, B' = kf A^2/2 - kb B."""
    ds = pycrn.simulate(pycrn.models.dimerisation(), method="ode", tspan=(0, 200), saveat=[200.0])
    a, b = ds["A"].values[0, -1], ds["B"].values[0, -1]
    assert 0.001 * a**2 / 2 == pytest.approx(0.1 * b, rel=1e-6)
    assert 100 - a == pytest.approx(0, abs=1e-4)  # net production balances degradation


def test_time_dependent_rate_and_events():
    net = pycrn.parse("@parameters k=2\n@species X=0\nk * t, 0 --> X\n@event t >= 10: X = 0")
    ds = pycrn.simulate(net, method="ode", tspan=(0, 20), saveat=[5.0, 9.999, 10.0, 20.0])
    np.testing.assert_allclose(ds["X"].values[0], [25.0, 9.999**2, 0.0, 400 - 100], rtol=1e-6, atol=1e-9)


def test_state_event_is_located_by_root_finding():
    net = pycrn.parse("@parameters k=1\n@species X=0\nk, 0 --> X\n@event X >= 3: X = 0")
    ds = pycrn.simulate(net, method="ode", tspan=(0, 10), saveat=[2.0, 3.5, 7.0, 10.0])
    np.testing.assert_allclose(ds["X"].values[0], [2.0, 0.5, 1.0, 1.0], atol=1e-6)


def test_ode_refuses_several_trajectories_and_compound_state_triggers():
    with pytest.raises(ValueError, match="deterministic: trajectories must be 1"):
        pycrn.simulate(pycrn.models.sir(), method="ode", trajectories=5)
    net = pycrn.parse("@species X=0 Y=0\n1, 0 --> X\n@event X > 1 and Y < 1: Y = 1")
    with pytest.raises(pycrn.ModelError, match="needs a single comparison"):
        pycrn.simulate(net, method="ode", tspan=(0, 5))


def test_blow_up_is_reported():
    net = pycrn.parse("@parameters k=1\n@species X=1\nk, 2X --> 3X")
    with pytest.raises(SimulationError):
        pycrn.simulate(net, method="ode", tspan=(0, 10), saveat=[10.0])
