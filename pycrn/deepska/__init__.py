"""DeepSKA: SDnet and the unbiased DeepCV / DeepIS estimators of expected outputs, in PyTorch.

Badolle, Theuer, Fang, Gupta & Khammash, "Interpretable neural approximation
of stochastic reaction dynamics with guaranteed reliability" (2025). SDnet
represents ``U(x, f, t) = E_x[f(X(t))]`` for every initial state and time
through the generator's spectral decomposition; it is trained from exact
trajectories without Monte Carlo estimates (a trajectory-wise loss), then used
inside the SSA to build estimators that are unbiased whatever SDnet's quality
and far less variable than plain SSA where it is good.

>>> from pycrn import deepska                                             # doctest: +SKIP
>>> net = pycrn.models.constitutive_gene_expression()                     # doctest: +SKIP
>>> data = deepska.generate(net, {"R": (0, 3), "P": (0, 3)}, 20_000, seed=1)  # doctest: +SKIP
>>> sd = deepska.SDnet(net, ["P", "P**2"], modes=8, steady=[40.0, 1693.33])  # doctest: +SKIP
>>> history = deepska.fit(sd, data, steps=10_000, checkpoint="cge.ckpt")  # doctest: +SKIP
>>> est = deepska.estimate(net, sd, {"R": 0, "P": 0}, [5.0, 20.0], 1000, method="deep_cv")  # doctest: +SKIP

Everything needs torch (the ``ml`` extra), imported on first use.
"""

from __future__ import annotations

import importlib

_PARTS = {
    "SDnet": "sdnet", "load": "sdnet", "load_reference": "reference", "Outputs": "outputs",
    "generate": "data", "ergodic_mean": "data",
    "fit": "training", "FitHistory": "training",
    "estimate": "estimators", "steady_state": "em_deep_cv", "variance": "deep_ipa",
    "agreement": "curves", "generator_spectrum": "spectrum",
}


def __getattr__(name: str):
    if name in _PARTS:
        return getattr(importlib.import_module(f".{_PARTS[name]}", __name__), name)
    raise AttributeError(f"module 'pycrn.deepska' has no attribute {name!r}")


__all__ = sorted(_PARTS)
