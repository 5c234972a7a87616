"""Synthetic reference models and data (seed 001, "Synthetic data generation").

A reference model is parameterised, without data, to make rich and
plausible TF patterns: at every iteration it sees fresh random conditions
(``ligands_per_condition`` random ligands at uniform random levels), and the
objective pushes its TF outputs towards a uniform distribution across
conditions and across TFs and penalises the mean squared correlation between
conditions and between TFs, with the spectral barrier (coefficient 1e-2),
L2 (1e-6), sign and ligand-bias constraints. Its initial parameters differ
from a trained model's (weights u(0, 3) signed by mode of action and scaled
to spectral radius 0.8, biases u(0, 0.01)) so that nothing leaks into a
model later trained on its data.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from . import losses
from .model import INITIAL_RADIUS, SignalingModel
from .network import INHIBITION, SignalingNetwork
from .recurrent import training_threads
from .spectral import scale_to_radius


def random_conditions(network: SignalingNetwork, n: int, ligands_per_condition: int = 5,
                      seed: int | np.random.Generator | None = None) -> np.ndarray:
    """(n x ligands) array: each row has ``ligands_per_condition`` ligands at U(0, 1) levels, zeros elsewhere."""
    rng = np.random.default_rng(seed)
    k = len(network.ligands)
    if not 1 <= ligands_per_condition <= k:
        raise ValueError(f"ligands_per_condition must be in [1, {k}], got {ligands_per_condition}")
    out = np.zeros((n, k))
    for i in range(n):
        chosen = rng.choice(k, size=ligands_per_condition, replace=False)
        out[i, chosen] = rng.uniform(0.0, 1.0, ligands_per_condition)
    return out


def _corr(y: torch.Tensor) -> torch.Tensor:
    """Correlation matrix of the rows of y (stabilised for constant rows)."""
    m = y - y.mean(dim=1, keepdim=True)
    c = m @ m.T / y.shape[1]
    sd = torch.sqrt(torch.diagonal(c) + 1e-6)
    return c / sd[:, None] / sd[None, :]


def reference_model(
    network: SignalingNetwork,
    iterations: int = 2000,
    conditions: int = 200,
    ligands_per_condition: int = 5,
    lr: float = 2e-3,
    seed: int = 0,
    steps: int = 150,
    progress: bool | None = None,
) -> SignalingModel:
    """A parameterised reference model on ``network`` (see the module docstring)."""
    model = SignalingModel(network, steps=steps, seed=seed)
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.0, 3.0, network.n_edges)
    w[network.mode == INHIBITION] *= -1
    w = scale_to_radius(network, w, INITIAL_RADIUS)
    with torch.no_grad():
        model.weights.copy_(torch.as_tensor(w))
        model.bias.copy_(torch.as_tensor(rng.uniform(0.0, 0.01, network.n_nodes)))
    model.output_scale.requires_grad_(False)
    opt = torch.optim.Adam([model.weights, model.bias], lr=lr)
    torch_gen = torch.Generator().manual_seed(seed)
    with training_threads(network.n_edges, conditions):
        _parameterise(model, network, iterations, conditions, ligands_per_condition, rng, opt, torch_gen, progress)
    with torch.no_grad():
        # The reference obeys the prior knowledge exactly.
        mode = torch.as_tensor(network.mode)
        model.weights[mode == 1] = model.weights[mode == 1].abs()
        model.weights[mode == INHIBITION] = -model.weights[mode == INHIBITION].abs()
    model.output_scale.requires_grad_(True)
    model.eval()
    return model


def _parameterise(model, network, iterations, conditions, ligands_per_condition, rng, opt, torch_gen, progress):
    for _ in tqdm(range(iterations), disable=None if progress is None else not progress, leave=False, unit="it"):
        x = torch.as_tensor(random_conditions(network, conditions, ligands_per_condition, rng))
        opt.zero_grad()
        states = model.states(x)
        y = model.output(states)
        pick = int(torch.randint(conditions, (1,), generator=torch_gen))
        barrier, _ = losses.spectral_barrier(model, states[pick])
        loss = (
            losses.uniformity(y, 0.01, 0.99, negative_max=0.0)
            + 0.1 * losses.uniformity(y.T, 0.01, 0.99, negative_max=0.0)
            + torch.mean(_corr(y) ** 2)
            + torch.mean(_corr(y.T) ** 2)
            + 1e-2 * barrier
            + 1e-6 * losses.l2(model)
            + 2.0 * losses.sign_violation(model)
            + 1e-2 * losses.ligand_bias(model)
        )
        loss.backward()
        opt.step()


def generate(model: SignalingModel, ligands) -> np.ndarray:
    """The reference model's TF activities for ``ligands`` (conditions x TFs)."""
    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(ligands))).cpu().numpy()
