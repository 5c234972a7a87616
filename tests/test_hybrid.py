"""The hybrid method: continuous species by ODEs, jumps by integrated intensity, against closed forms.

- Time-varying rates with no continuous species: the jump process is the
  exact one (up to the integration tolerance), checked on the same three
  closed forms as extrande (test_time_varying).
- A linear network where the hybrid answer is exact: mRNA M continuous
  (dM/dt = kM - dM M, solved in closed form) and a protein P made by jumps at
  rate kP M(t): P(t) is Poisson with the mean of a linear ODE.
- An ODE driven by a jump process: dV/dt = a X with X a Poisson birth
  process; E V(t) and Var V(t) follow from the shot-noise formulas.
- Gene expression with abundant mRNA against the full SSA (direct): the
  means agree (the network is linear); the SSA's protein variance is larger
  by the mRNA noise the hybrid leaves out, at most kP / (dM + dP) of the
  mean (the two-stage model's Fano factor).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from compiled import assert_compiled_once
from exact import assert_dsmts, chi_square_pvalue
from scipy import stats
from test_time_varying import THREE, _check_three

import pycrn
from pycrn import methods
from pycrn.errors import ModelError, SimulationError

N = 10_000

KM, DM, KP, DP = 50.0, 0.5, 0.2, 0.3
LINEAR = f"""
@parameters kM={KM} dM={DM} kP={KP} dP={DP}
@species M=0 [continuous] P=0
kM, 0 --> M
dM, M --> 0
kP, M --> M + P
dP, P --> 0
"""


def _linear_means(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """M(t) and E P(t) from M(0) = P(0) = 0."""
    m = KM / DM * (1 - np.exp(-DM * t))
    a = KP * KM / DM
    p = a * ((1 - np.exp(-DP * t)) / DP - (np.exp(-DM * t) - np.exp(-DP * t)) / (DP - DM))
    return m, p


def test_partition_by_species():
    net = pycrn.parse(LINEAR)
    from pycrn.engines import hybrid

    assert hybrid.partition(net) == ([0, 1], [2, 3])
    assert net.continuous_species == ["M"]


ROSENBROCK = methods.Hybrid(integrator="rosenbrock23")
BOTH = pytest.mark.parametrize("method", ["hybrid", ROSENBROCK], ids=["dopri5", "rosenbrock23"])


@BOTH
def test_time_varying_rates_by_integrated_intensity(method):
    ds = pycrn.simulate(pycrn.parse(THREE), tspan=(0.0, 6.0), saveat=0.5, trajectories=N, seed=21, method=method)
    _check_three(ds, "hybrid (no continuous species)")
    assert ds["A"].dtype == np.int64


@pytest.mark.slow  # extrande checks the event on these closed forms in CI; hybrid's events are checked below
def test_time_varying_rates_with_an_event_by_integrated_intensity():
    net = pycrn.parse(THREE + "@event t >= 3: B = 0\n")
    ds = pycrn.simulate(net, tspan=(0.0, 6.0), saveat=0.5, trajectories=N, seed=22, method="hybrid")
    _check_three(ds, "hybrid with an event", event_at=3.0)


@BOTH
def test_linear_hybrid_matches_its_closed_form(method):
    ds = pycrn.simulate(pycrn.parse(LINEAR), tspan=(0.0, 12.0), saveat=1.0, trajectories=N, seed=23,
                        method=method)
    t = ds["time"].values
    m, p = _linear_means(t)
    # M is deterministic: the same in every trajectory, to the integration tolerance.
    assert ds["M"].dtype == np.float64 and ds["P"].dtype == np.int64
    np.testing.assert_allclose(ds["M"].values, np.broadcast_to(m, (N, t.size)), rtol=1e-5, atol=1e-5)
    assert_dsmts(ds["P"].values, p, np.sqrt(p), "hybrid P (jumps at rate kP M(t))")
    last = ds["P"].values[:, -1]
    assert chi_square_pvalue(last, stats.poisson.pmf(np.arange(400), p[-1])) > 1e-3


@BOTH
def test_an_ode_driven_by_jumps(method):
    a, lam, v0 = 0.5, 2.0, 3.0
    net = pycrn.parse(f"""
@parameters a={a} lam={lam}
@species X=0 V={v0} [continuous]
lam, 0 --> X
@equation D(V) ~ a * X
""")
    ds = pycrn.simulate(net, tspan=(0.0, 4.0), saveat=0.5, trajectories=N, seed=24, method=method)
    t = ds["time"].values
    mean = v0 + a * lam * t**2 / 2
    sd = a * np.sqrt(lam * t**3 / 3)
    assert_dsmts(ds["V"].values, mean, sd, "V = v0 + a * integral of a Poisson process")
    assert_dsmts(ds["X"].values, lam * t, np.sqrt(lam * t), "X")


def test_gene_expression_hybrid_against_the_full_ssa():
    """Abundant mRNA continuous against every molecule discrete (the direct method)."""
    km, dm, kp, dp = 400.0, 2.0, 0.05, 0.5
    text = f"""
@parameters km={km} dm={dm} kp={kp} dp={dp}
@species M=200 P=0
km, 0 --> M
dm, M --> 0
kp, M --> M + P
dp, P --> 0
"""
    net = pycrn.parse(text)
    times = np.array([2.0, 5.0, 10.0])
    hybrid = pycrn.simulate(net, tspan=(0.0, 10.0), saveat=times, trajectories=N, seed=25,
                            method=methods.Hybrid(continuous=("M",)))
    ssa = pycrn.simulate(net, tspan=(0.0, 10.0), saveat=times, trajectories=N, seed=26, method="direct")
    assert "[continuous]" in hybrid.attrs["model"] and "continuous=('M',)" in hybrid.attrs["method_options"]
    ph, ps = hybrid["P"].values.astype(float), ssa["P"].values.astype(float)
    # Means: the network is linear, so both follow the same mean equations.
    z = (ph.mean(0) - ps.mean(0)) / np.sqrt(ph.var(0) / N + ps.var(0) / N)
    assert np.all(np.abs(z) < 4.0), z
    # Hybrid: M(t) = 200 (stationary), so P is exactly Poisson with a closed-form mean.
    mean_h = kp * 200 / dp * (1 - np.exp(-dp * times))
    assert_dsmts(ph, mean_h, np.sqrt(mean_h), "hybrid P against its closed form")
    # SSA: the variance exceeds the mean by the mRNA noise, at most kp / (dm + dp) of it (Fano factor of
    # the two-stage model at stationarity; smaller in the transient). Tolerance: 4 standard errors of a
    # sample variance (sqrt(2 / n) relative, for a nearly Poisson law).
    excess = ps.var(0) / ps.mean(0) - 1.0
    se = math.sqrt(2.0 / N) + 1.0 / math.sqrt(N)
    assert np.all(excess < kp / (dm + dp) + 4 * se) and np.all(excess > -4 * se), excess
    # M: continuous mean is the SSA's mean; the SSA's M fluctuates (Poisson, sd ~ 14), the hybrid's does not.
    assert np.allclose(hybrid["M"].values, 200.0, rtol=1e-6)
    assert abs(ssa["M"].values[:, -1].mean() - 200.0) < 4 * math.sqrt(200.0 / N)


def test_tutorial_sir_with_a_coupled_ode_and_a_variable_rate_jump():
    """Catalyst/JumpProcesses tutorial: V evolves by an ODE and drives a jump that creates infections."""
    net = pycrn.parse("""
@parameters beta=1e-4 nu=0.01
@species S=999 I=1 R=0 V=1.0 [continuous]
beta, S + I --> 2I
nu, I --> R
1e-2 * V, 0 --> I
@equation D(V) ~ I * R / 1e5 - S * V / 1e5
""")
    ds = pycrn.simulate(net, tspan=(0.0, 250.0), trajectories=20, seed=27)
    assert ds.attrs["method"] == "hybrid"  # auto picks it for continuous species
    assert ds["V"].dtype == np.float64 and ds["S"].dtype == np.int64
    # Every infection is counted once: S + I + R grows only by the V-driven jumps.
    total = (ds["S"] + ds["I"] + ds["R"]).values
    assert np.all(np.diff(total, axis=1) >= 0) and np.all(total[:, 0] == 1000)
    # While S is large V decays, then grows once R and I are large: its minimum is early and below V(0).
    v = ds["V"].values
    assert np.all(v.min(axis=1) < 1.0) and np.all(v[:, -1] > 10.0)


def test_reproducible_and_independent_of_threads(tmp_path):
    net = pycrn.parse(LINEAR)
    one = pycrn.simulate(net, tspan=(0.0, 5.0), trajectories=40, seed=3, method="hybrid", threads=1)
    two = pycrn.simulate(net, tspan=(0.0, 5.0), trajectories=40, seed=3, method="hybrid", threads=2)
    again = pycrn.simulate(net, tspan=(0.0, 5.0), trajectories=40, seed=3, method="hybrid", threads=2)
    assert one.equals(two) and two.equals(again)
    assert assert_compiled_once("hybrid") >= 1
    ens = pycrn.ensemble(net, tspan=(0.0, 5.0), trajectories=40, seed=3, method="hybrid", chunk=7)
    assert ens["P"].equals(one["P"]) and np.array_equal(ens["M"].values, one["M"].values)
    pytest.importorskip("zarr")
    stored = pycrn.ensemble(net, tspan=(0.0, 5.0), trajectories=40, seed=3, method="hybrid", chunk=7,
                            store=tmp_path / "h.zarr")
    assert stored["P"].dtype == np.int64 and stored["M"].dtype == np.float64
    assert np.array_equal(stored["P"].values, one["P"].values) and np.array_equal(stored["M"].values, one["M"].values)


def test_events_on_a_continuous_species():
    # F counts the state event on the discrete P. Triggers are checked at the end of every integration
    # step, on the step's state, which must carry the discrete counts (left unset, a trigger on P read
    # stale memory and every step "crossed" the event, which the bisection then crawled towards: a run
    # that never ended).
    net = pycrn.parse(LINEAR + "@species F=0\n@event t >= 4: M = 0.5\n@event P >= 20: kP = 0\n"
                      "@event P < 1: F = F + 1\n")
    times = np.round(np.arange(0.0, 6.0005, 0.001), 3)
    ds = pycrn.simulate(net, tspan=(0.0, 6.0), saveat=times, trajectories=50, seed=4,
                        method=methods.Hybrid(max_steps=100_000))
    m, _ = _linear_means(np.array([3.9]))
    assert np.allclose(ds["M"].sel(time=3.9).values, m[0], rtol=1e-5)
    assert np.allclose(ds["M"].sel(time=4.0).values, 0.5)
    # The state event stops protein production once P reaches 20: afterwards it only decays.
    p = ds["P"].values
    assert p.max() <= 20 + 1
    # The trigger P < 1 is true at the start (it fires then, as in the SSA engines) and again at every
    # return of P to 0.
    returns = ((p[:, :-1] >= 1) & (p[:, 1:] < 1)).sum(axis=1)
    assert returns.sum() > 0
    np.testing.assert_array_equal(ds["F"].values[:, -1], 1 + returns)


def test_fractional_initial_amount_and_the_ode_method():
    net = pycrn.parse("""
@parameters k=0.3 h=0
@species V=2.5 [continuous]
@equation D(V) ~ -k * V + 0 * sqrt(V - h)
""")
    t = np.linspace(0, 5, 11)
    hybrid = pycrn.simulate(net, tspan=(0.0, 5.0), saveat=t, method="hybrid", seed=1)
    ode = pycrn.simulate(net, tspan=(0.0, 5.0), saveat=t, method="ode")
    np.testing.assert_allclose(hybrid["V"].values[0], 2.5 * np.exp(-0.3 * t), rtol=2e-6)
    np.testing.assert_allclose(ode["V"].values[0], 2.5 * np.exp(-0.3 * t), rtol=1e-6)
    assert hybrid.attrs["u0"] == "V=2.5"
    other = pycrn.simulate(net, u0={"V": 0.25}, tspan=(0.0, 5.0), saveat=t, method="hybrid", seed=1)
    np.testing.assert_allclose(other["V"].values[0], 0.25 * np.exp(-0.3 * t), rtol=2e-6)
    # A term that turns NaN (V below h = 1, at t = ln(2.5) / 0.3 = 3.05) is named, never a silent NaN state.
    with pytest.raises(SimulationError, match=r"rate of change of continuous species 'V' is not a finite number at "
                                              r"t=3\.05\d* .*\(@equation D\(V\) ~ -k \* V \+ 0 \* sqrt\(V - h\)"):
        pycrn.simulate(net, params={"h": 1.0}, tspan=(0.0, 5.0), saveat=t, method="hybrid", seed=1)


def test_cli_takes_a_fractional_amount_of_a_continuous_species(tmp_path):
    from pycrn.cli import main

    model = tmp_path / "decay.crn"
    model.write_text("@parameters k=0.3\n@species V=2.5 [continuous] X=3\n@equation D(V) ~ -k * V\n1, X --> 0\n")
    out = tmp_path / "d.nc"
    assert main(["simulate", str(model), "--method", "hybrid", "--tspan", "0", "5", "--trajectories", "2",
                 "--u0", "V=0.25", "X=2", "--seed", "1", "-o", str(out)]) == 0
    ds = pycrn.open_results(out)
    np.testing.assert_allclose(ds["V"].values[:, -1], 0.25 * math.exp(-1.5), rtol=2e-6)
    assert ds["X"].values[0, 0] == 2
    assert main(["simulate", str(model), "--method", "hybrid", "--u0", "X=0.5", "-o", str(out)]) == 2


def test_language_round_trip():
    net = pycrn.parse(LINEAR + "@species V=0.5 [continuous]\n@equation D(V) ~ -V + P / 10\n@equation D(W) ~ 1\n")
    assert net.continuous_species == ["M", "V", "W"]
    assert pycrn.parse(net.to_text()) == net
    assert "@equation D(V) ~ -V + P / 10" in net.to_text()
    assert pycrn.parse(LINEAR) != pycrn.parse(LINEAR.replace(" [continuous]", ""))


# -- bad input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["direct", "tau_leaping", "extrande"])
def test_counting_methods_refuse_equations_and_fractions(method):
    net = pycrn.parse("@species X=1 V=0.5 [continuous]\n1, X --> 0\n@equation D(V) ~ -V\n")
    with pytest.raises(ModelError, match=r"equations for continuous species \(D\(V\)\).*hybrid"):
        pycrn.simulate(net, tspan=(0, 1), method=method)
    flagged = pycrn.parse("@species X=1 V=0.5 [continuous]\n1, X --> V\n")
    with pytest.raises(ModelError, match="'V' start at a fractional amount"):
        pycrn.simulate(flagged, tspan=(0, 1), method=method)


def test_bad_hybrid_input_is_named():
    with pytest.raises(ModelError, match="unknown species 'Q'"):
        pycrn.simulate(pycrn.parse(LINEAR), tspan=(0, 1), method=methods.Hybrid(continuous=("Q",)))
    with pytest.raises(ValueError, match="hybrid rtol"):
        methods.Hybrid(rtol=0)
    with pytest.raises(ValueError, match="hybrid integrator must be 'dopri5' or 'rosenbrock23', got 'rk4'"):
        methods.Hybrid(integrator="rk4")
    with pytest.raises(ModelError, match="line 2.*expected '@equation D"):
        pycrn.parse("@species V=1 [continuous]\n@equation V' = 1\n")
    with pytest.raises(ModelError, match="unknown name"):
        pycrn.parse("@species V=1 [continuous]\n@equation D(V) ~ -q * V\n")
    with pytest.raises(ModelError, match="boundary species"):
        pycrn.parse("@species V=1 [boundary]\n@equation D(V) ~ 1\n")
    with pytest.raises(ModelError, match="fractional amount needs the flag"):
        pycrn.parse("@species X=0.5\n")
    with pytest.raises(ModelError, match=r"continuous species \(M\) and @equation lines are not translated"):
        pycrn.julia.to_catalyst(pycrn.parse(LINEAR))
    with pytest.raises(ValueError, match="reduce='moments'.*continuous amounts"):
        pycrn.ensemble(pycrn.parse(LINEAR), tspan=(0, 1), trajectories=4, method="hybrid", reduce="moments")


def test_a_jump_that_would_take_a_continuous_species_negative():
    net = pycrn.parse("@species M=0.5 [continuous] P=0\n1, M --> P\n")
    with pytest.raises(SimulationError, match=r"continuous species 'M' would go negative .*jumps of reaction\(s\) \[1\]"):
        pycrn.simulate(net, tspan=(0, 100), method="hybrid", seed=1)


def test_a_rate_equation_that_does_not_vanish():
    net = pycrn.parse("@species M=1 [continuous] X=0\n1, M => 0\n0.1, 0 --> X\n")
    with pytest.raises(SimulationError, match=r"'M' would go negative .*rate law\(s\) of reaction\(s\) \[1\] must vanish"):
        pycrn.simulate(net, tspan=(0, 10), method="hybrid", seed=1)


def test_an_equation_that_drives_an_amount_below_zero():
    net = pycrn.parse("@species M=1 [continuous] X=0\n@equation D(M) ~ -1\n0.1, 0 --> X\n")
    with pytest.raises(SimulationError, match=r"'M' would go negative .*equation D\(M\) must not drive it below zero"):
        pycrn.simulate(net, tspan=(0, 10), method="hybrid", seed=1)


@pytest.mark.parametrize("atol", [1e-6, 1e-9])
def test_a_stiff_mass_action_decay_is_no_error(atol):
    """B (2**40 to start) decays at 1e6/s and is fed from A at 1e-3 A, so B sits at ~1e-7 after a few microseconds.

    Explicit steps limited by the tolerance, not stability, leave B swinging about zero at a scale set by atol:
    an amount below zero that the rates read as 0 is not a rate law failing to vanish. B's exact quasi-steady
    value is 1e-3 A / (1e6 - 1e-3); with atol 1e-9 (below it) the run follows it to within 1e-8, with the
    default 1e-6 the swing reached 1.7e-4 over 10 s (scipy's RK45 on the same equations: 1.2e-4).
    """
    net = pycrn.parse("@species A=100 [continuous] B=1099511627776 [continuous]\n1e6, B --> 0\n1e-3, A --> B\n")
    r = pycrn.simulate(net, tspan=(0, 2), method=pycrn.methods.Hybrid(atol=atol), seed=0, saveat=0.01)
    t = r.time.values[1:]
    a = 100 * np.exp(-1e-3 * t)
    np.testing.assert_allclose(r.A.values[0, 1:], a, rtol=1e-8)
    b = r.B.values[0, 1:] - 1e-3 * a / (1e6 - 1e-3)
    assert np.abs(b).max() < (1e-8 if atol < 1e-6 else 1e-3)


@pytest.mark.parametrize("rate", [1e6, 1e9, 1e12])
def test_rosenbrock23_steps_over_a_stiff_decay(rate):
    """The same decay with the L-stable step: B follows its quasi-steady value at the default tolerances, in
    steps set by A's slow decay once the transient is through. Measured over the 2 s: 1,168-1,186 steps, B within
    1e-19, 6e-10 and 1.1e-8 of it; Dormand-Prince took 133,683 steps at 1e6/s and 146,751 at 1e9/s, B off by
    1.5e-4 and 1.7e-4 (the swing above). At 1e12/s the transient needs steps of 1e-15: a floor of 1e-13
    absolute (not relative to t) stopped both integrators at t = 0."""
    net = pycrn.parse(f"@species A=100 [continuous] B=1099511627776 [continuous]\n{rate}, B --> 0\n1e-3, A --> B\n")
    r = pycrn.simulate(net, tspan=(0, 2), method=ROSENBROCK, seed=0, saveat=0.01)
    t = r.time.values[1:]
    a = 100 * np.exp(-1e-3 * t)
    np.testing.assert_allclose(r.A.values[0, 1:], a, rtol=1e-6)
    np.testing.assert_allclose(r.B.values[0, 1:], 1e-3 * a / (rate - 1e-3), rtol=1e-5, atol=ROSENBROCK.atol)
    assert r.attrs["integration_steps"] < 2_000


def test_dopri5_resolves_a_transient_at_1e12_per_second():
    net = pycrn.parse("@species A=100 [continuous] B=1099511627776 [continuous]\n1e12, B --> 0\n1e-3, A --> B\n")
    r = pycrn.simulate(net, tspan=(0, 2), method="hybrid", seed=0, saveat=0.5)
    np.testing.assert_allclose(r.A.values[0], 100 * np.exp(-1e-3 * r.time.values), rtol=1e-6)
    assert np.abs(r.B.values[0, 1:]).max() < 1e-3  # the swing about zero, as at 1e6/s


def test_rosenbrock23_on_a_fast_continuous_equilibrium_read_by_jumps():
    """A <-> B at 1e5/s both ways (continuous) from A = 1000: B(t) = 500 (1 - exp(-2e5 t)); a jump X at rate
    0.01 B, so X(t) is Poisson with mean 0.01 int_0^t B = 5 t - 2.5e-5. Stiff (eigenvalue -2e5): Dormand-Prince
    took 247,983 steps per trajectory (20 trajectories), the L-stable step 183, most of them locating jumps."""
    net = pycrn.parse("@species A=1000 [continuous] B=0 [continuous] X=0\n"
                      "1e5, A --> B\n1e5, B --> A\n0.01, B --> B + X\n")
    n = 4000
    ds = pycrn.simulate(net, tspan=(0.0, 4.0), saveat=1.0, trajectories=n, seed=25, method=ROSENBROCK)
    t = ds["time"].values
    np.testing.assert_allclose(ds["B"].values[:, 1:], 500.0, rtol=1e-6)
    mean = 5 * t - 2.5e-5 * (t > 0)
    assert_dsmts(ds["X"].values, mean, np.sqrt(mean), "X, Poisson with mean 0.01 int B")
    assert chi_square_pvalue(ds["X"].values[:, -1], stats.poisson.pmf(np.arange(100), mean[-1])) > 1e-3
    assert ds.attrs["integration_steps"] < 1000 * n


def test_rosenbrock23_linear_algebra_against_numpy():
    """The step's in-place LU with partial pivoting (by hand: numba's LAPACK call allocates per step)."""
    from pycrn import codegen
    from pycrn.engines import hybrid_rosenbrock

    module = codegen.load_module(pycrn.parse(LINEAR), hybrid_rosenbrock)
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 12):
        A = rng.normal(size=(n, n))
        A[0, 0] = 0.0 if n > 1 else 0.5  # a zero pivot unless rows are swapped
        b = rng.normal(size=n)
        W, piv, x = A.copy(), np.zeros(n), b.copy()
        assert module._lu_factor(W, n, piv)
        module._lu_solve(W, n, piv, x)
        np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-9, atol=1e-12)
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert not module._lu_factor(singular, 2, np.zeros(2))


def test_a_pole_in_a_jump_rate_is_named():
    net = pycrn.parse("@species V=0 [continuous] X=0\n1, 0 --> V\n1 / (3 - V), 0 => X\n")
    with pytest.raises(SimulationError, match=r"reaction 2 \(1 / \(3 - V\), 0 => X\)"):
        pycrn.simulate(net, tspan=(0, 10), method="hybrid", seed=1)


SAWTOOTH = """
@parameters a=1 k=20
@species V=0 [continuous] N=0 X=0
@equation D(V) ~ a
k, 0 --> X
@event V > 2.5: V = 0, N = N + 1
"""


@BOTH
@pytest.mark.parametrize("k", [0.0, 20.0])
def test_state_events_on_a_continuous_species_are_located_at_the_crossing(k, method):
    """V grows at rate 1 and is reset when it passes 2.5: V(t) = t mod 2.5 and N(t) = floor(t / 2.5) exactly.

    Without jumps (k = 0) the steps grow to the save spacing, so an event fired at the end of the step that
    crossed would be late by up to a step; with jumps at rate 20 most crossings fall in a step that also
    holds a located jump, which must then end at the event instead. The jumps' law is untouched.
    """
    t = np.linspace(0.0, 9.8, 15)  # steps of 0.7: no save on a crossing
    ds = pycrn.simulate(pycrn.parse(SAWTOOTH), tspan=(0.0, 9.8), saveat=t, params={"k": k}, trajectories=2000,
                        seed=21, method=method)
    np.testing.assert_allclose(ds["V"].values, np.broadcast_to(np.mod(t, 2.5), ds["V"].shape), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(ds["N"].values, np.broadcast_to(np.floor(t / 2.5), ds["N"].shape))
    if k:
        assert_dsmts(ds["X"].values, k * t, np.sqrt(k * t), "jumps alongside located events")
