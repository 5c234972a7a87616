"""The hybrid SDE method: Euler-Maruyama on the continuous scale, coupled to jumps.

- Linear SDEs (Ornstein-Uhlenbeck with additive noise, geometric Brownian
  motion with multiplicative noise): the Euler-Maruyama recursion's own
  moments are known exactly at every step, so the engine is checked against
  them with Monte Carlo tolerances only (no discretisation allowance); the
  distance of those moments from the SDE's is the scheme's O(dt) error.
- The chemical Langevin scale: mRNA continuous with Langevin noise, protein
  by jumps at rate kP M(t). The network is linear, so the CLE has the
  master equation's first two moments, and the protein's mean and variance
  are the exact ones (moment equations, solved here), up to O(dt); with
  ``cle=False`` the mRNA is deterministic (the ``hybrid`` model).
- The tutorial's SDE variant, and with zero noise the ``hybrid`` method's law.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from compiled import assert_compiled_once
from exact import assert_dsmts
from scipy import integrate

import pycrn
from pycrn import methods
from pycrn.errors import ModelError

N = 10_000

A, B, S, MU, SG = 2.0, 0.5, 0.3, 0.1, 0.3
# U and X: a rate that becomes invalid when the gate is opened (U falls below 2), for the bad-input test;
# shut (the default), U stays at 3 and X never jumps.
LINEAR_SDES = f"""
@parameters a={A} b={B} s={S} mu={MU} sg={SG} gate=0 h=0
@species V=1.0 [continuous] W=1.0 [continuous] U=3.0 [continuous] X=0
@equation D(V) ~ a - b * V
@noise V ~ s
@equation D(W) ~ mu * W
@noise W ~ sg * W
@equation D(U) ~ -gate
@noise U ~ 0 * sqrt(U - h)
gate * sqrt(U - 2), 0 --> X
"""


def test_linear_sdes_match_the_euler_maruyama_moments():
    h, tf = 0.01, 4.0
    ds = pycrn.simulate(pycrn.parse(LINEAR_SDES), tspan=(0.0, tf), saveat=1.0, trajectories=N, seed=31,
                        method=methods.HybridSDE(dt=h))
    assert ds.attrs["method"] == "hybrid_sde"
    steps = np.rint(ds["time"].values / h)
    # Ornstein-Uhlenbeck: m' = m + h (a - b m), v' = (1 - b h)^2 v + s^2 h.
    q = 1.0 - B * h
    mean_v = A / B + (1.0 - A / B) * q**steps
    var_v = S**2 * h * (1.0 - q ** (2 * steps)) / (1.0 - q**2)
    assert_dsmts(ds["V"].values, mean_v, np.sqrt(var_v), "Euler OU")
    # Geometric Brownian motion: W' = W (1 + mu h + sg dW), so E W^k is a power of the one-step moment.
    g = 1.0 + MU * h
    m1 = g**steps
    m2 = (g**2 + SG**2 * h) ** steps
    m4 = (g**4 + 6 * g**2 * SG**2 * h + 3 * SG**4 * h**2) ** steps
    w = ds["W"].values
    # Log-normal-like tails: the sd test assumes a normal kurtosis, so test the means of W and W^2 instead.
    assert_dsmts(w, m1, np.sqrt(m2 - m1**2), "Euler GBM, mean", check_sd=False)
    assert_dsmts(w**2, m2, np.sqrt(m4 - m2**2), "Euler GBM, second moment", check_sd=False)
    # The scheme's distance from the SDE at this dt (the price of Euler-Maruyama, not a sampling error).
    t = ds["time"].values
    exact_v = A / B + (1.0 - A / B) * np.exp(-B * t)
    assert np.max(np.abs(mean_v - exact_v)) < 0.01 and np.max(np.abs(m1 - np.exp(MU * t))) < 0.001


KM, DM, KP, DP = 50.0, 0.5, 0.2, 0.3
CLE = f"""
@parameters kM={KM} dM={DM} kP={KP} dP={DP}
@species M=100.0 [continuous] P=0
kM, 0 --> M
dM, M --> 0
kP, M --> M + P
dP, P --> 0
"""


def _exact_moments(t: np.ndarray) -> tuple[np.ndarray, ...]:
    """Means and variances of M and P for the master equation (linear: the moment equations close)."""

    def rhs(_, y):
        m, p, vmm, vmp, vpp = y
        return [KM - DM * m, KP * m - DP * p,
                -2 * DM * vmm + KM + DM * m,
                -(DM + DP) * vmp + KP * vmm,
                -2 * DP * vpp + 2 * KP * vmp + KP * m + DP * p]

    sol = integrate.solve_ivp(rhs, (0.0, t[-1]), [100.0, 0.0, 0.0, 0.0, 0.0], t_eval=t, rtol=1e-11, atol=1e-11)
    m, p, vmm, _, vpp = sol.y
    return m, vmm, p, vpp


def test_chemical_langevin_scale_gives_the_exact_moments_of_a_linear_network():
    """dt = 0.005: the Euler error in these moments is about dM dt / 2 = 0.1% of them, below the 1.4% sampling
    error of a variance at n = 10,000."""
    net = pycrn.parse(CLE)
    ds = pycrn.simulate(net, tspan=(0.0, 10.0), saveat=2.0, trajectories=N, seed=32,
                        method=methods.HybridSDE(dt=0.005))
    t = ds["time"].values
    m, vmm, p, vpp = _exact_moments(t)
    assert_dsmts(ds["M"].values, m, np.sqrt(vmm), "CLE mRNA")
    assert_dsmts(ds["P"].values, p, np.sqrt(vpp), "protein jumps driven by CLE mRNA")
    assert ds["P"].dtype == np.int64 and ds["M"].dtype == np.float64
    # Without the Langevin noise the mRNA is its rate equation's solution, the same in every trajectory.
    quiet = pycrn.simulate(net, tspan=(0.0, 10.0), saveat=2.0, trajectories=50, seed=32,
                           method=methods.HybridSDE(dt=0.005, cle=False))
    np.testing.assert_allclose(quiet["M"].values, 100.0, rtol=1e-12)


TUTORIAL = """
@parameters beta=1e-4 nu=0.01 sv=0.1
@species S=999 I=1 R=0 V=1.0 [continuous]
beta, S + I --> 2I
nu, I --> R
1e-2 * V, 0 --> I
@equation D(V) ~ I * R / 1e5 - S * V / 1e5
@noise V ~ sv * V
"""


def test_tutorial_sde_variant_and_its_zero_noise_limit():
    """The tutorial's SDEProblem (noise 0.1 V on V). With sv = 0 the law is the hybrid ODE method's:
    two-sample z-tests of the mean of I and V at four times."""
    net = pycrn.parse(TUTORIAL)
    kw = dict(tspan=(0.0, 250.0), saveat=np.array([50.0, 100.0, 200.0, 250.0]), trajectories=300)
    noisy = pycrn.simulate(net, seed=33, **kw)
    assert noisy.attrs["method"] == "hybrid_sde"  # auto picks it for networks with noise terms
    total = (noisy["S"] + noisy["I"] + noisy["R"]).values
    assert np.all(np.diff(total, axis=1) >= 0)
    sde = pycrn.simulate(net, params={"sv": 0.0}, seed=34, method=methods.HybridSDE(dt=0.01), **kw)
    quiet = pycrn.parse(TUTORIAL.replace("@noise V ~ sv * V\n", ""))
    ode = pycrn.simulate(quiet, seed=35, method="hybrid", **kw)
    for name in ("I", "V"):
        a, b = sde[name].values.astype(float), ode[name].values.astype(float)
        z = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
        assert np.max(np.abs(z)) < 3.5, f"{name}: z = {np.round(z, 2)}"
    # The noise widens V's spread.
    assert noisy["V"].values[:, -1].std() > 1.5 * ode["V"].values[:, -1].std()


def test_reproducible_and_independent_of_threads():
    net = pycrn.parse(CLE)
    pycrn.simulate(net, tspan=(0.0, 5.0), trajectories=1, seed=6, method="hybrid_sde")
    one = pycrn.simulate(net, tspan=(0.0, 5.0), saveat=1.0, trajectories=40, seed=6, method="hybrid_sde", threads=1)
    two = pycrn.simulate(net, tspan=(0.0, 5.0), saveat=1.0, trajectories=40, seed=6, method="hybrid_sde", threads=2)
    assert np.array_equal(one["M"].values, two["M"].values) and np.array_equal(one["P"].values, two["P"].values)
    assert one.attrs["method_options"] == "hybrid_sde(continuous=(), dt=None, cle=True)"
    assert assert_compiled_once("hybrid_sde") >= 1


def test_noise_terms_in_the_language_and_bad_input():
    net = pycrn.parse(LINEAR_SDES)
    assert [(k, str(v)) for k, v in net.noise] == [("V", "s"), ("W", "sg * W"), ("U", "0 * sqrt(U - h)")]
    assert net.continuous_species == ["V", "W", "U"]
    assert pycrn.parse(net.to_text()) == net
    assert net != pycrn.parse(LINEAR_SDES.replace("@noise W ~ sg * W\n", ""))
    with pytest.raises(ModelError, match=r"method 'hybrid' has no noise .* \(@noise V ~ s, .*use method='hybrid_sde'"):
        pycrn.simulate(net, tspan=(0, 1), method="hybrid")
    with pytest.raises(ModelError, match=r"method 'ode' has no noise"):
        pycrn.simulate(net, tspan=(0, 1), method="ode")
    with pytest.raises(ModelError, match=r"line 2: expected '@noise NAME ~ EXPR'"):
        pycrn.parse("@species V=1 [continuous]\n@noise D(V) ~ 1")
    with pytest.raises(ModelError, match=r"noise V ~ q: uses unknown name\(s\) q"):
        pycrn.parse("@species V=1 [continuous]\n@noise V ~ q")
    with pytest.raises(ModelError, match=r"line 3: species 'V' has two noise terms"):
        pycrn.parse("@species V=1 [continuous]\n@noise V ~ 1\n@noise V ~ 2")
    with pytest.raises(ModelError, match=r"'B' is a boundary species"):
        pycrn.parse("@species B=1 [boundary]\n@noise B ~ 1")
    for bad in (0, -0.1, math.nan, math.inf, True):
        with pytest.raises(ValueError, match="hybrid_sde dt"):
            methods.HybridSDE(dt=bad)
    with pytest.raises(ValueError, match="hybrid_sde cle"):
        methods.HybridSDE(cle="yes")
    with pytest.raises(ModelError, match=r"method 'hybrid_sde': continuous= names unknown species 'Q'"):
        pycrn.simulate(pycrn.parse(CLE), tspan=(0, 1), method=methods.HybridSDE(continuous=("Q",)))


def test_an_invalid_rate_names_reaction_state_and_time():
    with pytest.raises(pycrn.SimulationError,
                       match=r"jump propensity of reaction 1 \(gate \* sqrt\(U - 2\), 0 --> X\) is NaN .* "
                             r"at t=1\.01? .* in state .*U=1\.99"):
        pycrn.simulate(pycrn.parse(LINEAR_SDES), params={"gate": 1.0}, tspan=(0, 5), trajectories=2, seed=1,
                       method=methods.HybridSDE(dt=0.01))
    # A noise amplitude that turns NaN (U below h = 2.5, at t = 0.5): named, never a silent NaN state.
    with pytest.raises(pycrn.SimulationError,
                       match=r"rate of change of continuous species 'U' is not a finite number at t=0\.5\d* .*"
                             r"@noise U ~ 0 \* sqrt\(U - h\)"):
        pycrn.simulate(pycrn.parse(LINEAR_SDES), params={"gate": 1.0, "h": 2.5}, tspan=(0, 5), trajectories=2,
                       seed=1, method=methods.HybridSDE(dt=0.01))
