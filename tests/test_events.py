"""Events in the exact SSAs: time and state triggers, exactness, semantics, errors."""

from __future__ import annotations

import numpy as np
import pytest
from exact import assert_dsmts, chi_square_pvalue, immigration_death_moments
from scipy.linalg import expm

import pycrn
from pycrn import ModelError, SimulationError

METHODS = ["direct", "sorting_direct", "nrm", "direct_cr", "rssa", "rssa_cr"]
#: Each method compiles each network; the new aggregators' event handling (regrouping, new bounds
#: after an event) is checked in CI on the state event, on the time event in the slow suite.
TIME_EVENT_METHODS = [m if m not in ("direct_cr", "rssa_cr", "sorting_direct") else pytest.param(m, marks=pytest.mark.slow)
                      for m in METHODS]
#: sorting_direct runs direct's event code in the SSA stepper's loop: its state event is slow-suite work too.
STATE_EVENT_METHODS = [m if m != "sorting_direct" else pytest.param(m, marks=pytest.mark.slow) for m in METHODS]


@pytest.mark.parametrize("method", TIME_EVENT_METHODS)
def test_time_event_resets_state_exactly(method):
    """Immigration-death with X set to 50 at t = 25 (DSMTS 00028's model, in the language)."""
    net = pycrn.parse("@parameters a=1 mu=0.1\n@species X=0\na, 0 --> X\nmu, X --> 0\n@event t >= 25: X = 50")
    times = np.arange(0.0, 51.0)
    ds = pycrn.simulate(net, tspan=(0, 50), saveat=times, trajectories=10_000, seed=31, method=method)
    before = times < 25
    mean, sd = immigration_death_moments(0, 1.0, 0.1, times)
    after_mean, after_sd = immigration_death_moments(50, 1.0, 0.1, np.clip(times - 25, 0, None))
    mean = np.where(before, mean, after_mean)
    sd = np.where(before, sd, after_sd)
    assert_dsmts(ds["X"].values, mean, sd, f"time event/{method}")
    # Right-continuous saving: at t = 25 exactly the event has happened.
    assert (ds["X"].sel(time=25.0) == 50).all()


@pytest.mark.parametrize("method", STATE_EVENT_METHODS)
def test_state_event_matches_master_equation(method):
    """Pure death k A with a refill event 'A < 3: A = 10': the generator sends 3 -> 10."""
    k = 0.7
    net = pycrn.parse(f"@parameters k={k}\n@species A=10\nk, A --> 0\n@event A < 3: A = 10")
    states = np.arange(3, 11)  # reachable counts
    Q = np.zeros((8, 8))
    for i, a in enumerate(states):
        target = 10 if a - 1 < 3 else a - 1
        Q[i, i] -= k * a
        Q[i, list(states).index(target)] += k * a
    times = [0.5, 1.5, 4.0]
    ds = pycrn.simulate(net, tspan=(0, 4), saveat=times, trajectories=10_000, seed=32, method=method)
    p0 = np.zeros(8)
    p0[-1] = 1.0
    for col, t in enumerate(times):
        probs = p0 @ expm(Q * t)
        full = np.zeros(11)
        full[3:] = probs
        p = chi_square_pvalue(ds["A"].values[:, col], full)
        assert p > 1e-3, f"state event, t={t}: chi-square p = {p:.2e}"


@pytest.mark.parametrize("method", ["direct", "rssa"])
def test_event_changes_parameter_and_records_observable(method):
    """In rssa the rate constants are compiled from the parameters, recomputed after the event."""
    net = pycrn.parse(
        "@parameters k=1\n@species A=0\nk, 0 --> A\n@event t >= 10: k = 0\n@observable double = 2 * A"
    )
    ds = pycrn.simulate(net, tspan=(0, 20), saveat=[10.0, 20.0], trajectories=200, seed=3, method=method)
    np.testing.assert_array_equal(ds["A"].values[:, 0], ds["A"].values[:, 1])  # no births after t = 10
    np.testing.assert_array_equal(ds["double"].values, 2 * ds["A"].values)
    assert abs(ds["A"].values[:, 0].mean() - 10) < 5 * np.sqrt(10 / 200)


@pytest.mark.parametrize("method", ["direct", "rssa"])
def test_event_making_a_rate_constant_negative_is_the_same_error_in_rssa(method):
    net = pycrn.parse("@parameters k=1\n@species A=10\nk, A --> 0\n@event t >= 1: k = -1")
    with pytest.raises(SimulationError, match=r"after event 1 \(@event t >= 1: k = -1\), propensity of reaction 1 "
                                              r"\(k, A --> 0\) is negative"):
        pycrn.simulate(net, tspan=(0, 10), method=method, seed=1)


def test_initial_value_semantics():
    # One network for both (each network is a compilation): A's trigger starts false, B's true.
    net = pycrn.parse("@species A=5 B=5\n1, A --> 0\n1, B --> 0\n@event A > 3: A = 100\n"
                      "@event(initial=true) B > 3: B = 100")
    ds = pycrn.simulate(net, tspan=(0, 0.001), saveat=[0.0], trajectories=3, seed=1)
    assert (ds["A"].values == 100).all()  # true at t0 with initial value false: fires at t0
    assert (ds["B"].values == 5).all()  # true at t0 and initially true: no transition, no firing


def test_events_in_save_events_mode():
    net = pycrn.parse("@species A=0 B=0\n1, 0 --> A\n@event A >= 3: A = 0, B = B + 1")
    ev = pycrn.simulate(net, tspan=(0, 30), save="events", seed=4)
    assert ev["A"].values.max() <= 2
    assert ev["B"].values[0, -1] >= 1


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        ("@species A=1\n1, A --> 0\n@event A < 1: A = -1", SimulationError, r"event 1 .* assigned an invalid value"),
        ("@species A=1\n1, 0 --> A\n@event A > 3: A = A / 3", SimulationError, r"event 1 .* assigned an invalid value"),
        ("@species A=1\n1, 0 --> A\n@event A > 1: A = 0\n@event A < 1: A = 5", SimulationError, r"keep triggering one another"),
    ],
)
def test_event_errors(model, error, message):
    net = pycrn.parse(model)
    with pytest.raises(error, match=message):
        pycrn.simulate(net, tspan=(0, 50), trajectories=2, seed=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@species A=1\n1, A --> 0\n@event t >= 1 and A > 0: A = 0", r"line 3: trigger .* reads t other than"),
        ("@species A=1\n1, A --> 0\n@event t == 1: A = 0", r"line 3: trigger 't == 1' reads t other than as 't >= T'"),
        ("@species A=1\n1, A --> 0\n@event 1 <= t: A = 0", r"line 3: trigger '1 <= t' reads t other than"),
        ("@species A=1\n1, A --> 0\n@event A > 0: Q = 0", r"line 3: assignment to unknown species or parameter 'Q'"),
        ("@species A=1\n1, A --> 0\n@event A + 1: A = 0", r"line 3: condition 'A \+ 1': expected a comparison"),
        ("@species A=1\n1, A --> 0\n@event A > 0 A = 0", r"line 3: expected '@event CONDITION"),
        ("@species A=1\n1, A --> 0\n@event A > 0: A == 0", r"line 3: .*must look like 'NAME = EXPR'"),
        ("@species A=1\n1, A --> 0\n@observable A = 2", r"observable 'A' clashes"),
    ],
)
def test_event_language_errors(text, message):
    with pytest.raises(ModelError, match=message):
        pycrn.parse(text)
