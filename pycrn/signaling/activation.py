"""The Michaelis-Menten-like (MML) activation of LEMBAS.

Three segments (seed 001, Fig. 1b and Results): leaky ReLU for negative
input (slope ``leak``, 0.01), the identity on [0, 0.5), and the shifted,
scaled Michaelis-Menten curve ``1 - 1/(4 z)`` from 0.5, which meets the
identity with value and slope continuous at 0.5 and saturates at 1.
"""

from __future__ import annotations

import torch

#: Slope of the leaky segment.
LEAK = 0.01


def mml(z: torch.Tensor, leak: float = LEAK) -> torch.Tensor:
    """MML(z), elementwise."""
    safe = torch.clamp(z, min=0.5)
    return torch.where(z < 0, leak * z, torch.where(z < 0.5, z, 1.0 - 0.25 / safe))


def mml_slope(z: torch.Tensor, leak: float = LEAK) -> torch.Tensor:
    """dMML/dz, elementwise."""
    safe = torch.clamp(z, min=0.5)
    one = torch.ones_like(z)
    return torch.where(z < 0, leak * one, torch.where(z < 0.5, one, 0.25 / (safe * safe)))
