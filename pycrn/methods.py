"""Simulation methods as objects: each names its engine and carries its options and traits.

``pycrn.simulate(net, method=pycrn.methods.TauLeaping(epsilon=0.01))`` and
``method="tau_leaping"`` are the same thing; a string is turned into the
method object with its default options by :func:`resolve`. Options live on
the method object, so an option that a method does not take is an error
(``simulate(method="direct", dt=0.5)`` raises instead of ignoring ``dt``).

Traits, read by every caller of the run contract (:mod:`pycrn.runner`):

``exact``
    samples the chemical master equation's law exactly;
``deterministic``
    one trajectory of float values, no random stream;
``supports_time``
    rate expressions may use ``t``;
``records_events``
    can record every jump (``save="events"``);
``counter``
    the name of the engine's second work counter (e.g. ``"batches"``), or ``None``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np


def _positive(name: str, value: Any, upper: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
        math.isfinite(value) and 0 < value < upper
    ):
        what = f"a number in (0, {upper:g})" if math.isfinite(upper) else "a positive finite number"
        raise ValueError(f"{name} must be {what}, got {value!r}")


@dataclass(frozen=True)
class Method:
    """Base class of the simulation methods (see the module docstring for the traits)."""

    name: ClassVar[str]
    exact: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False
    supports_time: ClassVar[bool] = False
    records_events: ClassVar[bool] = False
    counter: ClassVar[str | None] = None

    @property
    def engine(self) -> ModuleType:
        """The engine module implementing this method."""
        from .engines import ENGINES

        return ENGINES[self.name]

    def kernel_options(self) -> np.ndarray:
        """The options as the float array the compiled kernels read (``opts``)."""
        return np.zeros(1)

    def options(self) -> dict[str, Any]:
        """The method's options by name (for provenance and store fingerprints)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def describe(self) -> str:
        """``name(option=value, ...)``, as recorded in a Dataset's attributes."""
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{self.name}({opts})" if opts else self.name


@dataclass(frozen=True)
class Direct(Method):
    """Gillespie's direct method (exact); see :mod:`pycrn.engines.direct`."""

    name: ClassVar[str] = "direct"
    exact: ClassVar[bool] = True
    records_events: ClassVar[bool] = True


@dataclass(frozen=True)
class SortingDirect(Method):
    """The sorting direct method of McCollum et al. (exact); see :mod:`pycrn.engines.sorting_direct`."""

    name: ClassVar[str] = "sorting_direct"
    exact: ClassVar[bool] = True
    records_events: ClassVar[bool] = True


@dataclass(frozen=True)
class TauLeaping(Method):
    """Adaptive explicit tau-leaping (Cao, Gillespie and Petzold); see :mod:`pycrn.engines.tau_leaping`.

    Parameters
    ----------
    epsilon
        The bound on the relative change of propensities per leap, in (0, 1).
    """

    name: ClassVar[str] = "tau_leaping"
    records_events: ClassVar[bool] = True
    epsilon: float = 0.03

    def __post_init__(self) -> None:
        _positive("tau_epsilon", self.epsilon, 1.0)

    def kernel_options(self) -> np.ndarray:
        return np.array([float(self.epsilon)])


@dataclass(frozen=True)
class SimpleTauLeaping(Method):
    """Fixed-step explicit tau-leaping; see :mod:`pycrn.engines.simple_tau_leaping`.

    Parameters
    ----------
    dt
        The step (required).
    """

    name: ClassVar[str] = "simple_tau_leaping"
    records_events: ClassVar[bool] = True
    dt: float | None = None

    def __post_init__(self) -> None:
        if self.dt is None:
            raise ValueError("method 'simple_tau_leaping' needs a positive step dt=...")
        _positive("the step dt of simple_tau_leaping", self.dt)

    def kernel_options(self) -> np.ndarray:
        return np.array([float(self.dt)])


@dataclass(frozen=True)
class Batched(Method):
    """The exact batched algorithm for large populations; see :mod:`pycrn.engines.batched`.

    Parameters
    ----------
    min_reactions_per_batch
        Below this expected number of reactions per batch the engine runs
        exact direct steps instead (default: the engine's
        ``MIN_REACTIONS_PER_BATCH``, 60, measured on this project's benchmarks).
    """

    name: ClassVar[str] = "batched"
    exact: ClassVar[bool] = True
    counter: ClassVar[str | None] = "batches"
    min_reactions_per_batch: float | None = None

    def __post_init__(self) -> None:
        value = self.min_reactions_per_batch
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0)
        ):
            raise ValueError(f"batched min_reactions_per_batch must be a non-negative number, got {value!r}")

    def kernel_options(self) -> np.ndarray:
        value = self.min_reactions_per_batch
        return np.array([float(self.engine.MIN_REACTIONS_PER_BATCH if value is None else value)])

    def options(self) -> dict[str, Any]:
        return {"min_reactions_per_batch": float(self.kernel_options()[0])}


@dataclass(frozen=True)
class ODE(Method):
    """The deterministic reaction rate equations; see :mod:`pycrn.engines.ode`.

    Parameters
    ----------
    rtol, atol
        Tolerances of scipy's integrator.
    solver
        A ``scipy.integrate.solve_ivp`` method (``"LSODA"``, ``"BDF"``, ``"Radau"``, ``"RK45"``, ...).
    """

    name: ClassVar[str] = "ode"
    deterministic: ClassVar[bool] = True
    supports_time: ClassVar[bool] = True
    rtol: float = 1e-8
    atol: float = 1e-10
    solver: str = "LSODA"

    def __post_init__(self) -> None:
        _positive("ode rtol", self.rtol, 1.0)
        _positive("ode atol", self.atol)
        if not isinstance(self.solver, str):
            raise ValueError(f"ode solver must be the name of a solve_ivp method, got {self.solver!r}")


#: Method classes by name (the strings accepted as ``method=``).
METHODS: dict[str, type[Method]] = {
    cls.name: cls for cls in (Direct, SortingDirect, TauLeaping, SimpleTauLeaping, Batched, ODE)
}


def resolve(method: str | Method, aliases: dict[str, str] | None = None, **options: Any) -> Method:
    """The method object for ``method``, with ``options`` (those not ``None``) applied.

    Parameters
    ----------
    method
        A method name (see :data:`METHODS`) or a :class:`Method` object.
    aliases
        How the caller names an option in messages (``{"epsilon": "tau_epsilon"}``).
    **options
        Option values by the method's option names; ``None`` means "not given".

    Raises
    ------
    ValueError
        For an unknown method, an option the method does not take, or an
        invalid option value.
    """
    given = {k: v for k, v in options.items() if v is not None}
    named = {k: (aliases or {}).get(k, k) for k in given}
    if isinstance(method, Method):
        if given:
            first = sorted(given)[0]
            raise ValueError(
                f"{', '.join(sorted(named.values()))} given next to a method object; set options on the "
                f"object instead, e.g. {type(method).__name__}({first}=...)"
            )
        return method
    cls = METHODS.get(method) if isinstance(method, str) else None
    if cls is None:
        raise ValueError(f"unknown method {method!r}; available: {', '.join(METHODS)}")
    accepted = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - accepted)
    if unknown:
        takes = f"its options: {', '.join(sorted(accepted))}" if accepted else "it takes no options"
        raise ValueError(f"method {method!r} does not take {', '.join(named[k] for k in unknown)} ({takes})")
    return cls(**given)
