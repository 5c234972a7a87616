"""pycrn.deepska: SDnet, its training, and the unbiased DeepCV / DeepIS estimators.

The reference is constitutive gene expression (DeepSKA's example B.1), whose
moments solve a closed linear ODE, so E[P(t)] and E[P(t)^2] are exact
(matrix exponential). An *oracle* SDnet, its weights set by hand to the exact
U(x, P, t) (two modes, affine eigenfunctions), checks the exactness claims:
DeepCV with the exact U has zero variance (up to rounding). Unbiasedness is
checked with untrained and deliberately perturbed SDnets, within 3 standard
errors (DeepSKA's guarantee: the estimators are unbiased whatever SDnet is).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

import pycrn

torch = pytest.importorskip("torch")
from benchmark_modules import load_benchmark  # noqa: E402

from pycrn import deepska  # noqa: E402
from pycrn.deepska import estimators  # noqa: E402

KR, KP, GR, GP = 10.0, 2.0, 1.0, 0.5
STEADY_P = KP * KR / GR / GP  # 40
STEADY_P2 = STEADY_P * (1 + KP / (GR + GP)) + STEADY_P**2


@pytest.fixture(scope="module")
def net():
    return pycrn.models.constitutive_gene_expression()


def exact_moments(t: float, r0: int = 0, p0: int = 0) -> tuple[float, float]:
    """E[P(t)] and E[P(t)^2] from (R, P) = (r0, p0): the closed moment equations of (1, R, P, R^2, RP, P^2)."""
    a = np.zeros((6, 6))
    a[1, 0], a[1, 1] = KR, -GR
    a[2, 1], a[2, 2] = KP, -GP
    a[3, 0], a[3, 1], a[3, 3] = KR, 2 * KR + GR, -2 * GR
    a[4, 2], a[4, 3], a[4, 4] = KR, KP, -(GR + GP)
    a[5, 1], a[5, 4], a[5, 2], a[5, 5] = KP, 2 * KP, GP, -2 * GP
    m0 = np.array([1, r0, p0, r0 * r0, r0 * p0, p0 * p0], dtype=float)
    m = scipy.linalg.expm(a * t) @ m0
    return float(m[2]), float(m[5])


def oracle(net, perturb: float = 0.0) -> deepska.SDnet:
    """An SDnet equal to the exact E_x[P(t)] = 40 - 4 e^{-t} (R - 10) + e^{-t/2} (P + 4 R - 80).

    ``perturb`` scales the coordinates and shifts the decay modes, giving a
    wrong but smooth SDnet.
    """
    sd = deepska.SDnet(net, ["P"], modes=2, hidden=(4, 4), steady=[STEADY_P], dtype=torch.float64)
    lin = [m for m in sd.eigenfunctions if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer in lin:
            layer.weight.zero_()
            layer.bias.zero_()
        lin[0].weight[0, 0] = lin[0].weight[1, 1] = 1.0  # (R, P), kept by the ReLUs (counts are >= 0)
        lin[1].weight[0, 0] = lin[1].weight[1, 1] = 1.0
        kr = KP / (GP - GR)  # -4
        lin[2].weight[0, 0], lin[2].bias[0] = kr, -kr * KR / GR  # c_1 = -4 (R - 10)
        lin[2].weight[1, 0], lin[2].weight[1, 1] = -kr, 1.0  # c_2 = P + 4 R - 80
        lin[2].bias[1] = -STEADY_P + kr * KR / GR
        sd.decay_raw.copy_(torch.log(torch.expm1(torch.tensor([GR, GP], dtype=torch.float64) * (1 + perturb))))
        sd.frequency.zero_()
        sd.coord_real.fill_(1.0 + perturb)
        sd.coord_imag.zero_()
    return sd


def test_the_oracle_is_the_exact_expectation(net):
    sd = oracle(net)
    for t in (0.0, 0.7, 5.0, 20.0):
        for r0, p0 in ((0, 0), (3, 7), (12, 50)):
            value = float(sd(np.array([[r0, p0]]), t).detach()[0, 0])
            assert value == pytest.approx(exact_moments(t, r0, p0)[0], rel=1e-12, abs=1e-9)


def test_delta_is_the_difference_of_neighbouring_values(net):
    sd = deepska.SDnet(net, ["P", "P**2", "R*P"], modes=3, steady=[40.0, STEADY_P2, 400.0], init_seed=4,
                       dtype=torch.float64)
    x = np.array([[0, 0], [2, 5], [9, 30]])
    t = np.array([0.3, 2.0, 7.5])
    d = sd.delta(x, t).detach().numpy()
    zeta = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])
    u = sd(x, t).detach().numpy()
    for k in range(4):
        np.testing.assert_allclose(d[:, k], sd(x + zeta[k], t).detach().numpy() - u, rtol=1e-12, atol=1e-9)
    nb = sd.neighbours(x, t).detach().numpy()
    np.testing.assert_allclose(nb[:, 0], u, rtol=1e-12)
    np.testing.assert_allclose(nb[:, 1:] - nb[:, :1], d, rtol=1e-10, atol=1e-9)


def test_distinct_rows_on_a_torch_device_match_the_numpy_ones():
    """The GPU training path keeps its rows on the device; its distinct rows are numpy's, in the same order."""
    from pycrn.deepska.paths import unique_rows
    from pycrn.deepska.sdnet import unique_rows_torch

    rng = np.random.default_rng(5)
    small = rng.integers(0, 6, size=(4000, 3))
    huge = np.concatenate([small[:50], small[:50] * 2**40])  # spans past int64 keys: the dim=0 path
    for counts in (small, huge):
        first, inverse = unique_rows_torch(torch.as_tensor(counts, dtype=torch.float64))
        uniq, inv = unique_rows(counts)
        np.testing.assert_array_equal(counts[first.numpy()], uniq)
        np.testing.assert_array_equal(inverse.numpy(), inv)


def test_evaluation_is_the_spectral_sum_with_each_distinct_state_evaluated_once(net):
    """U = steady + Re sum_l gamma_l phi_l(x) e^{-sigma_l t}, from the complex amplitudes, on batches with repeats."""
    sd = deepska.SDnet(net, ["P", "P**2"], modes=4, steady=[40.0, STEADY_P2], init_seed=2, dtype=torch.float64)
    with torch.no_grad():
        sd.frequency.copy_(torch.tensor([0.0, 0.5, -1.3, 2.0], dtype=torch.float64))
        sd.coord_imag.normal_(generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(300, 2))  # a few distinct states, each many times, and neighbours at -1
    t = rng.uniform(0, 10, size=300)
    sigma = sd.decay_modes().detach()
    decay = torch.exp(-sigma * torch.as_tensor(t).unsqueeze(-1))
    expected = 40.0 + (sd.amplitudes(torch.as_tensor(x, dtype=torch.float64)).detach()
                       * decay.unsqueeze(-2)).real.sum(-1)
    expected[:, 1] += STEADY_P2 - 40.0
    calls = []
    hook = sd.eigenfunctions.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    u, d = sd.value_and_delta(x, t, distinct=True)
    hook.remove()
    np.testing.assert_allclose(u.detach().numpy(), expected.numpy(), rtol=1e-12, atol=1e-10)
    distinct = np.unique(np.concatenate([x[:, None] + z for z in ([0, 0], [1, 0], [0, 1], [-1, 0], [0, -1])]), axis=0)
    assert calls == [len(distinct)]  # one network call, one row per distinct state among x and its neighbours
    np.testing.assert_allclose(d.detach().numpy(), sd.delta(x, t).detach().numpy(), rtol=0, atol=0)
    # The same values when every row is evaluated, and when the states cannot be keyed (not integers).
    np.testing.assert_allclose(sd.value_and_delta(x, t)[0].detach().numpy(), u.detach().numpy(), rtol=1e-14)
    off = sd.value_and_delta(x + 1e-9, t, distinct=True)[0].detach().numpy()
    np.testing.assert_allclose(off, u.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("delta_network", [False, True])
def test_value_and_increment_weights_the_differences_before_projecting(net, delta_network):
    """The training loss's sum_k w_k Delta_k U, projected once, equals weighting value_and_delta's differences."""
    sd = deepska.SDnet(net, ["P", "P**2"], modes=3, steady=[40.0, STEADY_P2], init_seed=5, dtype=torch.float64,
                       delta_network=delta_network)
    with torch.no_grad():
        sd.frequency.copy_(torch.tensor([0.2, -0.7, 1.5], dtype=torch.float64))
    rng = np.random.default_rng(8)
    x = rng.integers(0, 5, size=(200, 2))
    t = rng.uniform(0, 8, size=200)
    w = torch.as_tensor(rng.normal(size=(200, 4)))
    u, d = sd.value_and_delta(x, t)
    for distinct in (False, True):
        u2, inc = sd.value_and_increment(x, t, w, distinct=distinct)
        np.testing.assert_allclose(u2.detach().numpy(), u.detach().numpy(), rtol=1e-13)
        np.testing.assert_allclose(inc.detach().numpy(), (d * w.unsqueeze(-1)).sum(1).detach().numpy(),
                                   rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match=r"weights must be \(states, reactions\) = \(200, 4\)"):
        sd.value_and_increment(x, t, w[:, :3])


def test_deep_cv_with_the_exact_u_has_zero_variance_and_the_exact_mean(net):
    est = deepska.estimate(net, oracle(net), {"R": 0, "P": 0}, [0.5, 5.0, 20.0], 200, "deep_cv", seed=1)
    exact = [exact_moments(t)[0] for t in (0.5, 5.0, 20.0)]
    # Every sample equals E[P(t)]: the control variate cancels all randomness (DeepSKA eq. S91).
    np.testing.assert_allclose(est["estimate"].sel(output="P").values, exact, rtol=1e-10)
    assert float(est["variance"].max()) < 1e-16 * max(exact) ** 2
    # ... while plain SSA on the same trajectories has the Poisson-like variance.
    assert float(est["ssa_variance"].sel(output="P", time=20.0)) > 50


def _vectorised_control_variate(amp, gen, sigma, paths, times):
    """Z(T_i) of each path from per-record closed forms (numpy; the implementation the compiled kernel replaced)."""
    from pycrn.deepska.paths import Records, exp_integral, unique_rows

    rec = Records(paths, times)
    uniq, _ = unique_rows(rec.x)
    assert np.array_equal(uniq, rec.uniq)
    inv, nt = rec.inv, times.size
    contrib = np.zeros((rec.t.size, *amp.shape[1:]), dtype=np.complex128)
    j = np.flatnonzero(rec.is_jump)
    bins_jump = np.searchsorted(times, rec.t, side="left")
    ref = times[np.minimum(bins_jump[j], nt - 1)]
    contrib[j] += (amp[inv[j]] - amp[inv[j - 1]]) * np.exp(-sigma * (ref - rec.t[j])[:, None])[:, None, :]
    h, width = rec.holding()
    bins_hold = np.searchsorted(times, np.where(rec.last, rec.t, rec.nxt), side="left")
    contrib[h] -= gen[inv[h]] * exp_integral(sigma, times[bins_hold[h]] - rec.nxt[h], width)[:, None, :]
    bins = np.where(rec.is_jump, bins_jump, bins_hold)
    z = np.zeros((rec.count, nt, amp.shape[1]))
    for i in range(nt):
        for p in range(rec.count):
            keep = (rec.traj == p) & (rec.is_jump | ~rec.last) & (bins <= i)
            carried = contrib[keep] * np.exp(-sigma * (times[i] - times[bins[keep]])[:, None])[:, None, :]
            z[p, i] = carried.sum(axis=0).real.sum(-1)
    return z, rec.states_at_times()


def test_compiled_control_variate_matches_the_per_record_closed_forms(net):
    """The kernel against the vectorised closed forms, on simulated paths with a random SDnet's amplitudes and on a
    hand-made path with a jump exactly at a requested time (it counts there, and the state there is the new one)."""
    from pycrn.deepska.cv_integral import path_integral
    from pycrn.deepska.paths import simulate_paths, unique_rows

    times = np.array([0.25, 1.0, 2.5, 5.0])
    paths = simulate_paths(net, np.array([3, 7]), 5.0, np.random.SeedSequence(3), 0, 20)
    paths.append((np.array([0.0, 1.0, 1.5]), np.array([[3, 7], [4, 7], [4, 8]])))
    uniq, index = unique_rows(np.concatenate([x for _, x in paths]))
    rng = np.random.default_rng(0)
    amp = rng.normal(size=(len(uniq), 2, 3)) + 1j * rng.normal(size=(len(uniq), 2, 3))
    gen = rng.normal(size=(len(uniq), 2, 3)) + 1j * rng.normal(size=(len(uniq), 2, 3))
    sigma = np.array([0.5 + 0.3j, 1e-7, 2.0])  # a rate near 0 takes the series branch
    offsets = np.r_[0, np.cumsum([len(t) for t, _ in paths])].astype(np.int64)
    z = np.empty((len(paths), times.size, 2))
    at = np.empty((len(paths), times.size), dtype=np.int64)
    t = np.concatenate([t for t, _ in paths])
    index = index.astype(np.int64)
    none = np.zeros(0, dtype=np.int64), np.zeros((0, 2, 3), dtype=np.complex128)
    path_integral(t, offsets, index, amp, gen, sigma, times, z, at, *none)
    expected, states = _vectorised_control_variate(amp, gen, sigma, paths, times)
    np.testing.assert_allclose(z, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    # Jumps from a table (a separate Delta U network): here the table holds the same differences, per record.
    jump = np.arange(index.size, dtype=np.int64)
    table = amp[index] - amp[np.r_[0, index[:-1]]]
    z2 = np.empty_like(z)
    path_integral(t, offsets, index, amp, gen, sigma, times, z2, at, jump, table)
    np.testing.assert_allclose(z2, z, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_array_equal(uniq[at], states)
    assert states[-1, 1].tolist() == [4, 7]  # the jump at t = 1.0 is in by time 1.0


def test_deep_cv_reuses_the_trajectories_of_simulate(net):
    est = deepska.estimate(net, oracle(net), {"R": 2, "P": 1}, [1.0, 3.0], 300, "deep_cv", seed=5)
    ssa = deepska.estimate(net, None, {"R": 2, "P": 1}, [1.0, 3.0], 300, "ssa", seed=5, outputs=["P"])
    np.testing.assert_allclose(est["ssa_estimate"].values, ssa["estimate"].values, rtol=0, atol=0)


@pytest.mark.parametrize("method", ["deep_cv", "deep_is"])
@pytest.mark.parametrize("which", ["untrained", "perturbed"])
def test_estimators_are_unbiased_whatever_the_sdnet(net, method, which):
    if which == "untrained":
        sd = deepska.SDnet(net, ["P", "P**2"], modes=4, steady=[STEADY_P, STEADY_P2], init_seed=11)
    else:
        sd = oracle(net, perturb=0.3)
        sd = _with_square(net, sd)
    times = [5.0, 20.0]
    # DeepIS simulates in numpy rounds (slower per sample): fewer samples, the same 3-SE bound.
    # DeepIS: one simulation tilted by P weights both outputs (its cost is in rounds of jumps, not samples).
    options = {"tilt": "P"} if method == "deep_is" else {}
    est = deepska.estimate(net, sd, {"R": 0, "P": 0}, times, 1000 if method == "deep_cv" else 600, method,
                           seed=21, dt=0.1, **options)
    for t in times:
        m1, m2 = exact_moments(t)
        for name, exact in (("P", m1), ("P**2", m2)):
            got = est.sel(output=name, time=t)
            z = (float(got["estimate"]) - exact) / float(got["std_error"])
            assert abs(z) < 3, (method, which, name, t, float(got["estimate"]), exact, float(got["std_error"]))


def _with_square(net, sd: deepska.SDnet) -> deepska.SDnet:
    """The perturbed oracle with a second output P**2 whose coordinates are arbitrary (a poor SDnet for it)."""
    both = deepska.SDnet(net, ["P", "P**2"], modes=2, hidden=(4, 4), steady=[STEADY_P, STEADY_P2],
                         dtype=torch.float64)
    state = sd.state_dict()
    state["steady"] = torch.tensor([STEADY_P, STEADY_P2], dtype=torch.float64)
    state["coord_real"] = torch.cat([state["coord_real"], torch.tensor([[30.0, -5.0]], dtype=torch.float64)])
    state["coord_imag"] = torch.zeros(2, 2, dtype=torch.float64)
    both.load_state_dict(state)
    return both


def test_deep_is_with_the_exact_u_cuts_the_variance(net):
    est = deepska.estimate(net, oracle(net), {"R": 0, "P": 0}, [5.0], 2000, "deep_is", seed=2, dt=0.02)
    plain = deepska.estimate(net, None, {"R": 0, "P": 0}, [5.0], 2000, "ssa", seed=2, outputs=["P"])
    ratio = float(plain["variance"].item()) / float(est["variance"].item())
    assert ratio > 20, ratio
    assert abs(float(est["estimate"].item()) - exact_moments(5.0)[0]) < 3 * float(est["std_error"].item())


@pytest.fixture(scope="module")
def small_data(net):
    return deepska.generate(net, {"R": (0, 3), "P": (0, 3)}, 400, T=2.0, dt=0.1, seed=3)


def test_generate_records_the_martingales_and_the_box(net, small_data):
    x = small_data["state"].values
    assert x.shape == (400, 21, 2) and small_data["martingale"].shape == (400, 21, 4)
    assert x[:, 0].min() == 0 and x[:, 0].max() == 3
    assert np.all(small_data["martingale"].values[:, 0] == 0)
    # The same data whatever the thread count.
    again = deepska.generate(net, {"R": (0, 3), "P": (0, 3)}, 400, T=2.0, dt=0.1, seed=3, threads=1)
    np.testing.assert_array_equal(again["state"].values, x)
    np.testing.assert_array_equal(again["martingale"].values, small_data["martingale"].values)
    # The martingale of immigration 0 --> R (constant rate KR) has mean 0 and variance KR t at t = 2.
    m = small_data["martingale"].values[:, -1, 0].astype(float)
    assert abs(m.mean()) < 3 * math.sqrt(KR * 2.0 / m.size)


def test_fit_lowers_the_loss_and_resumes_exactly(net, small_data, tmp_path):
    def model():
        return deepska.SDnet(net, ["P"], modes=3, hidden=(8, 8), steady=[STEADY_P], init_seed=2)

    full = model()
    history = deepska.fit(full, small_data, steps=300, segments=400, accumulate=1, validation=small_data, validate_every=20)
    assert history.val_loss[-1] < 0.5 * history.val_loss[0]
    assert full.horizon == 2.0 and full.dt == 0.1
    ckpt = tmp_path / "sd.ckpt"
    part = model()
    def interrupt(step, history):
        if step == 130:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        deepska.fit(part, small_data, steps=300, segments=400, accumulate=1, validation=small_data, validate_every=20,
                    checkpoint=ckpt, checkpoint_every=10, callback=interrupt)
    resumed = model()
    again = deepska.fit(resumed, small_data, steps=300, segments=400, accumulate=1, validation=small_data, validate_every=20,
                        checkpoint=ckpt, checkpoint_every=10)
    assert again.train_loss == history.train_loss
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="other data, options"):
        deepska.fit(model(), small_data, steps=301, segments=400, accumulate=1, checkpoint=ckpt)


def test_training_shares_the_trajectories_with_the_data_set(net, small_data):
    """fit's segments read the data set's own arrays (no float copies of the whole set: at the seed's sizes these
    doubled the memory of training). The loss tests below rebuild a draw's loss from the data set itself."""
    from pycrn.deepska.training import _Segments

    sd = deepska.SDnet(net, ["P", "P**2"], modes=3, hidden=(8, 8), steady=[STEADY_P, STEADY_P ** 2], init_seed=2)
    seg = _Segments(sd, small_data, torch.device("cpu"))
    assert np.shares_memory(seg.x.numpy(), small_data["state"].values)
    assert np.shares_memory(seg.m.numpy(), small_data["martingale"].values)
    np.testing.assert_array_equal(seg.f.numpy()[..., 1], small_data["state"].values[..., 1].astype(np.float32) ** 2)
    assert (seg.n, seg.J) == (400, 20)
    loss = seg.loss(sd, np.arange(5), 3, 4)
    assert loss.dtype == sd.steady.dtype and torch.isfinite(loss)


def test_save_and_load_round_trip(net, tmp_path):
    sd = oracle(net)
    sd.horizon, sd.dt = 20.0, 0.02
    sd.save(tmp_path / "o.pt")
    back = deepska.load(tmp_path / "o.pt", net)
    x = np.array([[3, 4]])
    assert float(back(x, 1.5).detach()[0, 0]) == float(sd(x, 1.5).detach()[0, 0])
    assert back.horizon == 20.0
    with pytest.raises(ValueError, match="another network"):
        deepska.load(tmp_path / "o.pt", pycrn.models.birth_death())


def test_frequency_init_zero_starts_real_modes_and_changes_nothing_else(net, tmp_path):
    kw = dict(steady=[40.0, 1693.3], init_seed=5)
    paper = deepska.SDnet(net, ["P", "P**2"], 4, **kw)
    code = deepska.SDnet(net, ["P", "P**2"], 4, frequency_init="zero", **kw)
    assert torch.all(paper.frequency > 0) and torch.all(code.frequency == 0)
    a, b = paper.state_dict(), code.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if k != "frequency")
    assert "frequency_init" not in paper.config and code.config["frequency_init"] == "zero"
    code.save(tmp_path / "z.pt")
    assert deepska.load(tmp_path / "z.pt", net).config == code.config
    with pytest.raises(ValueError, match="frequency_init"):
        deepska.SDnet(net, ["P"], 4, frequency_init="random", **kw)


def test_bad_input_is_named(net, small_data):
    with pytest.raises(ValueError, match="'Q', which is not a species"):
        deepska.SDnet(net, ["Q**2"], steady=[1.0])
    with pytest.raises(ValueError, match="only numbers, species names"):
        deepska.SDnet(net, ["exp(P)"], steady=[1.0])
    with pytest.raises(ValueError, match="one per output"):
        deepska.SDnet(net, ["P", "R"], steady=[1.0])
    with pytest.raises(ValueError, match="box names 'Q'"):
        deepska.generate(net, {"Q": (0, 3)}, 10)
    other = pycrn.models.toggle_switch()
    with pytest.raises(ValueError, match="built for species R, P"):
        deepska.estimate(other, oracle(net), {"P1": 0, "P2": 0}, [1.0], 10)
    sd = oracle(net)
    with pytest.raises(ValueError, match="simulated from another network"):
        deepska.fit(sd, deepska.generate(pycrn.parse("@species R=0 P=0\n1.0, 0 --> R\n1.0, R --> R + P\n"
                                                     "1.0, R --> 0\n1.0, P --> 0"), {"R": (0, 1)}, 5, T=1.0,
                                         dt=0.5))
    sd.horizon = 5.0
    with pytest.warns(UserWarning, match="beyond the horizon T = 5"):
        deepska.estimate(net, sd, {"R": 0, "P": 0}, [10.0], 5, "deep_cv")
    with pytest.raises(ValueError, match="x0 names"):
        deepska.estimate(net, sd, {"Q": 1}, [1.0], 5)
    with pytest.raises(ValueError, match="tilt 'R' is not one of"):
        deepska.estimate(net, sd, {"R": 0, "P": 0}, [1.0], 5, "deep_is", tilt="R")
    for times in ([2.0, 1.0], [], [np.nan], "soon", [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="times must be one or more positive, finite, increasing times"):
            deepska.estimate(net, sd, {"R": 0, "P": 0}, times, 5)
    with pytest.raises(ValueError, match=r"increasing times, got \[\]"):
        deepska.variance(net, sd, {"R": 0, "P": 0}, [], 5)


def test_em_with_deep_cv_is_exact_with_the_exact_poisson_solution(net):
    # P-SDnet from the exact SDnet solves A F = U(f) - f exactly, so every run's EM with DeepCV is U(P) = 40.
    ss = deepska.steady_state(net, oracle(net), {"R": 0, "P": 0}, horizon=50.0, runs=4, seed=3)
    np.testing.assert_allclose(ss["em_deep_cv_runs"].values, STEADY_P, rtol=1e-9)
    assert float(ss["em_std_error"].item()) > 0.1  # the plain ergodic mean of the same runs varies
    # A wrong SDnet still converges to U(P): within 3 standard errors over long runs.
    bad = deepska.steady_state(net, oracle(net, perturb=0.3), {"R": 0, "P": 0}, horizon=2000.0, runs=6,
                               burn_in=20.0, seed=4)
    z = (float(bad["em_deep_cv"].item()) - STEADY_P) / float(bad["em_deep_cv_std_error"].item())
    assert abs(z) < 3 and float(bad["em_deep_cv_std_error"].item()) < float(bad["em_std_error"].item())


def test_deep_ipa_with_the_exact_u_estimates_the_variance(net):
    times = [2.0, 10.0]
    v = deepska.variance(net, oracle(net), {"R": 0, "P": 0}, times, 1000, seed=6)
    for t in times:
        m1, m2 = exact_moments(t)
        got = v.sel(output="P", time=t)
        assert abs(float(got["deep_ipa"]) - (m2 - m1**2)) < 3 * float(got["deep_ipa_std_error"])
        assert abs(float(got["sample_variance"]) - (m2 - m1**2)) < 3 * float(got["sample_variance_std_error"])
        # DeepIPA's error is far below the sample variance's on the same trajectories.
        assert float(got["deep_ipa_std_error"]) < 0.3 * float(got["sample_variance_std_error"])


def test_deep_is_weights_estimate_any_output_and_deep_cv_refuses_others(net):
    # The tilt by P's SDnet with the likelihood ratio gives unbiased samples of any function: here R.
    est = deepska.estimate(net, oracle(net), {"R": 0, "P": 0}, [2.0], 1000, "deep_is", tilt="P", outputs=["R"],
                           seed=8, dt=0.1)
    mean_r = KR / GR * (1 - math.exp(-GR * 2.0))
    assert abs(float(est["estimate"].item()) - mean_r) < 3 * float(est["std_error"].item())
    with pytest.raises(ValueError, match="deep_cv estimates the SDnet's own outputs"):
        deepska.estimate(net, oracle(net), {"R": 0, "P": 0}, [2.0], 10, "deep_cv", outputs=["R"])


def test_fit_reads_the_data_from_netcdf_and_zarr(net, small_data, tmp_path):
    small_data.to_netcdf(tmp_path / "d.nc")
    small_data.to_zarr(tmp_path / "d.zarr")
    results = []
    for path in (tmp_path / "d.nc", tmp_path / "d.zarr"):
        sd = deepska.SDnet(net, ["P"], modes=2, hidden=(4, 4), steady=[STEADY_P], init_seed=1)
        results.append(deepska.fit(sd, path, steps=3, segments=100, accumulate=1).train_loss)
    sd = deepska.SDnet(net, ["P"], modes=2, hidden=(4, 4), steady=[STEADY_P], init_seed=1)
    assert results[0] == results[1] == deepska.fit(sd, small_data, steps=3, segments=100, accumulate=1).train_loss
    with pytest.raises(ValueError, match="trajectories from pycrn.deepska.generate"):
        deepska.fit(sd, small_data.drop_attrs(), steps=1)


def test_ergodic_mean_is_the_steady_state_mean(net):
    # Four independent runs: their spread gives the standard error of their mean.
    runs = np.array([deepska.ergodic_mean(net, ["P"], burn_in=20.0, horizon=1000.0, runs=1, seed=s)[0]
                     for s in range(4)])
    assert abs(runs.mean() - STEADY_P) < 4 * runs.std(ddof=1) / 2


def test_ergodic_mean_standard_error_matches_the_integrated_autocovariance(net):
    # A linear network: Cov(X(s), X(0)) = exp(A s) S at stationarity (A the drift matrix, S the stationary
    # covariance, A S + S A^T + D = 0), so a time average over a window W has variance 2 [-A^-1 S]_PP / W
    # (up to O(1/W^2)). 20 runs: the estimated standard error has a relative spread of 1/sqrt(38) = 0.16,
    # so a ratio within [0.55, 1.45] is a 2.8-sigma band.
    burn_in, horizon, runs = 20.0, 2000.0, 20
    mean, se = deepska.ergodic_mean(net, ["P"], burn_in=burn_in, horizon=horizon, runs=runs, seed=7, std_error=True)
    assert mean == pytest.approx(deepska.ergodic_mean(net, ["P"], burn_in=burn_in, horizon=horizon, runs=runs, seed=7),
                                 abs=0)
    drift = np.array([[-GR, 0.0], [KP, -GP]])  # d/dt (E R, E P)
    r_bar = KR / GR
    noise = np.diag([KR + GR * r_bar, KP * r_bar + GP * STEADY_P])  # births and deaths of R and P
    cov = scipy.linalg.solve_continuous_lyapunov(drift, -noise)
    expected_se = math.sqrt(2 * (-np.linalg.solve(drift, cov))[1, 1] / (horizon - burn_in) / runs)
    assert 0.55 < se[0] / expected_se < 1.45
    assert abs(mean[0] - STEADY_P) < 3.5 * expected_se
    with pytest.raises(ValueError, match="runs >= 2"):
        deepska.ergodic_mean(net, ["P"], horizon=200.0, runs=1, std_error=True)


def test_steady_scaling_divides_by_one_plus_the_steady_mean(net, small_data):
    from pycrn.deepska.training import _Segments

    sd = oracle(net, perturb=0.3)
    seg = _Segments(sd, small_data, torch.device("cpu"))
    with torch.no_grad():
        # One step (omega = 1 gives the single abar = alpha): the loss is L((f - F) / delta) averaged.
        rows, alpha, omega = np.arange(50), 3, 1
        states = small_data["state"].values[rows]
        mart = small_data["martingale"].values[rows].astype(np.float64)
        dtype = sd.steady.dtype
        x = torch.as_tensor(states[:, alpha], dtype=dtype)
        target = torch.as_tensor(states[:, alpha + 1, 1], dtype=dtype)  # f = P
        dm = torch.as_tensor(mart[:, alpha + 1] - mart[:, alpha], dtype=dtype)
        dt = float(small_data["time"][alpha + 1] - small_data["time"][alpha])
        pred = sd(x, dt)[:, 0] + (sd.delta(x, dt)[:, :, 0] * dm).sum(1)
        r = (target - pred) / (1 + STEADY_P)
        expected = torch.where(r.abs() < 1, r * r, 2 * r.abs() - 1).mean()
        assert float(seg.loss(sd, rows, alpha, omega, "steady")) == pytest.approx(float(expected), rel=1e-12)
        assert float(seg.loss(sd, rows, alpha, omega, "batch")) != pytest.approx(float(expected), rel=1e-3)


def test_training_ignores_the_process_thread_count(net, small_data):
    # torch splits the gradient's sums between its threads, and another split rounds otherwise: fit runs with its
    # own thread count (default 1), so the process's setting must not change the trained parameters.
    def trained(process_threads: int) -> deepska.SDnet:
        before = torch.get_num_threads()
        torch.set_num_threads(process_threads)
        try:
            sd = deepska.SDnet(net, ["P", "P**2"], modes=6, steady=[STEADY_P, STEADY_P**2], init_seed=4)
            deepska.fit(sd, small_data, steps=15, segments=8000, accumulate=2)
            assert torch.get_num_threads() == process_threads  # restored
        finally:
            torch.set_num_threads(before)
        return sd

    one, two = trained(1), trained(2)
    for a, b in zip(one.state_dict().values(), two.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        deepska.fit(one, small_data, steps=1, threads=0)
    with pytest.raises(ValueError, match="threads must be a positive integer, got 1.5"):
        deepska.estimate(net, one, {"R": 0, "P": 0}, [1.0], 10, threads=1.5)


def test_deep_is_tilt_is_sdnets_and_its_samples_do_not_depend_on_the_batch(net):
    # The kernel computes U(y, tau) = steady + features(y) . W(tau); it must be SDnet's own value.
    sd = deepska.SDnet(net, ["P", "P**2"], modes=5, steady=[STEADY_P, STEADY_P**2], init_seed=3)
    with torch.no_grad():
        sd.frequency.normal_(generator=torch.Generator().manual_seed(1))
        sd.coord_imag.normal_(generator=torch.Generator().manual_seed(2))
    x = np.array([[0, 0], [3, 7], [12, 40]])
    tau = np.array([0.0, 0.3, 4.0])
    for i in range(2):
        mine = sd.steady[i].item() + np.einsum("nc,nc->n", sd.features(x), sd.time_weights(i, tau))
        np.testing.assert_allclose(mine, sd(x, tau).detach().numpy()[:, i], rtol=1e-5)
    # Each sample runs on its own stream, and stops for missing features before drawing: the batch changes nothing.
    a = deepska.estimate(net, sd, {"R": 0, "P": 0}, [1.0, 2.0], 300, "deep_is", seed=4, dt=0.1)
    b = deepska.estimate(net, sd, {"R": 0, "P": 0}, [1.0, 2.0], 300, "deep_is", seed=4, dt=0.1, batch=7)
    np.testing.assert_array_equal(a["estimate"].values, b["estimate"].values)
    np.testing.assert_array_equal(a["variance"].values, b["variance"].values)


def test_deep_is_kernel_stops_at_the_int64_limit_and_counts_are_never_read_through_floats(monkeypatch):
    bd = pycrn.models.birth_death()
    sd = deepska.SDnet(bd, ["X"], modes=2, steady=[10.0])
    big = 2**63 - 1
    with pytest.raises(pycrn.SimulationError, match="past 9,223,372,036,854,775,807"):
        deepska.estimate(bd, sd, {"X": big}, [1.0], 10, "deep_is", seed=0)
    # The same from the compiled kernel itself (the pilot run that seeds SDnet's feature table would stop first).
    monkeypatch.setattr(estimators, "simulate_paths", lambda net, x0, T, seq, first, count: [(np.zeros(1), x0[None])])
    with pytest.raises(pycrn.SimulationError, match="'X'"):
        deepska.estimate(bd, sd, {"X": big}, [1.0], 10, "deep_is", seed=0)
    for bad in (2**64, 1.5, -1):
        with pytest.raises(ValueError, match="x0 must be 1 non-negative integer count"):
            deepska.estimate(bd, sd, {"X": bad}, [1.0], 10, "deep_cv")
    with pytest.raises(ValueError, match="above 2\\*\\*53"):
        deepska.estimate(bd, sd, {"X": 2.0**60}, [1.0], 10, "deep_cv")


def test_from_start_moves_a_share_of_the_segments_to_time_zero(net, small_data):
    from pycrn.deepska.training import _Segments

    sd = deepska.SDnet(net, ["P"], modes=2, steady=[STEADY_P])
    seg = _Segments(sd, small_data, torch.device("cpu"))
    # 0 is the seed's scheme, drawn exactly as before the option existed.
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(50):
        rows, alpha, omega = seg.draw(a, 400)
        w = int(b.integers(1, seg.J + 1))
        assert (alpha, omega) == (int(b.integers(0, seg.J - w + 1)), w)
        np.testing.assert_array_equal(rows, np.sort(b.choice(seg.n, size=max(1, min(seg.n, 400 // w)), replace=False)))
    rng = np.random.default_rng(6)
    assert all(seg.draw(rng, 400, 1.0)[1] == 0 for _ in range(50))
    rng = np.random.default_rng(7)
    starts = [seg.draw(rng, 400, 0.5)[1] for _ in range(400)]
    zero = np.mean(np.equal(starts, 0))  # 0.5 plus the uniform start's own chance of 0 (about 0.5 * H_J / J)
    assert abs(zero - 0.5 - 0.5 * sum(1 / k for k in range(1, seg.J + 1)) / seg.J) < 3 * math.sqrt(0.25 / 400)
    with pytest.raises(ValueError, match="from_start must be a probability in"):
        deepska.fit(sd, small_data, steps=1, from_start=1.5)


def test_sum_reduction_is_the_seeds_s63_and_keeps_its_own_checkpoint(net, small_data, tmp_path):
    from pycrn.deepska.training import _Segments

    sd = oracle(net, perturb=0.3)
    seg = _Segments(sd, small_data, torch.device("cpu"))
    rows, alpha, omega = np.arange(40), 2, 6
    with torch.no_grad():
        # Per trajectory: the penalties of the segment's start points abar = alpha .. beta - 1, summed (eq. S63).
        states = small_data["state"].values[rows]
        dm = torch.as_tensor(np.diff(small_data["martingale"].values[rows].astype(np.float64), axis=1))
        x = torch.as_tensor(states[:, alpha:alpha + omega], dtype=torch.float64)
        total = torch.zeros(rows.size, dtype=torch.float64)
        for q in range(omega):
            tail = sum((sd.delta(x[:, j], float(seg.times[alpha + omega] - seg.times[alpha + j]))[:, :, 0]
                        * dm[:, alpha + j]).sum(1) for j in range(q, omega))
            pred = sd(x[:, q], float(seg.times[alpha + omega] - seg.times[alpha + q]))[:, 0] + tail
            r = (torch.as_tensor(states[:, alpha + omega, 1], dtype=torch.float64) - pred) / (1 + STEADY_P)
            total += torch.where(r.abs() < 1, r * r, 2 * r.abs() - 1)
        assert float(seg.loss(sd, rows, alpha, omega, "steady", "sum")) == pytest.approx(float(total.mean()), rel=1e-10)
        assert float(seg.loss(sd, rows, alpha, omega, "steady")) == pytest.approx(float(total.mean()) / omega, rel=1e-10)
    small = deepska.SDnet(net, ["P"], modes=2, steady=[STEADY_P])
    deepska.fit(small, small_data, steps=2, segments=200, accumulate=1, reduction="mean",
                checkpoint=tmp_path / "c.ckpt", progress=False)
    with pytest.raises(ValueError, match="other data, options"):  # the default is "sum"
        deepska.fit(small, small_data, steps=2, segments=200, accumulate=1, checkpoint=tmp_path / "c.ckpt",
                    progress=False)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        deepska.fit(small, small_data, steps=2, reduction="max")
    (tmp_path / "c.ckpt").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"checkpoint .*c\.ckpt cannot be read .*; delete it to start over"):
        deepska.fit(small, small_data, steps=2, segments=200, accumulate=1, reduction="mean",
                    checkpoint=tmp_path / "c.ckpt", progress=False)
    small.save(tmp_path / "small.pt")
    assert deepska.load(tmp_path / "small.pt", net).outputs.names == ["P"]
    for content in (b"junk", None):
        if content is None:
            torch.save({"weights": torch.zeros(1)}, tmp_path / "small.pt")
        else:
            (tmp_path / "small.pt").write_bytes(content)
        with pytest.raises(ValueError, match=r"small\.pt (cannot be read|is not an SDnet written by SDnet\.save)"):
            deepska.load(tmp_path / "small.pt", net)


def test_the_benchmarks_backward_equation_gives_the_exact_moments(net):
    """benchmarks/deepska_exact_curves.py, which grades SDnets against exact curves, against the closed form."""
    bench = load_benchmark("deepska_exact_curves")
    states = np.array([[0, 0], [2, 1], [7, 40]])
    mean, second, steady = bench.exact(net, ["P", "P**2"], {"R": 35, "P": 150}, states, np.linspace(0.0, 5.0, 3))
    for i, (r0, p0) in enumerate(states):
        for k, t in enumerate((0.0, 2.5, 5.0)):
            assert mean[k, i] == pytest.approx(exact_moments(t, r0, p0), rel=1e-9)
            assert second[k, i, 0] == pytest.approx(exact_moments(t, r0, p0)[1], rel=1e-9)
    assert steady == pytest.approx([KR * KP / (GR * GP), 1693.3333333333333], rel=1e-8)  # a sparse solve


def test_deep_cv_variance_is_the_isometry_integral(net):
    """DeepCV's variance, computed exactly by the benchmark from the forward and backward equations (the isometry of
    stochastic integrals against compensated counting processes), against the sample variance of pycrn's estimator,
    for a perturbed SDnet (a poor one, so the variance is far from 0). The tolerance comes from the spread of 20
    independent batch variances; plain SSA's integral must equal Var P(t) from the closed-form moments."""
    bench = load_benchmark("deepska_exact_curves")
    sd = oracle(net, perturb=0.3)
    t = 5.0
    exact = bench.deep_cv_variance(net, ["P"], {"R": 35, "P": 150}, np.array([[0, 0]]), t, {"sd": sd})
    m1, m2 = exact_moments(t)
    assert exact["ssa"][0][0] == pytest.approx(m2 - m1**2, rel=1e-4)
    want = exact["models"]["sd"]["deep_cv"][0][0]
    assert want < 0.5 * (m2 - m1**2)  # a variance reduction, but far from none
    n = 300
    batches = [float(deepska.estimate(net, sd, {"R": 0, "P": 0}, [t], n, "deep_cv", seed=100 + b)
                     ["std_error"].sel(output="P").item()) ** 2 * n for b in range(20)]
    got, se = np.mean(batches), np.std(batches, ddof=1) / np.sqrt(len(batches))
    assert abs(got - want) < 4 * se, (got, want, se)
    assert se < 0.1 * want  # the check has power: a 40% error in the variance would fail it


def test_agreement_counts_the_band_and_the_tolerance_against_ssa(net):
    """The exact curve lies within +-5% of a 4,000-sample SSA mean at every time from t = 2 (where 5% of E[P] is
    at least 5 standard errors), and inside the 95% interval at most times; a curve 10% off is never within either;
    the horizon splits the shares."""
    times = np.linspace(2.0, 20.0, 19)
    ssa = deepska.estimate(net, None, {"R": 0, "P": 0}, times, 4000, "ssa", seed=3, outputs=["P"])
    exact = oracle(net).predict({"R": 0, "P": 0}, times)
    assert np.all(0.05 * ssa["estimate"].values >= 5 * ssa["std_error"].values)
    ok = deepska.agreement(exact, ssa, horizon=10.0)
    assert float(ok["within_tolerance"].sel(output="P")) == 1.0
    # 19 times at nominal 95% coverage each, positively correlated along one set of paths: well above 2/3.
    assert float(ok["inside_ci"].sel(output="P")) >= 2 / 3
    assert float(ok["max_relative_error"].sel(output="P")) < 0.05
    off = deepska.agreement(exact * 1.10, ssa)
    assert float(off["within_tolerance"].sel(output="P")) == 0.0 and float(off["inside_ci"].sel(output="P")) == 0.0
    late = exact.where(exact["time"] <= 10.0, exact * 1.10)
    split = deepska.agreement(late, ssa, horizon=10.0)
    assert float(split["within_tolerance_within_horizon"].sel(output="P")) == 1.0
    assert float(split["within_tolerance_beyond_horizon"].sel(output="P")) == 0.0
    assert split.attrs["tolerance"] == 0.05 and split.attrs["horizon"] == 10.0


def test_agreement_names_bad_input(net):
    times = np.array([1.0, 2.0])
    ssa = deepska.estimate(net, None, {"R": 0, "P": 0}, times, 50, "ssa", seed=1, outputs=["P"])
    curve = oracle(net).predict({"R": 0, "P": 0}, times)
    with pytest.raises(ValueError, match="same times"):
        deepska.agreement(curve, deepska.estimate(net, None, {"R": 0, "P": 0}, [1.0, 3.0], 50, "ssa", seed=1,
                                                     outputs=["P"]))
    with pytest.raises(ValueError, match="no output 'P\\*\\*2'"):
        deepska.agreement(_with_square(net, oracle(net)).predict({"R": 0, "P": 0}, times), ssa)
    with pytest.raises(ValueError, match="tolerance"):
        deepska.agreement(curve, ssa, tolerance=-0.1)
    with pytest.raises(ValueError, match="ci_low"):
        deepska.agreement(curve, ssa.drop_vars("ci_low"))


def test_the_authors_models_benchmark_reports_both_curve_criteria_and_can_skip_the_estimators(net):
    bench = load_benchmark("deepska_authors_models")
    times = np.linspace(2.0, 30.0, 8)
    ssa = deepska.estimate(net, None, {"R": 0, "P": 0}, times, 2000, "ssa", seed=4, outputs=["P"])
    row, _ = bench._evaluate(deepska, net, oracle(net), {"R": 0, "P": 0}, times, ssa, 0, 5.0, 20.0)
    assert row["within_5pct"] == {"P": 1.0} and "variance_ratio_deep_cv" not in row
    assert len(row["curve"]["sdnet"][0]) == times.size and row["within_5pct_beyond_horizon"]["P"] == 1.0
    row, _ = bench._evaluate(deepska, net, oracle(net, perturb=0.3), {"R": 0, "P": 0}, times, ssa, 40, 5.0, 20.0,
                             pilot=20)
    assert row["within_5pct"]["P"] < 1.0 and row["variance_ratio_deep_cv"]["P"] > 0
    assert row["variance_ratio_deep_cv_pilot"]["P"] > 0 and len(row["deep_cv_pilot_coefficient"]) == 1


@pytest.mark.parametrize("which", ["untrained", "perturbed"])
def test_deep_cv_with_the_pilot_coefficient_is_unbiased_whatever_the_sdnet(net, which):
    """rho* comes from pilot trajectories independent of the estimate's, so the estimate stays unbiased."""
    if which == "untrained":
        sd = deepska.SDnet(net, ["P", "P**2"], modes=4, steady=[STEADY_P, STEADY_P2], init_seed=11)
    else:
        sd = _with_square(net, oracle(net, perturb=0.3))
    times = [5.0, 20.0]
    est = deepska.estimate(net, sd, {"R": 0, "P": 0}, times, 1000, "deep_cv", seed=22, coefficient="pilot", pilot=100)
    assert est.attrs["coefficient"] == "pilot" and est.attrs["pilot"] == 100
    for t in times:
        for name, exact in zip(("P", "P**2"), exact_moments(t)):
            got = est.sel(output=name, time=t)
            z = (float(got["estimate"]) - exact) / float(got["std_error"])
            assert abs(z) < 3, (which, name, t, float(got["estimate"]), exact, float(got["std_error"]))


def test_the_pilot_coefficient_undoes_a_misscaled_sdnet(net):
    """With U's deviation from the steady state halved, Z is half the exact control variate: rho* = 2 exactly, and
    f - 2 Z has zero variance, where the seed's f - Z keeps half of plain SSA's spread. The estimate's trajectories
    are the same whatever the coefficient."""
    sd = oracle(net)
    with torch.no_grad():
        sd.coord_real.mul_(0.5)
    x0, times = {"R": 0, "P": 0}, [2.0, 5.0]
    plain = deepska.estimate(net, sd, x0, times, 300, "deep_cv", seed=3)
    tuned = deepska.estimate(net, sd, x0, times, 300, "deep_cv", seed=3, coefficient="pilot", pilot=50)
    fixed = deepska.estimate(net, sd, x0, times, 300, "deep_cv", seed=3, coefficient=2.0)
    np.testing.assert_array_equal(plain["ssa_estimate"].values, tuned["ssa_estimate"].values)
    np.testing.assert_allclose(tuned["coefficient"].values, 2.0, rtol=1e-9)
    np.testing.assert_array_equal(plain["coefficient"].values, 1.0)
    assert np.all(tuned["variance"].values < 1e-12 * plain["ssa_variance"].values)
    assert np.all(plain["variance"].values > 0.2 * plain["ssa_variance"].values)
    np.testing.assert_allclose(fixed["estimate"].values, tuned["estimate"].values, rtol=1e-9)
    for t in times:
        assert float(tuned["estimate"].sel(output="P", time=t)) == pytest.approx(exact_moments(t)[0], rel=1e-9)


def test_the_coefficient_is_checked(net):
    sd = oracle(net)
    for bad in ("best", float("nan"), None):
        with pytest.raises(ValueError, match="coefficient"):
            deepska.estimate(net, sd, {"R": 0, "P": 0}, [1.0], 10, "deep_cv", coefficient=bad)
    with pytest.raises(ValueError, match="pilot must be at least 2"):
        deepska.estimate(net, sd, {"R": 0, "P": 0}, [1.0], 10, "deep_cv", coefficient="pilot", pilot=1)
    with pytest.raises(ValueError, match="applies to method 'deep_cv'"):
        deepska.estimate(net, sd, {"R": 0, "P": 0}, [1.0], 10, "deep_is", coefficient="pilot")


def test_pilot_streams_are_numpys_children_of_a_key_no_trajectory_takes():
    from pycrn.engines.rng import seed_states

    root = np.random.SeedSequence(5)
    pilot = np.random.SeedSequence(root.entropy, spawn_key=(estimators._PILOT_KEY,))
    got = seed_states(pilot, 3)
    np.testing.assert_array_equal(got, [c.generate_state(4, np.uint64) for c in pilot.spawn(3)])
    main = seed_states(root, 2**10)
    assert not any((main == row).all(1).any() for row in got)
