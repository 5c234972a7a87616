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
        The network the engines run: ``model`` with each mass-action rate
        divided by ``volume^(order-1)`` when a volume is given.
    x0
        Initial counts, int64, in ``net.species_names`` order.
    p
        Parameter values, float64, in ``net.parameter_names`` order (the
        volume last, when given).
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
            net, p = _volume_network(net), np.append(p, volume)
        return cls(model, net, x0, p, t0, tf, save_times, volume, model.to_text(), y0)

    def with_values(self, u0: Mapping[str, int] | None = None, params: Mapping[str, float] | None = None) -> Problem:
        """The same problem with some initial counts and parameter values replaced (validated)."""
        merged_u0 = {**self.u0, **(u0 or {})}
        merged_params = {**self.model_params, **(params or {})}
        x0 = self.model.initial_state(merged_u0, fractions=True)
        y0 = self.model.initial_values(merged_u0)
        p = self.model.parameter_values(merged_params)
        check_rate_constants(self.model, p)
        if self.volume is not None:
            p = np.append(p, self.volume)
        return Problem(self.model, self.net, x0, p, self.t0, self.tf, self.save_times, self.volume, self._text, y0)

    @property
    def model_text(self) -> str:
        """The user's network in the network language."""
        return self._text

    @property
    def model_params(self) -> dict[str, float]:
        """Parameter values of the user's network (without the volume)."""
        return dict(zip(self.model.parameter_names, self.p[: len(self.model.parameter_names)].tolist()))

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


@functools.lru_cache(maxsize=64)
def _volume_network(net: ReactionNetwork) -> ReactionNetwork:
    """``net`` with each mass-action rate divided by ``pycrn_volume^(order-1)``.

    The volume is a runtime parameter, so other volumes reuse the compiled kernels.
    """
    if VOLUME_PARAMETER in net.parameter_names or VOLUME_PARAMETER in net.species_names:
        raise ModelError(f"the name {VOLUME_PARAMETER!r} is reserved for the volume argument")
    reactions = []
    for r in net.reactions:
        order = sum(nu for _, nu in r.reactants)
        if r.mass_action and order != 1:
            law = RateLaw.parse(f"({r.rate.text}) * {VOLUME_PARAMETER} ^ {1 - order}")
            r = Reaction(law, r.reactants, r.products, r.mass_action, r.line)
        reactions.append(r)
    params = [*net.parameters, Parameter(VOLUME_PARAMETER, 1.0)]
    return ReactionNetwork(net.species, params, reactions, net.name, net.tspan, net.events, net.observables,
                           net.equations)


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
    times = np.asarray(saveat, dtype=np.float64).ravel()
    if times.size == 0:
        raise ValueError("saveat is empty")
    if not np.all(np.isfinite(times)):
        raise ValueError("saveat contains non-finite times")
    if np.any(np.diff(times) < 0):
        raise ValueError("saveat times must be increasing")
    if times[0] < t0 or times[-1] > tf:
        raise ValueError(
            f"saveat times must lie within tspan ({t0}, {tf}); got range [{times[0]}, {times[-1]}]"
        )
    return times.copy()
