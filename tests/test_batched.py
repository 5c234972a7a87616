"""method="batched" samples the chemical master equation's law, and batches.

n = 10,000 trajectories per case at fixed seeds, populations in the
thousands, with batching forced (``MIN_REACTIONS_PER_BATCH = 0``) so that
the exact answers are not reached through the Gillespie fallback; each test
also checks that batches were in fact taken and carried many reactions.
Exact answers: finite state projection (FSP) of the master equation on the
conserved coordinate, binomial/Poisson closed forms; DSMTS mean and sd tests
with a family-wise bound over time points (``exact.assert_dsmts``) and
chi-square tests of whole marginals. Two-sample tests compare with
``direct`` on networks without closed forms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from compiled import assert_compiled_once
from exact import (
    DSMTS_CASES,
    FSPModel,
    assert_dsmts,
    birth_death_moments,
    check_against_fsp,
    chi_square_pvalue,
    fsp_distribution,
    read_results,
)
from scipy import stats

import pycrn
from pycrn.engines import batched

N = 10_000
P_MIN = 1e-3
# Parameters rather than numbers: networks of one shape share a compiled module.
IMMIGRATION_DEATH = "@parameters Alpha Mu\n@species X\nAlpha, 0 --> X\nMu, X --> 0"
BIRTH_DEATH = "@parameters Lambda Mu\n@species X\nLambda, X --> 2X\nMu, X --> 0"
DIMERISATION = "@parameters k1 k2\n@species P P2\nk1, 2P --> P2\nk2, P2 --> 2P"


@pytest.fixture
def force_batching(monkeypatch):
    monkeypatch.setattr(batched, "MIN_REACTIONS_PER_BATCH", 0.0)


def _assert_batched(ds, min_per_batch: float):
    """Batches were taken, and they carried on average at least ``min_per_batch`` reactions."""
    batches = ds.attrs["batches"]
    fired = ds.attrs["reactions_fired"]
    assert batches > 0
    assert fired / batches >= min_per_batch, f"{fired} reactions in {batches} batches"


def test_reversible_dimerisation_fsp(force_batching):
    """2P <--> P2 from P = 3000 (order 2, generativity 1 from the reverse reaction)."""
    p0, vol = 3000, 3000.0
    k1, k2 = 1.0 / vol, 1.0  # rate 1 in volume 3000
    net = pycrn.parse(DIMERISATION)
    times = np.linspace(0.0, 2.0, 5)
    fsp = FSPModel(
        changes=[(1,), (-1,)],
        propensities=[lambda b: k1 * (p0 - 2 * b[0]) * (p0 - 2 * b[0] - 1) / 2, lambda b: k2 * b[0]],
        bounds=(p0 // 2,),
    )
    P, lost = fsp_distribution(fsp, (0,), times)
    assert lost.max() < 1e-10
    ds = pycrn.simulate(net, u0={"P": p0, "P2": 0}, params={"k1": k1, "k2": k2}, tspan=(0, 2), saveat=times,
                        trajectories=N, seed=31, method="batched")
    assert np.array_equal(ds.P.values, p0 - 2 * ds.P2.values)
    check_against_fsp(ds, P, {"P2": 1}, times, "batched dimerisation")
    _assert_batched(ds, 5)


@pytest.mark.slow  # a compilation of its own; CI checks this process through DSMTS 00020 below
def test_immigration_death_distribution(force_batching):
    """0 --> X, X --> 0 from X = 1000 towards 2000: X(t) = Binomial(x0, e^-mu t) + Poisson(...)."""
    x0, alpha, mu = 1000, 2000.0, 1.0
    net = pycrn.parse(IMMIGRATION_DEATH)
    times = np.linspace(0.0, 3.0, 7)
    ds = pycrn.simulate(net, u0={"X": x0}, params={"Alpha": alpha, "Mu": mu}, tspan=(0, 3), saveat=times,
                        trajectories=N, seed=32, method="batched")
    keep = np.exp(-mu * times)
    mean = x0 * keep + alpha / mu * (1 - keep)
    sd = np.sqrt(x0 * keep * (1 - keep) + alpha / mu * (1 - keep))
    assert_dsmts(ds.X.values, mean, sd, "batched immigration-death")
    support = np.arange(0, 4000)
    for k in range(1, len(times)):
        pmf = np.convolve(
            stats.binom.pmf(support, x0, keep[k]), stats.poisson.pmf(support, alpha / mu * (1 - keep[k]))
        )[: support.size]
        p = chi_square_pvalue(ds.X.values[:, k], pmf)
        assert p > P_MIN, f"t={times[k]}: chi-square p = {p:.2e}"
    _assert_batched(ds, 5)


@pytest.mark.slow  # a compilation of its own; CI checks this process through DSMTS 00001 below
def test_linear_birth_death_moments(force_batching):
    """X --> 2X, X --> 0 from 2000 (DSMTS 00001's rates): closed-form mean and sd."""
    lam, mu, x0 = 0.1, 0.11, 2000
    net = pycrn.parse(BIRTH_DEATH)
    times = np.linspace(0.0, 20.0, 11)
    ds = pycrn.simulate(net, u0={"X": x0}, params={"Lambda": lam, "Mu": mu}, tspan=(0, 20), saveat=times,
                        trajectories=N, seed=33, method="batched")
    mean, sd = birth_death_moments(x0, lam, mu, times)
    assert_dsmts(ds.X.values, mean, sd, "batched birth-death")
    _assert_batched(ds, 5)


@pytest.mark.slow  # a compilation of its own (about 30 s cold); second-order batching is checked by the dimerisation FSP
def test_catalysed_conversion_binomial(force_batching):
    """A + E --> B + E, B --> A with E = 500 fixed: B(t) = Binomial(A0, p(t)) exactly."""
    a0, e, k, r, vol = 3000, 500, 2.0, 1.0, 1000.0
    net = pycrn.parse(f"@species A={a0} B=0 E={e}\n{k}, A + E --> B + E\n{r}, B --> A")
    times = np.linspace(0.0, 2.0, 5)
    ds = pycrn.simulate(net, tspan=(0, 2), saveat=times, trajectories=N, seed=34, method="batched", volume=vol)
    assert np.all(ds.E.values == e)
    alpha, beta = k * e / vol, r
    p = alpha / (alpha + beta) * (1 - np.exp(-(alpha + beta) * times))
    assert_dsmts(ds.B.values, a0 * p, np.sqrt(a0 * p * (1 - p)), "batched catalysis")
    for q in range(1, len(times)):
        pv = chi_square_pvalue(ds.B.values[:, q], stats.binom.pmf(np.arange(a0 + 1), a0, p[q]))
        assert pv > P_MIN, f"t={times[q]}: chi-square p = {pv:.2e}"
    _assert_batched(ds, 5)


@pytest.mark.slow  # 75 s on CI's machine (a compilation of its own); CI checks batched on orders 1 and 2
def test_three_reactants_fsp(force_batching):
    """2A + B <--> C (order 3): FSP on C, with A = A0 - 2C and B = B0 - C.

    Tuples of three molecules collide sooner, so batches need larger
    populations to be long: tens of thousands here, over a short time.
    """
    a0, b0, k1, k2, vol, tf = 60_000, 30_000, 1.0, 2.0, 30_000.0, 0.05
    net = pycrn.parse(f"@species A={a0} B={b0} C=0\n({k1}, {k2}), 2A + B <--> C")
    times = np.linspace(0.0, tf, 5)

    def forward(c):
        a, b = a0 - 2 * c[0], b0 - c[0]
        return k1 * a * (a - 1) / 2 * b / vol**2

    fsp = FSPModel(changes=[(1,), (-1,)], propensities=[forward, lambda c: k2 * c[0]], bounds=(6000,))
    P, lost = fsp_distribution(fsp, (0,), times)
    assert lost.max() < 1e-10
    ds = pycrn.simulate(net, tspan=(0, tf), saveat=times, trajectories=N, seed=35, method="batched", volume=vol)
    assert np.array_equal(ds.B.values, b0 - ds.C.values)
    check_against_fsp(ds, P, {"C": 1}, times, "batched trimerisation")
    _assert_batched(ds, 5)


# The mass-action DSMTS cases, batched at their small populations (a hundred
# molecules, batches of a few steps): the collision step matters most here.
BATCHABLE_DSMTS = sorted(case for case, text in DSMTS_CASES.items() if "=>" not in text)
#: One case per network shape family runs in CI (birth-death, immigration-death, dimerisation); the
#: others, each a compilation of its own, run with ``pytest -m slow``.
CI_DSMTS = {"00001", "00020", "00030"}


@pytest.mark.parametrize(
    "case", [c if c in CI_DSMTS else pytest.param(c, marks=pytest.mark.slow) for c in BATCHABLE_DSMTS]
)
def test_dsmts_mass_action_cases_batched(force_batching, case):
    net = pycrn.parse(DSMTS_CASES[case], name=case)
    ref = read_results(case)
    ds = pycrn.simulate(net, tspan=(0, 50), saveat=ref["time"], trajectories=N, seed=int(case) * 10 + 7,
                        method="batched")
    for column in ref:
        if column.endswith("-mean"):
            species = column[: -len("-mean")]
            assert_dsmts(ds[species].values, ref[column], ref[f"{species}-sd"], f"DSMTS {case}/{species}/batched",
                         check_sd=case != "00003")
    assert ds.attrs["batches"] > 0


def _two_sample(a, b, label):
    """Two-sample z test of the means and Kolmogorov-Smirnov test of the distributions."""
    z = (a.mean() - b.mean()) / math.sqrt(a.var() / a.size + b.var() / b.size)
    assert abs(z) < 3.9, f"{label}: two-sample z = {z:.2f}"
    p = stats.ks_2samp(a, b).pvalue
    assert p > P_MIN, f"{label}: KS p = {p:.2e}"


@pytest.mark.parametrize(
    "name, text, u0, tf",
    [
        # Each a compilation of its own (20-30 s cold): pytest -m slow. CI checks batched against FSP and DSMTS.
        pytest.param("lotka-volterra", "@species R F\n1, R --> 2R\n1, R + F --> 2F\n1, F --> 0",
                     {"R": 1000, "F": 1000}, 1.0, marks=pytest.mark.slow),
        pytest.param("approximate majority", "@species A B U\n1, A + B --> 2U\n1, A + U --> 2A\n1, B + U --> 2B",
                     {"A": 1100, "B": 900, "U": 0}, 3.0, marks=pytest.mark.slow),
    ],
)
def test_two_sample_against_direct(force_batching, name, text, u0, tf):
    net = pycrn.parse(text)
    vol = float(sum(u0.values()))
    times = np.linspace(0.0, tf, 4)
    kw = dict(u0=u0, tspan=(0, tf), saveat=times, trajectories=N, volume=vol)
    ds = pycrn.simulate(net, method="batched", seed=36, **kw)
    dd = pycrn.simulate(net, method="direct", seed=37, **kw)
    for species in u0:
        for k in range(1, len(times)):
            _two_sample(ds[species].values[:, k], dd[species].values[:, k], f"{name}/{species}/t={times[k]}")
    _assert_batched(ds, 5)


def test_batches_by_default_at_large_populations():
    """Without forcing, Lotka-Volterra at 10^6 molecules is simulated in batches of hundreds."""
    n = 10**6
    net = pycrn.parse("@species R F\n1, R --> 2R\n1, R + F --> 2F\n1, F --> 0")
    ds = pycrn.simulate(net, u0={"R": n // 2, "F": n // 2}, tspan=(0, 1), volume=n, method="batched", seed=1)
    _assert_batched(ds, 100)
    # The deterministic limit at t = 1 (R, F ~ 0.90 n, 0.36 n), to 1%.
    assert abs(ds.R.values[0, -1] / n - 0.8997) < 0.01
    assert abs(ds.F.values[0, -1] / n - 0.3604) < 0.01


def test_falls_back_to_direct_on_small_populations():
    net = pycrn.parse(IMMIGRATION_DEATH)
    ds = pycrn.simulate(net, u0={"X": 20}, params={"Alpha": 1.0, "Mu": 0.05}, tspan=(0, 10), method="batched",
                        seed=2, trajectories=50)
    assert ds.attrs["batches"] == 0 and ds.attrs["reactions_fired"] > 0


def test_time_events_end_segments_exactly(force_batching):
    """An event at t = 1 empties X; immigration-death restarts from 0 (closed form after it)."""
    alpha, mu = 2000.0, 1.0
    net = pycrn.parse(f"@species X=1000\n{alpha}, 0 --> X\n{mu}, X --> 0\n@event t >= 1: X = 0")
    times = np.linspace(0.0, 2.0, 9)
    ds = pycrn.simulate(net, tspan=(0, 2), saveat=times, trajectories=N, seed=38, method="batched")
    after = times >= 1
    keep = np.exp(-mu * (times[after] - 1))
    mean = alpha / mu * (1 - keep)
    assert_dsmts(ds.X.values[:, after], mean, np.sqrt(mean), "batched after event")


def test_reproducible_and_thread_independent(force_batching):
    net = pycrn.parse("@species R F\n1, R --> 2R\n1, R + F --> 2F\n1, F --> 0")
    kw = dict(u0={"R": 3000, "F": 3000}, tspan=(0, 1), volume=6000, method="batched", trajectories=64, seed=5)
    one = pycrn.simulate(net, threads=1, **kw)
    two = pycrn.simulate(net, threads=2, **kw)
    assert one.equals(two)
    assert one.attrs["batches"] == two.attrs["batches"] > 0
    first = pycrn.simulate(net, threads=1, **{**kw, "trajectories": 5})
    assert np.array_equal(first.R.values, one.R.values[:5])
    # _ff also takes the literal order O of the network (a constant of its module).
    assert assert_compiled_once("batched", allowed=frozenset({"_ff"})) >= 1


def test_refuses_what_it_cannot_batch():
    with pytest.raises(pycrn.ModelError, match=r"reaction 1 .*mass-action"):
        pycrn.simulate(pycrn.parse("@species X=1\nhill(X, 1, 2, 2), 0 => X"), tspan=(0, 1), method="batched")
    with pytest.raises(pycrn.ModelError, match=r"reaction 2 .*species"):
        pycrn.simulate(pycrn.parse("@species X=1 Y=1\n1, X --> 0\nY, X --> 2X"), tspan=(0, 1), method="batched")
    with pytest.raises(pycrn.ModelError, match="at most 3 reactants"):
        pycrn.simulate(pycrn.parse("@species X=9\n1, 4X --> 0"), tspan=(0, 1), method="batched")
    with pytest.raises(pycrn.ModelError, match="time events only"):
        pycrn.simulate(pycrn.parse("@species X=1\n1, 0 --> X\n@event X > 5: X = 0"), tspan=(0, 1), method="batched")
    with pytest.raises(ValueError, match="save='grid'"):
        pycrn.simulate(pycrn.parse("@species X=1\n1, 0 --> X"), tspan=(0, 1), method="batched", save="events")


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "10", True])
def test_volume_is_validated(bad):
    with pytest.raises(ValueError, match="volume"):
        pycrn.simulate(pycrn.parse("@species X=1\n1, X --> 0"), tspan=(0, 1), volume=bad)


def test_volume_scales_rates_by_order():
    """Volume V divides an order-o rate by V^(o-1): same law as writing the scaled constants."""
    scaled = pycrn.parse("@species A=200 B=0\n(1.0, 3.0), 2A <--> B\n5.0, 0 --> A")
    written = pycrn.parse("@species A=200 B=0\n(0.01, 3.0), 2A <--> B\n500.0, 0 --> A")
    kw = dict(tspan=(0, 1), trajectories=200, seed=9)
    a = pycrn.simulate(scaled, volume=100, **kw)
    b = pycrn.simulate(written, **kw)
    assert np.array_equal(a.A.values, b.A.values)
    assert a.attrs["volume"] == 100.0 and "pycrn_volume" not in a.attrs["params"]


def test_volume_folds_into_parameters_without_recompiling():
    """Rates that are bare parameters read nowhere else: the volume scales their values, the kernels stay."""
    from pycrn import codegen
    from pycrn.problem import volume_folding

    net = pycrn.models.approximate_majority()
    assert volume_folding(net) == ((0, -1),)
    kw = dict(tspan=(0, 2), trajectories=20, seed=3, method="direct")
    plain = pycrn.simulate(net, **kw)
    modules = len(codegen._modules)
    a = pycrn.simulate(net, volume=10, **kw)
    assert len(codegen._modules) == modules  # the same compiled module
    b = pycrn.simulate(net, params={"k": 0.001 * 10.0 ** -1}, **kw)
    assert np.array_equal(a.A.values, b.A.values) and not np.array_equal(a.A.values, plain.A.values)
    assert a.attrs["params"] == "k=0.001" and a.attrs["volume"] == 10.0
    # A parameter shared by reactions of two orders cannot be folded: the rates are rewritten instead.
    shared = pycrn.parse("@parameters k=2.0\n@species A=40 B=0\nk, 2A --> B\nk, B --> A")
    assert volume_folding(shared) is None
    written = pycrn.parse("@species A=40 B=0\n0.2, 2A --> B\n2.0, B --> A")
    kw = dict(tspan=(0, 1), trajectories=50, seed=8)
    assert np.array_equal(pycrn.simulate(shared, volume=10, **kw).A.values, pycrn.simulate(written, **kw).A.values)
