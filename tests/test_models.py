"""The built-in model library."""

from __future__ import annotations

import numpy as np
import pytest

import pycrn
from pycrn.network_arrays import shared_kernels_apply


@pytest.mark.parametrize("name", pycrn.models.names())
def test_model_round_trips_documents_itself_and_simulates(name):
    net = pycrn.models.get(name)
    assert net.name == name
    assert pycrn.parse(str(net)) == net
    doc = getattr(pycrn.models, name).__doc__
    assert doc and "tspan" in doc
    assert net.tspan is not None and net.tspan[1] > net.tspan[0]
    t0, tf = net.tspan
    # Mass-action models run on the shared kernels (compiled once for all of them); general rate laws
    # compile their own. Which kernels a network takes is tested in test_shared_kernels.
    method = pycrn.methods.Direct(kernels="shared") if shared_kernels_apply(net) else "auto"
    ds = pycrn.simulate(net, tspan=(t0, t0 + (tf - t0) / 20), trajectories=4, seed=0, method=method)
    assert set(ds.data_vars) == set(net.species_names) | {name for name, _ in net.observables}
    assert all((ds[v] >= 0).all() for v in ds.data_vars)


def test_sir_is_the_tutorial_model():
    net = pycrn.models.sir()
    np.testing.assert_array_equal(net.initial_state(), [999, 1, 0])
    np.testing.assert_allclose(net.parameter_values(), [0.1 / 1000, 0.01])
    assert net.tspan == (0.0, 250.0)


def test_deepska_parameters_follow_the_supplement():
    values = lambda net: dict(zip(net.parameter_names, net.parameter_values()))  # noqa: E731
    assert values(pycrn.models.constitutive_gene_expression()) == {"kr": 10, "kp": 2, "gr": 1, "gp": 0.5}
    assert values(pycrn.models.self_regulatory_gene()) == {"alpha": 10, "K": 10, "n": 0.5, "gamma": 0.05}
    tog = values(pycrn.models.toggle_switch())
    assert (tog["a1"], tog["a2"], tog["n1"], tog["n2"]) == (50, 16, 2.5, 1)
    sir = values(pycrn.models.sir_demography())
    assert sir == {"beta": 0.0036, "gamma": 0.02, "mu": 0.007, "dS": 0.002, "dI": 0.05, "dR": 0.002}
    assert values(pycrn.models.antithetic_integral_control())["eta"] == 100
    assert values(pycrn.models.antithetic_sensor_control())["K"] == 0.5
    assert len(pycrn.models.repressilator().species) == 6
    assert len(pycrn.models.nonlinear_cascade().species) == 10
    assert len(pycrn.models.linear_cascade_feedback().species) == 10


def test_self_regulatory_gene_propensity_is_alpha_over_k_plus_p_to_the_n():
    net = pycrn.models.self_regulatory_gene()
    from pycrn.propensity import evaluate_propensity as _propensity

    p = net.parameter_values()
    assert _propensity(net, 0, np.array([16]), p, 0.0) == pytest.approx(10 / (10 + 16**0.5))
    assert _propensity(net, 1, np.array([16]), p, 0.0) == pytest.approx(0.05 * 16)


def test_nonlinear_cascade_conversion_vanishes_without_substrate():
    from pycrn.propensity import evaluate_propensity as _propensity

    net = pycrn.models.nonlinear_cascade()
    p = net.parameter_values()
    x = np.zeros(10, dtype=np.int64)
    assert _propensity(net, 1, x, p, 0.0) == 0.0
    x[0] = 10
    assert _propensity(net, 1, x, p, 0.0) == pytest.approx(1 + 100 * 10 / (10 + 10))


def test_unknown_model():
    with pytest.raises(KeyError, match="no built-in model 'nope'"):
        pycrn.models.get("nope")
