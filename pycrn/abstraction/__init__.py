"""Neural abstractions of reaction networks: MDN transition kernels (StochNet) in PyTorch.

Bortolussi & Palmieri, "Deep abstractions of chemical reaction networks"
(CMSB 2018): sample exact trajectories every ``dt`` from many initial states,
learn the transition kernel ``P(X(t + dt) | X(t))`` with a mixture density
network, then simulate the discrete-time abstract chain in large batches, on
CPU or GPU, far faster than the exact process.

>>> from pycrn import abstraction as ab                                   # doctest: +SKIP
>>> net = pycrn.models.sir_frequency()                                   # doctest: +SKIP
>>> states = ab.sample_states({"S": (30, 199), "I": (30, 199), "R": (30, 199)}, 1000, seed=1)  # doctest: +SKIP
>>> data = ab.generate(net, states, dt=0.5, steps=10, trajectories_per_state=30, seed=2)  # doctest: +SKIP
>>> model = ab.MDN.sir(net.species_names)                                # doctest: +SKIP
>>> history = ab.fit(model, data, checkpoint="sir.ckpt")                 # doctest: +SKIP
>>> ds = model.simulate({"S": 100, "I": 50, "R": 20}, steps=10, trajectories=100_000, seed=3)  # doctest: +SKIP

:func:`generate`, :func:`sample_states`, :func:`histogram_distance` and
:func:`self_distance_bound` need numpy only (:func:`assess` takes a trained model); :class:`MDN`, :func:`fit` and
:func:`load` need torch (the ``ml`` extra) and import it on first use.
"""

from __future__ import annotations

import importlib

from .assessment import assess
from .data import PAIRS_KIND, generate, open_pairs, pairs_from_trajectories, sample_states
from .distance import histogram_distance, self_distance_bound

_TORCH = {"MDN": "mdn", "load": "mdn", "fit": "training", "FitHistory": "training", "evaluate": "training"}


def __getattr__(name: str):
    if name in _TORCH:
        return getattr(importlib.import_module(f".{_TORCH[name]}", __name__), name)
    raise AttributeError(f"module 'pycrn.abstraction' has no attribute {name!r}")


__all__ = [
    "PAIRS_KIND",
    "FitHistory",
    "MDN",
    "assess",
    "evaluate",
    "fit",
    "generate",
    "histogram_distance",
    "load",
    "open_pairs",
    "pairs_from_trajectories",
    "sample_states",
    "self_distance_bound",
]
