"""The one renderer of propensities: source code for the engines, the ODE and the error reporter.

A reaction's propensity is its rate expression times, for mass action
(``-->``), the combinatorial term of its reactants: ``A (A-1) / 2`` for
``2A`` in the stochastic engines, the continuum limit ``A^2 / 2`` in the
reaction rate equations. General rate laws (``=>``) are the whole
propensity in both.
"""

from __future__ import annotations

import math

import numpy as np

from .network import ReactionNetwork
from .ratelaws import symbol_table

#: How a species' count is read in the compiled kernels (a float, so that products do not wrap).
KERNEL_SPECIES = "float(x[{i}])"


def symbols(net: ReactionNetwork, species_code: str = KERNEL_SPECIES) -> dict[str, str]:
    """Name -> code table: species through ``species_code``, parameters as ``p[k]``, time as ``t``."""
    return symbol_table(net.species_names, net.parameter_names, species_code)


def propensity_expression(
    net: ReactionNetwork, j: int, species_code: str = KERNEL_SPECIES, deterministic: bool = False
) -> str:
    """Source of reaction ``j``'s propensity in terms of the species, ``p`` and ``t``.

    Parameters
    ----------
    net
        The network.
    j
        The reaction index (0-based).
    species_code
        Format string reading species ``i``, e.g. ``"float(x[{i}])"`` or ``"y[{i}]"``.
    deterministic
        Render the continuum mass-action term ``x^nu / nu!`` (reaction rate
        equations) instead of the falling factorial ``x (x-1) ... / nu!``.
    """
    r = net.reactions[j]
    expr = r.rate.to_source(symbols(net, species_code))
    if not r.mass_action or not r.reactants:
        return expr
    return f"{expr} * {mass_action_term(net, j, species_code, deterministic)}"


def mass_action_term(
    net: ReactionNetwork, j: int, species_code: str = KERNEL_SPECIES, deterministic: bool = False
) -> str:
    """Source of the combinatorial term of mass-action reaction ``j``'s reactants (``"1.0"`` for none).

    See :func:`propensity_expression` for the arguments.
    """
    table = symbols(net, species_code)
    terms = []
    for name, nu in net.reactions[j].reactants:
        xi = table[name]
        if nu == 1:
            terms.append(xi)
        elif deterministic:
            terms.append(f"({xi} ** {nu} / {float(math.factorial(nu))!r})")
        else:
            falling = " * ".join(f"({xi} - {m}.0)" if m else xi for m in range(nu))
            terms.append(f"({falling} / {float(math.factorial(nu))!r})")
    return " * ".join(terms) if terms else "1.0"


def evaluate_propensity(net: ReactionNetwork, j: int, x: np.ndarray, p: np.ndarray, t: float) -> float:
    """Reaction ``j``'s propensity evaluated in Python, with IEEE results for domain errors."""
    source = propensity_expression(net, j)
    try:
        with np.errstate(all="ignore"):
            return float(eval(source, {"math": math, "x": x, "p": p, "t": t}))  # noqa: S307 (generated)
    except (ZeroDivisionError, OverflowError):
        return math.inf
    except ValueError:
        return math.nan
