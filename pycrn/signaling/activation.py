"""The Michaelis-Menten-like (MML) activation of LEMBAS.

Three segments (Nilsson et al. 2022, Fig. 1b and Results): leaky ReLU for
negative input (slope ``leak``, 0.01), the identity on [0, 0.5), and the
shifted, scaled Michaelis-Menten curve ``1 - 1/(4 z)`` from 0.5, which meets
the identity with value and slope continuous at 0.5 and saturates at 1.

The slope at the kink z = 0 is the leak slope, as in the authors' code
(``MMLDeltaActivation``: "let derivative be 0.01 at x=0"). The choice
matters: a node with no input and zero bias sits exactly at z = 0, and with
slope 1 there a network's Jacobian is A itself, whose spectral radius may
exceed 1 so that the adjoint iteration diverges; with the leak slope it is
0.01 A.
"""

from __future__ import annotations

import torch

#: Slope of the leaky segment.
LEAK = 0.01


def mml(z: torch.Tensor, leak: float = LEAK) -> torch.Tensor:
    """MML(z), elementwise."""
    safe = torch.clamp(z, min=0.5)
    # z <= 0 (not z < 0) so that autograd's slope at the kink is the leak slope, as mml_slope's.
    return torch.where(z <= 0, leak * z, torch.where(z < 0.5, z, 1.0 - 0.25 / safe))


def mml_slope(z: torch.Tensor, leak: float = LEAK) -> torch.Tensor:
    """dMML/dz, elementwise; the leak slope at z = 0 (see the module docstring)."""
    safe = torch.clamp(z, min=0.5)
    one = torch.ones_like(z)
    return torch.where(z <= 0, leak * one, torch.where(z < 0.5, one, 0.25 / (safe * safe)))
