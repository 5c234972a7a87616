"""The compiled problem: everything a run needs except the method, the trajectory range and the seed.

A :class:`Problem` holds the network as the engines simulate it (with the
volume folded into the rates), the initial state, the parameter vector, the
time span and the save times. It is validated once when built, is small and
picklable (a Dask worker receives it and loads the compiled module from its
own cache, see :func:`pycrn.runner.compiled`), and is what every caller of the
run contract passes to :func:`pycrn.run`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError
from .network import Parameter, Reaction, ReactionNetwork, whole_amount
from .ratelaws import RateLaw

#: Default number of saved points when ``saveat`` is not given.
DEFAULT_POINTS = 101
#: The parameter that carries ``volume`` into the compiled kernels.
VOLUME_PARAMETER = "pycrn_volume"


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated simulation problem (see the module docstring).

    Build it with :meth:`Problem.build`; the fields are read-only.

    Attributes
    ----------
    model
        The network as given by the user (for provenance).
    net
        The network the engines run: ``model`` itself, or, when a volume is
        given and cannot be folded into the parameter values (see
        :func:`volume_folding`), ``model`` with each mass-action rate divided
        by ``volume^(order-1)``.
    x0
        Initial counts, int64, in ``net.species_names`` order.
    p
        Parameter values, float64, in ``net.parameter_names`` order: with a
        volume, either the rate parameters scaled by it (folded) or the
        volume appended last.
    t0, tf
        The time span.
    save_times
        Increasing save times in ``[t0, tf]``.
    volume
        The reaction volume, or ``None`` (no scaling).
    y0
        Initial values, float64: ``x0`` with the exact (possibly fractional)
        amounts of continuous species, which methods with float states start from.
    """

    model: ReactionNetwork
    net: ReactionNetwork
    x0: np.ndarray
    p: np.ndarray
    t0: float
    tf: float
    save_times: np.ndarray
    volume: float | None = None
    _text: str = field(default="", repr=False)
    y0: np.ndarray | None = None
    #: The user's parameter values when ``p`` holds them scaled by the volume (folded), else None.
    _model_p: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        net: ReactionNetwork,
        u0: Mapping[str, int] | None = None,
        tspan: tuple[float, float] | Sequence[float] | None = None,
        params: Mapping[str, float] | None = None,
        saveat: float | Sequence[float] | np.ndarray | None = None,
        volume: float | None = None,
    ) -> Problem:
        """Validate the arguments of a run and build the problem.

        Parameters are as for :func:`pycrn.simulate`. ``saveat`` may be
        ``None`` for a run that records events instead (then the save
        times are ``[t0, tf]``).

        Raises
        ------
        ModelError
            For unknown or invalid species counts, parameter values or rate constants.
        ValueError
            For an invalid ``tspan``, ``saveat`` or ``volume``.
        """
        if not isinstance(net, ReactionNetwork):
            raise TypeError(f"simulate() expects a ReactionNetwork, got {type(net).__name__}")
        t0, tf = check_tspan(tspan if tspan is not None else net.tspan)
        x0 = net.initial_state(u0, fractions=True)
        y0 = net.initial_values(u0)
        p = net.parameter_values(params)
        check_rate_constants(net, p)
        save_times = check_saveat(saveat, t0, tf)
        model = net
        if volume is not None:
            if isinstance(volume, bool) or not isinstance(volume, (int, float, np.integer, np.floating)) or not (
                math.isfinite(volume) and volume > 0
            ):
                raise ValueError(f"volume must be a positive finite number, got {volume!r}")
            volume = float(volume)
        net, kernel_p, model_p = _with_volume(model, p, volume)
        return cls(model, net, x0, kernel_p, t0, tf, save_times, volume, model.to_text(), y0, model_p)

    def with_values(self, u0: Mapping[str, int] | None = None, params: Mapping[str, float] | None = None) -> Problem:
        """The same problem with some initial counts and parameter values replaced (validated)."""
        merged_u0 = {**self.u0, **(u0 or {})}
        merged_params = {**self.model_params, **(params or {})}
        x0 = self.model.initial_state(merged_u0, fractions=True)
        y0 = self.model.initial_values(merged_u0)
        p = self.model.parameter_values(merged_params)
        check_rate_constants(self.model, p)
        _, kernel_p, model_p = _with_volume(self.model, p, self.volume)
        return Problem(self.model, self.net, x0, kernel_p, self.t0, self.tf, self.save_times, self.volume, self._text,
                       y0, model_p)

    @property
    def model_text(self) -> str:
        """The user's network in the network language."""
        return self._text

    @property
    def model_p(self) -> np.ndarray:
        """Parameter values of the user's network, in ``model.parameter_names`` order (without the volume)."""
        return self._model_p if self._model_p is not None else self.p[: len(self.model.parameter_names)]

    @property
    def model_params(self) -> dict[str, float]:
        """Parameter values of the user's network (without the volume), by name."""
        return dict(zip(self.model.parameter_names, self.model_p.tolist()))

    @property
    def u0(self) -> dict[str, int | float]:
        """Initial counts by species name (amounts for continuous species)."""
        values = self.initial_values
        return {s.name: float(values[i]) if s.continuous else int(self.x0[i])
                for i, s in enumerate(self.model.species)}

    @property
    def initial_values(self) -> np.ndarray:
        """The initial state as float64 (:attr:`y0`), for methods with float states."""
        return self.y0 if self.y0 is not None else self.x0.astype(np.float64)

    @property
    def fractional(self) -> list[str]:
        """The continuous species whose initial value is not a whole count (up to 2**53)."""
        values = self.initial_values
        return [s.name for i, s in enumerate(self.model.species) if s.continuous and not whole_amount(values[i])]

    def attrs(self) -> dict:
        """Provenance attributes of results of this problem (model text, parameters, u0, tspan, volume)."""
        out = {
            **({"model_name": self.model.name} if self.model.name else {}),
            "model": self._text,
            "params": format_mapping(self.model_params.items()),
            "u0": format_mapping(self.u0.items()),
            "tspan": [self.t0, self.tf],
        }
        if self.volume is not None:
            out["volume"] = self.volume
        return out

    def output_bytes(self, trajectories: int) -> int:
        """Bytes of the int64 states of ``trajectories`` trajectories (plus float observables)."""
        per = (len(self.model.species) + len(self.model.observables)) * self.save_times.size * 8
        return per * int(trajectories)


def format_mapping(items) -> str:
    """``k=v`` pairs separated by spaces (the attribute format of ``params`` and ``u0``)."""
    return " ".join(f"{k}={v!r}" for k, v in items)


def _with_volume(
    model: ReactionNetwork, p: np.ndarray, volume: float | None
) -> tuple[ReactionNetwork, np.ndarray, np.ndarray | None]:
    """The network the engines run, its parameter vector, and the user's values when they differ from it."""
    if volume is None:
        return model, p, None
    folding = volume_folding(model)
    if folding is None:
        return _volume_network(model), np.append(p, volume), None
    scaled = p.copy()
    for i, power in folding:
        scaled[i] = p[i] * volume ** power
    # A huge volume can push a scaled rate constant out of range: refused like any other, naming the reaction.
    check_rate_constants(model, scaled)
    return model, scaled, p


@functools.lru_cache(maxsize=64)
def volume_folding(net: ReactionNetwork) -> tuple[tuple[int, int], ...] | None:
    """How a volume scales ``net`` through its parameter values alone: (parameter index, power of the volume).

    Each mass-action rate is divided by ``volume^(order-1)``. When every such
    rate (order other than 1) is a bare parameter that nothing else reads (no
    reaction of another order, no other expression, event, observable or
    equation), the scaling is a change of parameter values: the network and
    so its compiled kernels stay the same, and a first run with a volume
    costs no compilation. Returns None otherwise (the rates are rewritten,
    see :func:`_volume_network`).
    """
    index = {name: i for i, name in enumerate(net.parameter_names)}
    power: dict[str, int] = {}
    other: set[str] = set()
    for r in net.reactions:
        order = sum(nu for _, nu in r.reactants)
        if r.mass_action and r.rate.text in index:
            if power.setdefault(r.rate.text, 1 - order) != 1 - order:
                return None
        elif r.mass_action and order != 1:
            return None
        else:
            other |= r.rate.names
        if r.bound is not None:
            other |= r.bound.names
    for ev in net.events:
        other |= ev.trigger.names
        for target, law in ev.assignments:
            other |= law.names | {target}
    for _, law in (*net.observables, *net.equations, *net.noise):
        other |= law.names
    scaled = {name: e for name, e in power.items() if e != 0}
    if scaled.keys() & other:
        return None
    return tuple((index[name], e) for name, e in scaled.items())


@functools.lru_cache(maxsize=64)
def _volume_network(net: ReactionNetwork) -> ReactionNetwork:
    """``net`` with each mass-action rate divided by ``pycrn_volume^(order-1)``.

    For networks whose volume cannot be folded into the parameter values
    (:func:`volume_folding`). The volume is a runtime parameter, so other
    volumes reuse the compiled kernels.
    """
    if VOLUME_PARAMETER in net.parameter_names or VOLUME_PARAMETER in net.species_names:
        raise ModelError(f"the name {VOLUME_PARAMETER!r} is reserved for the volume argument")
    reactions = []
    for r in net.reactions:
        order = sum(nu for _, nu in r.reactants)
        if r.mass_action and order != 1:
            law = RateLaw.parse(f"({r.rate.text}) * {VOLUME_PARAMETER} ^ {1 - order}")
            bound = None if r.bound is None else RateLaw.parse(f"({r.bound.text}) * {VOLUME_PARAMETER} ^ {1 - order}")
            r = Reaction(law, r.reactants, r.products, r.mass_action, r.line, bound)
        reactions.append(r)
    params = [*net.parameters, Parameter(VOLUME_PARAMETER, 1.0)]
    return ReactionNetwork(net.species, params, reactions, net.name, net.tspan, net.events, net.observables,
                           net.equations, net.noise)


def check_rate_constants(net: ReactionNetwork, p: np.ndarray) -> None:
    """Mass-action rate constants must be non-negative (the kernels rely on it)."""
    from .codegen import trusted_rate

    values = dict(zip(net.parameter_names, p.tolist()))
    for j, r in enumerate(net.reactions):
        if not trusted_rate(net, j):
            continue
        const = r.rate.constant_value()
        value = const if const is not None else values[r.rate.text]
        if value < 0:
            raise ModelError(f"reaction {j + 1} ({r}): rate constant {r.rate} = {value!r} is negative")


def check_tspan(tspan) -> tuple[float, float]:
    """``(t0, tf)`` as floats, finite, with ``tf > t0``."""
    if tspan is None:
        raise ValueError("tspan=(t0, tf) is required")
    try:
        t0, tf = (float(v) for v in tspan)
    except (TypeError, ValueError):
        raise ValueError(f"tspan must be a pair of numbers (t0, tf), got {tspan!r}") from None
    if not (math.isfinite(t0) and math.isfinite(tf)):
        raise ValueError(f"tspan must be finite, got {tspan!r}")
    if not tf > t0:
        raise ValueError(f"tspan must satisfy tf > t0, got (t0={t0}, tf={tf})")
    if not math.isfinite(tf - t0):
        raise ValueError(f"tspan's length tf - t0 is not a finite number (t0={t0}, tf={tf}): the save times would "
                         "overflow")
    return t0, tf


def check_saveat(saveat, t0: float, tf: float) -> np.ndarray:
    """The save times for ``saveat`` (a step, an array of times, or ``None`` for the default grid)."""
    if saveat is None:
        return np.linspace(t0, tf, DEFAULT_POINTS)
    if np.isscalar(saveat):
        step = float(saveat)
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"saveat step must be a positive number, got {saveat!r}")
        span = (tf - t0) / step * (1 + 1e-12)
        if not span < 100_000_000:
            raise ValueError(f"saveat={step} gives {span + 1:.3g} save points; use a larger step")
        count = int(math.floor(span)) + 1
        times = t0 + step * np.arange(count)
        if tf - times[-1] > 1e-9 * max(1.0, abs(tf)):
            times = np.append(times, tf)
        else:
            times[-1] = min(times[-1], tf)
        return times
    times = np.asarray(saveat, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"saveat must be a step or a 1-D sequence of times, got an array of shape {times.shape}")
    if times.size == 0:
        raise ValueError("saveat is empty")
    if not np.all(np.isfinite(times)):
        raise ValueError("saveat contains non-finite times")
    if np.any(np.diff(times) < 0):
        raise ValueError("saveat times must be increasing (a time may repeat)")
    if times[0] < t0 or times[-1] > tf:
        raise ValueError(
            f"saveat times must lie within tspan ({t0}, {tf}); got range [{times[0]}, {times[-1]}]"
        )
    return times.copy()
