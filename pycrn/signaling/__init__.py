"""Prior-knowledge signaling networks: LEMBAS's recurrent model in PyTorch.

Needs the ``ml`` extra (torch). Nilsson, Peters, Meimetis, Bryson,
Lauffenburger, "Artificial neural networks enable genome-scale simulations
of intracellular signaling", Nat. Commun. 13:3069 (2022).

>>> from pycrn import signaling as sig
>>> net = sig.SignalingNetwork.from_tsv("KEGGnet-Model.tsv", "KEGGnet-Annotation.tsv")  # doctest: +SKIP
>>> model = sig.SignalingModel(net)                                                   # doctest: +SKIP
>>> history = sig.fit(model, ligands, tfs, epochs=500)                                # doctest: +SKIP
>>> effects = sig.knockout(model, ligands)                                            # doctest: +SKIP
"""

# First, before torch is imported here: sets OMP_WAIT_POLICY=PASSIVE (unless set), which OpenMP runtimes
# read once when they start, so that waiting threads do not spin on a shared machine (see .threads).
from . import threads as threads
from .activation import mml, mml_slope
from .knockout import KNOCKOUT_BIAS, knockout
from .losses import LossWeights
from .model import SignalingModel
from .network import SignalingNetwork
from .recurrent import steady_state
from .schedules import OneCycle
from .spectral import spectral_radius, spectral_radius_and_gradient
from .synthetic import generate, random_conditions, reference_model
from .training import FitHistory, fit

__all__ = [
    "KNOCKOUT_BIAS",
    "FitHistory",
    "LossWeights",
    "OneCycle",
    "SignalingModel",
    "SignalingNetwork",
    "fit",
    "generate",
    "knockout",
    "mml",
    "mml_slope",
    "random_conditions",
    "reference_model",
    "spectral_radius",
    "spectral_radius_and_gradient",
    "steady_state",
]
