"""The shared data-driven kernels behave exactly like the generated ones (see pycrn.engines.mass_action).

On a network without identical reactants both kernels compute every
propensity with the same floating-point operations in the same order, so
the same seed must give the same trajectories, bit for bit: a strong check
of the CSR arrays and the dependency graph. (With identical reactants the
factor 1/nu! is applied at a different place, and a last-bit difference may
change a selection; the exactness tests cover those networks statistically.)
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from compiled import assert_compiled_once

import pycrn
from pycrn.methods import NRM, Direct, DirectCR, SortingDirect
from pycrn.network_arrays import network_arrays, shared_kernels_apply, use_shared_kernels


@pytest.fixture(scope="module")
def multistate():
    return pycrn.models.multistate()


@pytest.mark.parametrize(
    "cls", [Direct, pytest.param(SortingDirect, marks=pytest.mark.slow), NRM, pytest.param(DirectCR, marks=pytest.mark.slow)],
    ids=lambda c: c.name
)
def test_same_seed_same_trajectories(multistate, cls):
    kw = dict(tspan=(0, 2), saveat=0.1, trajectories=40, seed=7)
    gen = pycrn.simulate(multistate, method=cls(kernels="generated"), **kw)
    shared = pycrn.simulate(multistate, method=cls(kernels="shared"), **kw)
    xr.testing.assert_identical(gen.drop_attrs(), shared.drop_attrs())
    assert gen.attrs["reactions_fired"] == shared.attrs["reactions_fired"] > 10_000


def test_volume_events_mode_and_threads(multistate):
    kw = dict(tspan=(0, 1), seed=3, volume=2.5)
    for save in ("grid", "events"):
        extra = {} if save == "events" else {"saveat": 0.05, "trajectories": 8}
        gen = pycrn.simulate(multistate, method=Direct(kernels="generated"), save=save, **kw, **extra)
        shared = pycrn.simulate(multistate, method=Direct(kernels="shared"), save=save, **kw, **extra)
        xr.testing.assert_identical(gen.drop_attrs(), shared.drop_attrs())
    one = pycrn.simulate(multistate, method=Direct(kernels="shared"), saveat=0.1, trajectories=30, threads=1, **kw)
    two = pycrn.simulate(multistate, method=Direct(kernels="shared"), saveat=0.1, trajectories=30, threads=2, **kw)
    xr.testing.assert_identical(one, two)


def test_auto_choice_and_refusals():
    assert use_shared_kernels(pycrn.models.multisite2())
    assert not use_shared_kernels(pycrn.models.multistate())  # small: generated
    assert not shared_kernels_apply(pycrn.models.gene_cascade())  # Hill rate laws
    with_event = pycrn.parse("@species A=10\n1, A --> 0\n@event t >= 1: A = 5")
    assert not shared_kernels_apply(with_event)
    with pytest.raises(pycrn.ModelError, match="cannot run this network on the shared kernels"):
        pycrn.simulate(with_event, tspan=(0, 2), method=Direct(kernels="shared"))
    with pytest.raises(ValueError, match="kernels must be one of"):
        Direct(kernels="fast")
    # The choice is provenance only when it is not the default.
    assert Direct().describe() == "direct"
    assert Direct(kernels="shared").describe() == "direct(kernels='shared')"


def test_rate_expressions_of_parameters_are_evaluated_and_checked():
    net = pycrn.parse("@parameters a=1 b=3\n@species A=5 B=0\na * b, 2A --> B\nb - a * 2, B --> 2A")
    method = Direct(kernels="shared")
    ds = pycrn.simulate(net, tspan=(0, 1), saveat=[0, 1], trajectories=200, seed=1, method=method)
    assert (2 * ds["B"] + ds["A"] == 5).all()
    with pytest.raises(pycrn.ModelError, match=r"reaction 2 .*rate constant b - a \* 2 = -1.0 is not a non-negative"):
        pycrn.simulate(net, tspan=(0, 1), params={"b": 3.0, "a": 2.0}, method=method)


def test_arrays_are_csr_of_the_network():
    net = pycrn.parse("@species A=1 B=1 C=0\n1, A + B --> C\n2, C --> A + B\n3, 2A --> 0")
    arrays = network_arrays(net)
    m, n, offsets = arrays[0], arrays[1], arrays[2:13]
    assert (m, n, offsets[-1]) == (3, 3, arrays.size)
    parts = [arrays[offsets[q]:offsets[q + 1]] for q in range(10)]
    reactant_ptr, reactant_species, reactant_order, change_ptr, change_species, change_delta, dep_ptr, deps = parts[:8]
    reader_ptr, readers = parts[8:]
    # A is read by reactions 1 and 3, B by 1, C by 2.
    assert [readers[reader_ptr[i]:reader_ptr[i + 1]].tolist() for i in range(3)] == [[0, 2], [0], [1]]
    assert reactant_ptr.tolist() == [0, 2, 3, 4]
    assert reactant_species.tolist() == [0, 1, 2, 0] and reactant_order.tolist() == [1, 1, 1, 2]
    assert change_ptr.tolist() == [0, 3, 6, 7]
    assert sorted(zip(change_species[:3].tolist(), change_delta[:3].tolist())) == [(0, -1), (1, -1), (2, 1)]
    # Reaction 1 changes A, B, C: all three propensities; reaction 3 changes A: reactions 1 and 3.
    assert [deps[dep_ptr[j]:dep_ptr[j + 1]].tolist() for j in range(3)] == [[0, 1, 2], [0, 1, 2], [0, 2]]
    assert np.all(np.diff(reactant_ptr) >= 0)


@pytest.mark.parametrize("method", ["rssa", "rssa_cr"])
def test_rssa_refuses_what_it_cannot_simulate_naming_it(method):
    with pytest.raises(pycrn.ModelError, match=rf"reaction 1 .*method '{method}' needs mass-action reactions"):
        pycrn.simulate(pycrn.parse("@species A=10\nA / (1 + A), A => 0"), tspan=(0, 2), method=method)
    with pytest.raises(ValueError, match=f"{method} fluctuation must be a number in"):
        pycrn.methods.METHODS[method](fluctuation=1.5)


def test_auto_picks_rssa_for_large_mass_action_networks_and_records_it():
    ds = pycrn.simulate(pycrn.models.multisite2(), tspan=(0, 0.1), saveat=[0, 0.1], seed=1)
    assert ds.attrs["method"] == "rssa" and ds.attrs["rejections"] >= 0
    assert pycrn.simulate(pycrn.models.sir(), tspan=(0, 1), seed=1).attrs["method"] == "direct"
    with pytest.raises(ValueError, match="method 'auto' takes no options"):
        pycrn.simulate(pycrn.models.sir(), tspan=(0, 1), method="auto", dt=0.1)


def test_auto_picks_rssa_for_a_large_mass_action_network_with_an_event():
    """rssa on the data-driven propensities with the network's event compiled: the event's 500 molecules
    join a conserved chain of 40 reactions."""
    lines = ["@parameters k=1", "@species X0=1000 " + " ".join(f"X{i}=0" for i in range(1, 21))]
    for i in range(20):
        lines += [f"k, X{i} --> X{i + 1}", f"k, X{i + 1} --> X{i}"]
    net = pycrn.parse("\n".join([*lines, "@event t >= 0.5: X0 = X0 + 500"]))
    ds = pycrn.simulate(net, tspan=(0, 1), saveat=[0.25, 0.5, 1.0], trajectories=20, seed=1)
    assert ds.attrs["method"] == "rssa"
    total = sum(ds[s].values for s in net.species_names)
    np.testing.assert_array_equal(total, np.tile([1000, 1500, 1500], (20, 1)))


def test_rssa_brackets_hold_counts_near_the_int64_limit():
    """A bracket around a count near 2**63 must not wrap: the run is exact (here: nothing can fire)."""
    big = 2**63 - 10
    net = pycrn.parse(f"@species A={big} B=0\n0.0, A --> B")
    for method in ("rssa", "rssa_cr"):
        ds = pycrn.simulate(net, tspan=(0, 1), saveat=[0, 1], seed=1, method=method)
        assert ds["A"].values[0, -1] == big


@pytest.mark.parametrize("method", ["rssa", "rssa_cr", DirectCR(kernels="shared")], ids=str)
def test_rssa_records_every_reaction_in_events_mode(multistate, method):
    """Each recorded jump of save="events" is one reaction's net change (thousands: the record grows)."""
    ds = pycrn.simulate(multistate, tspan=(0, 0.5), save="events", seed=3, method=method)
    x = np.stack([ds[s].values[0] for s in multistate.species_names], axis=1)
    assert x.shape[0] > 5000 and np.all(np.diff(ds["time"].values) > 0)
    changes = {tuple(c) for c in multistate.stoichiometry.T.tolist()}
    assert all(tuple(d) in changes for d in np.diff(x, axis=0).tolist())
    assert ds["time"].values[-1] <= 0.5
    assert assert_compiled_once(ds.attrs["method"]) >= 1
