"""MDN abstractions (pycrn.abstraction): data, likelihood, sampling, training, resume, distances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from scipy.special import logsumexp

import pycrn

torch = pytest.importorskip("torch")
ab = pycrn.abstraction


@pytest.fixture(scope="module")
def sir_data():
    net = pycrn.models.sir_frequency()
    states = ab.sample_states({"S": (30, 199), "I": (30, 199), "R": (30, 199)}, 60, seed=1, net=net)
    return net, ab.generate(net, states, dt=0.5, steps=4, trajectories_per_state=5, seed=2, threads=1)


def scaled_model(kind="normal", components=3, seed=0):
    torch.manual_seed(seed)
    model = ab.MDN(["A", "B"], hidden=(16,), components=components, kind=kind, dt=1.0)
    data = xr.Dataset(
        {
            "x_mean": ("species", [50.0, 20.0]),
            "x_std": ("species", [10.0, 5.0]),
            "log_mean": ("species", [3.9, 3.0]),
            "log_std": ("species", [0.2, 0.25]),
        },
        coords={"species": ["A", "B"]},
    )
    model.set_scaling(data)
    with torch.no_grad():  # spread the components so that the mixture is far from one normal
        model.loc.bias.copy_(torch.linspace(-2, 2, components * 2))
    return model.double().eval()


# ----------------------------------------------------------------------------- data


def test_sample_states_bounds_and_latin_hypercube():
    uni = ab.sample_states({"S": (30, 199), "I": (0, 5)}, 500, seed=3)
    assert uni["S"].min() >= 30 and uni["S"].max() <= 199 and set(uni["I"]) <= set(range(6))
    lhs = ab.sample_states({"A": (0, 99), "B": (100, 199)}, 100, seed=3, design="lhs")
    # a Latin hypercube over 100 values with 100 points hits every value of each coordinate exactly once
    assert sorted(lhs["A"]) == list(range(100)) and sorted(lhs["B"]) == list(range(100, 200))
    again = ab.sample_states({"A": (0, 99), "B": (100, 199)}, 100, seed=3, design="lhs")
    np.testing.assert_array_equal(lhs["A"], again["A"])
    net = pycrn.models.sir_frequency()
    full = ab.sample_states({"S": (1, 2)}, 4, seed=0, net=net)
    assert list(full) == ["S", "I", "R"] and (full["I"] == 100).all()
    with pytest.raises(pycrn.ModelError, match="Q"):
        ab.sample_states({"Q": (1, 2)}, 4, net=net)
    with pytest.raises(ValueError, match="low <= high"):
        ab.sample_states({"S": (5, 2)}, 4)
    # a fractional bound is refused, not truncated to the integer below it
    for bad in [(0, 2.5), (0.5, 3), (True, 3), ("a", 3), (0, 1, 2)]:
        with pytest.raises(ValueError, match="'S'.*pair of integers"):
            ab.sample_states({"S": bad}, 4)
    whole = ab.sample_states({"S": (0.0, 3.0)}, 50, seed=1)  # whole floats (from JSON) are counts
    assert whole["S"].dtype == np.int64 and whole["S"].max() <= 3


def test_generate_pairs_are_consecutive_states_and_reproducible(sir_data, tmp_path):
    net, data = sir_data
    assert data.sizes["pair"] == 60 * 5 * 4 and list(data["species"].values) == ["S", "I", "R"]
    x, y = data["x"].values, data["y"].values
    # pairs of one trajectory are in step order: y of step k is x of step k + 1
    same = (data["step"].values[:-1] + 1 == data["step"].values[1:])
    np.testing.assert_array_equal(y[:-1][same], x[1:][same])
    # every first state is the setting's initial state
    first = data["step"].values == 0
    np.testing.assert_array_equal(x[first], data["initial_state"].values[data["setting_id"].values[first]])
    # S + I + R is conserved by the SIR network
    np.testing.assert_array_equal(x.sum(1), y.sum(1))
    np.testing.assert_allclose(data["x_mean"].values, x.mean(0))
    np.testing.assert_allclose(data["x_std"].values, x.std(0))
    assert data.attrs["dt"] == 0.5 and data.attrs["method"] == "direct" and "S + I => 2I" in data.attrs["model"]
    states = data["initial_state"].values
    again = ab.generate(net, states, dt=0.5, steps=4, trajectories_per_state=5, seed=2, threads=2)
    np.testing.assert_array_equal(again["x"].values, x)
    np.testing.assert_array_equal(again["y"].values, y)
    data.to_netcdf(tmp_path / "pairs.nc")
    back = ab.open_pairs(tmp_path / "pairs.nc")
    np.testing.assert_array_equal(back["y"].values, y)
    assert back.attrs["dt"] == 0.5


def test_generate_rejects_bad_arguments():
    net = pycrn.models.sir_frequency()
    with pytest.raises(ValueError, match="species order"):
        ab.generate(net, np.ones((3, 2), int), dt=1, steps=1, trajectories_per_state=1, seed=0)
    with pytest.raises(pycrn.ModelError, match="X"):
        ab.generate(net, {"X": [1, 2]}, dt=1, steps=1, trajectories_per_state=1, seed=0)
    with pytest.raises(ValueError, match="dt"):
        ab.generate(net, np.ones((3, 3), int), dt=0, steps=1, trajectories_per_state=1, seed=0)
    with pytest.raises(ValueError, match="non-negative integers"):
        ab.generate(net, np.full((1, 3), -1), dt=1, steps=1, trajectories_per_state=1, seed=0)


# ------------------------------------------------------------------- likelihood


@pytest.mark.parametrize("kind", ["normal", "lognormal"])
def test_log_prob_is_the_mixture_density_over_counts(kind):
    model = scaled_model(kind)
    rng = np.random.default_rng(0)
    x = rng.uniform(10, 90, size=(50, 2))
    y = rng.uniform(5, 80, size=(50, 2))
    got = model.log_prob(torch.tensor(x), torch.tensor(y)).detach().numpy()
    with torch.no_grad():
        log_w, loc, scale = (t.numpy() for t in model(torch.tensor(x)))
    t_mean, t_std = model.t_mean.numpy(), model.t_std.numpy()
    m = loc * t_std + t_mean  # (batch, K, n) in counts (or log(1 + counts))
    s = scale * t_std
    if kind == "normal":
        comp = stats.norm.logpdf(y[:, None, :], m, s).sum(-1)
    else:  # 1 + y log-normal with log-mean m and log-sd s
        comp = stats.lognorm.logpdf(1 + y[:, None, :], s=s, scale=np.exp(m)).sum(-1)
    want = logsumexp(log_w + comp, axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_log_prob_is_finite_far_from_every_component():
    model = scaled_model()
    # ~1e4 standard deviations away: every component's density underflows to 0 in linear space
    lp = model.log_prob(torch.tensor([[50.0, 20.0]]), torch.tensor([[1e5, -1e5]]))
    assert torch.isfinite(lp).all() and lp.item() < -1e6


@pytest.mark.parametrize("kind", ["normal", "lognormal"])
def test_samples_match_the_mixture_moments(kind):
    model = scaled_model(kind, components=3, seed=4).float()
    x = np.array([[40.0, 25.0], [70.0, 10.0]])
    mean, var = model.moments(x)
    n = 200_000
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        draws = model.sample(torch.tensor(np.repeat(x, n, axis=0), dtype=torch.float32), generator=g)
    draws = draws.double().numpy().reshape(2, n, 2)
    sm, sv = draws.mean(1), draws.var(1, ddof=1)
    m4 = ((draws - sm[:, None, :]) ** 4).mean(1)
    z_mean = (sm - mean) / np.sqrt(var / n)
    z_var = (sv - var) / np.sqrt((m4 - sv**2) / n)
    # 8 z-scores, Bonferroni at alpha = 0.001: |z| < 3.9 (one-sided normal quantile 1 - 0.001/16)
    assert np.abs(z_mean).max() < 3.9, z_mean
    assert np.abs(z_var).max() < 3.9, z_var
    if kind == "lognormal":
        assert draws.min() > -1  # 1 + y > 0 by construction


# ---------------------------------------------------------------------- training


def test_trained_kernel_matches_the_exact_immigration_death_transition():
    """At large counts the one-step law is Binomial(x, e^-mu dt) + Poisson(alpha/mu (1 - e^-mu dt)), nearly normal."""
    net = pycrn.parse(
        """
        @parameters alpha=1000.0 mu=1.0
        @species X=1000
        alpha, 0 --> X
        mu, X --> 0
        """
    )
    dt = 0.5
    states = ab.sample_states({"X": (600, 1400)}, 400, seed=11)
    data = ab.generate(net, states, dt=dt, steps=1, trajectories_per_state=100, seed=12)
    model = ab.MDN(["X"], hidden=(32,), components=2, max_norm=None)
    history = ab.fit(model, data, epochs=40, batch_size=256, lr=3e-3, patience=8, seed=13, progress=False)
    assert history.val_loss[history.best_epoch] < history.val_loss[0]
    x = np.array([[700.0], [1000.0], [1300.0]])
    p = math.exp(-dt)
    exact_mean = x[:, 0] * p + 1000 * (1 - p)
    exact_var = x[:, 0] * p * (1 - p) + 1000 * (1 - p)
    mean, var = model.moments(x)
    # the conditional sd is about 27: the mean within a quarter of it, the variance within 20%
    # (40,000 pairs: the Monte Carlo error of a fitted variance is a few per cent)
    np.testing.assert_allclose(mean[:, 0], exact_mean, atol=0.25 * math.sqrt(exact_var.max()))
    np.testing.assert_allclose(var[:, 0], exact_var, rtol=0.2)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_after_an_interruption_gives_the_same_parameters(sir_data, tmp_path):
    _, data = sir_data
    opts = dict(epochs=4, batch_size=64, patience=None, seed=5, progress=False)

    torch.manual_seed(0)
    whole = ab.MDN.sir(input_noise=0.1, dropout=0.1)
    ab.fit(whole, data, checkpoint=tmp_path / "whole.ckpt", **opts)

    torch.manual_seed(0)
    part = ab.MDN.sir(input_noise=0.1, dropout=0.1)

    def stop(epoch, history):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ab.fit(part, data, checkpoint=tmp_path / "part.ckpt", callback=stop, **opts)
    torch.manual_seed(123)  # a fresh process: another initialisation, another global RNG state
    resumed = ab.MDN.sir(input_noise=0.1, dropout=0.1)
    history = ab.fit(resumed, data, checkpoint=tmp_path / "part.ckpt", **opts)
    assert history.epochs == 4
    a, b = weights(whole), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # another seed is another run: the checkpoint refuses it
    with pytest.raises(ValueError, match="checkpoint"):
        ab.fit(ab.MDN.sir(), data, checkpoint=tmp_path / "part.ckpt", **{**opts, "seed": 6})
    # so is a model whose initial weights were seeded otherwise
    with pytest.raises(ValueError, match="checkpoint"):
        ab.fit(ab.MDN.sir(seed=1, input_noise=0.1, dropout=0.1), data, checkpoint=tmp_path / "part.ckpt", **opts)
    # a damaged checkpoint is named, with what to do (torch's own error is a bare struct or zip error)
    (tmp_path / "part.ckpt").write_bytes((tmp_path / "part.ckpt").read_bytes()[:200])
    with pytest.raises(ValueError, match=r"checkpoint .*part\.ckpt cannot be read .*; delete it to start over"):
        ab.fit(ab.MDN.sir(input_noise=0.1, dropout=0.1), data, checkpoint=tmp_path / "part.ckpt", **opts)


def test_early_stopping_keeps_the_best_weights(sir_data):
    _, data = sir_data
    torch.manual_seed(1)
    model = ab.MDN.sir()
    history = ab.fit(model, data, epochs=60, batch_size=32, lr=3e-2, patience=2, seed=0, dequantize=False, progress=False)
    assert history.stopped_early and history.epochs < 60
    assert history.epochs - 1 - history.best_epoch == 2
    val = ab.evaluate(model, *_val_tensors(model, data, seed=0))
    assert val == pytest.approx(history.val_loss[history.best_epoch], rel=1e-6)
    # max-norm holds on every unit
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            assert module.weight.norm(dim=1).max() <= 3.0 + 1e-5


def _val_tensors(model, data, seed):
    from pycrn.abstraction.training import _split

    _, val = _split(data, 0.1, seed)
    x = torch.as_tensor(val["x"].values, dtype=torch.float32)
    return x, model.to_target(torch.as_tensor(val["y"].values, dtype=torch.float32))


# -------------------------------------------------------------------- simulation


def test_simulate_shape_provenance_rounding_and_save_load(sir_data, tmp_path):
    net, data = sir_data
    torch.manual_seed(0)
    model = ab.MDN.sir(kind="lognormal")
    ab.fit(model, data, epochs=2, seed=0, progress=False)
    ds = model.simulate({"S": 100, "I": 50, "R": 20}, steps=6, trajectories=300, seed=9, round=True)
    assert dict(ds.sizes) == {"trajectory": 300, "time": 7}
    np.testing.assert_allclose(ds["time"].values, 0.5 * np.arange(7))
    assert ds["S"].dtype == np.int64 and int(ds["I"].min()) >= 0
    assert ds.attrs["method"] == "mdn_abstraction" and ds.attrs["model_name"] == "sir_frequency"
    assert ds.attrs["seed"] == 9 and "S + I => 2I" in ds.attrs["source_model"]
    several = model.simulate(np.array([[100, 50, 20], [30, 30, 30]]), steps=2, trajectories=5, seed=1)
    assert dict(several.sizes) == {"setting": 2, "trajectory": 5, "time": 3}
    sparse = model.simulate([100, 50, 20], steps=10, trajectories=4, seed=1, record_every=4)
    np.testing.assert_allclose(sparse["time"].values, [0, 2, 4, 5])

    path = model.save(tmp_path / "sir.pt")
    back = ab.load(path)
    assert back.species == ["S", "I", "R"] and back.dt == 0.5 and back.config == model.config
    again = back.simulate({"S": 100, "I": 50, "R": 20}, steps=6, trajectories=300, seed=9, round=True)
    xr.testing.assert_identical(ds, again)


def test_bad_input_is_refused_with_a_clear_error(sir_data, tmp_path):
    _, data = sir_data
    model = ab.MDN.sir()
    broken = data.copy(deep=True)
    broken["y"] = broken["y"].astype(float)
    broken["y"][7, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*\(7, 1\)"):
        ab.fit(model, broken, epochs=1, progress=False)
    reordered = data.isel(species=[1, 0, 2])
    with pytest.raises(ValueError, match="species order"):
        ab.fit(ab.MDN.sir(["S", "I", "R"]), reordered, epochs=1, progress=False)
    with pytest.raises(ValueError, match="dt = 0.25"):
        ab.fit(ab.MDN.sir(["S", "I", "R"], dt=0.25), data, epochs=1, progress=False)
    trained = ab.MDN.sir()
    ab.fit(trained, data, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"2 species per state, the abstraction has 3 \(S, I, R\)"):
        trained.simulate([1, 2], steps=1)
    with pytest.raises(ValueError, match="missing R"):
        trained.simulate({"S": 1, "I": 2}, steps=1)
    with pytest.raises(ValueError, match="untrained"):
        ab.MDN.sir(dt=0.5).simulate([1, 2, 3], steps=1)
    with pytest.raises(ValueError, match="untrained"):
        ab.MDN.sir().simulate([1, 2, 3], steps=1)
    with pytest.raises(ValueError, match="not a pycrn abstraction"):
        torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")
        ab.load(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"abstraction file .*junk\.pt cannot be read \(.*written by MDN\.save"):
        ab.load(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match=r"no abstraction at .*missing\.pt"):
        ab.load(tmp_path / "missing.pt")


# --------------------------------------------------------------------- distances


def test_histogram_distance():
    a = np.array([0.5, 1.5, 1.5, 2.5])
    assert ab.histogram_distance(a, a, bins=3, range=(0, 3)) == 0
    assert ab.histogram_distance(a, a + 10, bins=3, range=(0, 3)) == 2  # all of b lies above the range
    # p = (1/4, 1/2, 1/4), q = (1/2, 1/2, 0)
    assert ab.histogram_distance(a, [0.2, 0.4, 1.2, 1.7], bins=3, range=(0, 3)) == pytest.approx(0.5)
    per_setting = ab.histogram_distance(np.stack([a, a]), np.stack([a, a + 1]), bins=3, range=(0, 3))
    assert per_setting.shape == (2,) and per_setting[0] == 0
    ds = xr.Dataset({"S": (("trajectory",), a)})
    assert ab.histogram_distance(ds, ds, species="S", bins=3) == 0
    with pytest.raises(ValueError, match="species"):
        ab.histogram_distance(ds, ds)


def test_self_distance_of_two_exact_samples_is_below_cao_petzold_bound():
    rng = np.random.default_rng(0)
    n, bins = 2_000, 200
    d = [
        ab.histogram_distance(rng.poisson(100, n), rng.poisson(100, n), bins=bins, range=(0, 200))
        for _ in range(40)
    ]
    bound = ab.self_distance_bound(n, bins)
    assert ab.self_distance_bound(10_000, 200) == pytest.approx(0.1596, abs=1e-4)
    # Poisson(100) fills ~60 of the 200 bins: the mean is well below the bound, but of its order
    assert 0.25 * bound < np.mean(d) < bound


def test_seeded_initialisation_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a, b = ab.MDN.sir(seed=3), ab.MDN.sir(seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    c, d = ab.MDN.sir(), ab.MDN.sir()  # unseeded: torch's global RNG, as any module
    assert not torch.equal(c.loc.weight, d.loc.weight)


def test_assess_reports_distances_of_its_own_samples(sir_data):
    net, data = sir_data
    model = ab.MDN.sir(seed=0)
    ab.fit(model, data, epochs=2, seed=0, progress=False)
    states = np.array([[150, 40, 10], [60, 120, 30]])
    rep = ab.assess(model, net, states, species="S", steps=(1, 3), samples=400, range=(0.5, 200.5), seed=7)
    assert rep["distance"].shape == (2, 2) and rep.attrs["samples"] == 400
    again = ab.histogram_distance(rep["abstract"].values, rep["exact"].values, bins=200, range=(0.5, 200.5))
    np.testing.assert_allclose(rep["distance"].values, again)
    exact = rep["exact"].values
    # S never grows in the SIR network: the exact samples are at the right times from the right states
    assert (exact[:, 0] <= states[:, :1]).all() and (exact[:, 1] <= states[:, :1]).all()
    assert (exact[:, 1].mean(-1) < exact[:, 0].mean(-1)).all()
    assert rep.attrs["mean_distance_3"] == pytest.approx(float(rep["distance"].sel(step=3).mean()))
    assert 0 < rep.attrs["mean_self_distance_1"] < 2 * ab.self_distance_bound(400)
    with pytest.raises(ValueError, match="not a species"):
        ab.assess(model, net, states, species="Q")
