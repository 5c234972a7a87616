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
    the name of the engine's second work counter (e.g. ``"batches"``), or ``None``;
``records_compensators``
    can record each reaction's firings and the integral of its propensity
    on the save grid (``simulate(..., record="compensators")``);
``float_states``
    its states are float64 (the ODE; the hybrid method's continuous amounts);
``supports_equations``
    simulates networks with continuous species' equations (``@equation``);
``supports_noise``
    simulates networks with noise terms of continuous species (``@noise``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, Literal

import numpy as np


def _positive(name: str, value: Any, upper: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
        math.isfinite(value) and 0 < value < upper
    ):
        what = f"a number in (0, {upper:g})" if math.isfinite(upper) else "a positive finite number"
        raise ValueError(f"{name} must be {what}, got {value!r}")


#: The default step budget of a trajectory (``max_steps``): reactions for the exact SSAs, leaps
#: for tau-leaping. Half a minute of one core at the engines' speeds; a trajectory that needs more
#: is nearly always a runaway (a rate or count off by orders of magnitude), and one that is not
#: raises the budget. (10**8 stopped a legitimate run: the GRN example's stationary chains take
#: 1-4e8 reactions each.)
DEFAULT_MAX_STEPS = 10**9
#: The default budget of ``batched``: batches (each fires many reactions, and costs about a
#: microsecond) and exact steps.
DEFAULT_BATCHED_MAX_STEPS = 10**8
#: The default budget of the ODE method: right-hand-side evaluations.
DEFAULT_ODE_MAX_STEPS = 10**6


def _budget_field(default: int) -> Any:
    # Keyword-only, so that a method's own options keep their positions; a budget
    # does not change any result it lets finish, so it is left out of describe().
    return dataclasses.field(default=default, kw_only=True, metadata={"quiet": True, "budget": True})


def _check_budget(value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
        raise ValueError(f"max_steps must be a positive integer or None (no budget), got {value!r}")


@dataclass(frozen=True)
class Method:
    """Base class of the simulation methods (see the module docstring for the traits).

    Parameters
    ----------
    max_steps
        The step budget of one trajectory, so that a runaway run ends with
        a :class:`~pycrn.SimulationError` naming what ran away instead of
        running for hours: reactions for the exact SSAs (candidates,
        accepted or rejected, for ``rssa``), leaps (and the
        exact steps between them) for tau-leaping, batches and exact steps
        for ``batched``, right-hand-side evaluations for the ODE. ``None``:
        no budget. Keyword-only; default :data:`DEFAULT_MAX_STEPS` (10**9),
        :data:`DEFAULT_BATCHED_MAX_STEPS` (10**8) for ``batched``,
        :data:`DEFAULT_ODE_MAX_STEPS` (10**6) for the ODE.
    """

    name: ClassVar[str]
    exact: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False
    supports_time: ClassVar[bool] = False
    records_events: ClassVar[bool] = False
    counter: ClassVar[str | None] = None
    records_compensators: ClassVar[bool] = False
    float_states: ClassVar[bool] = False
    supports_equations: ClassVar[bool] = False
    supports_noise: ClassVar[bool] = False
    max_steps: int | None = _budget_field(DEFAULT_MAX_STEPS)

    def __post_init__(self) -> None:
        _check_budget(self.max_steps)

    def prepare(self, net: Any) -> Any:
        """The network as this method simulates it (the hybrid method marks its continuous species)."""
        return net

    @property
    def float_counts(self) -> bool:
        """Float states of a stochastic method: counts held as whole doubles next to continuous amounts.

        Its results turn the species that are not continuous back into int64 variables.
        """
        return self.float_states and not self.deterministic

    @property
    def engine(self) -> ModuleType:
        """The engine module implementing this method."""
        from .engines import ENGINES

        return ENGINES[self.name]

    def kernel_options(self) -> np.ndarray:
        """The options as the float array the compiled kernels read (``opts``).

        ``opts[0]`` is the engine's option (:meth:`engine_option`), ``opts[1]``
        the step budget (infinity for none).
        """
        budget = math.inf if self.max_steps is None else float(self.max_steps)
        return np.array([self.engine_option(), budget])

    def engine_option(self) -> float:
        """The engine's one numeric option (``opts[0]``); 0 for engines without one."""
        return 0.0

    def options(self) -> dict[str, Any]:
        """The method's options by name (for provenance and store fingerprints)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def describe(self) -> str:
        """``name(option=value, ...)``, as recorded in a Dataset's attributes.

        Options marked ``quiet`` are left out at their default value, the
        budget always (it changes no result it lets finish, so a store
        resumes under another budget).
        """
        fields = dataclasses.fields(self)
        quiet = {f.name: f.default for f in fields if f.metadata.get("quiet")}
        budget = {f.name for f in fields if f.metadata.get("budget")}
        opts = ", ".join(
            f"{k}={v!r}" for k, v in self.options().items()
            if k not in budget and not (k in quiet and quiet[k] == v)
        )
        return f"{self.name}({opts})" if opts else self.name


#: The kernels an exact SSA may run on (see :mod:`pycrn.engines.mass_action`).
KERNELS = ("auto", "generated", "shared")


@dataclass(frozen=True)
class ExactSSA(Method):
    """Base class of the exact SSAs (direct, sorting direct, next reaction method).

    Parameters
    ----------
    kernels
        ``"generated"``: propensity code generated and compiled for the
        network (fastest per step; compiling takes seconds, growing with
        the network). ``"shared"``: data-driven kernels compiled once per
        machine for every mass-action network (no compilation per network;
        slower per step on small networks). ``"auto"`` (default): shared
        for mass-action networks of at least
        :data:`pycrn.network_arrays.SHARED_MIN_REACTIONS` reactions without
        events, generated otherwise.
    """

    exact: ClassVar[bool] = True
    records_events: ClassVar[bool] = True
    #: The SSA stepper's loop records them (direct, sorting direct, direct CR); NRM has a loop of its own.
    records_compensators: ClassVar[bool] = True
    kernels: str = dataclasses.field(default="auto", metadata={"quiet": True})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernels not in KERNELS:
            raise ValueError(f"kernels must be one of {', '.join(map(repr, KERNELS))}, got {self.kernels!r}")


@dataclass(frozen=True)
class Direct(ExactSSA):
    """Gillespie's direct method (exact); see :mod:`pycrn.engines.direct`."""

    name: ClassVar[str] = "direct"


@dataclass(frozen=True)
class SortingDirect(ExactSSA):
    """The sorting direct method of McCollum et al. (exact); see :mod:`pycrn.engines.sorting_direct`."""

    name: ClassVar[str] = "sorting_direct"


@dataclass(frozen=True)
class NRM(ExactSSA):
    """The next reaction method of Gibson and Bruck (exact); see :mod:`pycrn.engines.nrm`."""

    name: ClassVar[str] = "nrm"
    records_compensators: ClassVar[bool] = False


@dataclass(frozen=True)
class DirectCR(ExactSSA):
    """The composition-rejection direct method of Slepoy, Thompson and Plimpton (exact).

    See :mod:`pycrn.engines.direct_cr`.
    """

    name: ClassVar[str] = "direct_cr"


@dataclass(frozen=True)
class RSSA(Method):
    """The rejection-based SSA of Thanh, Priami and Zunino (exact); see :mod:`pycrn.engines.rssa`.

    Mass-action networks (rate constants that read neither species nor t;
    events may change them), on the data-driven kernels.

    Parameters
    ----------
    fluctuation
        Relative half-width of each species' bracket, in (0, 1): wider
        brackets re-bracket less often but reject more candidates.
    """

    name: ClassVar[str] = "rssa"
    exact: ClassVar[bool] = True
    records_events: ClassVar[bool] = True
    counter: ClassVar[str | None] = "rejections"
    fluctuation: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(f"{self.name} fluctuation", self.fluctuation, 1.0)

    def engine_option(self) -> float:
        return float(self.fluctuation)


@dataclass(frozen=True)
class RSSACR(RSSA):
    """RSSA with composition-rejection selection, of Thanh, Zunino and Priami (exact).

    See :mod:`pycrn.engines.rssa_cr`; the options are :class:`RSSA`'s.
    """

    name: ClassVar[str] = "rssa_cr"


@dataclass(frozen=True)
class Extrande(Method):
    """Exact simulation with rates that depend on ``t``, by thinning (Voliotis et al.'s Extrande).

    See :mod:`pycrn.engines.extrande`. Candidates are proposed against a
    bound of the total propensity over a window, proven by interval
    arithmetic on the rate expressions, and accepted with probability
    propensity / bound: the law of the time-inhomogeneous jump process
    exactly, with no integration tolerance. Also exact (and slower than
    ``direct``) on time-homogeneous networks.

    Parameters
    ----------
    window
        The first window's length (later ones adapt to how tight the bound
        is); ``None``: a sixteenth of the run.
    """

    name: ClassVar[str] = "extrande"
    exact: ClassVar[bool] = True
    supports_time: ClassVar[bool] = True
    counter: ClassVar[str | None] = "rejections"
    window: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window is not None:
            _positive("extrande window", self.window)

    def engine_option(self) -> float:
        return 0.0 if self.window is None else float(self.window)


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
        super().__post_init__()
        _positive("tau_epsilon", self.epsilon, 1.0)

    def engine_option(self) -> float:
        return float(self.epsilon)


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
        super().__post_init__()
        if self.dt is None:
            raise ValueError("method 'simple_tau_leaping' needs a positive step dt=...")
        _positive("the step dt of simple_tau_leaping", self.dt)

    def engine_option(self) -> float:
        return float(self.dt)


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
    max_steps: int | None = _budget_field(DEFAULT_BATCHED_MAX_STEPS)

    def __post_init__(self) -> None:
        super().__post_init__()
        value = self.min_reactions_per_batch
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0)
        ):
            raise ValueError(f"batched min_reactions_per_batch must be a non-negative number, got {value!r}")

    def engine_option(self) -> float:
        value = self.min_reactions_per_batch
        return float(self.engine.MIN_REACTIONS_PER_BATCH if value is None else value)

    def options(self) -> dict[str, Any]:
        return {"min_reactions_per_batch": self.engine_option(), "max_steps": self.max_steps}


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
    float_states: ClassVar[bool] = True
    supports_equations: ClassVar[bool] = True
    rtol: float = 1e-8
    atol: float = 1e-10
    solver: str = "LSODA"
    max_steps: int | None = _budget_field(DEFAULT_ODE_MAX_STEPS)

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("ode rtol", self.rtol, 1.0)
        _positive("ode atol", self.atol)
        if not isinstance(self.solver, str):
            raise ValueError(f"ode solver must be the name of a solve_ivp method, got {self.solver!r}")


def _species_names(method: str, names: Any) -> tuple[str, ...]:
    names = (names,) if isinstance(names, str) else names
    if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{method} continuous must be species names, got {names!r}")
    return tuple(names)


def _mark_continuous(method: str, net: Any, names: tuple[str, ...]) -> Any:
    from .errors import ModelError

    unknown = [n for n in names if n not in net.species_names]
    if unknown:
        raise ModelError(f"method {method!r}: continuous= names unknown species {', '.join(map(repr, unknown))} "
                         f"(species: {', '.join(net.species_names)})")
    return net.with_continuous(names) if names else net


@dataclass(frozen=True)
class Hybrid(Method):
    """Continuous species by ODEs, the other reactions as jumps; see :mod:`pycrn.engines.hybrid`.

    Exact up to the integration tolerance for the piecewise-deterministic
    model: the reactions that change only continuous species are rate
    equations, the others jumps whose propensities may read the continuous
    species and ``t`` (their integrated intensity is integrated with the
    ODEs and the jump times located by root finding). With no continuous
    species it simulates time-varying rates that ``extrande`` cannot bound.

    Parameters
    ----------
    continuous
        Species names to treat as continuous, in addition to those the
        network marks (``[continuous]`` in the language, or an ``@equation``).
    rtol, atol
        Tolerances of the Runge-Kutta step control, on the continuous
        species and on the integrated jump intensity.
    root_tol
        How close the integrated intensity must come to its exponential
        target at a located jump.
    first_step
        The first step (later ones adapt); ``None``: a thousandth of the run.
    integrator
        ``"dopri5"``: the explicit Dormand-Prince 5(4) pair; ``"rosenbrock23"``:
        the L-stable Rosenbrock 2(3) pair of MATLAB's ode23s, for a stiff
        continuous part (fast reactions marked continuous; see
        :mod:`pycrn.engines.hybrid_rosenbrock`).
    """

    name: ClassVar[str] = "hybrid"
    supports_time: ClassVar[bool] = True
    float_states: ClassVar[bool] = True
    supports_equations: ClassVar[bool] = True
    counter: ClassVar[str | None] = "integration_steps"
    continuous: tuple[str, ...] = ()
    rtol: float = 1e-6
    atol: float = 1e-6
    root_tol: float = 1e-10
    first_step: float | None = None
    integrator: Literal["dopri5", "rosenbrock23"] = "dopri5"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "continuous", _species_names("hybrid", self.continuous))
        if self.integrator not in ("dopri5", "rosenbrock23"):
            raise ValueError(f"hybrid integrator must be 'dopri5' or 'rosenbrock23', got {self.integrator!r}")
        _positive("hybrid rtol", self.rtol, 1.0)
        _positive("hybrid atol", self.atol)
        _positive("hybrid root_tol", self.root_tol, 1.0)
        if self.first_step is not None:
            _positive("hybrid first_step", self.first_step)

    def prepare(self, net: Any) -> Any:
        return _mark_continuous("hybrid", net, self.continuous)

    @property
    def engine(self) -> ModuleType:
        from .engines import hybrid, hybrid_rosenbrock

        return hybrid_rosenbrock if self.integrator == "rosenbrock23" else hybrid

    def kernel_options(self) -> np.ndarray:
        budget = math.inf if self.max_steps is None else float(self.max_steps)
        first = 0.0 if self.first_step is None else float(self.first_step)
        return np.array([self.rtol, budget, self.atol, self.root_tol, first])


@dataclass(frozen=True)
class HybridSDE(Method):
    """Continuous species by SDEs, the other reactions as jumps; see :mod:`pycrn.engines.hybrid_sde`.

    The continuous scale carries the chemical Langevin noise of its
    reactions (``cle=True``) and the network's own noise terms
    (``@noise V ~ g``); jumps may read the continuous species and ``t``.
    Euler-Maruyama with a fixed step and the jump intensity integrated
    along the path: not exact, with errors of order ``dt`` in the moments
    (weak order 1). The SDE counterpart of :class:`Hybrid`.

    Parameters
    ----------
    continuous
        Species names to treat as continuous, in addition to those the
        network marks (as for :class:`Hybrid`).
    dt
        The step; ``None``: a thousandth of the run. Steps are cut to land
        on save and event times.
    cle
        Chemical Langevin noise on the continuous-scale reactions; with
        ``False`` only the network's ``@noise`` terms are noisy.
    """

    name: ClassVar[str] = "hybrid_sde"
    supports_time: ClassVar[bool] = True
    float_states: ClassVar[bool] = True
    supports_equations: ClassVar[bool] = True
    supports_noise: ClassVar[bool] = True
    counter: ClassVar[str | None] = "integration_steps"
    continuous: tuple[str, ...] = ()
    dt: float | None = None
    cle: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "continuous", _species_names("hybrid_sde", self.continuous))
        if self.dt is not None:
            _positive("hybrid_sde dt", self.dt)
        if not isinstance(self.cle, (bool, np.bool_)):
            raise ValueError(f"hybrid_sde cle must be True or False, got {self.cle!r}")

    def prepare(self, net: Any) -> Any:
        return _mark_continuous("hybrid_sde", net, self.continuous)

    def kernel_options(self) -> np.ndarray:
        budget = math.inf if self.max_steps is None else float(self.max_steps)
        return np.array([0.0 if self.dt is None else float(self.dt), budget, 1.0 if self.cle else 0.0])


#: The options every method takes (its budget): allowed with ``method="auto"``.
BUDGET_OPTIONS = ("max_steps",)

#: Method classes by name (the strings accepted as ``method=``).
METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (Direct, SortingDirect, NRM, DirectCR, RSSA, RSSACR, Extrande, TauLeaping, SimpleTauLeaping, Batched, ODE,
                Hybrid, HybridSDE)
}


def choose(net: Any) -> Method:
    """The exact method ``method="auto"`` picks for ``net``.

    :class:`HybridSDE` for networks with noise terms and :class:`Hybrid` for
    other networks with continuous species (neither is exact: the
    piecewise-deterministic model, or its SDE counterpart); :class:`Extrande` (thinning) for networks whose rates read ``t``; the
    rejection-based SSA (:class:`RSSA`) for mass-action networks of at
    least :data:`pycrn.network_arrays.SHARED_MIN_REACTIONS` reactions (with
    or without events), the direct method otherwise. Measured with
    benchmarks/bench_large.py on the BioNetGen networks (README, "Large
    networks"): RSSA was the fastest of the six exact SSAs from 288
    reactions up (multisite2, EGFR, BCR); below the threshold the direct
    method on generated kernels is the fastest per step. RSSA's
    propensities are data-driven, so a large network with events compiles
    only its events, not code growing with its reactions.
    """
    from .network_arrays import SHARED_MIN_REACTIONS, array_kernels_apply

    if net.noise:
        return HybridSDE()
    if net.equations or net.continuous_species:
        return Hybrid()
    if net.depends_on_time:
        return Extrande()
    large = len(net.reactions) >= SHARED_MIN_REACTIONS
    return RSSA() if large and array_kernels_apply(net) else Direct()


def resolve(
    method: str | Method, aliases: dict[str, str] | None = None, net: Any = None, **options: Any
) -> Method:
    """The method object for ``method``, with ``options`` (those not ``None``) applied.

    Parameters
    ----------
    method
        A method name (see :data:`METHODS`), ``"auto"`` (an exact method
        chosen for ``net`` by :func:`choose`) or a :class:`Method` object.
    aliases
        How the caller names an option in messages (``{"epsilon": "tau_epsilon"}``).
    net
        The network, needed for ``"auto"``.
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
    if method == "auto":
        budget = {k: given.pop(k) for k in BUDGET_OPTIONS if k in given}
        if given:
            raise ValueError(f"method 'auto' takes no options (got {', '.join(sorted(named[k] for k in given))}); "
                             "name a method")
        if net is None:
            raise ValueError("method 'auto' needs the network to choose for")
        return dataclasses.replace(choose(net), **budget)
    cls = METHODS.get(method) if isinstance(method, str) else None
    if cls is None:
        raise ValueError(f"unknown method {method!r}; available: auto, {', '.join(METHODS)}")
    accepted = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - accepted)
    if unknown:
        takes = f"its options: {', '.join(sorted(accepted))}" if accepted else "it takes no options"
        raise ValueError(f"method {method!r} does not take {', '.join(named[k] for k in unknown)} ({takes})")
    return cls(**given)
