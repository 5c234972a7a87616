"""The generator's decay modes by finite state projection, and SDnet's decay modes started from them.

Exact spectra: immigration-death (X made at lam, each molecule lost at mu)
has decay modes k mu, k = 1, 2, ...; constitutive gene expression (mRNA made
at kr, lost at gr; protein made at kp per mRNA, lost at gp) is linear, so its
generator's eigenvalues are -(i gr + j gp), i, j >= 0 (the moment equations
of each order close).
"""

from __future__ import annotations

import numpy as np
import pytest

import pycrn

torch = pytest.importorskip("torch")
from pycrn import deepska  # noqa: E402


def test_immigration_death_modes_are_multiples_of_the_death_rate():
    net = pycrn.parse("""
        @parameters lam=20.0 mu=0.7
        @species X=0
        lam, 0 --> X
        mu, X --> 0
        """, name="immigration_death")
    sigma = deepska.generator_spectrum(net, {"X": 150}, modes=6)
    np.testing.assert_allclose(sigma, 0.7 * np.arange(1, 7), rtol=1e-6)  # 4e-8 off at k = 6: the truncation at 150


def test_gene_expression_modes_are_sums_of_the_decay_rates():
    net = pycrn.models.constitutive_gene_expression()  # gr = 1, gp = 0.5
    sigma = deepska.generator_spectrum(net, {"R": 40, "P": 150}, modes=5)
    # i gr + j gp: 0.5, 1 (twice: i = 1 or j = 2), 1.5 (twice); a double eigenvalue is split by rounding
    np.testing.assert_allclose(np.sort(sigma.real), [0.5, 1.0, 1.0, 1.5, 1.5], atol=1e-5)
    np.testing.assert_allclose(sigma.imag, 0.0, atol=1e-5)


def test_a_box_too_small_is_flagged_and_bad_boxes_are_refused():
    net = pycrn.models.constitutive_gene_expression()
    with pytest.warns(UserWarning, match="widen the box"):
        deepska.generator_spectrum(net, {"R": 20, "P": 40}, modes=3)
    with pytest.raises(ValueError, match=r"species not in .*\['X'\]"):
        deepska.generator_spectrum(net, {"R": 20, "P": 40, "X": 3})
    with pytest.raises(ValueError, match=r"no bounds for species \['P'\]"):
        deepska.generator_spectrum(net, {"R": 20})
    with pytest.raises(ValueError, match="more than"):
        deepska.generator_spectrum(net, {"R": 10**4, "P": 10**4})
    for bad in [(5, 2), "ten", (1, 2, 3), 2.5]:
        with pytest.raises(ValueError, match="'R' must be integers"):
            deepska.generator_spectrum(net, {"R": bad, "P": 40})
    conversion = pycrn.parse("""
        @parameters k=1.0
        @species A=0 B=0
        k, A --> B
        """, name="conversion")  # A + B never changes: one stationary law per total
    with pytest.warns(UserWarning, match="more than one stationary mode"):
        deepska.generator_spectrum(conversion, {"A": 6, "B": 6}, modes=3, boundary_mass=1.0)


def test_sdnet_starts_from_given_decay_modes_and_keeps_them_through_save_and_load(tmp_path):
    net = pycrn.models.constitutive_gene_expression()
    start = [0.5, 1.0 + 0.25j]
    plain = deepska.SDnet(net, ["P"], modes=4, steady=[40.0], init_seed=3)
    sd = deepska.SDnet(net, ["P"], modes=4, steady=[40.0], init_seed=3, decay_init=start)
    sigma = sd.decay_modes().detach().numpy()
    np.testing.assert_allclose(sigma[:2], start, rtol=1e-6)
    np.testing.assert_array_equal(sigma[2:], plain.decay_modes().detach().numpy()[2:])  # the rest as without it
    for a, b in zip(sd.eigenfunctions.parameters(), plain.eigenfunctions.parameters()):
        assert torch.equal(a, b)
    sd.save(tmp_path / "sd.pt")
    again = deepska.load(tmp_path / "sd.pt", net)
    assert again.config == sd.config
    np.testing.assert_array_equal(again.decay_modes().detach().numpy(), sigma)
    with pytest.raises(ValueError, match="positive real parts"):
        deepska.SDnet(net, ["P"], modes=4, steady=[40.0], decay_init=[0.0])
    with pytest.raises(ValueError, match="at most 4"):
        deepska.SDnet(net, ["P"], modes=4, steady=[40.0], decay_init=[1.0] * 5)


def test_decay_mode_benchmark_weighs_each_mode_by_what_is_left_of_it_at_the_horizon():
    from benchmark_modules import load_benchmark

    bench = load_benchmark("deepska_decay_modes")
    net = pycrn.models.constitutive_gene_expression()
    sd = deepska.SDnet(net, ["P", "P**2"], modes=3, steady=[40.0, 1693.0], decay_init=[0.5, 1.0, 2.0 + 1.0j])
    states = np.array([[0.0, 0.0], [3.0, 60.0]])
    modes = bench.weighted_modes(sd, states, at=4.0)
    assert [m["real"] for m in modes] == pytest.approx([0.5, 1.0, 2.0], rel=1e-6)
    with torch.no_grad():
        amp = sd.amplitudes(torch.as_tensor(states, dtype=sd.steady.dtype)).abs().numpy()  # (states, outputs, modes)
    for i, (a, m) in enumerate(zip([0.5, 1.0, 2.0], modes)):
        expected = max(amp[s, o, i] / [40.0, 1693.0][o] for s in range(2) for o in range(2)) * np.exp(-a * 4.0)
        assert m["weight"] == pytest.approx(expected, rel=1e-5)


def test_fixed_decay_modes_stay_where_they_start_through_training(tmp_path):
    net = pycrn.models.constitutive_gene_expression()
    data = deepska.generate(net, {"R": (0, 3), "P": (0, 3)}, 40, T=2.0, dt=0.1, seed=1)
    start = [0.5, 1.0, 1.5, 2.0]
    fixed = deepska.SDnet(net, ["P"], modes=4, steady=[40.0], decay_init=start, train_decay=False)
    moving = deepska.SDnet(net, ["P"], modes=4, steady=[40.0], decay_init=start)
    for sd in (fixed, moving):
        deepska.fit(sd, data, steps=5, segments=200, accumulate=1, seed=0)
    np.testing.assert_allclose(fixed.decay_modes().detach().numpy(), start, rtol=1e-6)
    assert not np.allclose(moving.decay_modes().detach().numpy(), start, rtol=1e-3)
    assert not torch.equal(fixed.coord_real, torch.ones_like(fixed.coord_real))  # the rest did train
    fixed.save(tmp_path / "fixed.pt")
    again = deepska.load(tmp_path / "fixed.pt", net)
    assert again.config["train_decay"] is False and not again.decay_raw.requires_grad


def test_fixed_decay_holds_the_first_modes_and_trains_the_rest(tmp_path):
    net = pycrn.models.constitutive_gene_expression()
    data = deepska.generate(net, {"R": (0, 3), "P": (0, 3)}, 40, T=2.0, dt=0.1, seed=1)
    sd = deepska.SDnet(net, ["P"], modes=4, steady=[40.0], decay_init=[0.5, 1.0 + 0.2j], fixed_decay=2, init_seed=2)
    before = sd.decay_modes().detach().numpy().copy()
    deepska.fit(sd, data, steps=5, segments=200, accumulate=1, seed=0)
    after = sd.decay_modes().detach().numpy()
    np.testing.assert_array_equal(after[:2], before[:2])  # exactly: their gradient is 0, so Adam does not move them
    np.testing.assert_allclose(after[:2], [0.5, 1.0 + 0.2j], rtol=1e-6)
    assert np.all(np.abs(after[2:] - before[2:]) > 1e-4)  # the others train
    sd.save(tmp_path / "part.pt")
    again = deepska.load(tmp_path / "part.pt", net)
    assert again.n_fixed_decay == 2 and again.config["fixed_decay"] == 2
    np.testing.assert_array_equal(again.decay_modes().detach().numpy(), after)
    # a model without the option keeps the configuration (and so the checkpoint fingerprint) it had
    assert "fixed_decay" not in deepska.SDnet(net, ["P"], modes=4, steady=[40.0]).config
    for bad in [0, 3, 1.0, True]:
        with pytest.raises(ValueError, match="fixed_decay"):
            deepska.SDnet(net, ["P"], modes=4, steady=[40.0], decay_init=[0.5, 1.0], fixed_decay=bad)
    with pytest.raises(ValueError, match="fixed_decay"):
        deepska.SDnet(net, ["P"], modes=4, steady=[40.0], fixed_decay=1)  # nothing given to fix
    with pytest.raises(ValueError, match="fixed_decay"):
        deepska.SDnet(net, ["P"], modes=4, steady=[40.0], decay_init=[0.5], fixed_decay=1, train_decay=False)
