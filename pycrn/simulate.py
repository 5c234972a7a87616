"""``pycrn.simulate``: one in-memory ensemble, a thin caller of the run contract (:mod:`pycrn.runner`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from .methods import Method, resolve
from .network import ReactionNetwork
from .problem import Problem
from .results import add_compensators, add_observables, make_dataset
from .runner import (
    RunResult,
    Stop,
    check_count,
    check_fits,
    check_method,
    compensator_methods,
    counters,
    default_threads,
    run,
    run_events,
    seed_attr,
    seed_sequence,
    split,
    thread_chunk,
    thread_map,
)


def simulate(
    net: ReactionNetwork,
    u0: Mapping[str, int] | None = None,
    tspan: tuple[float, float] | Sequence[float] | None = None,
    params: Mapping[str, float] | None = None,
    method: str | Method = "auto",
    saveat: float | Sequence[float] | np.ndarray | None = None,
    trajectories: int = 1,
    seed: int | np.random.SeedSequence | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    save: Literal["grid", "events"] = "grid",
    tau_epsilon: float | None = None,
    dt: float | None = None,
    volume: float | None = None,
    backend: Literal["native", "julia"] = "native",
    max_steps: int | None = None,
    record: Literal["compensators"] | None = None,
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
        A method name (see ``pycrn.METHODS``) or a method object from
        :mod:`pycrn.methods` carrying its options, e.g.
        ``pycrn.methods.TauLeaping(epsilon=0.01)``: ``"auto"`` (default: an
        exact SSA chosen for the network, see :func:`pycrn.methods.choose`;
        the Dataset records the one chosen), ``"direct"``, ``"sorting_direct"``
        or ``"nrm"`` (exact SSAs), ``"batched"`` (exact, sub-linear
        for large populations of mass-action networks), ``"tau_leaping"``
        (adaptive, never negative), ``"simple_tau_leaping"`` (fixed ``dt``),
        ``"ode"`` (deterministic reaction rate equations: one trajectory
        of float values), ``"hybrid"`` (continuous species by ODEs, the
        other reactions as jumps) or ``"hybrid_sde"`` (the same with noise on
        the continuous scale, fixed ``dt``).
    saveat
        A step (the state is saved at ``t0, t0+step, ...`` and at ``tf``) or an
        array of increasing times within ``tspan``. The saved state at time
        ``s`` is the state just after all jumps at times ``<= s``. Default:
        101 evenly spaced times.
    trajectories
        Number of independent trajectories.
    seed
        Seed of ``numpy.random.SeedSequence`` (or a ``SeedSequence``);
        trajectory ``i`` uses the ``i``-th spawned stream, so the result does
        not depend on ``threads``. ``None`` draws fresh entropy, recorded in
        the Dataset's attributes.
    threads
        Number of threads (default: all cores).
    progress
        Show a progress bar (default: only on a terminal, for large runs).
    save
        ``"grid"`` (at ``saveat``) or ``"events"``: every jump (for
        tau-leaping: every leap, and every exact step where it steps
        exactly) of a single trajectory, with the jump times as the ``time``
        coordinate.
    tau_epsilon
        Error control of ``tau_leaping`` (Cao-Gillespie-Petzold epsilon), in
        (0, 1); default 0.03. Shorthand for ``method=TauLeaping(epsilon=...)``;
        an error with any other method.
    dt
        The fixed step of ``simple_tau_leaping`` (required there) and of
        ``hybrid_sde`` (default: a thousandth of the run); an error with any
        other method.
    volume
        The reaction volume, in the sense of the batched-algorithm paper: the
        propensity of a mass-action reaction with ``o`` reactants is divided
        by ``volume ** (o - 1)`` (so ``2 A --> B`` at rate ``k`` in volume
        ``V`` has propensity ``k A (A-1) / 2 / V``, and ``0 --> A`` has
        ``k V``). General rate laws (``=>``) are left as written. Applies to
        every method. Default: no scaling (volume 1).
    max_steps
        The step budget of each trajectory (reactions for the exact SSAs,
        leaps for tau-leaping, right-hand-side evaluations for the ODE): a
        trajectory that needs more stops with a :class:`~pycrn.SimulationError`
        naming what ran away. Default: the method's (10**9; 10**8 batches for
        ``batched``; 10**6 for the ODE). Shorthand for ``method=Direct(max_steps=...)``; a method
        object with ``max_steps=None`` runs without a budget.
    record
        ``"compensators"``: also record, per reaction ``j`` and save time,
        the number of times it fired, ``fired`` (``R_j(t)``), and the
        integral of its propensity, ``compensator`` (``int_0^t a_j(X(s)) ds``,
        exact: propensities are constant between jumps); both with dims
        (reaction, trajectory, time). ``fired - compensator`` is the
        martingale of the random time change representation (Kurtz), the
        training signal of DeepSKA-type estimators. Grid saving with
        ``direct``, ``sorting_direct`` or ``direct_cr``.
    backend
        ``"native"`` (default): pycrn's compiled engines. ``"julia"``: the
        same network in Catalyst.jl/JumpProcesses.jl through juliacall
        (methods ``direct``, ``sorting_direct``, ``nrm``, ``direct_cr``,
        ``rssa``, ``rssa_cr``, ``simple_tau_leaping``, and ``batched``, the
        Julia port of the batched algorithm); needs the ``julia`` extra and a
        source checkout, see :mod:`pycrn.julia`. Grid saving only; ``threads``
        and ``progress`` do not apply.

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
        For an invalid ``tspan``, ``saveat``, ``method``, method option or ``trajectories``.
    MemoryError
        Before allocating, if the result would not fit in the memory
        available (use :func:`pycrn.ensemble` with a ``store``).
    SimulationError
        If a propensity becomes negative, infinite or NaN during the run.
    """
    if not isinstance(net, ReactionNetwork):
        raise TypeError(f"simulate() expects a ReactionNetwork, got {type(net).__name__}")
    if backend == "julia":
        if save != "grid" or tau_epsilon is not None or record is not None:
            raise ValueError("backend='julia' saves on a grid (save='grid') and has no tau_leaping (tau_epsilon) "
                             "and no record=")
        from . import julia

        return julia.simulate(net, u0, tspan, params, method, saveat, trajectories, seed, dt, volume)
    if backend != "native":
        raise ValueError(f"backend must be 'native' or 'julia', got {backend!r}")
    m = resolve(method, aliases={"epsilon": "tau_epsilon"}, net=net, epsilon=tau_epsilon, dt=dt, max_steps=max_steps)
    if save not in ("grid", "events"):
        raise ValueError(f"save must be 'grid' or 'events', got {save!r}")
    if record not in (None, "compensators"):
        raise ValueError(f"record must be None or 'compensators', got {record!r}")
    if record and (save != "grid" or not m.records_compensators):
        raise ValueError(f"record='compensators' needs save='grid' and one of the methods "
                         f"{', '.join(repr(n) for n in compensator_methods())} (got method {m.name!r}, save={save!r})")
    if save == "events" and saveat is not None:
        raise ValueError("saveat cannot be combined with save='events'")
    net = m.prepare(net)
    problem = Problem.build(net, u0, tspan, params, saveat, volume)
    check_method(problem, m)
    n = check_count(trajectories, "trajectories")
    seq = seed_sequence(seed)
    nthreads = check_count(threads, "threads") if threads is not None else default_threads()
    attrs = {"method": m.name, "seed": seed_attr(seq), **problem.attrs()}
    if m.describe() != m.name:
        attrs["method_options"] = m.describe()

    if m.deterministic:
        if n != 1:
            raise ValueError(f"method {m.name!r} is deterministic: trajectories must be 1, got {n}")
        if save != "grid":
            raise ValueError(f"method {m.name!r} saves on a grid only (save='grid')")
        attrs["seed"] = "none (deterministic)"
        result = run(problem, m)
        return add_observables(make_dataset(net, result.states, problem.save_times, attrs), net, problem.model_p)

    if save == "events":
        if n != 1:
            raise ValueError(f"save='events' records a single trajectory; got trajectories={n}")
        times, xs, steps = run_events(problem, m, seq)
        attrs.update(counters(m, np.array([steps, 0])))
        return add_observables(make_dataset(net, xs.T[:, None, :], times, attrs), net, problem.model_p)

    nreactions = len(problem.net.reactions)
    extra = 16 * nreactions * n * problem.save_times.size if record else 0
    check_fits(problem.output_bytes(n) + extra,
               f"simulate(trajectories={n:,}) with {problem.save_times.size:,} save times")
    out = np.zeros((problem.x0.size, n, problem.save_times.size), dtype=np.float64 if m.float_states else np.int64)
    total = RunResult(out, np.zeros(n, np.int64), np.zeros((n, 2), np.int64), np.zeros(n), 0)
    if record:
        total.fired = np.zeros((nreactions, n, problem.save_times.size), dtype=np.int64)
        total.compensator = np.zeros((nreactions, n, problem.save_times.size))

    stop = Stop()

    def work(bounds: tuple[int, int]) -> int:
        lo, hi = bounds
        into = (total.fired[:, lo:hi], total.compensator[:, lo:hi]) if record else False
        result = run(problem, m, lo, hi - lo, seq, out=out[:, lo:hi], stop=stop, counters=into)
        total.status[lo:hi], total.steps[lo:hi], total.final_t[lo:hi] = result.status, result.steps, result.final_t
        return hi - lo

    # disable=None lets tqdm show the bar only on a terminal.
    disable = (None if n >= 10_000 else True) if progress is None else not progress
    with tqdm(total=n, unit="traj", disable=disable, leave=False) as bar:
        thread_map(work, split(n, thread_chunk(n, nthreads)), nthreads, bar.update, stop)
    total.check(problem, m)  # the lowest failed trajectory, whatever the thread order
    attrs.update(counters(m, total.steps))
    ds = add_observables(make_dataset(net, out, problem.save_times, attrs, counts=m.float_counts), net, problem.model_p)
    return add_compensators(ds, net, total.fired, total.compensator) if record else ds

