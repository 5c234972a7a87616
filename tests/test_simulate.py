"""simulate(): results shape, reproducibility, saving semantics, provenance and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from compiled import assert_compiled_once

import pycrn
from pycrn import ModelError, SimulationError

SIR = pycrn.models.sir()


def test_dataset_shape_and_provenance():
    ds = pycrn.simulate(SIR, tspan=(0.0, 250.0), saveat=1.0, trajectories=50, seed=42)
    assert dict(ds.sizes) == {"trajectory": 50, "time": 251}
    assert list(ds.data_vars) == ["S", "I", "R"]
    assert all(ds[v].dtype == np.int64 for v in ds.data_vars)
    np.testing.assert_allclose(ds["time"].values, np.arange(251.0))
    assert ds.attrs["method"] == "direct"
    assert ds.attrs["seed"] == 42
    assert pycrn.parse(ds.attrs["model"]) == SIR
    assert ds.attrs["pycrn_version"] == pycrn.__version__
    assert ds.attrs["params"] == "beta=0.0001 nu=0.01"
    # conservation S + I + R = 1000 on every trajectory at every time
    total = ds["S"] + ds["I"] + ds["R"]
    assert (total == 1000).all()
    assert (ds.isel(time=0)["I"] == 1).all()


@pytest.mark.parametrize(
    "method", ["direct", "sorting_direct", "nrm", pycrn.methods.DirectCR(kernels="shared"), "rssa", "rssa_cr"],
    ids=str,
)
def test_same_seed_same_result_any_thread_count(method):
    kw = dict(tspan=(0, 100), saveat=5.0, trajectories=3000, seed=7, method=method)
    one = pycrn.simulate(SIR, threads=1, **kw)
    two = pycrn.simulate(SIR, threads=2, **kw)
    xr.testing.assert_identical(one, two)
    other = pycrn.simulate(SIR, threads=2, **{**kw, "seed": 8})
    assert not other["I"].equals(one["I"])
    # One trajectory, then thousands in chunks: the engine is compiled once for all of them.
    single = pycrn.simulate(SIR, **{**kw, "trajectories": 1})
    assert single["I"].equals(one["I"].isel(trajectory=[0]))
    name = method if isinstance(method, str) else method.name
    assert assert_compiled_once(name) >= 1


def test_trajectory_depends_only_on_seed_and_index():
    small = pycrn.simulate(SIR, tspan=(0, 100), saveat=10.0, trajectories=10, seed=3)
    large = pycrn.simulate(SIR, tspan=(0, 100), saveat=10.0, trajectories=1000, seed=3)
    xr.testing.assert_equal(small, large.isel(trajectory=slice(0, 10)))


def test_direct_and_sorting_direct_use_the_same_random_numbers_differently_but_agree_in_law():
    kw = dict(tspan=(0, 50), saveat=[50.0], trajectories=4000, seed=5)
    a = pycrn.simulate(SIR, method="direct", **kw)["R"].values.ravel()
    b = pycrn.simulate(SIR, method="sorting_direct", **kw)["R"].values.ravel()
    # Two-sample z test on the means.
    z = (a.mean() - b.mean()) / np.sqrt(a.var() / a.size + b.var() / b.size)
    assert abs(z) < 4


def test_saveat_grid_includes_tf_and_array_times():
    ds = pycrn.simulate(SIR, tspan=(0, 10), saveat=3.0, seed=1)
    np.testing.assert_allclose(ds["time"].values, [0, 3, 6, 9, 10])
    ds = pycrn.simulate(SIR, tspan=(0, 10), saveat=[0.5, 2.0, 2.0, 10.0], seed=1)
    np.testing.assert_allclose(ds["time"].values, [0.5, 2.0, 2.0, 10.0])
    ds = pycrn.simulate(SIR, tspan=(0, 10), seed=1)
    assert ds.sizes["time"] == 101


def test_default_tspan_of_library_models():
    ds = pycrn.simulate(pycrn.models.sir(), trajectories=2, seed=1)
    assert float(ds["time"][-1]) == 250.0


def test_save_events_records_every_jump_consistently_with_grid():
    ev = pycrn.simulate(SIR, tspan=(0, 250), save="events", seed=9)
    t = ev["time"].values
    assert t[0] == 0.0 and np.all(np.diff(t) > 0) and t[-1] <= 250
    jumps = np.diff(np.stack([ev[s].values[0] for s in "SIR"]), axis=1)
    # every jump is one infection or one recovery
    ok = np.all((jumps == [[-1], [1], [0]]) | (jumps == [[0], [-1], [1]]), axis=0)
    assert ok.all()
    assert ev.attrs["reactions_fired"] == t.size - 1
    # The same stream gives the same path on a grid: the grid state at s is
    # the last event state at a time <= s.
    grid = pycrn.simulate(SIR, tspan=(0, 250), saveat=1.0, seed=9)
    idx = np.searchsorted(t, grid["time"].values, side="right") - 1
    np.testing.assert_array_equal(grid["I"].values[0], ev["I"].values[0, idx])


def test_absorbing_state_is_held_to_the_end():
    net = pycrn.parse("@parameters k=5\n@species A=3\nk, A --> 0")
    ds = pycrn.simulate(net, tspan=(0, 100), saveat=10.0, trajectories=20, seed=0)
    assert (ds["A"].isel(time=-1) == 0).all()


def test_netcdf_round_trip(tmp_path):
    ds = pycrn.simulate(SIR, tspan=(0, 20), saveat=1.0, trajectories=30, seed=4)
    path = tmp_path / "sir.nc"
    ds.to_netcdf(path)
    back = pycrn.open_results(path)
    xr.testing.assert_identical(ds, back)
    assert pycrn.parse(back.attrs["model"]) == SIR
    big = pycrn.simulate(SIR, tspan=(0, 250), saveat=1.0, trajectories=500, seed=4)
    plain, small = tmp_path / "plain.nc", tmp_path / "zlib.nc"
    big.to_netcdf(plain)
    pycrn.save_results(big, small)
    xr.testing.assert_identical(big, pycrn.open_results(small))
    assert small.stat().st_size < plain.stat().st_size / 4


def test_summary_mean_and_sd():
    ds = pycrn.simulate(SIR, tspan=(0, 20), saveat=1.0, trajectories=30, seed=4)
    s = pycrn.summary(ds)
    np.testing.assert_allclose(s["I_mean"], ds["I"].mean("trajectory"))
    np.testing.assert_allclose(s["I_sd"], ds["I"].std("trajectory", ddof=1))


def test_parameter_and_initial_overrides_change_the_run():
    ds = pycrn.simulate(SIR, u0={"S": 0, "I": 10}, params={"nu": 1.0}, tspan=(0, 50), trajectories=5, seed=1)
    assert (ds["S"] == 0).all()
    assert ds.attrs["params"] == "beta=0.0001 nu=1.0"
    assert ds.attrs["u0"] == "S=0 I=10 R=0"


def test_seed_none_records_entropy_that_reproduces_the_run():
    ds = pycrn.simulate(SIR, tspan=(0, 50), trajectories=20)
    entropy = int(ds.attrs["seed"])
    again = pycrn.simulate(SIR, tspan=(0, 50), trajectories=20, seed=entropy)
    xr.testing.assert_equal(ds, again)


# -- bad input -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(u0={"Q": 1}), ModelError, r"u0: unknown species 'Q'"),
        (dict(u0={"S": -1}), ModelError, r"u0: count of 'S' must be non-negative"),
        (dict(u0={"S": 1.5}), ModelError, r"u0: count of 'S' must be an integer"),
        (dict(params={"gamma": 1}), ModelError, r"params: unknown parameter 'gamma'"),
        (dict(params={"beta": float("nan")}), ModelError, r"params: value of 'beta' is not finite"),
        (dict(params={"beta": float("inf")}), ModelError, r"params: value of 'beta' is not finite"),
        (dict(params={"beta": "fast"}), ModelError, r"params: value of 'beta' must be a number"),
        (dict(tspan=(10, 0)), ValueError, r"tspan must satisfy tf > t0"),
        (dict(tspan=(0, float("inf"))), ValueError, r"tspan must be finite"),
        (dict(tspan=(0,)), ValueError, r"tspan must be a pair"),
        (dict(saveat=[1, 300]), ValueError, r"saveat times must lie within tspan"),
        (dict(saveat=[5, 1]), ValueError, r"saveat times must be increasing"),
        (dict(saveat=[[1, 5]]), ValueError, r"saveat must be a step or a 1-D sequence of times, got an array of "
                                            r"shape \(1, 2\)"),
        (dict(saveat=-1.0), ValueError, r"saveat step must be a positive number"),
        (dict(method="magic"), ValueError, r"unknown method 'magic'; available: auto, direct, sorting_direct, nrm"),
        (dict(trajectories=0), ValueError, r"trajectories must be a positive integer"),
        (dict(threads=0), ValueError, r"threads must be a positive integer"),
        (dict(seed=-3), ValueError, r"seed must be a non-negative integer"),
        (dict(save="all"), ValueError, r"save must be 'grid' or 'events'"),
        (dict(save="events", trajectories=2), ValueError, r"save='events' records a single trajectory"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    args = dict(tspan=(0, 250))
    args.update(kwargs)
    with pytest.raises(error, match=message):
        pycrn.simulate(SIR, **args)


def test_not_a_network():
    with pytest.raises(TypeError, match="expects a ReactionNetwork"):
        pycrn.simulate("beta, S + I --> 2I", tspan=(0, 1))


@pytest.mark.parametrize("method", ["direct", "sorting_direct", "nrm", "direct_cr", "rssa", "tau_leaping", "batched"])
def test_time_dependent_rate_is_refused_by_the_homogeneous_methods(method):
    net = pycrn.parse("@parameters k=1\nk * (1 + t), 0 --> A")
    with pytest.raises(ModelError, match=r"reaction\(s\) \[1\] depends on t; .* method='extrande'"):
        pycrn.simulate(net, tspan=(0, 1), method=method)


@pytest.mark.parametrize("method", ["direct", "sorting_direct"])
@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("@parameters k=5\n@species A=0\n1, 0 --> A\nk - A, 0 => B", r"propensity of reaction 2 .* is negative"),
        ("@species A=0\n1, 0 --> A\nsqrt(2 - A), 0 => B", r"propensity of reaction 2 .* is NaN"),
        ("@species A=0\n1, 0 --> A\n1 / (A - 2), A => B", r"propensity of reaction 2 .* is (infinite|negative)"),
        ("@species A=5\nlog(A - 7), 0 => B", r"propensity of reaction 1 .* is NaN .* at t=0"),
        ("@species A=0 B=0\n1, A => B", r"reaction 1 .* drove a count negative"),
    ],
)
def test_invalid_propensity_during_run_is_a_clear_error(model, message, method):
    net = pycrn.parse(model)
    with pytest.raises(SimulationError, match=message):
        pycrn.simulate(net, tspan=(0, 100), trajectories=4, seed=1, method=method)
    with pytest.raises(SimulationError, match=message):
        pycrn.simulate(net, tspan=(0, 100), save="events", seed=1, method=method)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("@species A=0\n1, 0 --> A\nsqrt(2 - A), 0 => B", r"propensity of reaction 2 .* is NaN"),
        ("@species A=0 B=0\n1, A => B", r"reaction 1 .* drove a count negative"),
    ],
)
def test_next_reaction_method_reports_invalid_propensities_like_direct(model, message):
    net = pycrn.parse(model)
    with pytest.raises(SimulationError, match=message):
        pycrn.simulate(net, tspan=(0, 100), trajectories=4, seed=1, method="nrm")
    with pytest.raises(SimulationError, match=message):
        pycrn.simulate(net, tspan=(0, 100), save="events", seed=1, method="nrm")


def test_run_takes_per_trajectory_initial_counts_and_names_a_bad_one():
    from pycrn.methods import resolve
    from pycrn.problem import Problem

    net = pycrn.models.birth_death()
    problem = Problem.build(net, None, (0.0, 1e-9), None, [0.0, 1e-9])
    m = resolve("direct", net=net)
    x0s = np.array([[3], [7], [11]])
    out = pycrn.run(problem, m, 0, 3, 1, x0s=x0s)
    np.testing.assert_array_equal(out.states[0, :, 0], [3, 7, 11])
    with pytest.raises(pycrn.ModelError, match="species 'X' in trajectory 1"):
        pycrn.run(problem, m, 0, 3, 1, x0s=np.array([[3], [-1], [2]]))


def test_run_takes_per_trajectory_counts_up_to_2_to_the_63_exactly_as_u0_does():
    from pycrn.methods import resolve
    from pycrn.problem import Problem

    net = pycrn.parse("@species A=0\n1e-30, A --> 0\n")
    problem = Problem.build(net, None, (0.0, 1.0), None, [0.0, 1.0])
    m = resolve("direct", net=net)
    top = 2**63 - 1
    for x0s in (np.array([[top], [2**62]], dtype=np.int64), np.array([[top], [2**62]], dtype=object),
                np.array([[2.0**62], [3.0]])):
        out = pycrn.run(problem, m, 0, 2, 1, x0s=x0s)
        out.check(problem, m)
        assert out.states[0, :, 1].tolist() == [int(v) for v in x0s[:, 0]]  # no firing: propensity <= 1e-11
    for bad in (np.array([[1], [2**63]], dtype=np.uint64), np.array([[1.0], [2.0**63]]),
                np.array([[1], [2**63]], dtype=object), np.array([[1.0], [1.5]]), np.array([[1.0], [np.nan]])):
        with pytest.raises(pycrn.ModelError, match=r"species 'A' in trajectory 1 .*at most 2\*\*63 - 1"):
            pycrn.run(problem, m, 0, 2, 1, x0s=bad)
    with pytest.raises(pycrn.ModelError, match="integer counts, got an array of bool"):
        pycrn.run(problem, m, 0, 2, 1, x0s=np.array([[True], [False]]))
    hybrid = resolve("hybrid", net=net)
    with pytest.raises(ValueError, match="method 'hybrid' holds real amounts"):
        pycrn.run(problem, hybrid, 0, 2, 1, x0s=np.array([[1], [2]]))
