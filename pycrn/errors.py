"""Exceptions raised by pycrn.

Every error raised at the boundary of the package names the offending input
(the line of a model, the species, the argument), so that a user can fix it
without reading pycrn's source.
"""

from __future__ import annotations


class ModelError(ValueError):
    """A reaction network, or a value supplied for it, is invalid.

    Raised by the network language parser (naming the line), by network
    construction and by :func:`pycrn.simulate` for bad initial counts or
    parameter values.
    """


class SimulationError(RuntimeError):
    """A simulation could not continue, e.g. a propensity became negative or NaN."""
