"""LEMBAS's loss terms (seed 001, Methods), each a function of the model or its states.

Coefficients (:class:`LossWeights`): the paper's where its text gives them
(L2 1e-8, state uniformity 1e-5, the spectral barrier's k = 21 and target
0.94 for 150 steps, noise 10 * learning rate); otherwise those of the
authors' macrophage training script (sign constraint 0.1, ligand bias 1e-3,
spectral coefficient 1e-3), which the paper's text leaves unstated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .network import ACTIVATION, INHIBITION
from .spectral import spectral_radius

#: Interval of the uniform distribution the states are regularised towards.
UNIFORM_LOW, UNIFORM_HIGH = 0.01, 0.99


@dataclass(frozen=True)
class LossWeights:
    """Coefficients of the regularisation terms added to the data MSE."""

    sign: float = 0.1
    ligand_bias: float = 1e-3
    l2: float = 1e-8
    nonzero: float = 1e-8
    uniformity: float = 1e-5
    spectral: float = 1e-3
    #: Exponent k and precision of the spectral barrier a * exp(k rho).
    spectral_k: float = 21.0
    spectral_precision: float = 1e-4
    #: Bias noise sd = noise * learning rate.
    noise: float = 10.0
    #: If set, the bias noise sd is this constant instead (the authors' ligand-screen script: 1e-3).
    noise_fixed: float | None = None
    #: If set, the spectral barrier's target rho instead of the one from ``spectral_precision``.
    spectral_target: float | None = None
    #: The uniform distribution the states are regularised towards, and the negative-maximum barrier.
    uniform_low: float = UNIFORM_LOW
    uniform_high: float = UNIFORM_HIGH
    uniform_negative_max: float = 10.0
    #: Pull of the output scales towards their initial 1.2: sum (s - 1.2)^2.
    output_scale: float = 0.0
    #: If set, a spectral-radius gradient of larger norm is scaled to unit norm (the authors' code: 10), see
    #: :func:`~pycrn.signaling.spectral.spectral_radius_and_gradient`.
    spectral_normalize_above: float | None = None

    @classmethod
    def ligand_screen(cls) -> LossWeights:
        """The coefficients of the authors' ligand-screen cross-validation script (``ligandScreenCrossValidation.py``).

        L2 1e-6 on weights and biases, ligand bias 1e-4, no weight-not-zero
        term, states regularised towards U(0, 1/1.2) with a unit
        negative-maximum barrier, output scales pulled towards 1.2 (1e-4), a
        constant noise of sd 1e-3, and the spectral barrier
        1e-3 exp(10 (rho - 0.9)), whose rho gradient is scaled to unit norm
        where its norm exceeds 10, as their code does. Their barrier,
        1e-3 (exp(10 rho) - 1) / exp(9) and 0 below rho = 0.5, differs from
        this one by a constant above rho = 0.5 and by a gradient under 2e-4
        below it.
        """
        return cls(sign=0.1, ligand_bias=1e-4, l2=1e-6, nonzero=0.0, uniformity=1e-5, spectral=1e-3,
                   spectral_k=10.0, spectral_target=0.9, noise_fixed=1e-3, uniform_low=0.0,
                   uniform_high=1 / 1.2, uniform_negative_max=1.0, output_scale=1e-4, spectral_normalize_above=10.0)


def sign_violation(model) -> torch.Tensor:
    """Sum of |w| over edges whose sign contradicts their known mode of action."""
    mode = torch.as_tensor(model.network.mode, device=model.weights.device)
    w = model.weights
    bad = ((mode == ACTIVATION) & (w < 0)) | ((mode == INHIBITION) & (w > 0))
    return torch.sum(torch.abs(w[bad]))


def ligand_bias(model) -> torch.Tensor:
    """Sum of squares of the ligand nodes' biases (ligand levels come from the input)."""
    return torch.sum(model.bias[model.ligand_index] ** 2)


def l2(model) -> torch.Tensor:
    """Sum of squares of weights and biases."""
    return torch.sum(model.weights**2) + torch.sum(model.bias**2)


def output_scale(model, centre: float = 1.2) -> torch.Tensor:
    """sum (s - centre)^2 over the TF output scales."""
    return torch.sum((model.output_scale - centre) ** 2)


def nonzero(model) -> torch.Tensor:
    """sum 1 / (w^2 + 0.5): keeps weights from getting stuck at zero."""
    return torch.sum(1.0 / (model.weights**2 + 0.5))


def uniformity(states: torch.Tensor, low: float = UNIFORM_LOW, high: float = UNIFORM_HIGH,
               negative_max: float = 10.0) -> torch.Tensor:
    """Squared deviations of each node's mean, variance, min and max across conditions from U(low, high).

    Plus ``negative_max`` times the sum of negative per-node maxima (a node
    should not be inactive in every condition). ``states`` is (conditions x nodes).
    """
    mean = states.mean(dim=0)
    var = ((states - mean) ** 2).mean(dim=0)
    return _uniform_penalty(mean, var, states.min(dim=0).values, states.max(dim=0).values, low, high, negative_max)


def _uniform_penalty(mean, var, lo, hi, low, high, negative_max) -> torch.Tensor:
    """Squared deviations of per-node statistics from those of U(low, high), plus the negative-max barrier."""
    loss = (
        torch.sum((mean - 0.5 * (low + high)) ** 2)
        + torch.sum((var - (high - low) ** 2 / 12.0) ** 2)
        + torch.sum((lo - low) ** 2)
        + torch.sum((hi - high) ** 2)
    )
    return loss - negative_max * torch.sum(hi[hi.detach() <= 0])


def uniformity_with_cache(batch: torch.Tensor, cache: torch.Tensor, index: torch.Tensor, low: float = UNIFORM_LOW,
                          high: float = UNIFORM_HIGH, negative_max: float = 10.0) -> torch.Tensor:
    """:func:`uniformity` over all conditions: ``cache`` (detached states of every condition) with rows
    ``index`` replaced by ``batch``, whose gradients alone flow (as in LEMBAS).

    Computed from the cache's column sums and extremes, so the autograd graph
    is the size of the batch, not of the data set.
    """
    n = cache.shape[0]
    keep = torch.ones(n, dtype=torch.bool, device=cache.device)
    keep[index] = False
    rest = cache[keep]
    total = rest.sum(dim=0) + batch.sum(dim=0)
    total_sq = (rest**2).sum(dim=0) + (batch**2).sum(dim=0)
    mean = total / n
    var = total_sq / n - mean**2
    if rest.shape[0]:
        hi = torch.maximum(batch.max(dim=0).values, rest.max(dim=0).values)
        lo = torch.minimum(batch.min(dim=0).values, rest.min(dim=0).values)
    else:
        hi = batch.max(dim=0).values
        lo = batch.min(dim=0).values
    return _uniform_penalty(mean, var, lo, hi, low, high, negative_max)


def spectral_target(steps: int, precision: float = 1e-4) -> float:
    """rho at which a deviation decays to ``precision`` in ``steps`` steps (0.94 for 150 and 1e-4)."""
    return math.exp(math.log(precision) / steps)


def state_slope(states: torch.Tensor, leak: float) -> torch.Tensor:
    """MML'(z) recovered from the states x = MML(z) (the activation is invertible)."""
    x = states
    return torch.where(x <= 0, torch.full_like(x, leak), torch.where(x < 0.5, torch.ones_like(x), 4.0 * (1.0 - x) ** 2))


def spectral_barrier(model, state: torch.Tensor, k: float = 21.0, precision: float = 1e-4,
                     target: float | None = None, normalize_above: float | None = None) -> tuple[torch.Tensor, float]:
    """a exp(k rho(D A)) at one steady state, a = exp(-k target); returns (loss, rho).

    The target is ``target`` if given, else :func:`spectral_target` of the model's steps and ``precision``;
    ``normalize_above`` bounds rho's gradient as in :func:`~pycrn.signaling.spectral.spectral_radius_and_gradient`.
    """
    slope = state_slope(state.detach(), model.leak)
    rho = spectral_radius(model.network, model.weights, slope, normalize_above)
    a = math.exp(-k * (target if target is not None else spectral_target(model.steps, precision)))
    return a * torch.exp(k * rho), float(rho.detach())
