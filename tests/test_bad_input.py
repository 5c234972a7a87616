"""Bad input and runaway runs: no wrapped count, no crash, no hang, one kind of error from every method.

The engine-edge cases (counts at the int64 limit, growth past it, runaways)
run in a subprocess per method (tests/bad_input_cases.py), since these are the
inputs that crashed the interpreter or hung before. The situations of the
README's table "Bad runs: what each method does" are checked method by
method, and a hypothesis property runs random rates and counts through
every method.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pycrn
from pycrn import methods
from pycrn.errors import ModelError, SimulationError

HERE = Path(__file__).parent
STOCHASTIC = ["direct", "sorting_direct", "nrm", "direct_cr", "rssa", "rssa_cr", "extrande", "tau_leaping",
              "simple_tau_leaping", "batched"]
#: What a run that goes past the int64 limit, the batched population limit, or its budget says.
RUNAWAY = r"would push the count|would pass 9,223,372,036,854,775,807|the most the batched engine handles|ran away"


def _run_cases(method: str, cases: list[str]) -> dict[str, dict]:
    proc = subprocess.run(
        [sys.executable, str(HERE / "bad_input_cases.py"), method, *cases],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYCRN_QUIET": "1"},
    )
    # A negative return code is a signal: the interpreter crashed (SIGSEGV was -11).
    assert proc.returncode == 0, f"{method} crashed (return code {proc.returncode}):\n{proc.stderr[-3000:]}"
    return {r["case"]: r for r in map(json.loads, proc.stdout.splitlines())}


#: Methods whose engine edges CI checks through another method's loop (sorting direct and direct CR run
#: the SSA stepper's, RSSA-CR RSSA's, simple tau-leaping the leap stepper's); all with pytest -m slow.
WRAP_SLOW = {"sorting_direct", "direct_cr", "rssa_cr", "simple_tau_leaping"}


@pytest.mark.parametrize("method", [m if m not in WRAP_SLOW else pytest.param(m, marks=pytest.mark.slow)
                                    for m in STOCHASTIC])
def test_counts_never_wrap_and_runaways_end(method):
    results = _run_cases(method, ["overflow_product", "overflow_population", "autocatalysis", "huge_birth_rate",
                                  "huge_products"])
    over = results["overflow_product"]
    assert over["outcome"] == "error" and over["type"] == "SimulationError", over
    if method == "batched":
        assert "the most the batched engine handles" in over["message"]
    else:
        assert "'B'" in over["message"] and "9,223,372,036,854,775,807" in over["message"], over
    population = results["overflow_population"]
    if method == "batched":
        assert population["outcome"] == "error" and "2**58" in population["message"], population
    else:
        # 2**58 molecules plus a few births: an ordinary run for the other methods.
        assert population["outcome"] == "dataset", population
        assert population["min"] >= 0 and 2**58 <= population["max"] < 2**58 + 100, population
    for case in ("autocatalysis", "huge_birth_rate", "huge_products"):
        r = results[case]
        assert r["outcome"] == "error" and r["type"] == "SimulationError", r
        assert re.search(RUNAWAY, r["message"]), r
        if "ran away" in r["message"]:
            # The message names what ran away: the reaction, its propensity, the largest count.
            assert "the fastest reaction is" in r["message"] and "max_steps" in r["message"], r


#: Bounds-checked in CI: batched, the engine with index arithmetic of its own (tuple positions, pools)
#: that crashed; the others in the slow suite (each compiles afresh with bounds checks: 10-35 s).
BOUNDS_CI = ["batched"]


@pytest.mark.parametrize(
    "method", [m if m in BOUNDS_CI else pytest.param(m, marks=pytest.mark.slow) for m in STOCHASTIC]
)
def test_engines_stay_in_bounds_under_numba_bounds_checking(method, tmp_path):
    """The debug mode: every engine compiled with NUMBA_BOUNDSCHECK=1 (in a cache of its own), on an
    ordinary run and on the edge cases; an out-of-bounds index raises IndexError instead of corrupting memory."""
    env = {**__import__("os").environ, "NUMBA_BOUNDSCHECK": "1", "PYCRN_CACHE_DIR": str(tmp_path), "PYCRN_QUIET": "1"}
    proc = subprocess.run(
        [sys.executable, str(HERE / "bad_input_cases.py"), method, "ordinary", "lv_runaway", "lv_overflow"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, f"{method} crashed (return code {proc.returncode}):\n{proc.stderr[-3000:]}"
    results = {r["case"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert results["ordinary"]["outcome"] == "dataset" and results["ordinary"]["min"] >= 0, results["ordinary"]
    for case in ("lv_runaway", "lv_overflow"):
        assert results[case]["type"] == "SimulationError", results[case]


def test_budget_names_the_runaway_and_counts_exactly():
    net = pycrn.parse("1e17, 0 --> B")
    with pytest.raises(SimulationError, match=r"used up its budget of 1,000 steps .* reached only t=.* of 100; "
                                              r"the fastest reaction is 1 \(1e\+17, 0 --> B\)") as info:
        pycrn.simulate(net, tspan=(0, 100), method="direct", max_steps=1000, seed=1)
    # Exactly max_steps reactions were allowed: the state at the failure holds 1,000 molecules.
    assert "B=1,000 " in str(info.value)
    # The same budget through a method object, and through method="auto".
    with pytest.raises(SimulationError, match="used up its budget of 1,000 steps"):
        pycrn.simulate(net, tspan=(0, 100), method=methods.NRM(max_steps=1000), seed=1)
    with pytest.raises(SimulationError, match="used up its budget of 1,000 steps"):
        pycrn.simulate(net, tspan=(0, 100), max_steps=1000, seed=1)
    # A run within its budget is untouched by it.
    small = pycrn.parse("@species A=100\n1, A --> 0")
    a = pycrn.simulate(small, tspan=(0, 10), method="direct", seed=3)
    b = pycrn.simulate(small, tspan=(0, 10), method=methods.Direct(max_steps=100), seed=3)
    assert a.identical(b)


def test_default_budgets():
    assert methods.Direct().max_steps == methods.TauLeaping().max_steps == 10**9
    assert methods.Batched().max_steps == 10**8 and methods.ODE().max_steps == 10**6


@pytest.mark.slow  # 10**9 reactions: 20-40 s
def test_default_budget_ends_a_runaway():
    """The issue's hang: 1e17 births per unit time run to t=100 (1e19 reactions) ends with the default budget."""
    with pytest.raises(SimulationError, match=r"used up its budget of 1,000,000,000 steps"):
        pycrn.simulate(pycrn.parse("1e17, 0 --> B"), tspan=(0, 100), method="direct", seed=1)


def test_save_events_stops_before_memory_runs_out(monkeypatch):
    from pycrn import runner

    monkeypatch.setattr(runner, "available_memory", lambda: 50_000_000)
    with pytest.raises(SimulationError, match=r"save='events' recorded .* jumps .* as many as fit in the memory"):
        pycrn.simulate(pycrn.parse("1e17, 0 --> B"), tspan=(0, 100), method="direct", save="events", seed=1)


def test_deep_cv_paths_stop_before_memory_runs_out(monkeypatch):
    """The estimators' SSA paths record every jump: a runaway stops when the batch's records fill the memory."""
    pytest.importorskip("torch")
    from pycrn import deepska, runner

    net = pycrn.parse("1e17, 0 --> B")
    monkeypatch.setattr(runner, "available_memory", lambda: 50_000_000)
    with pytest.raises(SimulationError, match=r"SSA paths recorded .* jumps .* as many as fit in the memory"):
        deepska.estimate(net, deepska.SDnet(net, ["B"], modes=1, steady=[0.0]), {"B": 0}, [100.0], 2, "deep_cv", seed=1)


def test_budget_is_validated_and_left_out_of_provenance():
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="max_steps must be a positive integer or None"):
            methods.Direct(max_steps=bad)
    assert methods.Direct(max_steps=None).kernel_options()[1] == math.inf
    assert methods.Direct(max_steps=5).describe() == "direct"
    ds = pycrn.simulate(pycrn.parse("@species A=10\n1, A --> 0"), tspan=(0, 1), method="tau_leaping", seed=1,
                        max_steps=10**6)
    assert "method_options" not in ds.attrs or "max_steps" not in ds.attrs["method_options"]


def test_failing_trajectory_stops_the_run_at_once():
    """With threads, the first failure stops every kernel of the run (a runaway costs one budget, not n)."""
    import time

    net = pycrn.parse("1e17, 0 --> B")
    start = time.perf_counter()
    with pytest.raises(SimulationError, match="ran away"):
        pycrn.simulate(net, tspan=(0, 100), method=methods.Direct(max_steps=10**6), trajectories=2_000, threads=2,
                       seed=1)
    single = time.perf_counter()
    with pytest.raises(SimulationError, match="ran away"):
        pycrn.simulate(net, tspan=(0, 100), method=methods.Direct(max_steps=10**6), trajectories=1, seed=1)
    one = time.perf_counter() - single
    # 2,000 runaways at 10**6 reactions each would take minutes; failing fast costs a few budgets.
    assert single - start < 20 * one + 5.0


def test_an_ensemble_reports_the_failure_not_the_chunks_it_stopped():
    """Chunks on other threads stopped by a failure must not surface as KeyboardInterrupt or a vague error."""
    # Setting 0 is long and fine (1e7 reactions a trajectory), setting 1 runs away: setting 0's chunks
    # finish (they come first in the run's order), setting 1's later chunks stop and must not be reported.
    net = pycrn.parse("@parameters kb=1\nkb, 0 --> B")
    with pytest.raises(SimulationError, match=r"setting 1.*ran away \(trajectory 0\)"):
        pycrn.ensemble(net, tspan=(0, 100), method=methods.Direct(max_steps=2 * 10**7), sweep={"kb": [1e5, 1e17]},
                       trajectories=8, chunk=2, threads=2, seed=1)


def test_the_error_names_the_first_failing_chunk_whatever_the_thread_timing():
    """The reported failure is the run's first, not the first to happen: reruns name the same one."""
    # Setting 0 uses up its budget after 2e6 reactions; setting 1 has a negative rate at t = 0 and
    # fails at once on the other thread. The earlier chunk must finish and be the one reported.
    net = pycrn.parse("@parameters kb=1 kd=0\nkb + kd*(B - 1), 0 --> B")
    for threads in (1, 2):
        with pytest.raises(SimulationError, match=r"setting 0 \(kb=100000.0, kd=0.0\): a trajectory ran away "
                                                  r"\(trajectory 0\)"):
            pycrn.ensemble(net, tspan=(0, 100), method=methods.Direct(max_steps=2 * 10**6),
                           sweep={"kb": [1e5, 0.0], "kd": [0.0, 1.0]}, trajectories=2, chunk=2, threads=threads,
                           seed=1)


def test_thread_map_raises_the_first_items_error_and_finishes_the_earlier_items():
    import threading
    import time

    from pycrn.runner import thread_map

    release = threading.Event()

    def fn(i):
        if i == 0:
            release.wait(5)  # item 0 fails only after item 1 (and 2) have failed
            time.sleep(0.3)
            raise SimulationError("item 0")
        if i in (1, 2):
            try:
                raise SimulationError(f"item {i}")
            finally:
                if i == 2:
                    release.set()
        return 1

    with pytest.raises(SimulationError, match="^item 0$"):
        thread_map(fn, range(3), 3, lambda n: None)


def test_a_failure_stops_only_the_later_calls_of_a_run():
    from pycrn.runner import Stop

    stop = Stop()
    with stop.flag_for(1) as early, stop.flag_for(5) as late:
        stop.fail(3)
        assert early[0] == 0 and late[0] == Stop.FAILED
        with stop.flag_for(2) as started_after, stop.flag_for(4) as later_still:
            assert started_after[0] == 0 and later_still[0] == Stop.FAILED
            stop.fail(0)
            assert early[0] == Stop.FAILED and started_after[0] == Stop.FAILED
        stop.set()
        assert early[0] == late[0] == Stop.INTERRUPT and stop.interrupted
    assert not stop._calls  # the calls that returned are forgotten


# --- The ODE: pycrn errors naming the reaction, time and state; no Python errors, no hang ---

@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@species A=3\n1/(A-3), 0 => A", r"at the start: the rate of reaction 1 .* is infinite \(inf\) at t=0 "
                                           r"in state A=3"),
        ("@species A=0\nlog(A-1), 0 => A", r"reaction 1 .* cannot be evaluated at t=0 \(ValueError: math domain"),
        ("@species A=5\nsqrt(A-3), A => 0", r"reaction 1 \(sqrt\(A - 3\), A => 0\) cannot be evaluated at t=[0-9.]+ "
                                            r"\(ValueError"),
        ("@species A=0\nexp(1000*A), 0 => A", r"reaction 1 .* is infinite|blew up .* was that of reaction 1 "),
        ("@species A=0\n1/(3-A), 0 => A", r"stalled at t=4\.5.*singularity"),
        ("@species A=5\n1, A => 0", r"species 'A' went negative .* reaction\(s\) \[1\]"),
        ("@parameters k=1\n@species A=10\nk, A --> 0\n@event t >= 1: k = -1",
         r"after event 1 \(@event t >= 1: k = -1\): the rate of reaction 1 \(k, A --> 0\) is negative"),
    ],
)
def test_ode_errors_name_the_culprit(text, message):
    with pytest.raises(SimulationError, match=message):
        pycrn.simulate(pycrn.parse(text), tspan=(0, 10), method="ode")


def test_ode_budget():
    net = pycrn.parse("@species A=0\n1 + t - floor(t), 0 => A")  # a sawtooth: a kink every unit of time
    with pytest.raises(SimulationError, match=r"used up its budget of 500 right-hand-side evaluations"):
        pycrn.simulate(net, tspan=(0, 1000), method=methods.ODE(max_steps=500))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tspan": (-1e308, 1e308)}, r"tspan's length tf - t0 is not a finite number"),
        ({"tspan": (0, 1), "saveat": 1e-320}, r"saveat=.* gives .* save points; use a larger step"),
    ],
)
def test_time_grids_that_overflow_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pycrn.simulate(pycrn.parse("@species A=1\n1, A --> 0"), **kwargs)


def test_a_huge_but_finite_tspan_runs():
    ds = pycrn.simulate(pycrn.parse("@species A=3\n1, A --> 0"), tspan=(0, 1e308), method="direct", seed=1)
    assert np.isfinite(ds["time"].values).all() and ds["A"].values[0, -1] == 0


# --- One behaviour per situation across methods (the README's table) ---

#: The three situations in one network (so that each method compiles it once), each switched on by its
#: parameters: a general rate law that does not vanish when its reactant runs out (kn), a propensity
#: that overflows to infinity (ke), an event that makes a rate constant negative (k, kflip).
SITUATION_NET = ("@parameters kn=0 ke=0 k=0 kflip=1\n@species A=20 C=0\nkn, A => 0\nke * exp(1000 * C), 0 => C\n"
                 "k, A --> 0\n@event t >= 1: k = k * kflip")
SITUATIONS = {
    "negative_count": {"kn": 10.0},
    "infinite_propensity": {"ke": 1.0},
    "negative_parameter": {"k": 1.0, "kflip": -1.0},
}
EXPECTED = {
    "negative_count": r"reaction 1 \(kn, A => 0\) fired at t=.* drove a count negative|simple tau-leaping drove a "
                      r"count negative|species 'A' went negative",
    "infinite_propensity": r"(propensity|rate) of reaction 2 \(ke \* exp\(1000 \* C\), 0 => C\) is infinite|"
                           r"the ODE solution blew up at t=.* the fastest rate at t=.* was that of reaction 2 ",
    "negative_parameter": r"after event 1 \(@event t >= 1: k = k \* kflip\)[,:] .*(propensity|rate) of reaction 3 "
                          r"\(k, A --> 0\) is negative",
}
#: Methods that refuse the network before running, with a ModelError naming why.
REFUSED = {
    "rssa": r"reaction 1 \(kn, A => 0\): method 'rssa' needs mass-action",
    "rssa_cr": r"reaction 1 \(kn, A => 0\): method 'rssa_cr' needs mass-action",
    "batched": r"reaction 1 \(kn, A => 0\): method 'batched' needs mass-action",
}


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
@pytest.mark.parametrize("method", [*STOCHASTIC, "ode", "hybrid"])
def test_one_behaviour_per_situation(situation, method):
    net = pycrn.parse(SITUATION_NET)
    kwargs = {"dt": 0.01} if method == "simple_tau_leaping" else {}
    if method in REFUSED:
        with pytest.raises(ModelError, match=REFUSED[method]):
            pycrn.simulate(net, params=SITUATIONS[situation], tspan=(0, 10), method=method, seed=1, **kwargs)
        return
    with pytest.raises(SimulationError, match=EXPECTED[situation]):
        pycrn.simulate(net, params=SITUATIONS[situation], tspan=(0, 10), method=method, seed=1, **kwargs)


@pytest.mark.slow  # batched compiles its engine for this network alone (about 27 s)
def test_batched_reports_a_negative_parameter_from_an_event_like_direct():
    """batched refuses SITUATION_NET (general rate laws) but takes time events: the same message as direct."""
    net = pycrn.parse("@parameters k=1\n@species A=10\nk, A --> 0\n@event t >= 1: k = -1")
    with pytest.raises(SimulationError, match=r"after event 1 \(@event t >= 1: k = -1\), propensity of reaction 1"):
        pycrn.simulate(net, tspan=(0, 10), method="batched", seed=1)


# --- The property: huge rates and counts give a valid Dataset or a pycrn error, in every method ---

#: The networks of the engine-edge cases (births, autocatalysis, Lotka-Volterra), their rates as parameters:
#: each method compiles them once for all examples, and the subprocess cases share the compiled code.
sys.path.insert(0, str(HERE))
import bad_input_cases  # noqa: E402

TEMPLATES = [bad_input_cases.GROWTH, bad_input_cases.LV]
magnitudes = st.one_of(st.just(0.0), st.floats(min_value=-300, max_value=308).map(lambda e: 10.0**e))
counts = st.one_of(st.integers(0, 100), st.integers(0, 62).map(lambda e: 2**e), st.integers(0, 2**63 - 1))


def _check_property(method: str, template: int, rates, u0, tf: float) -> None:
    if method == "batched":
        template = 0  # its Lotka-Volterra compile (30 s) is left to the bounds-checked test
    net = pycrn.parse(TEMPLATES[template])
    params = dict(zip(net.parameter_names, rates))
    u0 = dict(zip(net.species_names, u0))
    if method == "ode":
        m = methods.ODE(max_steps=20_000)
    elif method == "hybrid":
        m = methods.Hybrid(max_steps=10**4)
    elif method == "simple_tau_leaping":
        m = methods.SimpleTauLeaping(dt=tf / 10, max_steps=10**4)
    elif method == "batched":
        m = methods.Batched(max_steps=10**3)
    elif method in bad_input_cases.SHARED:
        m = methods.METHODS[method](max_steps=10**4, kernels="shared")
    else:
        m = methods.METHODS[method](max_steps=10**4)
    try:
        ds = pycrn.simulate(net, u0=u0, params=params, tspan=(0, tf), method=m, seed=1, trajectories=1,
                            saveat=[0.0, tf / 2, tf])
    except (ModelError, SimulationError):
        return
    values = np.stack([ds[s].values for s in net.species_names])
    if method == "ode":
        assert np.all(np.isfinite(values)) and values.min() >= -1e-6 * max(1.0, np.abs(values).max())
    else:
        assert values.dtype == np.int64 and values.min() >= 0
        assert all(int(ds[s].values[0, 0]) == u0[s] for s in net.species_names)


def property_test(examples: int):
    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(template=st.integers(0, len(TEMPLATES) - 1), rates=st.tuples(*[magnitudes] * 3),
           u0=st.tuples(*[counts] * 2), tf=st.sampled_from([1e-6, 1e-2, 1.0, 100.0]))
    def check(method, template, rates, u0, tf):
        _check_property(method, template, rates, u0, tf)

    return check


_ci_property = property_test(50)
_slow_property = property_test(500)


@pytest.mark.parametrize("method", [*STOCHASTIC, "ode", "hybrid"])
def test_huge_rates_and_counts_give_a_dataset_or_a_pycrn_error(method):
    _ci_property(method)


@pytest.mark.slow
@pytest.mark.parametrize("method", [*STOCHASTIC, "ode", "hybrid"])
def test_huge_rates_and_counts_500_examples(method):
    _slow_property(method)
