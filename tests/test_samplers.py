"""The exact samplers of the batched engine against their distributions.

Each sampler draws 200,000 variates at a fixed seed; discrete laws get a
Pearson chi-square test against the exact pmf (scipy.stats), continuous ones
a Kolmogorov-Smirnov test. A correct sampler fails one of these tests with
probability 1e-3 per case.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from exact import chi_square_pvalue
from scipy import stats

import pycrn
from pycrn import codegen
from pycrn.engines import batched
from pycrn.engines.rng import seed_states

DRAWS = 200_000
P_MIN = 1e-3
LV = "@species R F\n1, R --> 2R\n1, R + F --> 2F\n1, F --> 0"
TRIMER = "@species A B C\n(1, 1), 2A + B <--> C"


@pytest.fixture(scope="module")
def lv_module():
    return codegen.load_module(pycrn.parse(LV), batched)


def _draws(module, kind, a, b, c, seed):
    out = np.empty(DRAWS)
    module.draw_many(seed_states(seed, 1)[0], kind, a, float(b), float(c), out)
    return out


def _discrete_pvalue(samples, pmf, lo, hi):
    samples = samples.astype(np.int64)
    assert samples.min() >= lo and samples.max() <= hi, (samples.min(), samples.max(), lo, hi)
    return chi_square_pvalue(samples - lo, pmf(np.arange(lo, hi + 1)))


@pytest.mark.parametrize(
    "n, p",
    [(20, 0.3), (200, 0.97), (1000, 0.5), (12_345, 0.0123), (10**7, 0.01), (10**9, 0.3)],
)
def test_binomial(lv_module, n, p):
    x = _draws(lv_module, 0, n, p, 0, seed=n % 1000 + 1)
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    lo, hi = max(0, int(mean - 10 * sd) - 5), min(n, int(mean + 10 * sd) + 5)
    assert _discrete_pvalue(x, lambda k: stats.binom.pmf(k, n, p), lo, hi) > P_MIN


@pytest.mark.parametrize(
    "good, bad, sample",
    [
        (50, 50, 7),  # one at a time
        (30, 20, 45),  # complement of a small sample
        (5000, 10_000, 3000),  # HRUA
        (3, 10**6, 5000),  # rare good items
        (10**8, 2 * 10**8, 10**4),  # large population
        (7 * 10**5, 10**5, 6 * 10**5),  # sample above half the population
    ],
)
def test_hypergeometric(lv_module, good, bad, sample):
    x = _draws(lv_module, 1, good, bad, sample, seed=good % 997 + 3)
    dist = stats.hypergeom(good + bad, good, sample)
    mean, sd = dist.mean(), dist.std()
    lo, hi = max(0, int(mean - 12 * sd) - 5), min(sample, good, int(mean + 12 * sd) + 5)
    assert _discrete_pvalue(x, dist.pmf, lo, hi) > P_MIN


def test_hypergeometric_at_populations_whose_products_pass_int64(lv_module):
    """(N - m) * sample is above 2**63 here: computed in integers it wrapped, the variance went negative,
    and the batched engine crashed (SIGSEGV) on the garbage index. Normal to 1/sd at this size."""
    good = bad = 5 * 10**13
    sample = 10**7
    x = _draws(lv_module, 1, good, bad, sample, seed=17)
    # scipy's hypergeom loses its moments at this size: the closed forms.
    n = good + bad
    mean = sample * good / n
    sd = math.sqrt(sample * (good / n) * (bad / n) * (n - sample) / (n - 1))
    assert stats.kstest(x, stats.norm(mean, sd).cdf).pvalue > P_MIN


def test_geometric_with_a_vanishing_p_stays_within_int64(lv_module):
    x = _draws(lv_module, 3, 0, 1e-25, 0, seed=19)
    assert x.min() >= 0 and x.max() <= 4e18


@pytest.mark.parametrize("shape", [0.4, 1.0, 3.5, 1e4, 1e7])
def test_gamma(lv_module, shape):
    x = _draws(lv_module, 2, 0, shape, 0, seed=int(shape * 10) % 1000 + 5)
    assert stats.kstest(x, stats.gamma(shape).cdf).pvalue > P_MIN


def test_normal(lv_module):
    x = _draws(lv_module, 4, 0, 0, 0, seed=11)
    assert stats.kstest(x, stats.norm.cdf).pvalue > P_MIN


@pytest.mark.parametrize("p", [0.3, 1e-3])
def test_geometric(lv_module, p):
    x = _draws(lv_module, 3, 0, p, 0, seed=13)
    hi = int(stats.geom(p, loc=-1).isf(1e-9))
    assert _discrete_pvalue(x, lambda k: stats.geom.pmf(k, p, loc=-1), 0, max(hi, int(x.max()))) > P_MIN


def _exact_run_survival(nb, order, gen, lmax):
    """P(run >= l), l = 0..lmax+1, by the product formula of the paper's Lemma 4.4."""
    surv = [1.0]
    for i in range(lmax + 1):
        untouched = nb - i * order
        total = nb + i * gen
        step = 1.0
        for k in range(order):
            step *= max(untouched - k, 0) / (total - k)
        surv.append(surv[-1] * step)
    return np.array(surv)


@pytest.mark.parametrize("model, order, gen, nb", [(LV, 2, 1, 400), (LV, 2, 1, 5000), (TRIMER, 3, 2, 900)])
def test_collision_free_run_length(model, order, gen, nb):
    """The batch length follows P(l >= L) = prod_{i<L} (nb - iO)^(O) / (nb + iG)^(O)."""
    module = codegen.load_module(pycrn.parse(model), batched)
    assert (module.O, module.G) == (order, gen)
    s = seed_states(nb, 1)[0]
    draws = np.array([module._run_length(s, nb) for _ in range(60_000)])
    lmax = nb // order
    surv = _exact_run_survival(nb, order, gen, lmax)
    pmf = surv[:-1] - surv[1:]  # P(l = L), L = 0..lmax
    assert draws.min() >= 1
    assert chi_square_pvalue(draws, pmf) > P_MIN


def test_run_length_log_probability_is_accurate_at_large_populations(lv_module):
    """log P(l >= L) from log-gamma differences agrees with a direct sum of logs to 1e-9."""
    for nb in (10**6, 10**8, 3 * 10**9):
        for ell in (1, 7, 100, 5000, 40_000):
            direct = math.fsum(
                math.log(nb - k - i * 2) - math.log(nb - k + i) for i in range(ell) for k in range(2)
            )
            assert abs(lv_module._log_run(nb, ell) - direct) < 1e-9 * max(1.0, abs(direct)), (nb, ell)
