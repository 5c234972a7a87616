"""Rates that depend on t: the interval enclosures, and the thinning engine (extrande) against closed forms.

Three independent processes share one network (one compilation): a pure
birth with rate a t (A(t) is Poisson with mean a t^2 / 2), an immigration-
death process with a periodic immigration rate (B(t) is Poisson with the mean
of the linear ODE, computed by quadrature), and a death process with a rate
growing in time (C(t) is binomial with survival exp(-integral of the rate)).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from compiled import assert_compiled_once
from exact import assert_dsmts, chi_square_pvalue
from scipy import integrate, stats

import pycrn
from pycrn import methods
from pycrn.engines import intervals
from pycrn.errors import ModelError, SimulationError

A_RATE, K, OMEGA, G, MU0, C0 = 3.0, 20.0, 2 * math.pi / 5, 0.7, 0.2, 60
THREE = f"""
@parameters a={A_RATE} k={K} w={OMEGA} g={G} mu={MU0}
@species A=0 B=0 C={C0}
a * t, 0 --> A
k * (1 + sin(w * t)), 0 --> B
g, B --> 0
mu * (1 + t), C --> 0
"""
TIMES = np.linspace(0.0, 6.0, 13)
N = 10_000


def _immigration_mean(t: float, start: float = 0.0) -> float:
    """E B(t) from B(start) = 0: the integral of k (1 + sin(w s)) exp(-g (t - s)) over [start, t]."""
    value, _ = integrate.quad(lambda s: K * (1 + math.sin(OMEGA * s)) * math.exp(-G * (t - s)), start, t,
                              epsabs=1e-13, epsrel=1e-13, limit=200)
    return value


def _check_three(ds, label: str, event_at: float | None = None) -> None:
    t = ds["time"].values
    a = ds["A"].values
    mu_a = A_RATE * t**2 / 2
    assert_dsmts(a, mu_a, np.sqrt(mu_a), f"{label} A (birth at rate a t)")
    b = ds["B"].values
    start = [0.0 if event_at is None or s < event_at else event_at for s in t]
    mu_b = np.array([_immigration_mean(s, s0) for s, s0 in zip(t, start)])
    assert_dsmts(b, mu_b, np.sqrt(mu_b), f"{label} B (periodic immigration)")
    survive = np.exp(-MU0 * (t + t**2 / 2))
    c = ds["C"].values
    assert_dsmts(c, C0 * survive, np.sqrt(C0 * survive * (1 - survive)), f"{label} C (death rate growing in t)")
    # The whole law at the last time, not only two moments.
    last = t.size - 1
    assert chi_square_pvalue(a[:, last], stats.poisson.pmf(np.arange(200), mu_a[last])) > 1e-3
    assert chi_square_pvalue(b[:, last], stats.poisson.pmf(np.arange(200), mu_b[last])) > 1e-3
    assert chi_square_pvalue(c[:, last], stats.binom.pmf(np.arange(C0 + 1), C0, survive[last])) > 1e-3


def test_time_varying_rates_match_their_closed_forms():
    ds = pycrn.simulate(pycrn.parse(THREE), tspan=(0.0, 6.0), saveat=0.5, trajectories=N, seed=11)
    assert ds.attrs["method"] == "extrande"  # method="auto" picks thinning for rates that read t
    _check_three(ds, "extrande")
    assert ds.attrs["rejections"] > 0


def test_time_varying_rates_with_a_time_event():
    """At t = 3 every B is removed: B then restarts from 0, the other two are untouched."""
    net = pycrn.parse(THREE + "@event t >= 3: B = 0\n")
    ds = pycrn.simulate(net, tspan=(0.0, 6.0), saveat=0.5, trajectories=N, seed=12, method="extrande")
    _check_three(ds, "extrande with an event", event_at=3.0)


def test_reproducible_and_independent_of_threads_and_window():
    net = pycrn.parse(THREE)
    one = pycrn.simulate(net, tspan=(0.0, 6.0), saveat=1.0, trajectories=64, seed=5, method="extrande", threads=1)
    two = pycrn.simulate(net, tspan=(0.0, 6.0), saveat=1.0, trajectories=64, seed=5, method="extrande", threads=2)
    for name in ("A", "B", "C"):
        np.testing.assert_array_equal(one[name].values, two[name].values)
    assert assert_compiled_once("extrande") >= 1
    # Another first window draws other candidates: the same law, other samples.
    other = pycrn.simulate(net, tspan=(0.0, 6.0), saveat=1.0, trajectories=64, seed=5,
                           method=methods.Extrande(window=0.01))
    assert not np.array_equal(one["B"].values, other["B"].values)
    assert other.attrs["method_options"] == "extrande(window=0.01)"


def test_exact_ssas_refuse_t_and_point_to_extrande():
    with pytest.raises(ModelError, match="method='extrande'"):
        pycrn.simulate(pycrn.parse(THREE), tspan=(0, 1), method="direct")


def test_a_rate_without_a_bound_near_a_time_is_a_clear_error():
    """1/|t - 1| cannot be bounded over any window around t = 1 (its integral diverges there)."""
    net = pycrn.parse("@species X=0\n1 / abs(t - 1), 0 --> X")
    with pytest.raises(SimulationError, match=r"reaction 1 .* no finite bound over any time window near t=1\b"):
        pycrn.simulate(net, tspan=(0, 2), method="extrande", seed=1)


def test_a_rate_that_becomes_undefined_names_reaction_and_time():
    net = pycrn.parse("@species X=0\nsqrt(1 - t), 0 --> X")
    with pytest.raises(SimulationError, match=r"propensity of reaction 1 .* is NaN .* at t=1\.\d"):
        pycrn.simulate(net, tspan=(0, 2), method="extrande", seed=1, max_steps=10**6)


def test_window_is_validated():
    for bad in (0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="extrande window"):
            methods.Extrande(window=bad)


def test_sin_cos_and_pi_in_the_language():
    net = pycrn.parse("@species X=0\nk * (1 + cos(2 * pi * t / 24)), 0 --> X\n@parameters k=1")
    assert str(net.reactions[0].rate) == "k * (1 + cos(2 * pi * t / 24))"
    assert "pi" not in net.parameter_names
    ode = pycrn.simulate(net, tspan=(0, 24), saveat=24.0, method="ode")
    assert ode["X"].values[0, -1] == pytest.approx(24.0, rel=1e-6)  # the cosine integrates to 0 over a period


# --------------------------------------------------------------------------
# The enclosures themselves (plain Python: the functions numba compiles)
# --------------------------------------------------------------------------
UNARY = {
    "_iexp": math.exp, "_ilog": math.log, "_isqrt": math.sqrt, "_iabs": abs, "_isin": math.sin, "_icos": math.cos,
    "_ifloor": math.floor, "_iceil": math.ceil, "_ineg": lambda v: -v,
}
BINARY = {
    "_iadd": lambda u, v: u + v, "_isub": lambda u, v: u - v, "_imul": lambda u, v: u * v,
    "_idiv": lambda u, v: u / v, "_ipow": lambda u, v: u**v, "_imin": min, "_imax": max,
}


def _inside(lo: float, hi: float, v: float) -> bool:
    return lo <= v <= hi


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_enclosures_contain_every_value(name):
    fn, ref = getattr(intervals, name), UNARY[name]
    rng = random.Random(name)
    for _ in range(3000):
        centre = rng.choice([rng.uniform(-10, 10), rng.uniform(-1e3, 1e3), rng.uniform(0, 1e-3)])
        a, b = sorted((centre, centre + rng.choice([0.0, rng.uniform(0, 1e-6), rng.uniform(0, 3), rng.uniform(0, 30)])))
        try:
            lo, hi = fn(a, b)
        except OverflowError:  # Python's math raises where the compiled code returns inf
            continue
        for v in (a, b, *(rng.uniform(a, b) for _ in range(20))):
            try:
                value = ref(v)
            except (ValueError, OverflowError):
                continue
            assert _inside(lo, hi, value), f"{name}([{a!r}, {b!r}]) = [{lo!r}, {hi!r}] misses f({v!r}) = {value!r}"


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_enclosures_contain_every_value(name):
    fn, ref = getattr(intervals, name), BINARY[name]
    rng = random.Random(name)
    for _ in range(3000):
        a, b = sorted(rng.uniform(-5, 5) for _ in range(2))
        c, d = sorted(rng.uniform(-5, 5) for _ in range(2))
        if name == "_ipow" and rng.random() < 0.5:
            c = d = float(rng.randint(-4, 4))  # integer powers of any base
        lo, hi = fn(a, b, c, d)
        for _ in range(20):
            u, v = rng.uniform(a, b), rng.uniform(c, d)
            try:
                value = ref(u, v)
            except (ZeroDivisionError, OverflowError):
                continue
            if isinstance(value, complex):
                continue
            assert _inside(lo, hi, value), f"{name}([{a}, {b}], [{c}, {d}]) = [{lo}, {hi}] misses {value} at {u}, {v}"


def test_enclosures_are_tight_where_the_function_is_monotone():
    lo, hi = intervals._iexp(0.0, 1.0)
    assert lo == pytest.approx(1.0, rel=1e-15) and hi == pytest.approx(math.e, rel=1e-15)
    lo, hi = intervals._isin(0.0, math.pi)  # a crest inside
    assert hi == 1.0 and lo == pytest.approx(0.0, abs=1e-15)
    lo, hi = intervals._idiv(1.0, 2.0, -1.0, 1.0)  # division by an interval holding 0: no bound
    assert (lo, hi) == (-math.inf, math.inf)


# -- declared bounds (@bound) ------------------------------------------------------------------------------

BOUNDED = f"""
@parameters a={A_RATE} k={K} w={OMEGA} g={G} mu={MU0}
@species A=0 B=0 C={C0}
a * t, 0 --> A @bound 6 * a
k * (1 + sin(w * t)), 0 --> B @bound 2 * k
g, B --> 0
mu * (1 + t), C --> 0 @bound 7 * mu
"""


def test_declared_bounds_keep_thinning_exact():
    """Bounds valid over the run (t <= 6), looser or tighter than the enclosures: the same closed forms."""
    net = pycrn.parse(BOUNDED)
    assert [r.bound is not None for r in net.reactions] == [True, True, False, True]
    ds = pycrn.simulate(net, tspan=(0.0, 6.0), saveat=0.5, trajectories=N, seed=13, method="extrande")
    _check_three(ds, "extrande with declared bounds")


def test_a_tight_declared_bound_is_used():
    """sin^2 + cos^2 = 1: its interval enclosure is loose (up to 2), the declared bound is exact, so no
    candidate is rejected; D(t) is Poisson with mean k t."""
    net = pycrn.parse(f"@parameters k={K} w={OMEGA}\n@species D=0\n"
                      "k * (sin(w * t)^2 + cos(w * t)^2), 0 --> D @bound k\n")
    ds = pycrn.simulate(net, tspan=(0.0, 6.0), saveat=1.0, trajectories=N, seed=14, method="extrande")
    assert ds.attrs["rejections"] == 0
    t = ds["time"].values
    assert_dsmts(ds["D"].values, K * t, np.sqrt(K * t), "declared exact bound")
    assert chi_square_pvalue(ds["D"].values[:, -1], stats.poisson.pmf(np.arange(400), K * 6.0)) > 1e-3


#: Three wrong bounds in one network (one compilation), each switched on by its gate parameter.
WRONG_BOUNDS = f"""
@parameters k={K} w={OMEGA} g1=0 g2=0 g3=0
@species A=0 B=0 C=0 E=0
g1 * k, 0 --> A @bound g1 * 0.5 * k
g1 * 10 * k * (sin(w * t)^2 + cos(w * t)^2), 0 --> B
g2 * k * (1 + sin(w * t)), 0 --> C @bound g2 * k
g3 * k * (1 + sin(w * t)), 0 --> E @bound sqrt(1 - g3 * k)
"""


def test_a_violated_declared_bound_names_reaction_and_time():
    """Reaction 1 claims half its rate. The total bound still covers the total propensity (reaction 2's
    enclosure is loose by more than k / 2), so only the check reaction by reaction sees it."""
    with pytest.raises(SimulationError,
                       match=r"propensity of reaction 1 \(g1 \* k, 0 --> A @bound g1 \* 0\.5 \* k\) at t=0\.\d+ .* "
                             r"is 20, above its declared @bound \(10 in this state\)"):
        pycrn.simulate(pycrn.parse(WRONG_BOUNDS), params={"g1": 1.0}, tspan=(0.0, 6.0), trajectories=10, seed=15,
                       method="extrande")


def test_a_periodic_rate_above_its_declared_bound_is_an_error():
    """k (1 + sin) reaches 2k; a bound of k is passed wherever sin > 0."""
    with pytest.raises(SimulationError) as err:
        pycrn.simulate(pycrn.parse(WRONG_BOUNDS), params={"g2": 1.0}, tspan=(0.0, 6.0), trajectories=100, seed=16,
                       method="extrande")
    message = str(err.value)
    assert "reaction 3 (g2 * k * (1 + sin(w * t)), 0 --> C @bound g2 * k)" in message
    t = float(message.split(" at t=")[1].split(" ")[0])
    assert math.sin(OMEGA * t) > 0  # the reported time is one where the rate really is above k


def test_an_undefined_declared_bound_names_the_reaction():
    with pytest.raises(SimulationError, match=r"declared @bound of reaction 4 .* is undefined \(NaN\) at t=0 "):
        pycrn.simulate(pycrn.parse(WRONG_BOUNDS), params={"g3": 1.0}, tspan=(0, 5), trajectories=3, seed=1,
                       method="extrande")


SBML_IMMIGRATION = f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="periodic_immigration">
    <listOfCompartments><compartment id="C" spatialDimensions="3" size="1" constant="true"/></listOfCompartments>
    <listOfSpecies>
      <species id="B" compartment="C" initialAmount="0" hasOnlySubstanceUnits="true" boundaryCondition="false"
               constant="false"/>
    </listOfSpecies>
    <listOfParameters>
      <parameter id="k" value="{K!r}" constant="true"/>
      <parameter id="w" value="{OMEGA!r}" constant="true"/>
      <parameter id="g" value="{G!r}" constant="true"/>
    </listOfParameters>
    <listOfReactions>
      <reaction id="immigration" reversible="false">
        <listOfProducts><speciesReference species="B" stoichiometry="1" constant="true"/></listOfProducts>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci> k </ci><apply><plus/><cn> 1 </cn><apply><sin/><apply><times/><ci> w </ci>
            <csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time"> time </csymbol>
          </apply></apply></apply></apply>
        </math></kineticLaw>
      </reaction>
      <reaction id="death" reversible="false">
        <listOfReactants><speciesReference species="B" stoichiometry="1" constant="true"/></listOfReactants>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci> g </ci><ci> B </ci></apply>
        </math></kineticLaw>
      </reaction>
    </listOfReactions>
  </model>
</sbml>
"""


def test_a_time_varying_rate_from_sbml():
    """SBML's time csymbol is t: the periodic immigration of THREE, imported, matches the same closed form."""
    pytest.importorskip("libsbml")
    net = pycrn.load_sbml(SBML_IMMIGRATION)
    assert net.depends_on_time
    ds = pycrn.simulate(net, tspan=(0.0, 6.0), saveat=0.5, trajectories=N, seed=17)
    assert ds.attrs["method"] == "extrande"
    t = ds["time"].values
    mu = np.array([_immigration_mean(s) for s in t])
    assert_dsmts(ds["B"].values, mu, np.sqrt(mu), "SBML periodic immigration")
