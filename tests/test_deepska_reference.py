"""SDnet's separate Delta U network, and SDnets trained with the DeepSKA authors' code loaded into pycrn.

The authors' file format is rebuilt here from their published description
(a ``state_dict`` with ``main_net.feedforward.*``, ``diff_net.feedforward.*``,
``decay_real/imag`` and ``func_coord_real/imag``; ``Delta U`` laid out real
parts then imaginary parts, mode-major) with random weights, and evaluated by
an independent numpy implementation of their formula; the loaded SDnet must
agree with it. ``benchmarks/deepska_authors_models.py`` checks the same against
their own code and published weights.
"""

from __future__ import annotations

import numpy as np
import pytest

import pycrn

torch = pytest.importorskip("torch")
from benchmark_modules import load_benchmark  # noqa: E402

from pycrn import deepska  # noqa: E402
from pycrn.deepska.sdnet import stoichiometry  # noqa: E402

STEADY = [40.0, 1693.3333]


@pytest.fixture(scope="module")
def net():
    return pycrn.models.constitutive_gene_expression()  # reactions: 0 -> R, R -> R + P, R -> 0, P -> 0


def _softplus(x):
    return np.log1p(np.exp(x))


def _mlp(x, layers):
    for i, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if i + 1 < len(layers):
            x = np.maximum(x, 0.0)
    return x


def _authors_file(path, rng, nspecies, nreactions, modes, nout, hidden=(5, 6, 7)):
    """A state_dict in the authors' layout with random weights, and the same weights as numpy arrays."""
    state, arrays = {}, {}
    for name, out in (("main_net", 2 * modes), ("diff_net", 2 * modes * nreactions)):
        widths, layers = (nspecies, *hidden, out), []
        for i in range(len(widths) - 1):
            w, b = rng.normal(0, 0.5, (widths[i + 1], widths[i])), rng.normal(0, 0.5, widths[i + 1])
            state[f"{name}.feedforward.{2 * i}.weight"] = torch.tensor(w)
            state[f"{name}.feedforward.{2 * i}.bias"] = torch.tensor(b)
            layers.append((w, b))
        arrays[name] = layers
    for key, shape in (("decay_real", (1, modes)), ("decay_imag", (1, modes)),
                       ("func_coord_real", (1, modes, nout)), ("func_coord_imag", (1, modes, nout))):
        arrays[key] = rng.normal(0, 1, shape)
        state[key] = torch.tensor(arrays[key])
    state["sens_decay_real"] = torch.zeros(1, modes)  # the authors' sensitivity placeholders: ignored
    torch.save(state, path)
    return arrays


def _authors_formula(arrays, steady, x, t, modes, nreactions):
    """U and Delta U as the authors' spectral_complex subnets compute them (real parts), in their reaction order."""
    sigma = _softplus(arrays["decay_real"][0]) + 1j * arrays["decay_imag"][0]  # (r,)
    gamma = arrays["func_coord_real"][0] + 1j * arrays["func_coord_imag"][0]  # (r, outputs)
    e = np.exp(-np.outer(t, sigma))  # (n, r)
    z = _mlp(x, arrays["main_net"])
    phi = z[:, :modes] + 1j * z[:, modes:]
    u = np.asarray(steady) + np.einsum("nl,lo,nl->no", e, gamma, phi).real
    d = _mlp(x, arrays["diff_net"])
    rm = modes * nreactions
    psi = (d[:, :rm] + 1j * d[:, rm:]).reshape(-1, modes, nreactions)
    du = np.einsum("nl,lo,nlk->nko", e, gamma, psi).real  # (n, their reactions, outputs)
    return u, du


def test_load_reference_reproduces_the_authors_formula_with_their_reaction_order(net, tmp_path):
    rng = np.random.default_rng(4)
    modes = 3
    arrays = _authors_file(tmp_path / "w.pth", rng, 2, 4, modes, 2)
    # The authors' order of the same four reactions: R -> 0, 0 -> R, P -> 0, R -> R + P.
    theirs = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])
    sd = deepska.load_reference(tmp_path / "w.pth", net, ["P", "P**2"], steady=STEADY, stoichiometry_order=theirs,
                                horizon=20.0, dt=0.02)
    assert sd.config["delta_network"] and sd.config["hidden"] == (5, 6, 7)
    x = rng.integers(0, 30, size=(40, 2)).astype(float)
    t = rng.uniform(0, 20, 40)
    u_ref, du_ref = _authors_formula(arrays, STEADY, x, t, modes, 4)
    with torch.no_grad():
        u, du = sd.value_and_delta(x, t)
    np.testing.assert_allclose(u.numpy(), u_ref, rtol=1e-12, atol=1e-9)
    index = {tuple(z): k for k, z in enumerate(stoichiometry(net).tolist())}
    for k, zeta in enumerate(theirs.tolist()):
        np.testing.assert_allclose(du.numpy()[:, index[tuple(zeta)]], du_ref[:, k], rtol=1e-12, atol=1e-9)


def test_load_reference_names_what_does_not_fit(net, tmp_path):
    rng = np.random.default_rng(5)
    _authors_file(tmp_path / "w.pth", rng, 2, 4, 3, 2)
    with pytest.raises(ValueError, match="coordinates for 2 outputs; 1 were given"):
        deepska.load_reference(tmp_path / "w.pth", net, ["P"], steady=[40.0])
    with pytest.raises(ValueError, match=r"reaction 3 \(change \[0, 2\]\) has no counterpart"):
        deepska.load_reference(tmp_path / "w.pth", net, ["P", "P**2"], steady=STEADY,
                               stoichiometry_order=[[1, 0], [0, 1], [-1, 0], [0, 2]])
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a spectral SDnet of the DeepSKA authors' code: missing decay_real"):
        deepska.load_reference(tmp_path / "other.pth", net, ["P"], steady=[40.0])
    with pytest.raises(ValueError, match="reads 2 species"):
        deepska.load_reference(tmp_path / "w.pth", pycrn.models.birth_death(), ["X"], steady=[1.0])


def _exact_delta_network(net) -> deepska.SDnet:
    """An SDnet whose Delta U network is exact for E_x[P(t)] of constitutive gene expression; its U network is not.

    E_x[P(t)] = 40 - 4 e^{-t} (R - 10) + e^{-t/2} (P + 4 R - 80): the eigenfunctions are affine, so
    psi_lk = phi_l(x + zeta_k) - phi_l(x) is a constant per mode and reaction (the last layer's bias).
    """
    sd = deepska.SDnet(net, ["P"], modes=2, hidden=(4, 4), steady=[40.0], dtype=torch.float64, delta_network=True)
    zeta = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])
    dphi = np.stack([-4.0 * zeta[:, 0], zeta[:, 1] + 4.0 * zeta[:, 0]])  # (modes, reactions)
    with torch.no_grad():
        for layer in sd.delta_eigenfunctions:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        sd.delta_eigenfunctions[-1].bias[:8] = torch.tensor(dphi.reshape(-1))  # real parts, l M + k
        sd.decay_raw.copy_(torch.log(torch.expm1(torch.tensor([1.0, 0.5], dtype=torch.float64))))
        sd.frequency.zero_()
        sd.coord_real.fill_(1.0)
        sd.coord_imag.zero_()
    return sd


def test_deep_cv_uses_the_delta_network(net):
    # The control variate needs only Delta U: with an exact Delta U network the DeepCV samples are all equal,
    # whatever the (here untrained) U network says.
    sd = _exact_delta_network(net)
    est = deepska.estimate(net, sd, {"R": 0, "P": 0}, [5.0], 200, "deep_cv", seed=3)
    exact = 40 - 4 * np.exp(-5.0) * (0 - 10) + np.exp(-2.5) * (0 + 0 - 80)
    assert float(est["std_error"].item()) < 1e-9
    assert float(est["estimate"].item()) == pytest.approx(exact, rel=1e-10)
    assert float(est["ssa_variance"].item()) > 10  # the same paths without the control variate


def test_delta_network_evaluations_agree_and_survive_save_and_load(net, tmp_path):
    sd = deepska.SDnet(net, ["P", "P**2"], modes=3, steady=STEADY, dtype=torch.float64, delta_network=True,
                       init_seed=7)
    x = np.array([[0, 0], [3, 1], [3, 1], [10, 40]])
    t = np.array([0.0, 0.5, 2.0, 9.0])
    with torch.no_grad():
        u, du = sd.value_and_delta(x, t)
        u2, du2 = sd.value_and_delta(x, t, distinct=True)
        da = sd.delta_amplitudes(torch.as_tensor(x, dtype=torch.float64))  # (n, M, outputs, r)
        sigma = sd.decay_modes()
        from_amplitudes = (da * torch.exp(-sigma * torch.as_tensor(t)[:, None, None, None])).real.sum(-1)
    np.testing.assert_allclose(du.numpy(), from_amplitudes.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(du2.numpy(), du.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(u2.numpy(), u.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(sd.delta(x, t).detach().numpy(), du.numpy(), rtol=0, atol=0)
    # Not the difference of U: a separate network.
    assert not np.allclose(du.numpy()[:, 0], (sd(x + [1, 0], t) - sd(x, t)).detach().numpy(), atol=1e-6)
    sd.save(tmp_path / "d.pt")
    back = deepska.load(tmp_path / "d.pt", net)
    np.testing.assert_array_equal(back.delta(x, t).detach().numpy(), du.numpy())


@pytest.mark.parametrize("which", ["cge", "two_births"])
def test_deep_cv_with_an_untrained_delta_network_is_unbiased(net, which):
    # Any Delta U makes a martingale, so DeepCV stays unbiased. "two_births" has two reactions with the same
    # change vector: the jump cannot tell them apart, so both must use one Delta U (tied reactions).
    if which == "cge":
        model, outputs, x0 = net, ["P", "P**2"], {"R": 0, "P": 0}
        from test_deepska import exact_moments

        m1, m2 = exact_moments(5.0)
        exact = {"P": m1, "P**2": m2}
    else:
        model = pycrn.parse("@parameters a=3.0 b=7.0 g=0.5\n@species X=4\na, 0 --> X\nb, 0 --> X\ng, X --> 0\n")
        outputs, x0 = ["X"], {"X": 4}
        exact = {"X": 20.0 * (1 - np.exp(-2.5)) + 4 * np.exp(-2.5)}
    sd = deepska.SDnet(model, outputs, modes=3, steady=[1.0] * len(outputs), delta_network=True, init_seed=13)
    if which == "two_births":
        assert sd.delta_rep == [0, 0, 2]
    est = deepska.estimate(model, sd, x0, [5.0], 1500, "deep_cv", seed=8)
    for name, value in exact.items():
        got = est.sel(output=name, time=5.0)
        z = (float(got["estimate"]) - value) / float(got["std_error"])
        assert abs(z) < 3, (which, name, float(got["estimate"]), value, float(got["std_error"]))


def test_a_reaction_that_changes_nothing_has_no_delta_u(net):
    # Its exact Delta U is 0, so the delta network is held to it; DeepCV stays unbiased with such a reaction.
    model = pycrn.parse("@parameters a=3.0 c=2.0 g=0.5\n@species X=4\na, 0 --> X\nc, X --> X\ng, X --> 0\n")
    sd = deepska.SDnet(model, ["X"], modes=3, steady=[6.0], delta_network=True, init_seed=2)
    assert sd.delta_null == [1]
    with torch.no_grad():
        d = sd.delta(np.array([[1], [5]]), np.array([0.3, 2.0])).numpy()
    assert np.all(d[:, 1] == 0) and np.all(d[:, [0, 2]] != 0)
    est = deepska.estimate(model, sd, {"X": 4}, [5.0], 1500, "deep_cv", seed=8)
    exact = 6.0 * (1 - np.exp(-2.5)) + 4 * np.exp(-2.5)
    assert abs(float(est["estimate"].item()) - exact) < 3 * float(est["std_error"].item())


def test_fine_tuning_a_loaded_sdnet_keeps_its_input_scale(net, tmp_path):
    # fit sets the input scale from the training box only for a fresh SDnet: loaded weights were trained for theirs.
    _authors_file(tmp_path / "w.pth", np.random.default_rng(6), 2, 4, 3, 2)
    sd = deepska.load_reference(tmp_path / "w.pth", net, ["P", "P**2"], steady=STEADY)
    data = deepska.generate(net, {"R": (0, 3), "P": (0, 3)}, 50, T=1.0, dt=0.1, seed=1)
    deepska.fit(sd, data, steps=1, segments=100, accumulate=1, progress=False)
    assert torch.all(sd.scale == 1)
    fresh = deepska.SDnet(net, ["P"], modes=2, steady=[40.0])
    deepska.fit(fresh, data, steps=1, segments=100, accumulate=1, progress=False)
    assert torch.all(fresh.scale == 3)
    fresh.save(tmp_path / "f.pt")
    back = deepska.load(tmp_path / "f.pt", net)
    assert back.scale_fixed and torch.all(back.scale == 3)


AUTHORS_REPRESSILATOR = """
@species M_1=0 M_2=0 M_3=0 P_1=0 P_2=0 P_3=0
1 + 10 / (1 + P_2 ^ 1), 0 => M_1
1 + 10 / (1 + P_3 ^ 1), 0 => M_2
1 + 10 / (1 + P_1 ^ 1), 0 => M_3
2, M_1 --> M_1 + P_1
2, M_2 --> M_2 + P_2
2, M_3 --> M_3 + P_3
1, M_1 --> 0
1, M_2 --> 0
1, M_3 --> 0
0.1, P_1 --> 0
0.1, P_2 --> 0
0.1, P_3 --> 0
"""


def test_the_authors_repressilator_is_pycrns_with_genes_two_and_three_swapped():
    """The comparison script evaluates pycrn-trained SDnets on pycrn's model from relabelled states; the
    relabelling it finds must make the two models' propensities and change vectors equal, and none may be
    found for a network that differs in more than its labels."""
    from pycrn.propensity import propensity_function

    bench = load_benchmark("deepska_authors_models")
    theirs = pycrn.parse(AUTHORS_REPRESSILATOR)
    ours = pycrn.models.get("repressilator")
    states = np.random.default_rng(0).integers(0, 40, size=(300, 6))
    lam = propensity_function(theirs, theirs.parameter_values(None))(states)
    relabel = bench._species_relabeling(ours, stoichiometry(theirs), states, lam)
    assert relabel is not None
    assert dict(zip(theirs.species_names, (ours.species_names[i] for i in relabel))) == {
        "M_1": "R1", "M_2": "R3", "M_3": "R2", "P_1": "P1", "P_2": "P3", "P_3": "P2"}
    other = pycrn.parse(AUTHORS_REPRESSILATOR.replace("0.1, P_3", "0.2, P_3"))  # one rate differs
    lam = propensity_function(other, other.parameter_values(None))(states)
    assert bench._species_relabeling(ours, stoichiometry(other), states, lam) is None
