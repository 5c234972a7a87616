"""``pycrn.simulate``: check the arguments, pick the engine, run, assemble results."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Literal

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from . import codegen
from .engines import ENGINES
from .engines.rng import seed_states
from .errors import ModelError, SimulationError
from .network import Parameter, Reaction, ReactionNetwork
from .ratelaws import RateLaw
from .results import add_observables, make_dataset

#: Default number of saved points when ``saveat`` is not given.
DEFAULT_POINTS = 101
_CAPACITY = 1024


def simulate(
    net: ReactionNetwork,
    u0: Mapping[str, int] | None = None,
    tspan: tuple[float, float] | Sequence[float] | None = None,
    params: Mapping[str, float] | None = None,
    method: str = "direct",
    saveat: float | Sequence[float] | np.ndarray | None = None,
    trajectories: int = 1,
    seed: int | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    save: Literal["grid", "events"] = "grid",
    tau_epsilon: float = 0.03,
    dt: float | None = None,
    volume: float | None = None,
) -> xr.Dataset:
    """Simulate a reaction network and return the trajectories as an xarray Dataset.

    Parameters
    ----------
    net
        The network (from :func:`pycrn.parse`, :func:`pycrn.load` or :mod:`pycrn.models`).
    u0
        Initial counts overriding the network's defaults, e.g. ``{"S": 999}``.
    tspan
        ``(t0, tf)``, the time interval, ``tf > t0``. Default: ``net.tspan``
        (set for the built-in models).
    params
        Parameter values overriding the network's defaults.
    method
        The engine (see ``pycrn.METHODS``): ``"direct"`` or ``"sorting_direct"``
        (exact SSAs), ``"batched"`` (exact, sub-linear for large populations
        of mass-action networks), ``"tau_leaping"`` (adaptive, never
        negative), ``"simple_tau_leaping"`` (fixed ``dt``), or ``"ode"``
        (deterministic reaction rate equations: one trajectory of float values).
    saveat
        A step (the state is saved at ``t0, t0+step, ...`` and at ``tf``) or an
        array of increasing times within ``tspan``. The saved state at time
        ``s`` is the state just after all jumps at times ``<= s``. Default:
        101 evenly spaced times.
    trajectories
        Number of independent trajectories.
    seed
        Seed of ``numpy.random.SeedSequence``; trajectory ``i`` uses the
        ``i``-th spawned stream, so the result does not depend on ``threads``.
        ``None`` draws fresh entropy, recorded in the Dataset's attributes.
    threads
        Number of threads (default: all cores).
    progress
        Show a progress bar (default: only on a terminal, for large runs).
    save
        ``"grid"`` (at ``saveat``) or ``"events"``: every jump (for
        tau-leaping: every leap) of a single trajectory, with the jump times
        as the ``time`` coordinate.
    tau_epsilon
        Error control of ``tau_leaping`` (Cao-Gillespie-Petzold epsilon), in (0, 1).
    dt
        The fixed step of ``simple_tau_leaping`` (required there).
    volume
        The reaction volume, in the sense of the batched-algorithm paper: the
        propensity of a mass-action reaction with ``o`` reactants is divided
        by ``volume ** (o - 1)`` (so ``2 A --> B`` at rate ``k`` in volume
        ``V`` has propensity ``k A (A-1) / 2 / V``, and ``0 --> A`` has
        ``k V``). General rate laws (``=>``) are left as written. Applies to
        every method. Default: no scaling (volume 1).

    Returns
    -------
    xarray.Dataset
        Dimensions ``trajectory`` and ``time``, one int64 variable per
        species; attributes record the method, seed, model text, parameters,
        initial state and pycrn version.

    Raises
    ------
    ModelError
        For unknown or invalid species counts and parameter values.
    ValueError
        For an invalid ``tspan``, ``saveat``, ``method`` or ``trajectories``.
    SimulationError
        If a propensity becomes negative, infinite or NaN during the run.
    """
    if not isinstance(net, ReactionNetwork):
        raise TypeError(f"simulate() expects a ReactionNetwork, got {type(net).__name__}")
    engine = ENGINES.get(method)
    if engine is None:
        raise ValueError(f"unknown method {method!r}; available: {', '.join(ENGINES)}")
    if not engine.SUPPORTS_TIME and net.depends_on_time:
        which = [i + 1 for i, r in enumerate(net.reactions) if r.rate.depends_on_time]
        raise ModelError(
            f"method {method!r} needs time-homogeneous propensities, but the rate of reaction(s) "
            f"{which} depends on t; time-varying rates are supported by method='ode' only"
        )
    if hasattr(engine, "check_network"):
        engine.check_network(net)
    t0, tf = _check_tspan(tspan if tspan is not None else net.tspan)
    n = _check_count(trajectories, "trajectories")
    x0 = net.initial_state(u0)
    p = net.parameter_values(params)
    _check_rate_constants(net, p)
    model_text = net.to_text()
    if volume is not None:
        if isinstance(volume, bool) or not isinstance(volume, (int, float, np.integer, np.floating)) or not (
            math.isfinite(volume) and volume > 0
        ):
            raise ValueError(f"volume must be a positive finite number, got {volume!r}")
        net, p = _in_volume(net, p, float(volume))
    if save not in ("grid", "events"):
        raise ValueError(f"save must be 'grid' or 'events', got {save!r}")
    if seed is None:
        seq = np.random.SeedSequence()
    elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        seq = np.random.SeedSequence(int(seed))
    else:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    nthreads = _check_count(threads, "threads") if threads is not None else (os.cpu_count() or 1)
    opts = np.zeros(1)
    if method == "tau_leaping":
        if not (isinstance(tau_epsilon, (int, float)) and 0 < tau_epsilon < 1):
            raise ValueError(f"tau_epsilon must be a number in (0, 1), got {tau_epsilon!r}")
        opts[0] = tau_epsilon
    if method == "simple_tau_leaping":
        if dt is None or not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"method 'simple_tau_leaping' needs a positive step dt=..., got {dt!r}")
        opts[0] = dt
    if method == "batched":
        opts[0] = engine.MIN_REACTIONS_PER_BATCH

    attrs = {
        "method": method,
        "seed": str(seq.entropy) if seed is None else int(seed),
        "model": model_text,
        "params": _format_mapping(zip(net.parameter_names, p.tolist())),
        "u0": _format_mapping(zip(net.species_names, x0.tolist())),
        "tspan": [t0, tf],
    }
    if volume is not None:
        attrs["volume"] = float(volume)
        attrs["params"] = _format_mapping(zip(net.parameter_names[:-1], p[:-1].tolist()))
    if getattr(engine, "DETERMINISTIC", False):
        if n != 1:
            raise ValueError(f"method {method!r} is deterministic: trajectories must be 1, got {n}")
        if save != "grid":
            raise ValueError(f"method {method!r} saves on a grid only (save='grid')")
        save_times = _check_saveat(saveat, t0, tf)
        attrs["seed"] = "none (deterministic)"
        states = engine.solve(net, x0, p, t0, save_times)
        return add_observables(make_dataset(net, states, save_times, attrs), net, p)

    module = codegen.load_module(net, engine)
    if save == "events":
        if not hasattr(module, "simulate_events"):
            raise ValueError(f"method {method!r} does not record individual reactions; use save='grid'")
        if saveat is not None:
            raise ValueError("saveat cannot be combined with save='events'")
        if n != 1:
            raise ValueError(f"save='events' records a single trajectory; got trajectories={n}")
        states = seed_states(seq, 1)
        times, xs, count, code, x_end, t_end = module.simulate_events(x0, p, t0, tf, states[0], _CAPACITY, opts)
        if code != 0:
            _raise_failure(net, p, x_end, float(t_end), code)
        attrs["steps"] = int(count - 1)
        if engine.EXACT:
            attrs["reactions_fired"] = int(count - 1)
        return add_observables(make_dataset(net, xs[:count].T[:, None, :], times[:count], attrs), net, p)

    save_times = _check_saveat(saveat, t0, tf)
    out = np.zeros((x0.size, n, save_times.size), dtype=np.int64)
    status = np.zeros(n, dtype=np.int64)
    steps = np.zeros((n, 2), dtype=np.int64)
    final_t = np.zeros(n, dtype=np.float64)
    x0s = np.broadcast_to(x0, (n, x0.size))
    _run_chunks(module, x0s, p, t0, save_times, seq, out, status, steps, final_t, nthreads, progress, opts)
    bad = np.flatnonzero(status)
    if bad.size:
        i = int(bad[0])
        _raise_failure(net, p, out[:, i, -1], float(final_t[i]), int(status[i]), trajectory=i)
    attrs["steps"] = int(steps[:, 0].sum())
    if engine.EXACT:
        attrs["reactions_fired"] = int(steps[:, 0].sum())
    if hasattr(engine, "COUNTER"):
        attrs[engine.COUNTER] = int(steps[:, 1].sum())
    return add_observables(make_dataset(net, out, save_times, attrs), net, p)


#: The parameter that carries ``volume`` into the compiled kernels.
VOLUME_PARAMETER = "pycrn_volume"


def _in_volume(net: ReactionNetwork, p: np.ndarray, volume: float) -> tuple[ReactionNetwork, np.ndarray]:
    """The network with each mass-action rate divided by ``volume^(order-1)``, and its parameter vector.

    The volume is a runtime parameter, so other volumes reuse the compiled kernels.
    """
    return _volume_network(net), np.append(p, volume)


@functools.lru_cache(maxsize=64)
def _volume_network(net: ReactionNetwork) -> ReactionNetwork:
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
    return ReactionNetwork(net.species, params, reactions, net.name, net.tspan, net.events, net.observables)


def _run_chunks(module, x0s, p, t0, save_times, seq, out, status, steps, final_t, nthreads, progress, opts):
    """Run trajectories in chunks over a thread pool (the kernels release the GIL)."""
    n = x0s.shape[0]
    size = max(1, min(2048, math.ceil(n / (4 * nthreads))))
    bounds = [(lo, min(n, lo + size)) for lo in range(0, n, size)]

    def work(lo: int, hi: int) -> int:
        seeds = seed_states(seq, hi - lo, start=lo)
        module.simulate_grid(
            np.ascontiguousarray(x0s[lo:hi]), p, t0, save_times, seeds,
            out[:, lo:hi], status[lo:hi], steps[lo:hi], final_t[lo:hi], opts,
        )
        return hi - lo

    # disable=None lets tqdm show the bar only on a terminal.
    disable = (None if n >= 10_000 else True) if progress is None else not progress
    bar = tqdm(total=n, unit="traj", disable=disable, leave=False)
    if nthreads == 1 or len(bounds) == 1:
        try:
            for lo, hi in bounds:
                bar.update(work(lo, hi))
        finally:
            bar.close()
        return
    with ThreadPoolExecutor(max_workers=nthreads) as pool:
        pending = {pool.submit(work, lo, hi) for lo, hi in bounds}
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    bar.update(fut.result())
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
        finally:
            bar.close()


def _raise_failure(net, p, x, t, code, trajectory=None) -> None:
    """Turn an engine status code into a SimulationError naming the reaction or event and state."""
    x = np.asarray(x, dtype=np.int64).copy()
    where = f" (trajectory {trajectory})" if trajectory is not None else ""
    state = _format_mapping(zip(net.species_names, x.tolist()))
    if code == -3000:
        raise SimulationError(
            f"simple tau-leaping drove a count negative at t={t:.6g}{where} (state {state}); "
            "use a smaller dt, or method='tau_leaping', which prevents it"
        )
    if code == -1000:
        raise SimulationError(
            f"events keep triggering one another at t={t:.6g}{where} (more than 100 rounds) in state {state}"
        )
    if code <= -2:
        ev = net.events[-code - 2]
        raise SimulationError(
            f"event {-code - 1} ({ev}) at t={t:.6g}{where} assigned an invalid value: species need "
            f"non-negative whole numbers, parameters finite numbers (state before: {state})"
        )
    if code > 0 and any(v < 0 for v in x):
        j = code - 1
        r = net.reactions[j]
        raise SimulationError(
            f"reaction {j + 1} ({r}) fired at t={t:.6g}{where} and drove a count negative "
            f"(state {state}); its rate law must vanish when its reactants run out"
        )
    for j, r in enumerate(net.reactions):
        v = _propensity(net, j, x, p, t)
        if not (v >= 0.0 and math.isfinite(v)):
            kind = "NaN" if math.isnan(v) else ("infinite" if math.isinf(v) else "negative")
            raise SimulationError(
                f"propensity of reaction {j + 1} ({r}) is {kind} ({v!r}) at t={t:.6g}{where} "
                f"in state {state}"
            )
    raise SimulationError(f"simulation failed at t={t:.6g}{where} in state {state} (code {code})")


def _check_rate_constants(net: ReactionNetwork, p: np.ndarray) -> None:
    """Mass-action rate constants must be non-negative (the kernels rely on it)."""
    values = dict(zip(net.parameter_names, p.tolist()))
    for j, r in enumerate(net.reactions):
        if not codegen.trusted_rate(net, j):
            continue
        const = r.rate.constant_value()
        value = const if const is not None else values[r.rate.text]
        if value < 0:
            raise ModelError(f"reaction {j + 1} ({r}): rate constant {r.rate} = {value!r} is negative")


def _propensity(net: ReactionNetwork, j: int, x: np.ndarray, p: np.ndarray, t: float) -> float:
    """Propensity of reaction ``j`` evaluated in Python, with IEEE results for domain errors."""
    source = codegen.propensity_source(net, j)
    try:
        with np.errstate(all="ignore"):
            return float(eval(source, {"math": math, "x": x, "p": p, "t": t}))  # noqa: S307 (generated)
    except ZeroDivisionError:
        return math.inf
    except (ValueError, OverflowError):
        return math.nan


def _check_tspan(tspan) -> tuple[float, float]:
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
    return t0, tf


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_saveat(saveat, t0: float, tf: float) -> np.ndarray:
    if saveat is None:
        return np.linspace(t0, tf, DEFAULT_POINTS)
    if np.isscalar(saveat):
        step = float(saveat)
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"saveat step must be a positive number, got {saveat!r}")
        count = int(math.floor((tf - t0) / step * (1 + 1e-12))) + 1
        if count > 100_000_000:
            raise ValueError(f"saveat={step} gives {count} save points; use a larger step")
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
    return times


def _format_mapping(items) -> str:
    return " ".join(f"{k}={v!r}" for k, v in items)
