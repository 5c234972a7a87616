"""The GPU paths of the torch models: run only where a GPU is present (skipped elsewhere, CI included).

On a GPU the networks must compute what they compute on the CPU: the same
SDnet values and jump differences, the same training trajectory (segment
draws come from numpy, so only the floating-point reduction order differs),
the same estimates, and MDN samples from the same mixture.
``PYCRN_TEST_DEVICE`` names the device (default ``cuda``; ``cpu`` runs the
comparisons against the CPU itself, to check the tests).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

import pycrn

torch = pytest.importorskip("torch")
DEVICE = os.environ.get("PYCRN_TEST_DEVICE", "cuda")
if DEVICE.startswith("cuda") and not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from pycrn import abstraction as ab  # noqa: E402
from pycrn import deepska  # noqa: E402


@pytest.fixture(scope="module")
def net():
    return pycrn.models.constitutive_gene_expression()


def _sdnet(net, delta_network=False):
    sd = deepska.SDnet(net, ["P", "P**2"], modes=4, steady=[40.0, 1700.0], dtype="float64", init_seed=3,
                       delta_network=delta_network)
    sd.scale.copy_(torch.tensor([10.0, 40.0], dtype=torch.float64))
    return sd


@pytest.mark.parametrize("delta_network", [False, True])
def test_sdnet_on_the_gpu_gives_the_cpu_values_and_differences(net, delta_network):
    cpu = _sdnet(net, delta_network)
    gpu = _sdnet(net, delta_network).to(DEVICE)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, size=(500, 2)).astype(float)
    t = rng.uniform(0, 20, size=500)
    np.testing.assert_allclose(gpu(x, t).detach().cpu().numpy(), cpu(x, t).detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gpu.delta(x, t).detach().cpu().numpy(), cpu.delta(x, t).detach().numpy(), rtol=1e-10, atol=1e-10)


def test_fit_on_the_gpu_follows_the_cpu_fit(net):
    data = deepska.generate(net, {"R": (0, 3), "P": (0, 3)}, 300, T=2.0, dt=0.1, seed=3)
    runs = {}
    for name, device in (("cpu", "cpu"), ("gpu", DEVICE)):
        sd = _sdnet(net)
        history = deepska.fit(sd, data, steps=5, segments=500, accumulate=2, seed=1, device=device, progress=False)
        runs[name] = (np.array(history.train_loss), sd.to("cpu"))
    assert runs["cpu"][0][-1] < runs["cpu"][0][0]  # it trains
    np.testing.assert_allclose(runs["gpu"][0], runs["cpu"][0], rtol=1e-8)
    x = np.array([[0.0, 0.0], [5.0, 30.0]])
    np.testing.assert_allclose(runs["gpu"][1](x, [1.0, 2.0]).detach().numpy(),
                               runs["cpu"][1](x, [1.0, 2.0]).detach().numpy(), rtol=1e-8)


@pytest.mark.parametrize("method", ["deep_cv", "deep_is"])
def test_estimators_with_an_sdnet_on_the_gpu_give_the_cpu_estimates(net, method):
    cpu, gpu = _sdnet(net), _sdnet(net).to(DEVICE)
    for sd in (cpu, gpu):
        sd.horizon = None  # untrained: the estimators stay unbiased, and the two devices must agree
    est = {}
    for name, sd in (("cpu", cpu), ("gpu", gpu)):
        est[name] = deepska.estimate(net, sd, {"R": 2, "P": 10}, [1.0, 5.0], 200, method, seed=4)
    np.testing.assert_allclose(est["gpu"]["estimate"].values, est["cpu"]["estimate"].values, rtol=1e-9)
    np.testing.assert_allclose(est["gpu"]["std_error"].values, est["cpu"]["std_error"].values,
                               rtol=1e-7)


def test_mdn_samples_on_the_gpu_match_the_mixture_moments():
    torch.manual_seed(4)
    model = ab.MDN(["A", "B"], hidden=(16,), components=3, dt=1.0)
    model.set_scaling(xr.Dataset(
        {"x_mean": ("species", [50.0, 20.0]), "x_std": ("species", [10.0, 5.0]),
         "log_mean": ("species", [3.9, 3.0]), "log_std": ("species", [0.2, 0.25])},
        coords={"species": ["A", "B"]}))
    with torch.no_grad():
        model.loc.bias.copy_(torch.linspace(-2, 2, 6))
    model = model.double().eval()
    x = np.array([[40.0, 25.0], [70.0, 10.0]])
    mean, var = model.moments(x)
    n = 200_000
    gpu = model.to(DEVICE)
    g = torch.Generator(device=DEVICE).manual_seed(7)
    with torch.no_grad():
        draws = gpu.sample(torch.tensor(np.repeat(x, n, axis=0), device=DEVICE), generator=g)
    draws = draws.cpu().numpy().reshape(2, n, 2)
    sm, sv = draws.mean(1), draws.var(1, ddof=1)
    m4 = ((draws - sm[:, None, :]) ** 4).mean(1)
    # 8 z-scores, Bonferroni at alpha = 0.001: |z| < 3.9
    assert np.abs((sm - mean) / np.sqrt(var / n)).max() < 3.9
    assert np.abs((sv - var) / np.sqrt((m4 - sv**2) / n)).max() < 3.9
    sim = gpu.simulate(x, steps=3, trajectories=1000, seed=1, device=DEVICE)
    assert sim.attrs["device"].startswith(DEVICE) and all(np.isfinite(sim[s].values).all() for s in ("A", "B"))
