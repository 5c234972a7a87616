"""The exact SSAs sample the chemical master equation's law.

Each test runs n = 10,000 trajectories at a fixed seed and compares them
with exact answers: closed forms (DSMTS mean and sd tests at t = 0..50, with
a family-wise bound over the time points, see ``exact.familywise_bound``),
finite state projection of the master equation (chi-square goodness of fit
of the whole marginal distribution, plus the mean and sd tests). The DSMTS
cases run once, through SBML import, in test_conformance.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from exact import (
    DSMTS_CASES,
    FSPModel,
    assert_dsmts,
    birth_death_moments,
    check_against_fsp,
    fsp_distribution,
    immigration_death_moments,
    random_network,
    read_results,
)

import pycrn

N = 10_000
EXACT_METHODS = ["direct", "sorting_direct", "nrm", "direct_cr", "rssa", "rssa_cr"]
#: The methods that take general rate laws (the rssa family needs mass action).
GENERAL_METHODS = ["direct", "sorting_direct", "nrm", "direct_cr"]
#: The methods that run on the shared kernels only.
SHARED_ONLY = {"rssa", "rssa_cr"}
#: Generated kernels cost a compilation per network. A method's loop is the same code on both kinds of
#: kernels, so CI checks sorting direct, NRM and DirectCR on the shared ones (and on the generated ones
#: of the general rate laws below) and each kind of kernel with direct; pytest -m slow runs them all.
SLOW_KERNEL_CASES = {("direct_cr", "dense"), ("sorting_direct", "dense"), ("nrm", "dense")}


def _use_kernel(name: str, monkeypatch) -> str:
    if name == "dependency_graph":
        monkeypatch.setattr(pycrn.codegen, "DENSE_MAX_REACTIONS", 0)
    if name == "shared":
        monkeypatch.setattr(pycrn.network_arrays, "SHARED_MIN_REACTIONS", 0)
    return name


def _kernel_cases(methods: list[str]) -> list:
    """(method, kernels) pairs of the mass-action tests: generated kernels of both ``fire`` shapes (see
    pycrn.codegen; both shapes with direct only, the shape being the kernels' business) and the shared ones."""
    cases = []
    for method in methods:
        for kernel in ("dense", "dependency_graph", "shared"):
            if (method in SHARED_ONLY and kernel != "shared") or (method != "direct" and kernel == "dependency_graph"):
                continue
            marks = [pytest.mark.slow] if (method, kernel) in SLOW_KERNEL_CASES else []
            cases.append(pytest.param(method, kernel, marks=marks, id=f"{method}-{kernel}"))
    return cases


KERNEL_CASES = _kernel_cases(EXACT_METHODS)


@pytest.fixture(params=["dense", "dependency_graph"])
def generated_kernel(request, monkeypatch):
    """Run a test of a general rate law with both shapes of generated ``fire``."""
    return _use_kernel(request.param, monkeypatch)


def _check_kernel(net, kernel: str, monkeypatch) -> None:
    _use_kernel(kernel, monkeypatch)
    assert pycrn.network_arrays.use_shared_kernels(net) == (kernel == "shared")


TIMES = np.arange(0.0, 51.0)
# Goodness of fit is rejected below this p-value. With ~30 chi-square tests
# in the suite the chance of a false alarm at a given seed is about 3%.
P_MIN = 1e-3  # also the default of exact.check_against_fsp


@pytest.mark.parametrize(("method", "kernel"), KERNEL_CASES)
def test_birth_death_closed_form(method, kernel, monkeypatch):
    net = pycrn.models.birth_death()
    _check_kernel(net, kernel, monkeypatch)
    ds = pycrn.simulate(net, tspan=(0, 50), saveat=TIMES, trajectories=N, seed=11, method=method)
    mean, sd = birth_death_moments(100, 0.1, 0.11, TIMES)
    assert_dsmts(ds["X"].values, mean, sd, f"birth-death/{method}/{kernel}")


#: Methods that run another's loop (the SSA stepper's, RSSA's): their closed-form and Hill-gene runs are
#: slow-suite work; their FSP checks on the shared kernels (KERNEL_CASES) still run in CI.
SHARED_LOOP_SLOW = {"sorting_direct", "direct_cr", "rssa_cr"}


def _loop_slow(methods: list[str]) -> list:
    return [pytest.param(m, marks=pytest.mark.slow) if m in SHARED_LOOP_SLOW else m for m in methods]


@pytest.mark.parametrize("method", _loop_slow(EXACT_METHODS))
def test_immigration_death_closed_form(method):
    net = pycrn.models.immigration_death()
    ds = pycrn.simulate(
        net, u0={"X": 30}, tspan=(0, 50), saveat=TIMES, trajectories=N, seed=12, method=method
    )
    mean, sd = immigration_death_moments(30, 1.0, 0.1, TIMES)
    assert_dsmts(ds["X"].values, mean, sd, f"immigration-death/{method}")


@pytest.mark.parametrize("method", _loop_slow(GENERAL_METHODS))
def test_hill_repressed_gene_fsp(method, generated_kernel):
    """Non-mass-action: mRNA made at hillr(P, v, K, 2), protein translated and degraded."""
    if method != "direct" and generated_kernel == "dependency_graph":
        pytest.skip("both generated shapes are checked with direct")
    v, K, kp, gm, gp = 10.0, 20.0, 4.0, 1.0, 0.5
    net = pycrn.parse(
        f"""
        @parameters v={v} K={K} kp={kp} gm={gm} gp={gp}
        @species M=0 P=0
        hillr(P, v, K, 2), 0 => M
        kp, M --> M + P
        gm, M --> 0
        gp, P --> 0
        """
    )
    times = np.linspace(0.0, 6.0, 4)
    fsp = FSPModel(
        changes=[(1, 0), (0, 1), (-1, 0), (0, -1)],
        propensities=[
            lambda x: v * K**2 / (K**2 + x[1] ** 2),
            lambda x: kp * x[0],
            lambda x: gm * x[0],
            lambda x: gp * x[1],
        ],
        bounds=(40, 200),
    )
    P, lost = fsp_distribution(fsp, (0, 0), times)
    assert lost.max() < 1e-8
    ds = pycrn.simulate(net, tspan=(0, 6), saveat=times, trajectories=N, seed=21, method=method)
    check_against_fsp(ds, P, {"M": 1, "P": 2}, times, f"hill/{method}/{generated_kernel}")


@pytest.mark.parametrize(("method", "kernel"), KERNEL_CASES)
def test_bimolecular_fsp(method, kernel, monkeypatch):
    """A + B -> C with inflow and outflow: the bimolecular mass-action term and dependencies."""
    ka, kb, k, kc, d = 8.0, 6.0, 0.05, 1.0, 0.2
    net = pycrn.parse(
        f"""
        @parameters ka={ka} kb={kb} k={k} kc={kc} d={d}
        ka, 0 --> A
        kb, 0 --> B
        k, A + B --> C
        kc, C --> 0
        d, A --> 0
        d, B --> 0
        """
    )
    times = np.linspace(0.0, 4.0, 5)
    fsp = FSPModel(
        changes=[(1, 0, 0), (0, 1, 0), (-1, -1, 1), (0, 0, -1), (-1, 0, 0), (0, -1, 0)],
        propensities=[
            lambda x: ka + 0 * x[0],
            lambda x: kb + 0 * x[0],
            lambda x: k * x[0] * x[1],
            lambda x: kc * x[2],
            lambda x: d * x[0],
            lambda x: d * x[1],
        ],
        bounds=(50, 40, 30),
    )
    P, lost = fsp_distribution(fsp, (0, 0, 0), times)
    assert lost.max() < 1e-8
    _check_kernel(net, kernel, monkeypatch)
    ds = pycrn.simulate(net, tspan=(0, 4), saveat=times, trajectories=N, seed=22, method=method)
    check_against_fsp(ds, P, {"A": 1, "B": 2, "C": 3}, times, f"bimolecular/{method}/{kernel}")


@pytest.mark.parametrize(("method", "kernel"), KERNEL_CASES)
def test_dimerisation_fsp(method, kernel, monkeypatch):
    """2A <--> B: the A(A-1)/2 combinatorial factor, on a conserved state space."""
    k1, k2 = 0.02, 0.5
    net = pycrn.parse(f"@species A=40 B=0\n({k1}, {k2}), 2A <--> B")
    times = np.linspace(0.0, 3.0, 4)
    fsp = FSPModel(
        changes=[(-2, 1), (2, -1)],
        propensities=[lambda x: k1 * x[0] * (x[0] - 1) / 2, lambda x: k2 * x[1]],
        bounds=(40, 20),
    )
    P, lost = fsp_distribution(fsp, (40, 0), times)
    assert lost.max() < 1e-12
    _check_kernel(net, kernel, monkeypatch)
    ds = pycrn.simulate(net, tspan=(0, 3), saveat=times, trajectories=N, seed=23, method=method)
    check_against_fsp(ds, P, {"A": 1, "B": 2}, times, f"dimerisation/{method}/{kernel}")


@pytest.mark.parametrize("method", EXACT_METHODS)
def test_a_reaction_that_never_fires_among_four_fsp(method, monkeypatch):
    """Four reactions, the third of which (C --> 0 with C = 0) never fires.

    The next reaction method built its heap bottom-up with a step that also
    moved entries up, which can leave an entry above a smaller one: here it
    often put a later clock on top, and the extinction of A came too early
    (mean A at t = 2 0.108 against the exact 0.139 in 40,000 trajectories).
    Found by comparing every exact method with the FSP on random networks.
    """
    d, e, c, b = 1.153, 1.381, 0.0051, 0.1671
    net = pycrn.parse(f"@species A=1 B=1 C=0\n{d}, A --> 0\n{e}, B --> 0\n{c}, C --> 0\n{b}, A --> 2A + B")
    times = np.linspace(0.0, 2.0, 3)
    fsp = FSPModel(
        changes=[(-1, 0), (0, -1), (0, 0), (1, 1)],
        propensities=[lambda x: d * x[0], lambda x: e * x[1], lambda x: 0 * x[0], lambda x: b * x[0]],
        bounds=(30, 30),
    )
    P, lost = fsp_distribution(fsp, (1, 1), times)
    assert lost.max() < 1e-10
    _check_kernel(net, "shared", monkeypatch)
    ds = pycrn.simulate(net, tspan=(0, 2), saveat=times, trajectories=N, seed=24, method=method)
    check_against_fsp(ds, P, {"A": 1, "B": 2}, times, f"never fires/{method}")


def _random_network_and_fsp(rng, times, redirect=None):
    """The next random network (``exact.random_network``) whose FSP box holds its mass, decided by the exact
    solution, not by a simulation; with ``redirect`` (state events), one whose initial state it leaves alone."""
    while True:
        text, fsp, x0 = random_network(rng)
        if redirect is not None:
            if not np.array_equal(redirect(np.array([x0])), [x0]):
                continue
            fsp.redirect = redirect
        P, lost = fsp_distribution(fsp, x0, times)
        if lost.max() < 1e-8:
            return text, P


def _check_methods_against_fsp(net, P, times, methods, seed, label):
    """Every method, 4,000 trajectories each, against the FSP. The chi-square tests' bound is P_MIN divided by
    their number (Bonferroni over methods, species and times): together they fail by chance with probability at
    most P_MIN (the mean tests keep their own bound, per method and species). The DSMTS sd test is left out (see
    ``check_against_fsp``): these counts are often almost always 0."""
    for method in methods:
        ds = pycrn.simulate(net, tspan=(0, times[-1]), saveat=times, trajectories=4_000, seed=seed, method=method)
        check_against_fsp(ds, P, {"A": 1, "B": 2}, times, f"{label}/{method}",
                          p_min=P_MIN / (len(methods) * 2 * (len(times) - 1)), check_sd=False)


#: Every exact method, on random networks; CI runs the first three networks, ``pytest -m slow`` twenty more.
RANDOM_NETWORK_METHODS = [*EXACT_METHODS, "extrande", "batched"]


@pytest.mark.parametrize("index", [0, 1, 2, *(pytest.param(i, marks=pytest.mark.slow) for i in range(3, 23))])
def test_random_networks_fsp(index, monkeypatch):
    """Random two-species networks (zero- to third-order reactions, products of up to three molecules, in random
    order) against the FSP, with every exact method on the same draws of the network.

    Before its heap was fixed, the next reaction method failed on 8 of these 23 networks (the three CI runs
    among them); the fixed networks of the other tests happened not to meet the case.
    """
    times = np.linspace(0.0, 2.0, 3)
    text, P = _random_network_and_fsp(np.random.default_rng(1000 + index), times)
    net = pycrn.parse(text)
    _check_kernel(net, "shared", monkeypatch)
    _check_methods_against_fsp(net, P, times, RANDOM_NETWORK_METHODS, 40 + index, f"random network {index}\n{text}\n")


#: The methods that take state events (batched refuses them).
STATE_EVENT_METHODS = [*EXACT_METHODS, "extrande", "tau_leaping", "hybrid"]


def _reset(target):
    """``@event A >= 4: A = 0, B = B + 1``, fired at the jump that lands on A >= 4."""
    target = target.copy()
    fired = target[:, 0] >= 4
    target[fired, 0] = 0
    target[fired, 1] += 1
    return target


@pytest.mark.parametrize("index", [0, 1, *(pytest.param(i, marks=pytest.mark.slow) for i in range(2, 12))])
def test_a_state_event_on_random_networks_fsp(index):
    """``@event A >= 4: A = 0, B = B + 1`` on random networks: the FSP sends every jump that lands on A >= 4 to
    the reset state, since the event fires at the jump. Checks that every method sees each crossing (a
    crossing missed or seen late leaves A at 4 or more, or resets too few times). The next reaction method's
    old heap, which is rebuilt after every event, failed 7 of these 12 networks."""
    times = np.linspace(0.0, 2.0, 3)
    text, P = _random_network_and_fsp(np.random.default_rng(5000 + index), times, redirect=_reset)
    net = pycrn.parse(text + "\n@event A >= 4: A = 0, B = B + 1")  # generated kernels: events are compiled
    assert P[:, 4:, :].sum() < 1e-12
    _check_methods_against_fsp(net, P, times, STATE_EVENT_METHODS, 60 + index, f"state event {index}\n{text}\n")


def test_the_next_reaction_heap_keeps_its_order():
    """The NRM's heap, rebuilt and updated with clocks that tie or are infinite, always has the earliest on top."""
    from pycrn.engines.nrm import _heapify, _sift

    rng = np.random.default_rng(5)
    for m in range(1, 40):
        for _ in range(20):
            tau = rng.choice([0.5, 1.0, 2.0, np.inf], size=m) + rng.integers(0, 2, size=m) * rng.random(m)
            heap, pos = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
            _heapify(tau, heap, pos)
            for _ in range(m + 1):
                assert np.array_equal(pos[heap], np.arange(m))
                children = np.arange(1, m)
                assert np.all(tau[heap[(children - 1) // 2]] <= tau[heap[children]])
                k = rng.integers(m)
                tau[k] = rng.choice([0.1, 1.0, np.inf]) * (0.5 + rng.random())
                _sift(tau, heap, pos, pos[k])


def test_tau_leaping_with_a_signal_read_only_by_a_hill_rate_law_fsp():
    """tau_leaping at the default epsilon against the FSP: S is made and never consumed; it enters only
    the Hill rate law that makes X, so only the rate law's dependency set puts it in the leap condition."""
    k, v, K, g = 20.0, 30.0, 50.0, 1.0
    net = pycrn.parse(
        f"""
        @parameters k={k} v={v} K={K} g={g}
        @species S=0 X=0
        k, 0 --> S
        hill(S, v, K, 2), 0 => X
        g, X --> 0
        """
    )
    times = np.linspace(0.0, 6.0, 4)
    fsp = FSPModel(
        changes=[(1, 0), (0, 1), (0, -1)],
        propensities=[lambda x: k + 0 * x[0], lambda x: v * x[0] ** 2 / (K**2 + x[0] ** 2), lambda x: g * x[1]],
        bounds=(240, 90),
    )
    P, lost = fsp_distribution(fsp, (0, 0), times)
    assert lost.max() < 1e-8
    ds = pycrn.simulate(net, tspan=(0, 6), saveat=times, trajectories=N, seed=33, method="tau_leaping")
    check_against_fsp(ds, P, {"S": 1, "X": 2}, times, "hill signal/tau_leaping")


#: The DSMTS cases in mass-action form (the language's ``-->``), for the rejection-based SSAs, which do
#: not take SBML's general kinetic laws, and for extrande (thinning against bounds that are exact here).
MASS_ACTION_DSMTS = sorted(case for case, text in DSMTS_CASES.items() if "=>" not in text)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rssa", "rssa_cr", "extrande"])
@pytest.mark.parametrize("case", MASS_ACTION_DSMTS)
def test_dsmts_mass_action_cases_rejection_ssas(case, method):
    net = pycrn.parse(DSMTS_CASES[case], name=case)
    ref = read_results(case)
    ds = pycrn.simulate(net, tspan=(0, 50), saveat=ref["time"], trajectories=N, seed=int(case) * 10 + 9,
                        method=method)
    for column in ref:
        if column.endswith("-mean"):
            species = column[: -len("-mean")]
            assert_dsmts(ds[species].values, ref[column], ref[f"{species}-sd"], f"DSMTS {case}/{species}/{method}",
                         check_sd=case != "00003")
