"""The run contract's pieces: method objects and their options, status codes, the problem object."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import pycrn
from pycrn import codegen, methods
from pycrn.engines import ENGINES
from pycrn.status import Status, raise_for_status

SIR = pycrn.models.sir()


def test_names_resolve_to_method_objects_with_defaults():
    assert methods.resolve("direct") == methods.Direct()
    assert methods.resolve("tau_leaping") == methods.TauLeaping(epsilon=0.03)
    assert methods.resolve("simple_tau_leaping", dt=0.5) == methods.SimpleTauLeaping(dt=0.5)
    obj = methods.ODE(rtol=1e-6)
    assert methods.resolve(obj) is obj
    assert set(methods.METHODS) == set(ENGINES) == set(pycrn.METHODS)
    traits = {name: (cls.exact, cls.deterministic) for name, cls in methods.METHODS.items()}
    assert traits["direct"] == (True, False) and traits["batched"] == (True, False)
    assert traits["tau_leaping"] == (False, False) and traits["ode"] == (False, True)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: methods.resolve("direct", dt=0.5), r"method 'direct' does not take dt \(its options: kernels, max_steps\)"),
        (lambda: methods.resolve("ode", epsilon=0.1), r"does not take epsilon \(its options: atol, max_steps, rtol, solver\)"),
        (lambda: methods.resolve(methods.TauLeaping(), epsilon=0.1), r"given next to a method object"),
        (lambda: methods.resolve("magic"), r"unknown method 'magic'; available: auto, direct, sorting_direct, nrm"),
        (lambda: methods.TauLeaping(epsilon=1.5), r"tau_epsilon must be a number in \(0, 1\)"),
        (lambda: methods.SimpleTauLeaping(), r"needs a positive step dt"),
        (lambda: methods.SimpleTauLeaping(dt=-1), r"dt of simple_tau_leaping must be a positive finite number, got -1"),
        (lambda: methods.Batched(min_reactions_per_batch=-1), r"min_reactions_per_batch must be a non-negative"),
        (lambda: methods.ODE(rtol=0), r"ode rtol must be a number in \(0, 1\)"),
    ],
)
def test_bad_method_options_are_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_simulate_refuses_options_the_method_does_not_take():
    with pytest.raises(ValueError, match=r"method 'direct' does not take dt"):
        pycrn.simulate(SIR, method="direct", dt=0.5)
    with pytest.raises(ValueError, match=r"method 'sorting_direct' does not take tau_epsilon"):
        pycrn.simulate(SIR, method="sorting_direct", tau_epsilon=0.1)
    with pytest.raises(ValueError, match=r"tau_epsilon given next to a method object"):
        pycrn.simulate(SIR, method=methods.TauLeaping(), tau_epsilon=0.1)


def test_method_objects_and_shorthands_give_identical_results():
    kw = dict(trajectories=50, seed=3, saveat=10.0)
    a = pycrn.simulate(SIR, method=methods.TauLeaping(epsilon=0.01), **kw)
    b = pycrn.simulate(SIR, method="tau_leaping", tau_epsilon=0.01, **kw)
    c = pycrn.simulate(SIR, method="tau_leaping", **kw)
    assert a.identical(b)
    assert a.attrs["method_options"] == "tau_leaping(epsilon=0.01)"
    assert a.attrs["steps"] > c.attrs["steps"]  # the option reached the kernel: smaller epsilon, more leaps


def test_ode_options_reach_the_solver():
    loose = pycrn.simulate(SIR, method=methods.ODE(rtol=1e-3, atol=1e-3), saveat=10.0)
    tight = pycrn.simulate(SIR, method=methods.ODE(rtol=1e-10, atol=1e-12, solver="Radau"), saveat=10.0)
    diff = np.abs(loose["I"].values - tight["I"].values).max()
    assert 0 < diff < 5.0
    with pytest.raises(ValueError, match="method"):
        pycrn.simulate(SIR, method=methods.ODE(solver="NoSuchSolver"), saveat=10.0)


def test_batched_option_reaches_the_kernel():
    net = pycrn.parse("@parameters k1 k2\n@species P P2\nk1, 2P --> P2\nk2, P2 --> 2P")
    kw = dict(u0={"P": 3000, "P2": 0}, params={"k1": 1 / 3000, "k2": 1.0}, tspan=(0, 1), trajectories=5, seed=1)
    default = pycrn.simulate(net, method="batched", **kw)
    forced = pycrn.simulate(net, method=methods.Batched(min_reactions_per_batch=0), **kw)
    assert default.attrs["batches"] == 0  # a few thousand molecules: the direct fallback
    assert forced.attrs["batches"] > 0


def test_status_constants_are_pasted_into_generated_modules():
    source = codegen.module_source(SIR, ENGINES["simple_tau_leaping"])
    for status in Status:
        assert f"STATUS_{status.name} = {int(status)}\n" in source


def test_every_status_code_becomes_a_message_naming_its_cause():
    net = pycrn.parse("@parameters k=1\n@species A=5 B=0\nk, A --> B\nsqrt(3 - B), 0 => A\n@event B > 2: k = -1")
    p = net.parameter_values()
    cases = [
        (Status.NEGATIVE_LEAP, [5, 0], r"simple tau-leaping drove a count negative at t=1.5 \(trajectory 7\)"),
        (Status.EVENT_CASCADE, [5, 0], r"events keep triggering one another at t=1.5"),
        (-2, [5, 0], r"event 1 \(.*\) at t=1.5 \(trajectory 7\) assigned an invalid value"),
        (2, [5, -1], r"reaction 2 .* drove a count negative"),
        (Status.INVALID_PROPENSITY, [5, 4], r"propensity of reaction 2 .* is NaN"),
        # Valid with the network's parameters: the event that reassigns k is named.
        (Status.INVALID_PROPENSITY, [5, 0], r"after event 1 \(@event B > 2: k = -1\), propensity of reaction 1 "
                                            r"\(k, A --> B\) is negative \(-5.0\) at t=1.5 \(trajectory 7\)"),
        (Status.BUDGET, [5, 0], r"a trajectory ran away \(trajectory 7\): it used up its budget of 1,000 steps"),
        (Status.OVERFLOW - 1, [5, 0], r"the count of species 'B' would pass 9,223,372,036,854,775,807"),
    ]
    for code, x, message in cases:
        with pytest.raises(pycrn.SimulationError, match=message):
            raise_for_status(net, p, np.array(x), 1.5, int(code), trajectory=7, budget=1000)


def test_problem_is_validated_picklable_and_runs_in_ranges():
    problem = pycrn.Problem.build(SIR, u0={"I": 5}, tspan=(0, 50), saveat=5.0, volume=2.0)
    assert problem.u0 == {"S": 999, "I": 5, "R": 0} and problem.attrs()["volume"] == 2.0
    clone = pickle.loads(pickle.dumps(problem))
    assert np.array_equal(clone.p, problem.p) and clone.net == problem.net
    whole = pycrn.run(problem, methods.Direct(), 0, 10, seed=4)
    part = pycrn.run(clone, methods.Direct(), 6, 4, seed=4)
    assert np.array_equal(whole.states[:, 6:], part.states)
    ds = pycrn.simulate(SIR, u0={"I": 5}, tspan=(0, 50), saveat=5.0, volume=2.0, trajectories=10, seed=4)
    assert np.array_equal(ds["I"].values, whole.states[1])
    with pytest.raises(pycrn.ModelError, match="params: unknown parameter 'gamma'"):
        problem.with_values(params={"gamma": 1.0})
    with pytest.raises(ValueError, match="count must be a positive integer, got 0"):
        pycrn.run(problem, methods.Direct(), 0, 0, seed=1)
    with pytest.raises(ValueError, match="first must be a non-negative integer, got -1"):
        pycrn.run(problem, methods.Direct(), -1, 2, seed=1)


def test_the_run_contract_refuses_what_simulate_refuses():
    """A direct caller of pycrn.run gets the checks simulate makes, not a silently wrong run."""
    with pytest.raises(TypeError, match="run needs a Problem .* got ReactionNetwork"):
        pycrn.run(SIR, methods.Direct())
    problem = pycrn.Problem.build(SIR, tspan=(0, 5))
    with pytest.raises(TypeError, match="run needs a method object .* got 'direct'"):
        pycrn.run(problem, "direct")
    # Direct would run a rate that reads t as if it were constant.
    timed = pycrn.parse("@species A=10 B=0\n@parameters k=1\nk, A --> B\nk*t, B --> A\n")
    problem = pycrn.Problem.build(timed, tspan=(0, 2), saveat=1.0)
    for _ in range(2):  # checked on every call until it passes (the check is remembered only once passed)
        with pytest.raises(pycrn.ModelError, match=r"'direct' needs time-homogeneous propensities.*\[2\]"):
            pycrn.run(problem, methods.Direct(), 0, 2, seed=1)
    assert pycrn.run(problem, methods.Extrande(), 0, 2, seed=1).states.shape == (2, 2, 3)
    # The hybrid method's continuous= marks the network it prepares; a problem built without it would run S as counts.
    hybrid = methods.Hybrid(continuous=("S",))
    with pytest.raises(pycrn.ModelError, match=r"treats 'S' as continuous.*Problem.build\(method.prepare\(net\)"):
        pycrn.run(pycrn.Problem.build(SIR, tspan=(0, 5)), hybrid)
    assert pycrn.run(pycrn.Problem.build(hybrid.prepare(SIR), tspan=(0, 5)), hybrid).states.dtype == np.float64
