"""Exact reference answers and the statistical checks that compare simulations to them.

Everything here is independent of pycrn's engines: propensities are written
by hand as Python functions, and the chemical master equation is solved by
finite state projection (FSP) with scipy.sparse and expm_multiply.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse, stats
from scipy.sparse.linalg import expm_multiply

DSMTS = Path(__file__).parent / "data" / "dsmts"

# DSMTS bounds (Evans, Gillespie & Wilkinson 2008).
Z_BOUND = 3.0
Y_BOUND = 5.0


# --------------------------------------------------------------------------
# DSMTS-style tests
# --------------------------------------------------------------------------
def dsmts_statistics(samples: np.ndarray, mu: np.ndarray, sigma: np.ndarray):
    """Z (mean) and Y (sd) statistics per time point; samples has shape (n, times).

    Points where sigma == 0 must match exactly and get Z = Y = 0 when they do
    (and +inf when they do not).
    """
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    mean = samples.mean(axis=0)
    s2 = ((samples - mu) ** 2).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.sqrt(n) * (mean - mu) / sigma
        y = np.sqrt(n / 2) * (s2 / sigma**2 - 1.0)
    exact = sigma == 0
    mismatch = exact & (np.abs(samples - mu).max(axis=0) > 0)
    z[exact] = np.where(mismatch[exact], np.inf, 0.0)
    y[exact] = np.where(mismatch[exact], np.inf, 0.0)
    return z, y


#: Family-wise false-alarm probability of one DSMTS check over all its time points.
FAMILYWISE_ALPHA = 1e-3


def familywise_bound(points: int, per_point: float, alpha: float = FAMILYWISE_ALPHA) -> float:
    """Bound on max_t |statistic| with family-wise false-alarm probability <= alpha.

    The statistics at successive times share trajectories and are strongly
    correlated, so one chance excursion fails many neighbouring points at
    once; counting failures as if independent is wrong. Bonferroni's bound
    holds under any correlation: each statistic is approximately standard
    normal for a correct simulator, and P(max |Z| > c) <= points * 2 (1 -
    Phi(c)). The DSMTS per-point bound is kept when it is the larger (the Y
    statistic is skewed, and DSMTS chose 5 for it).
    """
    return max(per_point, float(stats.norm.isf(alpha / (2 * max(points, 1)))))


def assert_dsmts(samples, mu, sigma, label: str, check_sd: bool = True) -> tuple[float, float]:
    """Assert the DSMTS mean and sd tests over all time points; return max |Z|, max |Y|."""
    z, y = dsmts_statistics(samples, mu, sigma)
    points = int(np.sum(np.asarray(sigma) > 0))
    zmax = float(np.max(np.abs(z)))
    ymax = float(np.max(np.abs(y)))
    bound = familywise_bound(points, Z_BOUND)
    assert zmax < bound, f"{label}: mean test max |Z| = {zmax:.2f} >= {bound:.2f}; Z = {np.round(z, 2)}"
    if check_sd:
        bound = familywise_bound(points, Y_BOUND)
        assert ymax < bound, f"{label}: sd test max |Y| = {ymax:.2f} >= {bound:.2f}; Y = {np.round(y, 2)}"
    return zmax, ymax


def read_results(case: str) -> dict[str, np.ndarray]:
    """The exact means and sds of a DSMTS case: {'time': ..., 'X-mean': ..., 'X-sd': ...}."""
    path = DSMTS / case / f"{case}-results.csv"
    data = np.genfromtxt(path, delimiter=",", names=True, deletechars="")
    return {name: np.asarray(data[name], dtype=np.float64) for name in data.dtype.names}


# --------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------
def birth_death_moments(x0: float, lam: float, mu: float, t: np.ndarray):
    """Mean and sd of the linear birth-death process X -> 2X (lam), X -> 0 (mu)."""
    r = lam - mu
    growth = np.exp(r * t)
    mean = x0 * growth
    var = x0 * (lam + mu) / r * growth * (growth - 1.0)
    return mean, np.sqrt(var)


def immigration_death_moments(x0: float, alpha: float, mu: float, t: np.ndarray):
    """Mean and sd of 0 -> X (alpha), X -> 0 (mu): binomial thinning of x0 plus Poisson."""
    keep = np.exp(-mu * t)
    mean = x0 * keep + alpha / mu * (1.0 - keep)
    var = x0 * keep * (1.0 - keep) + alpha / mu * (1.0 - keep)
    return mean, np.sqrt(var)


# --------------------------------------------------------------------------
# Finite state projection
# --------------------------------------------------------------------------
@dataclass
class FSPModel:
    """A CME on a box of states: stoichiometry vectors and hand-written propensities."""

    changes: Sequence[Sequence[int]]
    propensities: Sequence[Callable[[np.ndarray], np.ndarray]]  # state columns -> rates
    bounds: Sequence[int]  # inclusive upper bound of each species
    #: State events that fire at once: maps the states a jump lands in (rows) to the states after the events.
    redirect: Callable[[np.ndarray], np.ndarray] | None = None


def fsp_distribution(model: FSPModel, x0: Sequence[int], times: Sequence[float]):
    """Joint distribution p[t, *state] of the projected CME; also the mass lost at each time."""
    shape = tuple(b + 1 for b in model.bounds)
    states = np.array(list(itertools.product(*(range(s) for s in shape))), dtype=np.int64)
    index = np.ravel_multi_index(states.T, shape)
    n = states.shape[0]
    rows, cols, vals = [], [], []
    out_rate = np.zeros(n)
    for change, prop in zip(model.changes, model.propensities):
        a = np.asarray(prop(states.T.astype(np.float64)), dtype=np.float64)
        a = np.broadcast_to(a, (n,))
        assert np.all(a >= 0), "propensity negative inside the box"
        target = states + np.asarray(change)
        if model.redirect is not None:
            target = model.redirect(target)
        inside = np.all((target >= 0) & (target < np.array(shape)), axis=1)
        out_rate += a  # all outflow, including leaving the box (mass loss)
        src = index[inside]
        dst = np.ravel_multi_index(target[inside].T, shape)
        rows.append(dst)
        cols.append(src)
        vals.append(a[inside])
    rows.append(index)
    cols.append(index)
    vals.append(-out_rate)
    A = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    p0 = np.zeros(n)
    p0[np.ravel_multi_index(tuple(x0), shape)] = 1.0
    times = np.asarray(times, dtype=np.float64)
    assert times.size >= 2 and np.allclose(np.linspace(0.0, times[-1], times.size), times), (
        "times must be linspace(0, T, k) with k >= 2"
    )
    P = expm_multiply(A, p0, start=0.0, stop=times[-1], num=times.size, endpoint=True)
    lost = 1.0 - P.sum(axis=1)
    return P.reshape((len(times), *shape)), lost


def chi_square_pvalue(samples: np.ndarray, probs: np.ndarray, min_expected: float = 5.0) -> float:
    """Pearson chi-square goodness-of-fit p-value of integer samples against probs[0..K].

    Bins with small expected counts are pooled (from the tails inwards), and
    the mass outside the projection is pooled with the last bin.
    """
    samples = np.asarray(samples, dtype=np.int64)
    n = samples.size
    probs = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
    k = probs.size
    observed = np.bincount(np.clip(samples, 0, k - 1), minlength=k).astype(np.float64)
    expected = probs / probs.sum() * n
    # Pool adjacent bins until each pooled bin expects at least min_expected.
    obs_b, exp_b = [], []
    acc_o = acc_e = 0.0
    for o, e in zip(observed, expected):
        acc_o += o
        acc_e += e
        if acc_e >= min_expected:
            obs_b.append(acc_o)
            exp_b.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0 or acc_o > 0:
        if obs_b:
            obs_b[-1] += acc_o
            exp_b[-1] += acc_e
        else:
            obs_b.append(acc_o)
            exp_b.append(acc_e)
    obs_b, exp_b = np.array(obs_b), np.array(exp_b)
    if obs_b.size < 2:
        return 1.0
    chi2 = float(np.sum((obs_b - exp_b) ** 2 / exp_b))
    return float(stats.chi2.sf(chi2, obs_b.size - 1))


def random_network(rng: np.random.Generator, extra: tuple[int, int] = (2, 6)):
    """A random mass-action network of two species, in the network language and as an FSP model.

    Each species decays at first order (so the counts stay small); then
    ``extra`` (low, high) more reactions, each with up to three reactant and
    three product molecules (e.g. ``3A --> 2A``, ``A + 2B --> A + B``,
    ``0 --> 2B``), rate constants scaled by order. Returns (text, FSPModel,
    initial state) with the FSP box 0..60 per species; the propensities are
    the combinatorial ones, k prod_i C(x_i, nu_i), written out here.
    """
    rate_range = {0: (0.5, 3.0), 1: (0.1, 1.0), 2: (0.01, 0.1), 3: (0.001, 0.01)}
    reactions = [(float(rng.uniform(0.3, 1.5)), (1, 0), (0, 0)), (float(rng.uniform(0.3, 1.5)), (0, 1), (0, 0))]
    for _ in range(int(rng.integers(*extra, endpoint=True))):
        while True:
            r = (int(rng.integers(0, 4)), int(rng.integers(0, 3)))
            q = (int(rng.integers(0, 4)), int(rng.integers(0, 3)))
            if sum(r) <= 3 and sum(q) <= 3 and r != q:
                break
        reactions.append((float(rng.uniform(*rate_range[sum(r)])), r, q))
    order = rng.permutation(len(reactions))  # the decays need not come first
    reactions = [reactions[i] for i in order]
    x0 = (int(rng.integers(0, 7)), int(rng.integers(0, 7)))

    def side(n):
        terms = [f"{c if c > 1 else ''}{name}" for name, c in zip("AB", n) if c]
        return " + ".join(terms) or "0"

    def propensity(k, r):
        def a(x):
            value = k + 0 * x[0]
            for xi, nu in zip(x, r):
                for j in range(nu):
                    value = value * np.maximum(xi - j, 0) / (j + 1)
            return value
        return a

    text = "\n".join([f"@species A={x0[0]} B={x0[1]}", *(f"{k!r}, {side(r)} --> {side(q)}" for k, r, q in reactions)])
    model = FSPModel(
        changes=[tuple(b - a for a, b in zip(r, q)) for _, r, q in reactions],
        propensities=[propensity(k, r) for k, r, _ in reactions],
        bounds=(60, 60),
    )
    return text, model, x0


def check_against_fsp(ds, P, species_axes, times, label, p_min: float = 1e-3, check_sd: bool = True):
    """Chi-square test of each species' marginal, and mean/sd tests, at each time > 0.

    ``check_sd=False`` leaves out the DSMTS sd test, whose statistic assumes the fourth moment of a normal
    distribution: for a count that is almost always 0 (kurtosis in the tens) it fails far more often than
    its bound says. The chi-square test still checks the whole marginal, spread included.
    """
    for name, axis in species_axes.items():
        other = tuple(a for a in range(1, P.ndim) if a != axis)
        marg = P.sum(axis=other)  # (times, states of this species)
        values = np.arange(marg.shape[1])
        mu = marg @ values
        sd = np.sqrt(np.maximum(marg @ values**2 - mu**2, 0.0))
        samples = ds[name].values
        assert_dsmts(samples, mu, sd, f"{label}/{name}", check_sd=check_sd)
        for k in range(1, len(times)):
            p = chi_square_pvalue(samples[:, k], marg[k])
            assert p > p_min, f"{label}/{name} at t={times[k]}: chi-square p = {p:.2e}"


# The mass-action DSMTS cases (../shared/sbml-stochastic), in the network language.
# 00024: Source is a boundary species and the SBML kinetic law is the whole
# propensity (Alpha, not Alpha * Source), hence '=>'.
DSMTS_CASES = {
    "00001": "@parameters Lambda=0.1 Mu=0.11\n@species X=100\nLambda, X --> 2X\nMu, X --> 0",
    "00002": "@parameters Lambda=0.1 Mu=0.11\n@species X=100\nLambda, X --> 2X\nMu, X --> 0",
    "00003": "@parameters Lambda=1 Mu=1.1\n@species X=100\nLambda, X --> 2X\nMu, X --> 0",
    "00004": "@parameters Lambda=0.1 Mu=0.11\n@species X=10\nLambda, X --> 2X\nMu, X --> 0",
    "00005": "@parameters Lambda=0.1 Mu=0.11\n@species X=10000\nLambda, X --> 2X\nMu, X --> 0",
    "00006": "@parameters Lambda=0.1 Mu=0.11\n@species X=100 Sink=0 [boundary]\nLambda, X --> 2X\nMu, X --> Sink",
    "00007": "@parameters Lambda=0.1 Mu=0.11\n@species X=100 Sink=0\nLambda, X --> 2X\nMu, X --> Sink",
    "00008": "@parameters Lambda=0.1 Mu=0.11\n@species X=100\nLambda, X --> 2X\nMu, X --> 0",
    "00009": "@parameters Lambda=0.1 Mu=0.11\n@species X=100\nLambda, X --> 2X\nMu, X --> 0",
    "00012": "@parameters Lambda=0.1 Mu=0.11\n@species X=100\nLambda * X * 0.5 * 2, X => 2X\nMu, X --> 0",
    "00020": "@parameters Alpha=1 Mu=0.1\n@species X=0\nAlpha, 0 --> X\nMu, X --> 0",
    "00021": "@parameters Alpha=10 Mu=0.1\n@species X=0\nAlpha, 0 --> X\nMu, X --> 0",
    "00022": "@parameters Alpha=5 Mu=0.1\n@species X=0\nAlpha, 0 --> X\nMu, X --> 0",
    "00023": "@parameters Alpha=1000 Mu=0.1\n@species X=0\nAlpha, 0 --> X\nMu, X --> 0",
    "00024": "@parameters Alpha=10 Mu=0.1\n@species X=0 Source=0 [boundary] Sink=0 [boundary]\nAlpha, Source => X\nMu, X --> Sink",
    "00025": "@parameters Alpha=10 Mu=0.1\n@species X=0 Source=0 [boundary] Sink=0\nAlpha, Source => X\nMu, X --> Sink",
    "00030": "@parameters k1=0.001 k2=0.01\n@species P=100 P2=0\nk1, 2P --> P2\nk2, P2 --> 2P",
    "00031": "@parameters k1=0.0002 k2=0.004\n@species P=1000 P2=0\nk1, 2P --> P2\nk2, P2 --> 2P",
    "00037": "@parameters Alpha=1 Mu=0.2\n@species X=0\nAlpha, 0 --> 5X\nMu, X --> 0",
}
