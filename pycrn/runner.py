"""The run contract: ``run(problem, method, first, count, seed) -> RunResult``.

Every caller of the engines goes through this module: :func:`pycrn.simulate`,
:func:`pycrn.ensemble` on local threads or Dask workers, and the estimators
and data generators built on them. A call runs the contiguous range of
trajectories ``first .. first + count - 1`` of a :class:`~pycrn.problem.Problem`
with a :class:`~pycrn.methods.Method`. Trajectory ``i`` draws from the
``i``-th stream spawned by the seed's ``numpy.random.SeedSequence``, so the
states of a trajectory depend only on the problem, the method, the seed and
``i``: never on how the range was split, which thread or which worker ran it.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from . import codegen
from .engines.rng import seed_states
from .errors import ModelError, SimulationError
from .methods import Method
from .network import MAX_COUNT, exact_count
from .network_arrays import network_arrays, rate_constants, shared_kernels_apply, use_shared_kernels
from .problem import Problem
from .status import Status, raise_for_status

#: Initial capacity of an event record (it doubles as needed).
EVENT_CAPACITY = 1024


class RunCancelled(SimulationError):
    """A call's trajectories were stopped because another trajectory of the same run failed."""


class Stop:
    """A request to stop, shared by the kernel calls of one run.

    Each call reads its own flag (:meth:`flag_for`): ``flag[0] != 0`` makes
    its compiled loop return. The loops read it before each trajectory and
    every few thousand reactions (every leap, every batched segment), so they
    return within milliseconds; the trajectories they did not finish report
    ``Status.INTERRUPTED``.

    Ctrl-C (:meth:`set`) stops every call. A failure (:meth:`fail`) stops only
    the calls that come *after* the failed one in the run's order (the calls
    of a run cover increasing trajectory ranges, or chunks in the store's
    order): the earlier ones finish, so the error the run raises, that of
    its lowest failed trajectory, is the same whatever the threads' timing.
    """

    #: Flag values: the user interrupted (Ctrl-C), or an earlier trajectory of the same run failed.
    INTERRUPT, FAILED = 1, 2

    def __init__(self) -> None:
        #: The flag of calls without an order (they stop on Ctrl-C only) and the Ctrl-C state.
        self.flag = np.zeros(1, dtype=np.int64)
        self._lock = threading.Lock()
        self._calls: list[tuple[int, np.ndarray]] = []
        self._failed: int | None = None

    @contextlib.contextmanager
    def flag_for(self, order: int):
        """The flag a kernel call at position ``order`` in the run reads, for the duration of the call."""
        flag = np.zeros(1, dtype=np.int64)
        entry = (order, flag)
        with self._lock:
            if self.flag[0] == Stop.INTERRUPT:
                flag[0] = Stop.INTERRUPT
            elif self._failed is not None and order > self._failed:
                flag[0] = Stop.FAILED
            self._calls.append(entry)
        try:
            yield flag
        finally:
            with self._lock:
                self._calls.remove(entry)

    def set(self) -> None:
        """Ask every kernel using this token to return (Ctrl-C): the run raises ``KeyboardInterrupt``."""
        with self._lock:
            self.flag[0] = Stop.INTERRUPT
            for _, flag in self._calls:
                flag[0] = Stop.INTERRUPT

    def fail(self, order: int) -> None:
        """A trajectory of the call at ``order`` failed: the calls after it return, the earlier ones go on."""
        with self._lock:
            self._failed = order if self._failed is None else min(self._failed, order)
            for position, flag in self._calls:
                if position > self._failed and flag[0] == 0:
                    flag[0] = Stop.FAILED

    @property
    def interrupted(self) -> bool:
        """Whether the user asked to stop (not a failure elsewhere)."""
        return bool(self.flag[0] == Stop.INTERRUPT)


def interruptible(call: Callable[[], Any], stop: Stop) -> Any:
    """``call()`` (a compiled kernel), stoppable with Ctrl-C even when it runs for a long time.

    A compiled loop holds the main thread and never lets Python's signal
    handler run, so from the main thread the call runs in a helper thread
    while the main thread waits; ``KeyboardInterrupt`` there sets ``stop``,
    waits the few milliseconds the kernel needs to return, and propagates.
    Called from another thread (a pool's worker), it runs directly: the
    pool's owner sets ``stop``.
    """
    if threading.current_thread() is not threading.main_thread():
        return call()
    box: dict[str, Any] = {}
    # Waited on instead of Thread.join: on Python 3.11, once Ctrl-C interrupts join(timeout), a later join()
    # returns at once and is_alive() is False while the thread still runs, so the kernel went on after the
    # caller had moved on (and the interrupt tests could not tell a kernel that ignores ``stop``).
    finished = threading.Event()

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=target, name="pycrn-kernel", daemon=True)
    worker.start()
    try:
        while not finished.wait(0.05):
            pass
    except KeyboardInterrupt:
        stop.set()
        finished.wait()
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class RunResult:
    """The output of :func:`run` for trajectories ``first .. first + count - 1``.

    Attributes
    ----------
    states
        Shape (species, count, save times): int64 counts (float64 for a
        method with ``float_states``), species-major so that each species is one
        contiguous block.
    status
        Per-trajectory status code (0: finished; see :mod:`pycrn.status`).
    steps
        Per-trajectory work counters: column 0 steps (reactions for exact
        methods, leaps for tau-leaping), column 1 the method's counter (e.g. batches).
    final_t
        The time each trajectory stopped at.
    first
        The index of the first trajectory.
    fired, compensator
        With ``run(..., counters=...)``: shape (reactions, count, save times),
        each reaction's firings up to each save time (int64) and the integral
        of its propensity over the same time (float64); else ``None``.
    """

    states: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    final_t: np.ndarray
    first: int = 0
    #: Stopped because another call sharing the stop token failed (its trajectories report INTERRUPTED).
    cancelled: bool = False
    fired: np.ndarray | None = None
    compensator: np.ndarray | None = None

    def check(self, problem: Problem, method: Method | None = None) -> None:
        """Raise the :class:`~pycrn.SimulationError` of the first failed trajectory, if any.

        ``method`` (the one that ran) completes the message of a used-up budget.
        """
        # Trajectories cut short because another one failed report INTERRUPTED: the failure comes first.
        bad = np.flatnonzero((self.status != 0) & (self.status != Status.INTERRUPTED))
        if bad.size == 0 and self.cancelled and np.any(self.status):
            raise RunCancelled("stopped: another trajectory of this run failed")
        if bad.size == 0:
            bad = np.flatnonzero(self.status)
        if bad.size:
            i = int(bad[0])
            raise_for_status(
                problem.net, problem.p, self.states[:, i, -1], float(self.final_t[i]), int(self.status[i]),
                trajectory=self.first + i, budget=None if method is None else method.max_steps, tf=problem.tf,
                method=None if method is None else method.name,
            )


def counters(method: Method, steps: np.ndarray) -> dict[str, int]:
    """The work counters of a run as Dataset attributes, from per-trajectory (or summed) ``steps``."""
    total = np.asarray(steps).reshape(-1, 2).sum(axis=0)
    out = {"steps": int(total[0])}
    if method.exact:
        out["reactions_fired"] = int(total[0])
    if method.counter:
        out[method.counter] = int(total[1])
    return out


def check_count(value, name: str) -> int:
    """A positive integer argument, or a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def seed_sequence(seed: int | np.random.SeedSequence | None) -> np.random.SeedSequence:
    """The root ``SeedSequence`` of a run (fresh entropy for ``None``)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise ValueError(f"seed must be a non-negative integer, a numpy SeedSequence or None, got {seed!r}")


def seed_attr(seq: np.random.SeedSequence) -> int | str:
    """How a seed is recorded in ``attrs["seed"]``: the integer, or entropy and spawn key."""
    # netCDF attributes hold 64-bit integers at most: fresh 128-bit entropy is kept as text.
    if not seq.spawn_key and isinstance(seq.entropy, (int, np.integer)) and int(seq.entropy) < 2**63:
        return int(seq.entropy)
    if not seq.spawn_key:
        return str(seq.entropy)
    return f"SeedSequence(entropy={seq.entropy!r}, spawn_key={tuple(int(k) for k in seq.spawn_key)!r})"


#: The methods each problem has been checked for: an ensemble runs one problem in many chunks.
_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def check_method(problem: Problem, method: Method) -> None:
    """Refuse a network the method cannot simulate, naming the reaction."""
    net = problem.net
    unmarked = [name for name in getattr(method, "continuous", ()) if name not in net.continuous_species]
    if unmarked:
        raise ModelError(
            f"method {method.name!r} treats {', '.join(map(repr, unmarked))} as continuous, but the problem's network "
            "does not: build the problem from the network the method prepares, "
            "Problem.build(method.prepare(net), ...)"
        )
    if not method.supports_time and net.depends_on_time:
        which = [i + 1 for i, r in enumerate(net.reactions) if r.rate.depends_on_time]
        raise ModelError(
            f"method {method.name!r} needs time-homogeneous propensities, but the rate of reaction(s) "
            f"{which} depends on t; time-varying rates are simulated exactly by method='extrande' (or 'auto'), "
            "and deterministically by 'ode'"
        )
    if net.equations and not method.supports_equations:
        raise ModelError(
            f"method {method.name!r} simulates counts, but the network has equations for continuous species "
            f"({', '.join(f'D({k})' for k, _ in net.equations)}); use method='hybrid' (or 'ode')"
        )
    if net.noise and not method.supports_noise:
        raise ModelError(
            f"method {method.name!r} has no noise on the continuous scale, but the network has noise terms "
            f"({', '.join(f'@noise {k} ~ {v}' for k, v in net.noise)}); use method='hybrid_sde'"
        )
    fractional = problem.fractional
    if fractional and not method.float_states:
        raise ModelError(
            f"method {method.name!r} simulates counts, but continuous species {', '.join(map(repr, fractional))} "
            "start at a fractional amount (or one above 2**53); use method='hybrid' (or 'ode')"
        )
    engine = method.engine
    if hasattr(engine, "check_network"):
        engine.check_network(net)
    if hasattr(engine, "check_problem"):
        engine.check_problem(problem)
    _CHECKED.setdefault(problem, set()).add(method)


#: What generated kernels get for the network arrays (they have the network in their code).
_NO_ARRAYS = np.zeros(0, dtype=np.int64)


def compiled(problem: Problem, method: Method) -> tuple[ModuleType, np.ndarray, np.ndarray]:
    """The compiled engine module for the problem, the network arrays and the parameter vector it takes.

    Large mass-action networks run on the shared data-driven kernels (one
    module per engine for every network: ``net`` arrays, and one rate
    constant per reaction as the parameters); the others on kernels
    generated for their network (no arrays, the parameter values).
    Both are loaded from the disk cache when compiled before.
    """
    engine = method.engine
    if getattr(engine, "SHARED_ONLY", False) and problem.net.events:
        # Data-driven propensities, the network's events and rate laws compiled for it.
        rate_constants(problem.net, problem.p)  # refuses a bad initial rate constant, naming the reaction
        return codegen.load_module(problem.net, engine, array_kernels=True), network_arrays(problem.net), \
            problem.p.copy()
    kernels = "shared" if getattr(engine, "SHARED_ONLY", False) else getattr(method, "kernels", "generated")
    if kernels == "shared" and not (codegen.can_share(engine) and shared_kernels_apply(problem.net)):
        raise ModelError(
            f"method {method.name!r} cannot run this network on the shared kernels: they take mass-action "
            "networks whose rate constants read neither species nor t, without events"
        )
    if kernels == "shared" or (kernels == "auto" and codegen.can_share(engine) and use_shared_kernels(problem.net)):
        kernel_p = rate_constants(problem.net, problem.p)
        return codegen.load_module(None, engine), network_arrays(problem.net), kernel_p
    return codegen.load_module(problem.net, engine), _NO_ARRAYS, problem.p.copy()


def run(
    problem: Problem,
    method: Method,
    first: int = 0,
    count: int = 1,
    seed: int | np.random.SeedSequence | None = 0,
    out: np.ndarray | None = None,
    stop: Stop | None = None,
    counters: tuple[np.ndarray, np.ndarray] | bool = False,
    x0s: np.ndarray | None = None,
    order: int | None = None,
) -> RunResult:
    """Run trajectories ``first .. first + count - 1`` of ``problem`` with ``method``.

    Parameters
    ----------
    problem
        The validated problem (:meth:`pycrn.problem.Problem.build`).
    method
        The method object (:func:`pycrn.methods.resolve` turns a name into one).
    first, count
        The trajectory range.
    seed
        The root seed (an integer or a ``SeedSequence``); trajectory ``i``
        uses its ``i``-th spawned stream. Calls for different ranges of one
        ensemble must pass the same seed (``None`` draws fresh entropy per call).
    out
        Optional array of shape (species, count, save times) to write the
        states into (e.g. a slice of a larger result); allocated if ``None``.
    stop
        A :class:`Stop` token shared with other calls (a pool's owner sets it
        on Ctrl-C); a fresh one if ``None``. Ctrl-C in the main thread stops
        the run within milliseconds and raises ``KeyboardInterrupt``.
        When a trajectory fails, the calls after this one in the run's order
        stop (:meth:`Stop.fail`).
    order
        This call's position in the run's order (default ``first``): calls
        sharing ``stop`` must number their ranges in increasing order.
    counters
        Also record each reaction's counting process and compensator
        (methods with ``records_compensators``): ``True`` allocates them,
        or a pair of arrays of shape (reactions, count, save times), int64
        and float64, to write them into.
    x0s
        Optional initial counts per trajectory, shape (count, species), each
        checked like ``u0`` (DeepSKA's training data start every trajectory
        from its own state); default: the problem's initial state for all.

    Returns
    -------
    RunResult
        Failed trajectories are reported in ``status``, not raised: call
        :meth:`RunResult.check`.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"run needs a Problem (pycrn.Problem.build(net, u0, tspan, params, saveat)), "
                        f"got {type(problem).__name__}")
    if not isinstance(method, Method):
        raise TypeError(f"run needs a method object (pycrn.methods.Direct(), ... or pycrn.methods.resolve(name)), "
                        f"got {method!r}")
    if method not in _CHECKED.get(problem, ()):
        # simulate and ensemble check before they start; a direct caller of the run contract is checked here,
        # so that a method cannot silently run a network it does not simulate (a rate that reads t, say).
        check_method(problem, method)
    count = check_count(count, "count")
    if isinstance(first, bool) or not isinstance(first, (int, np.integer)) or first < 0:
        raise ValueError(f"first must be a non-negative integer, got {first!r}")
    nsave = problem.save_times.size
    nspecies = problem.x0.size
    if method.deterministic:
        if first != 0 or count != 1:
            raise ValueError(f"method {method.name!r} is deterministic: trajectories must be 1, got {count}")
        opts = method.options()
        states = method.engine.solve(
            problem.net, problem.initial_values, problem.p, problem.t0, problem.save_times,
            rtol=opts["rtol"], atol=opts["atol"], ode_method=opts["solver"], max_steps=opts["max_steps"],
        )
        if out is not None:
            out[...] = states
            states = out
        return RunResult(states, np.zeros(1, np.int64), np.zeros((1, 2), np.int64), np.full(1, problem.tf), 0)
    module, arrays, p = compiled(problem, method)
    target = out
    if out is None or not out.flags.c_contiguous:
        # The kernels are compiled for C-contiguous output only: a slice of a
        # larger result would compile a second specialization (seconds, on a
        # first multi-chunk run after a one-trajectory one). The copy back costs
        # one pass over this call's block.
        out = np.zeros((nspecies, count, nsave), dtype=np.float64 if method.float_states else np.int64)
    status = np.zeros(count, dtype=np.int64)
    steps = np.zeros((count, 2), dtype=np.int64)
    final_t = np.zeros(count, dtype=np.float64)
    seeds = seed_states(seed_sequence(seed), count, start=first)
    if x0s is None:
        start = problem.initial_values if method.float_states else problem.x0
        # A new writable array: a broadcast view of one row stays read-only, and numba compiles the whole
        # engine again for a read-only argument (a one-trajectory run, then a larger one).
        x0s = np.repeat(start[None, :], count, axis=0)
    else:
        if method.float_states:
            raise ValueError(f"x0s gives counts, for the methods that simulate counts; method {method.name!r} "
                             "holds real amounts (give its initial state as u0)")
        x0s = check_initial_counts(problem.net, x0s, count)
    stop = stop if stop is not None else Stop()
    order = first if order is None else order
    opts = method.kernel_options()
    fired = compensator = None
    if counters is not False:
        if not method.records_compensators:
            raise ValueError(f"method {method.name!r} does not record compensators; "
                             f"use {', '.join(repr(n) for n in compensator_methods())}")
        shape = (len(problem.net.reactions), count, nsave)
        fired_target, comp_target = counters if counters is not True else (None, None)
        fired = np.zeros(shape, np.int64) if fired_target is None or not fired_target.flags.c_contiguous \
            else fired_target
        compensator = np.zeros(shape) if comp_target is None or not comp_target.flags.c_contiguous else comp_target
    with stop.flag_for(order) as flag:
        if counters is False:
            with announce_compilation(module.simulate_grid, method.name, problem.model.name):
                interruptible(lambda: module.simulate_grid(arrays, x0s, p, problem.t0, problem.save_times, seeds,
                                                           out, status, steps, final_t, opts, flag), stop)
        else:
            with announce_compilation(module.simulate_compensators, method.name, problem.model.name):
                interruptible(lambda: module.simulate_compensators(
                    arrays, x0s, p, problem.t0, problem.save_times, seeds, out, fired, compensator, status, steps,
                    final_t, opts, flag), stop)
        cancelled = bool(flag[0] == Stop.FAILED)
    if counters is not False:
        if fired_target is not None and fired_target is not fired:
            fired_target[...] = fired
            fired = fired_target
        if comp_target is not None and comp_target is not compensator:
            comp_target[...] = compensator
            compensator = comp_target
    if target is not None and target is not out:
        target[...] = out
        out = target
    if stop.interrupted:
        raise KeyboardInterrupt
    if np.any((status != 0) & (status != Status.INTERRUPTED)):
        # The later calls sharing the token stop too: the run is lost, and a runaway could take minutes each.
        stop.fail(order)
    return RunResult(out, status, steps, final_t, first, cancelled=cancelled, fired=fired,
                     compensator=compensator)


def check_initial_counts(net, x0s, count: int) -> np.ndarray:
    """Per-trajectory initial counts as a C-contiguous int64 array (count, species), or a ModelError naming the species.

    Checked like ``u0`` (:func:`pycrn.network.exact_count`): integers are taken exactly, never through float
    (where 2**63 - 1 would round to 2**63), floats must be whole, and every count lies in [0, 2**63 - 1].
    """
    arr = np.asarray(x0s)
    names = net.species_names
    if arr.shape != (count, len(names)):
        raise ValueError(f"x0s must have shape (trajectories, species) = ({count}, {len(names)}), got {arr.shape}")
    kind = arr.dtype.kind
    if kind in "iu":
        bad = (arr < 0) | (arr > MAX_COUNT)
    elif kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr < 0) | (arr != np.round(arr)) | (arr >= 2.0**63)
    elif kind == "O":
        bad = np.vectorize(lambda v: not _is_count(v), otypes=[bool])(arr)
    else:
        raise ModelError(f"x0s must hold integer counts, got an array of {arr.dtype}")
    if bad.any():
        row, i = (int(k) for k in np.argwhere(bad)[0])
        raise ModelError(f"initial count of species {names[i]!r} in trajectory {row} must be a non-negative "
                         f"integer at most 2**63 - 1, got {arr[row, i]!r}")
    return np.array(arr, dtype=np.int64, order="C")  # a writable copy: numba compiles again for a read-only one


def _is_count(value: object) -> bool:
    try:
        exact_count(value, "count")
    except ModelError:
        return False
    return True


def compensator_methods() -> list[str]:
    """The methods that record each reaction's counting process and compensator."""
    from .methods import METHODS

    return [name for name, cls in METHODS.items() if cls.records_compensators]


#: Seconds a first call must take, uncompiled, before :func:`announce_compilation` says so.
ANNOUNCE_AFTER = 1.0
_announced: set[int] = set()
_announced_lock = threading.Lock()


@contextlib.contextmanager
def announce_compilation(kernel: Any, engine: str, model: str):
    """Say on stderr when a kernel is being compiled (its first call, nothing in numba's cache) for over a second.

    Compilation takes seconds to a minute, once per machine; without a word
    the first run looks hung. Silent when the kernel is compiled in this
    process or cached on disk, or with ``PYCRN_QUIET=1``.
    """
    try:
        cached = bool(kernel.signatures) or os.path.exists(kernel._cache._cache_file._index_path)
    except AttributeError:  # not a caching numba dispatcher: nothing to say
        cached = True
    with _announced_lock:
        # Threads of one run compile the same kernel (numba serialises them): one of them speaks.
        first = not cached and id(kernel) not in _announced
        _announced.add(id(kernel))
    if not first or os.environ.get("PYCRN_QUIET"):
        yield
        return
    start = time.perf_counter()
    what = f"the {engine} engine" + (f" for {model}" if model else "")

    def say() -> None:
        sys.stderr.write(f"pycrn: compiling {what} (one-time, cached in {codegen.cache_dir()}) ...\n")
        sys.stderr.flush()

    timer = threading.Timer(ANNOUNCE_AFTER, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if time.perf_counter() - start > ANNOUNCE_AFTER:
            sys.stderr.write(f"pycrn: compiled {what} in {time.perf_counter() - start:.1f} s\n")


def run_events(
    problem: Problem, method: Method, seed: int | np.random.SeedSequence | None = 0
) -> tuple[np.ndarray, np.ndarray, int]:
    """One trajectory (trajectory 0 of ``seed``) recorded after every jump (or leap) and event.

    Returns ``(times, states, steps)`` with ``states`` of shape (jumps + 1, species).
    Raises :class:`~pycrn.SimulationError` if the trajectory fails.
    """
    if not method.records_events:
        raise ValueError(f"method {method.name!r} does not record individual reactions; use save='grid'")
    module, arrays, p = compiled(problem, method)
    state = seed_states(seed_sequence(seed), 1)[0]
    stop = Stop()
    opts = method.kernel_options()
    fits = records_that_fit(problem.x0.size)
    opts[1] = min(opts[1], fits)
    times, xs, count, code, x_end, t_end = interruptible(
        lambda: module.simulate_events(arrays, problem.x0, p, problem.t0, problem.tf, state, EVENT_CAPACITY, opts,
                                       stop.flag), stop)
    if code == Status.BUDGET and opts[1] == fits:
        raise SimulationError(
            f"save='events' recorded {int(count):,} jumps by t={float(t_end):.6g} (of {problem.tf:.6g}), as many "
            f"as fit in the memory available; record on a grid (save='grid', saveat=...) instead"
        )
    if code != 0:
        raise_for_status(problem.net, problem.p, x_end, float(t_end), int(code), budget=method.max_steps,
                         tf=problem.tf, method=method.name)
    return times[:count], xs[:count], int(count - 1)


def records_that_fit(nspecies: int) -> float:
    """How many jumps an event record of ``nspecies`` species may hold: 30% of the memory available.

    The record doubles as it grows, so a runaway trajectory must stop (as if
    its step budget were spent) before it exhausts memory. ``inf`` when the
    available memory is unknown.
    """
    free = available_memory()
    return math.inf if free is None else max(EVENT_CAPACITY, 0.3 * free / (8.0 * (nspecies + 1)))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(nbytes: int, what: str) -> None:
    """Refuse, before allocating, an in-memory result larger than the memory available."""
    free = available_memory()
    if free is not None and nbytes > 0.9 * free:
        raise MemoryError(
            f"{what} needs {format_bytes(nbytes)} in memory, more than the {format_bytes(free)} available; "
            "write it to disk in chunks with pycrn.ensemble(..., store='out.zarr'), or keep only "
            "its moments with pycrn.ensemble(..., reduce='moments')"
        )


def format_bytes(n: float) -> str:
    """A byte count for messages: ``6.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def thread_map(
    fn: Callable[[Any], int], items: Iterable[Any], nthreads: int, update: Callable[[int], object],
    stop: Stop | None = None,
) -> None:
    """Call ``fn(item)`` for each item on ``nthreads`` threads, reporting each return value to ``update``.

    The kernels release the GIL, so threads run in parallel. The items come
    in the run's order (increasing trajectory ranges or chunks). If an item
    raises a :class:`~pycrn.SimulationError`, the items after it are
    cancelled (the kernels of running ones return within milliseconds, see
    :meth:`Stop.fail`) and the earlier ones finish: the error raised is that
    of the first failing item, whatever the threads' timing. On any other
    error or ``KeyboardInterrupt`` everything stops (``stop`` is set) and the
    exception propagates once the running items have returned. An item that
    completes has written all it writes.
    """
    items = list(items)
    if nthreads == 1 or len(items) <= 1:
        for item in items:
            update(fn(item))
        return
    with ThreadPoolExecutor(max_workers=nthreads) as pool:
        position = {pool.submit(fn, item): i for i, item in enumerate(items)}
        pending = set(position)
        first_error: tuple[int, SimulationError] | None = None
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=position.__getitem__):
                    if fut.cancelled():
                        continue
                    error = fut.exception()
                    if error is None:
                        if first_error is None or position[fut] < first_error[0]:
                            update(fut.result())
                        continue
                    if not isinstance(error, SimulationError):
                        raise error
                    if isinstance(error, RunCancelled):
                        continue  # an earlier item failed; its error comes in (or came in) on its own
                    if first_error is None or position[fut] < first_error[0]:
                        first_error = (position[fut], error)
                        for later in pending:
                            if position[later] > first_error[0]:
                                later.cancel()
        except BaseException:
            for fut in pending:
                fut.cancel()
            if stop is not None:
                stop.set()
            raise
        if first_error is not None:
            raise first_error[1] from None


def split(n: int, size: int) -> list[tuple[int, int]]:
    """``[(0, size), (size, 2 size), ..., (.., n)]``."""
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


def default_threads() -> int:
    """All cores."""
    return os.cpu_count() or 1


def thread_chunk(n: int, nthreads: int) -> int:
    """Trajectories per thread task in :func:`pycrn.simulate`: about four tasks per thread, at most 2,048."""
    return max(1, min(2048, math.ceil(n / (4 * nthreads))))
