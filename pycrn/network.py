"""Species, reactions and reaction networks.

A :class:`ReactionNetwork` is an immutable description of a chemical reaction
network: its species (with default initial counts), its parameters (with
default values) and its reactions. It validates itself on construction, and
derives what the engines need: the net stoichiometry matrix and the reaction
dependency graph (which propensities change when a given reaction fires).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .errors import ModelError
from .ratelaws import FUNCTIONS, TIME, Condition, RateLaw

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Names that cannot be used for species or parameters.
RESERVED = frozenset({TIME, "inf", "nan", "pi", *FUNCTIONS})


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it is a valid identifier for a species or parameter."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModelError(f"{what} name {name!r} is not a valid identifier")
    if name in RESERVED:
        raise ModelError(f"{what} name {name!r} is reserved")
    return name


#: The largest count a species can hold: the engines' int64 state.
MAX_COUNT = 2**63 - 1
#: The largest whole number a double holds exactly: the limit of counts that come from double-precision
#: values (event assignments, SBML amounts).
MAX_EXACT_DOUBLE = 2**53
#: The largest reactant stoichiometry: the falling factorial x (x-1) ... (x-nu+1) / nu! is unrolled
#: into the compiled kernels, and nu! must be a finite float.
MAX_REACTANT_STOICHIOMETRY = 100
#: The largest product stoichiometry (a change per firing).
MAX_PRODUCT_STOICHIOMETRY = 10**9


def continuous_amount(value: object, what: str) -> float:
    """``value`` as a non-negative finite amount of a continuous species, or a :class:`ModelError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ModelError(f"{what} must be a number, got {value!r} ({type(value).__name__})")
    try:
        v = float(value)
    except OverflowError:
        raise ModelError(f"{what} is too large for a float ({value!r})") from None
    if not (math.isfinite(v) and v >= 0):
        raise ModelError(f"{what} must be a non-negative finite number, got {value!r}")
    return int(value) if isinstance(value, (int, np.integer)) else v


def whole_amount(value: int | float) -> bool:
    """Whether a continuous species' amount is also a count: whole, and exact as a double (up to 2**53)."""
    return float(value).is_integer() and abs(value) <= MAX_EXACT_DOUBLE


def exact_count(value: object, what: str) -> int:
    """``value`` as an exact non-negative count, or a :class:`ModelError` naming ``what``.

    Integers are taken exactly (never through float); floats must be whole
    and finite; counts above :data:`MAX_COUNT` (int64) are refused rather
    than wrapped or rounded. Strings, ``None``, complex numbers and arrays are refused.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ModelError(f"{what} must be an integer, got {value!r} ({type(value).__name__})")
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or not float(value).is_integer():
            raise ModelError(f"{what} must be an integer, got {value!r}")
    count = int(value)
    if count < 0:
        raise ModelError(f"{what} must be non-negative, got {value!r}")
    if count > MAX_COUNT:
        raise ModelError(f"{what} is {value!r}, above the largest count the engines hold (2**63 - 1)")
    return count


@dataclass(frozen=True)
class Species:
    """A chemical species.

    Parameters
    ----------
    name
        Identifier used in reactions and in the results.
    initial
        Default initial copy number.
    boundary
        A boundary species is an input: reactions may use it in their rates,
        but firing them does not change its count (SBML's boundaryCondition,
        Catalyst's ``isbcspecies``).
    continuous
        Simulated as a continuous amount by ``method="hybrid"`` (an ODE
        variable: the reactions that change only continuous species become
        rate equations, see :mod:`pycrn.engines.hybrid`); its initial value
        may then be any non-negative number. The other stochastic methods
        simulate it as a count, which needs a whole initial value.
    """

    name: str
    initial: int | float = 0
    boundary: bool = False
    continuous: bool = False


@dataclass(frozen=True)
class Parameter:
    """A named constant used in rate expressions; ``value=None`` must be set at simulation."""

    name: str
    value: float | None = None


@dataclass(frozen=True)
class Reaction:
    """One reaction channel.

    Parameters
    ----------
    rate
        Rate expression (a number or a string in the rate language).
    reactants, products
        Mappings species name -> positive integer stoichiometric coefficient.
    mass_action
        If true (the ``-->`` arrow), the propensity is the rate expression
        times the combinatorial mass-action term of the reactants,
        ``prod_i C(x_i, nu_i)`` (so ``2A`` gives ``A(A-1)/2``). If false (the
        ``=>`` arrow), the rate expression is the whole propensity.
    line
        Where the reaction was defined (for error messages), if known.
    bound
        Optional upper bound of the rate expression, valid at every time of
        the run while the counts do not change (``@bound`` in the language; the
        ``urate`` of JumpProcesses' bounded ``VariableRateJump``). It may
        read species and parameters but not ``t``; for a mass-action
        reaction it bounds the rate, which the mass-action term then
        multiplies. ``method="extrande"`` thins against it (with its own
        interval bound where that is tighter) and checks it at every
        candidate time: a propensity above it stops the run with a
        :class:`~pycrn.SimulationError` naming the reaction and the time.
        The other methods need no bound and do not read it.
    """

    rate: RateLaw
    reactants: tuple[tuple[str, int], ...] = ()
    products: tuple[tuple[str, int], ...] = ()
    mass_action: bool = True
    line: int | None = field(default=None, compare=False)
    bound: RateLaw | None = None

    @classmethod
    def make(
        cls,
        rate: str | float | RateLaw,
        reactants: Mapping[str, int] | Iterable[str] = (),
        products: Mapping[str, int] | Iterable[str] = (),
        mass_action: bool = True,
        line: int | None = None,
        bound: str | float | RateLaw | None = None,
    ) -> Reaction:
        """Build a reaction from a rate and reactant/product mappings or lists of names."""
        law = rate if isinstance(rate, RateLaw) else RateLaw.parse(rate)
        if bound is not None and not isinstance(bound, RateLaw):
            bound = RateLaw.parse(bound)
        return cls(law, _side(reactants, MAX_REACTANT_STOICHIOMETRY, "reactant"),
                   _side(products, MAX_PRODUCT_STOICHIOMETRY, "product"), mass_action, line, bound)

    def net_change(self) -> dict[str, int]:
        """Species name -> net change in count when the reaction fires (zeros dropped)."""
        change: dict[str, int] = {}
        for name, nu in self.reactants:
            change[name] = change.get(name, 0) - nu
        for name, nu in self.products:
            change[name] = change.get(name, 0) + nu
        return {k: v for k, v in change.items() if v != 0}

    def rate_species(self, species: Iterable[str]) -> set[str]:
        """The species the propensity depends on."""
        used = set(self.rate.names) & set(species)
        if self.mass_action:
            used |= {name for name, _ in self.reactants}
        return used

    def __str__(self) -> str:
        arrow = "-->" if self.mass_action else "=>"
        text = f"{self.rate}, {_format_side(self.reactants)} {arrow} {_format_side(self.products)}"
        return text if self.bound is None else f"{text} @bound {self.bound}"


@dataclass(frozen=True)
class Event:
    """A discrete event: when ``trigger`` becomes true, apply ``assignments``.

    Parameters
    ----------
    trigger
        A condition (e.g. ``"t >= 25"`` or ``"P2 > 30"``). A trigger of the
        form ``t >= T`` (or ``t > T``) with ``T`` free of species is a time
        event, fired exactly at ``T``; any other trigger must not use ``t``
        and is a state event, checked after every jump (exact for a pure jump
        process, whose state changes only at jumps).
    assignments
        Target (species or parameter) -> expression, all evaluated with the
        values just before the event, then assigned together. Species must
        receive non-negative whole numbers.
    initial_value
        The trigger's value "just before" the start (SBML's
        ``initialValue``): with ``False`` (the default) a trigger already
        true at ``t0`` fires at ``t0``; with ``True`` it fires only when it
        becomes true later.
    name
        Optional label (not part of equality).
    """

    trigger: Condition
    assignments: tuple[tuple[str, RateLaw], ...]
    initial_value: bool = False
    name: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)

    @classmethod
    def make(
        cls,
        trigger: str | Condition,
        assignments: Mapping[str, str | float | RateLaw],
        initial_value: bool = False,
        name: str = "",
        line: int | None = None,
    ) -> Event:
        """Build an event from a trigger text and a mapping target -> expression."""
        cond = trigger if isinstance(trigger, Condition) else Condition.parse(trigger)
        if not assignments:
            raise ModelError(f"event {name or str(cond)!r} assigns nothing")
        assigned = tuple(
            (target, v if isinstance(v, RateLaw) else RateLaw.parse(v)) for target, v in assignments.items()
        )
        return cls(cond, assigned, bool(initial_value), name, line)

    def __str__(self) -> str:
        flag = "(initial=true)" if self.initial_value else ""
        body = ", ".join(f"{k} = {v}" for k, v in self.assignments)
        return f"@event{flag} {self.trigger}: {body}"


def _side(side: Mapping[str, int] | Iterable[str], limit: int, what: str) -> tuple[tuple[str, int], ...]:
    counts: dict[str, int] = {}
    items = side.items() if isinstance(side, Mapping) else ((name, 1) for name in side)
    for name, nu in items:
        if isinstance(nu, bool) or not isinstance(nu, (int, np.integer)):
            raise ModelError(f"stoichiometry of {name!r} must be an integer, got {nu!r}")
        if nu <= 0:
            raise ModelError(f"stoichiometry of {name!r} must be positive, got {nu}")
        counts[name] = counts.get(name, 0) + int(nu)
        if counts[name] > limit:
            raise ModelError(f"{what} stoichiometry {counts[name]} of {name!r} is above the limit of {limit:,}")
    return tuple(counts.items())


def _format_side(side: tuple[tuple[str, int], ...]) -> str:
    if not side:
        return "0"
    return " + ".join(name if nu == 1 else f"{nu}{name}" for name, nu in side)


class ReactionNetwork:
    """An immutable, validated reaction network.

    Parameters
    ----------
    species
        The species, in the order used for arrays and results. Species used
        by a reaction but not listed are added (initial count 0) in order of
        first use.
    parameters
        The parameters that rate expressions may use.
    reactions
        The reaction channels.
    name
        An optional label (used in results and plots).
    tspan
        An optional default time span ``(t0, tf)`` for simulations (metadata:
        not part of equality).
    events
        Discrete events (see :class:`Event`).
    observables
        Derived outputs, name -> expression of species, parameters and ``t``
        (e.g. SBML assignment rules), recorded as float variables in results.
    equations
        Extra terms of continuous species' rate equations, species name ->
        expression of species, parameters and ``t`` (Catalyst's
        ``D(V) ~ ...``): ``dV/dt`` is the expression plus the rate terms of
        the reactions that change ``V`` continuously. A species with an
        equation is continuous (added with initial value 0 if not listed).
        Simulated by ``method="hybrid"``, ``"hybrid_sde"`` and ``"ode"``;
        the other methods refuse such a network.
    noise
        Noise amplitudes of continuous species, species name -> expression
        ``g`` (``@noise V ~ g`` in the language): ``V`` gets the Itô term
        ``g dW_V`` with a Wiener process of its own, on top of its rate
        equation (the tutorial's ``SDEProblem`` with diagonal noise ``g``).
        A species with a noise term is continuous. Simulated by
        ``method="hybrid_sde"`` only; the other methods refuse such a network.

    Raises
    ------
    ModelError
        For duplicate or reserved names, names used in a rate expression
        that are neither species, parameters nor ``t``, or invalid counts or
        values.
    """

    def __init__(
        self,
        species: Iterable[Species],
        parameters: Iterable[Parameter],
        reactions: Iterable[Reaction],
        name: str = "",
        tspan: tuple[float, float] | None = None,
        events: Iterable[Event] = (),
        observables: Mapping[str, str | RateLaw] | Iterable[tuple[str, str | RateLaw]] = (),
        equations: Mapping[str, str | RateLaw] | Iterable[tuple[str, str | RateLaw]] = (),
        noise: Mapping[str, str | RateLaw] | Iterable[tuple[str, str | RateLaw]] = (),
    ) -> None:
        spec: dict[str, Species] = {}
        for s in species:
            check_name(s.name, "species")
            if s.name in spec:
                raise ModelError(f"species {s.name!r} is declared twice")
            if s.continuous:
                continuous_amount(s.initial, f"initial value of continuous species {s.name!r}")
            else:
                if isinstance(s.initial, bool) or not isinstance(s.initial, (int, np.integer)) or s.initial < 0:
                    raise ModelError(
                        f"initial count of species {s.name!r} must be a non-negative integer, got {s.initial!r}"
                    )
                exact_count(s.initial, f"initial count of species {s.name!r}")
            spec[s.name] = s
        eqs = _laws(equations)
        noises = _laws(noise)
        targets: set[str] = set()
        noisy: set[str] = set()
        for target, expr, kind in [(k, v, "equation") for k, v in eqs] + [(k, v, "noise") for k, v in noises]:
            where = f"equation D({target}) ~ {expr}" if kind == "equation" else f"noise {target} ~ {expr}"
            check_name(target, "species")
            seen = targets if kind == "equation" else noisy
            if target in seen:
                raise ModelError(f"{where}: species {target!r} has two {kind} terms; write one with both terms")
            seen.add(target)
            s = spec.get(target)
            if s is None:
                spec[target] = Species(target, 0, continuous=True)
            elif s.boundary:
                raise ModelError(f"{where}: {target!r} is a boundary species, which nothing changes")
            elif not s.continuous:
                spec[target] = Species(target, s.initial, False, True)
        pars: dict[str, Parameter] = {}
        for p in parameters:
            check_name(p.name, "parameter")
            if p.name in pars:
                raise ModelError(f"parameter {p.name!r} is declared twice")
            if p.name in spec:
                raise ModelError(f"{p.name!r} is declared both as a species and as a parameter")
            if p.value is not None and not math.isfinite(p.value):
                raise ModelError(f"parameter {p.name!r} has non-finite value {p.value!r}")
            pars[p.name] = p
        rxns = list(reactions)
        for i, r in enumerate(rxns):
            where = _where(r, i)
            for side, limit, what in ((r.reactants, MAX_REACTANT_STOICHIOMETRY, "reactant"),
                                      (r.products, MAX_PRODUCT_STOICHIOMETRY, "product")):
                for sname, nu in side:
                    if nu > limit:
                        raise ModelError(f"{where}: {what} stoichiometry {nu} of {sname!r} is above the limit of {limit:,}")
            for sname, _ in r.reactants + r.products:
                try:
                    check_name(sname, "species")
                except ModelError as exc:
                    raise ModelError(f"{where}: {exc}") from None
                if sname in pars:
                    raise ModelError(f"{where}: {sname!r} is a parameter, not a species")
                if sname not in spec:
                    spec[sname] = Species(sname)
            unknown = sorted(n for n in r.rate.names if n not in spec and n not in pars and n != TIME)
            if unknown:
                raise ModelError(
                    f"{where}: rate {str(r.rate)!r} uses unknown name(s) {', '.join(unknown)} "
                    "(declare parameters with @parameters and species with @species)"
                )
            if r.bound is not None:
                _check_bound(r.bound, where, spec, pars)
        known = set(spec) | set(pars) | {TIME}
        evs = tuple(events)
        for i, ev in enumerate(evs):
            where = f"line {ev.line}" if ev.line is not None else f"event {ev.name or i + 1}"
            unknown = sorted(ev.trigger.names - known)
            if unknown:
                raise ModelError(f"{where}: trigger {str(ev.trigger)!r} uses unknown name(s) {', '.join(unknown)}")
            if TIME in ev.trigger.names and ev.trigger.time_threshold() is None:
                raise ModelError(
                    f"{where}: trigger {str(ev.trigger)!r} reads t other than as 't >= T' or 't > T'; "
                    "a time event's trigger is 't >= T' (T free of t), and a condition on the state cannot read t"
                )
            for target, expr in ev.assignments:
                if target not in spec and target not in pars:
                    raise ModelError(f"{where}: assignment to unknown species or parameter {target!r}")
                unknown = sorted(expr.names - known)
                if unknown:
                    raise ModelError(f"{where}: assignment {target} = {expr} uses unknown name(s) {', '.join(unknown)}")
        obs = tuple(
            (k, v if isinstance(v, RateLaw) else RateLaw.parse(v))
            for k, v in (observables.items() if isinstance(observables, Mapping) else observables)
        )
        seen: set[str] = set()
        for oname, expr in obs:
            check_name(oname, "observable")
            if oname in seen:
                raise ModelError(f"observable {oname!r} is defined twice")
            seen.add(oname)
            if oname in known:
                raise ModelError(f"observable {oname!r} clashes with a species or parameter")
            unknown = sorted(expr.names - known)
            if unknown:
                raise ModelError(f"observable {oname} = {expr} uses unknown name(s) {', '.join(unknown)}")
        for target, expr in eqs:
            unknown = sorted(expr.names - known)
            if unknown:
                raise ModelError(f"equation D({target}) ~ {expr}: uses unknown name(s) {', '.join(unknown)}")
        for target, expr in noises:
            unknown = sorted(expr.names - known)
            if unknown:
                raise ModelError(f"noise {target} ~ {expr}: uses unknown name(s) {', '.join(unknown)}")
        self._species = tuple(spec.values())
        self._parameters = tuple(pars.values())
        self._equations = eqs
        self._noise = noises
        self._reactions = tuple(rxns)
        self._events = evs
        self._observables = obs
        self.name = name
        self.tspan = tspan

    # -- basic views -------------------------------------------------------
    @property
    def species(self) -> tuple[Species, ...]:
        return self._species

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self._parameters

    @property
    def reactions(self) -> tuple[Reaction, ...]:
        return self._reactions

    @property
    def events(self) -> tuple[Event, ...]:
        return self._events

    @property
    def observables(self) -> tuple[tuple[str, RateLaw], ...]:
        return self._observables

    @property
    def equations(self) -> tuple[tuple[str, RateLaw], ...]:
        """The extra rate-equation terms of continuous species, (species name, expression) pairs."""
        return self._equations

    @property
    def noise(self) -> tuple[tuple[str, RateLaw], ...]:
        """The noise amplitudes of continuous species, (species name, expression) pairs."""
        return self._noise

    @property
    def continuous_species(self) -> list[str]:
        """The names of the species marked continuous (by a flag or an equation)."""
        return [s.name for s in self._species if s.continuous]

    @property
    def species_names(self) -> list[str]:
        return [s.name for s in self._species]

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self._parameters]

    @property
    def depends_on_time(self) -> bool:
        """Whether any rate expression uses ``t``."""
        return any(r.rate.depends_on_time for r in self._reactions)

    def species_index(self, name: str) -> int:
        """Position of species ``name`` in arrays and results."""
        try:
            return self.species_names.index(name)
        except ValueError:
            raise ModelError(f"unknown species {name!r} (species: {', '.join(self.species_names)})") from None

    # -- defaults and overrides ---------------------------------------------
    def initial_state(self, u0: Mapping[str, int | float] | None = None, fractions: bool = False) -> np.ndarray:
        """Initial counts as an int64 array: the defaults, overridden by ``u0``.

        A continuous species' value must be a whole count here (up to 2**53,
        :func:`whole_amount`), unless ``fractions`` is true: then another
        value reads 0 (the caller keeps the exact values, :meth:`initial_values`).
        """
        values = self._initial(u0)
        x = np.zeros(len(self._species), dtype=np.int64)
        for i, (s, v) in enumerate(zip(self._species, values)):
            if s.continuous and not whole_amount(v):
                if not fractions:
                    raise ModelError(
                        f"continuous species {s.name!r} starts at {v!r}, not a whole count (up to 2**53): only "
                        "method='hybrid' and method='ode' simulate such an amount"
                    )
                v = 0
            x[i] = v
        return x

    def initial_values(self, u0: Mapping[str, int | float] | None = None) -> np.ndarray:
        """Initial values as a float64 array: counts, and the amounts of continuous species."""
        return np.array([float(v) for v in self._initial(u0)], dtype=np.float64)

    def _initial(self, u0: Mapping[str, int | float] | None) -> list[int | float]:
        values = [s.initial for s in self._species]
        if u0 is not None and not isinstance(u0, Mapping):
            raise ModelError(f"u0 must be a mapping of species names to counts, got {type(u0).__name__}")
        for name, value in (u0 or {}).items():
            if name not in self.species_names:
                raise ModelError(f"u0: unknown species {name!r} (species: {', '.join(self.species_names)})")
            i = self.species_index(name)
            if self._species[i].continuous:
                values[i] = continuous_amount(value, f"u0: value of continuous species {name!r}")
            else:
                values[i] = exact_count(value, f"u0: count of {name!r}")
        return values

    def parameter_values(self, params: Mapping[str, float] | None = None) -> np.ndarray:
        """Parameter values as a float64 array: the defaults, overridden by ``params``."""
        values = {p.name: p.value for p in self._parameters}
        if params is not None and not isinstance(params, Mapping):
            raise ModelError(f"params must be a mapping of parameter names to values, got {type(params).__name__}")
        for name, value in (params or {}).items():
            values[name] = self._checked_parameter(name, value, values)
        missing = [k for k, v in values.items() if v is None]
        if missing:
            raise ModelError(f"params: no value given for parameter(s) {', '.join(missing)}")
        return np.array(list(values.values()), dtype=np.float64)

    @staticmethod
    def _checked_parameter(name: str, value: object, known: Mapping[str, object]) -> float:
        if name not in known:
            names = ", ".join(known) or "none"
            raise ModelError(f"params: unknown parameter {name!r} (parameters: {names})")
        if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ModelError(f"params: value of {name!r} must be a number, got {value!r}")
        try:
            v = float(value)
        except OverflowError:
            raise ModelError(f"params: value of {name!r} is too large for a float ({value!r})") from None
        if not math.isfinite(v):
            raise ModelError(f"params: value of {name!r} is not finite ({value!r})")
        return v

    # -- structure ------------------------------------------------------------
    @cached_property
    def stoichiometry(self) -> np.ndarray:
        """Net stoichiometry matrix, shape (species, reactions); boundary species rows are 0."""
        S = np.zeros((len(self._species), len(self._reactions)), dtype=np.int64)
        idx = {s.name: i for i, s in enumerate(self._species)}
        for j, r in enumerate(self._reactions):
            for name, nu in r.net_change().items():
                if not self._species[idx[name]].boundary:
                    S[idx[name], j] = nu
        S.setflags(write=False)
        return S

    @cached_property
    def reactant_matrix(self) -> np.ndarray:
        """Reactant stoichiometry, shape (species, reactions)."""
        R = np.zeros((len(self._species), len(self._reactions)), dtype=np.int64)
        idx = {s.name: i for i, s in enumerate(self._species)}
        for j, r in enumerate(self._reactions):
            for name, nu in r.reactants:
                R[idx[name], j] = nu
        R.setflags(write=False)
        return R

    @cached_property
    def rate_dependencies(self) -> tuple[tuple[int, ...], ...]:
        """For each reaction, the indices of the species its propensity depends on."""
        idx = {s.name: i for i, s in enumerate(self._species)}
        return tuple(
            tuple(sorted(idx[n] for n in r.rate_species(idx))) for r in self._reactions
        )

    @cached_property
    def dependency_graph(self) -> tuple[tuple[int, ...], ...]:
        """For each reaction j, the reactions whose propensity changes when j fires.

        Reaction k is a dependent of j when j changes the count of a species
        that k's propensity depends on.
        """
        S = self.stoichiometry
        users: list[set[int]] = [set() for _ in self._species]
        for k, deps in enumerate(self.rate_dependencies):
            for i in deps:
                users[i].add(k)
        graph = []
        for j in range(len(self._reactions)):
            affected: set[int] = set()
            for i in np.flatnonzero(S[:, j]):
                affected |= users[i]
            graph.append(tuple(sorted(affected)))
        return tuple(graph)

    # -- printing and comparison ------------------------------------------
    def to_text(self) -> str:
        """The network in the network language; :func:`pycrn.parse` reads it back."""
        from .dsl import format_network

        return format_network(self)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return (
            f"<ReactionNetwork{label}: {len(self._species)} species, "
            f"{len(self._parameters)} parameters, {len(self._reactions)} reactions"
            + (f", {len(self._events)} events" if self._events else "")
            + ">"
        )

    def _key(self) -> tuple:
        return (self._species, self._parameters, self._reactions, self._events, self._observables, self._equations,
                self._noise)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReactionNetwork):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def with_defaults(
        self, u0: Mapping[str, int] | None = None, params: Mapping[str, float] | None = None
    ) -> ReactionNetwork:
        """A copy with new default initial counts and/or parameter values."""
        values = self._initial(u0)
        pv = {p.name: p.value for p in self._parameters}
        for name, value in (params or {}).items():
            pv[name] = self._checked_parameter(name, value, pv)
        species = [Species(s.name, v if s.continuous else int(v), s.boundary, s.continuous)
                   for s, v in zip(self._species, values)]
        parameters = [Parameter(p.name, pv[p.name]) for p in self._parameters]
        return ReactionNetwork(
            species, parameters, self._reactions, self.name, self.tspan, self._events, self._observables,
            self._equations, self._noise,
        )

    def with_continuous(self, names: Iterable[str]) -> ReactionNetwork:
        """A copy with the species ``names`` marked continuous (see :class:`Species`)."""
        names = list(names)
        for name in names:
            self.species_index(name)  # names an unknown species
        species = [Species(s.name, s.initial, s.boundary, s.continuous or s.name in names) for s in self._species]
        return ReactionNetwork(species, self._parameters, self._reactions, self.name, self.tspan, self._events,
                               self._observables, self._equations, self._noise)


def _laws(terms: Mapping[str, str | RateLaw] | Iterable[tuple[str, str | RateLaw]]) -> tuple[tuple[str, RateLaw], ...]:
    return tuple((k, v if isinstance(v, RateLaw) else RateLaw.parse(v))
                 for k, v in (terms.items() if isinstance(terms, Mapping) else terms))


def _check_bound(bound: RateLaw, where: str, spec: Mapping[str, Species], pars: Mapping[str, Parameter]) -> None:
    if TIME in bound.names:
        raise ModelError(f"{where}: @bound {bound} uses t; a bound must hold at every time while the counts are "
                         "fixed, so it may read species and parameters only (bound the time factor by its maximum)")
    unknown = sorted(n for n in bound.names if n not in spec and n not in pars)
    if unknown:
        raise ModelError(f"{where}: @bound {bound} uses unknown name(s) {', '.join(unknown)}")


def _where(r: Reaction, i: int) -> str:
    return f"line {r.line}" if r.line is not None else f"reaction {i + 1}"
