"""The one renderer of propensities: source code for the engines, the ODE and the error reporter.

A reaction's propensity is its rate expression times, for mass action
(``-->``), the combinatorial term of its reactants: ``A (A-1) / 2`` for
``2A`` in the stochastic engines, the continuum limit ``A^2 / 2`` in the
reaction rate equations. General rate laws (``=>``) are the whole
propensity in both.
"""

from __future__ import annotations

import math
from collections.abc import Callable

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
    return _evaluate(propensity_expression(net, j), x, p, t)


def evaluate_bound(net: ReactionNetwork, j: int, x: np.ndarray, p: np.ndarray) -> float:
    """Reaction ``j``'s declared ``@bound`` times its mass-action term, evaluated in Python (NaN: none)."""
    r = net.reactions[j]
    if r.bound is None:
        return math.nan
    term = mass_action_term(net, j) if r.mass_action else "1.0"
    return _evaluate(f"max({r.bound.to_source(symbols(net, KERNEL_SPECIES))}, 0.0) * {term}", x, p, 0.0)


def _evaluate(source: str, x: np.ndarray, p: np.ndarray, t: float) -> float:
    try:
        with np.errstate(all="ignore"):
            return float(eval(source, {"math": math, "x": x, "p": p, "t": t}))  # noqa: S307 (generated)
    except (ZeroDivisionError, OverflowError):
        return math.inf
    except ValueError:
        return math.nan


def propensity_function(net: ReactionNetwork, p: np.ndarray) -> Callable[[np.ndarray, float], np.ndarray]:
    """All propensities of ``net`` for a batch of states, vectorised with numpy.

    Parameters
    ----------
    net
        The network.
    p
        Its parameter values (``net.parameter_values(...)``).

    Returns
    -------
    callable
        ``f(x, t=0.0)`` with ``x`` of shape (n, species) giving an array
        (n, reactions) of float64 propensities, the same laws as the
        compiled engines' (falling factorials for mass action). Used where
        Python code needs propensities of many states at once (DeepSKA's
        estimators).
    """
    order = [*net.species_names, *net.parameter_names, "t"]
    laws = [r.rate.to_numpy(order) for r in net.reactions]
    index = {name: i for i, name in enumerate(net.species_names)}
    reactants = [
        [(index[name], nu) for name, nu in r.reactants] if r.mass_action else [] for r in net.reactions
    ]
    pvals = [float(v) for v in np.asarray(p, dtype=np.float64)]

    def propensities(x: np.ndarray, t: float = 0.0) -> np.ndarray:
        xf = np.asarray(x, dtype=np.float64)
        cols = [xf[:, i] for i in range(xf.shape[1])]
        out = np.empty((xf.shape[0], len(laws)))
        with np.errstate(all="ignore"):
            for j, law in enumerate(laws):
                a = np.broadcast_to(law(*cols, *pvals, t), (xf.shape[0],)).astype(np.float64)
                for i, nu in reactants[j]:
                    falling = np.ones(xf.shape[0])
                    for m in range(nu):
                        falling = falling * np.maximum(cols[i] - m, 0.0)
                    a = a * falling / math.factorial(nu)
                out[:, j] = a
        return out

    return propensities
