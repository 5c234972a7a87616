"""pycrn: stochastic simulation of chemical reaction networks, and neural surrogates.

The public API is re-exported here; see the README for a quick start.
"""

import os

# torch's OpenMP threads spin while they wait; with another process on a core that makes training 3.3x
# slower (measured: 0.53 -> 1.73 s per DeepSKA step on 2 cores), passive waiting 1.7x (0.90 s), with no
# cost on an idle machine. It must be set before torch is imported, so it is set here (a user's own value wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import accessor as accessor  # registers ds.crn on every xarray Dataset
from . import methods, models
from ._version import __version__
from .bionetgen import load_bionetgen
from .dsl import parse
from .ensemble import ensemble, grid
from .errors import ModelError, SimulationError
from .loading import load
from .network import Event, Parameter, Reaction, ReactionNetwork, Species
from .problem import Problem
from .results import open_results, save_results, summary
from .runner import RunResult, run
from .sbml import load_sbml
from .simulate import simulate

#: Names accepted by ``simulate(method=...)``.
METHODS = tuple(methods.METHODS)


def __getattr__(name: str):
    # pycrn.signaling, pycrn.abstraction and pycrn.deepska need torch (the 'ml' extra); pycrn.julia drives juliacall (the 'julia' extra)
    # and never imports it before a Julia run: both are imported on first use only.
    if name in ("signaling", "julia", "abstraction", "deepska"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'pycrn' has no attribute {name!r}")

__all__ = [
    "METHODS",
    "Event",
    "ModelError",
    "Parameter",
    "Problem",
    "Reaction",
    "ReactionNetwork",
    "RunResult",
    "SimulationError",
    "Species",
    "__version__",
    "abstraction",
    "deepska",
    "ensemble",
    "grid",
    "julia",
    "load",
    "load_bionetgen",
    "load_sbml",
    "methods",
    "models",
    "open_results",
    "parse",
    "run",
    "save_results",
    "signaling",
    "simulate",
    "summary",
]
