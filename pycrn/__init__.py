"""pycrn: stochastic simulation of chemical reaction networks, and neural surrogates.

The public API is re-exported here; see the README for a quick start.
"""

from . import models
from ._version import __version__
from .dsl import load, parse
from .engines import ENGINES
from .errors import ModelError, SimulationError
from .network import Event, Parameter, Reaction, ReactionNetwork, Species
from .results import open_results, save_results, summary
from .sbml import load_sbml
from .simulate import simulate

#: Names accepted by ``simulate(method=...)``.
METHODS = tuple(ENGINES)


def __getattr__(name: str):
    # pycrn.signaling needs torch (the 'ml' extra): imported on first use only.
    if name == "signaling":
        import importlib

        return importlib.import_module(".signaling", __name__)
    raise AttributeError(f"module 'pycrn' has no attribute {name!r}")

__all__ = [
    "METHODS",
    "Event",
    "ModelError",
    "Parameter",
    "Reaction",
    "ReactionNetwork",
    "SimulationError",
    "Species",
    "__version__",
    "load",
    "load_sbml",
    "models",
    "open_results",
    "parse",
    "save_results",
    "signaling",
    "simulate",
    "summary",
]
