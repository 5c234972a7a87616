"""``pycrn.ensemble``: large ensembles and parameter sweeps in chunks, on threads or Dask, into Zarr.

The trajectories of each setting are split into chunks of contiguous
trajectory ranges; each chunk is one call of the run contract
(:func:`pycrn.run`) and one task. Trajectory ``i`` of a run without a
sweep draws from the ``i``-th stream spawned by ``SeedSequence(seed)``, as in
:func:`pycrn.simulate`, so the two agree bit for bit whatever the chunk size,
thread count, worker count or scheduler. With a sweep, trajectory ``i`` of
setting ``s`` draws from ``SeedSequence(seed, spawn_key=(s, i))``: setting
``s`` is exactly ``simulate(..., seed=numpy.random.SeedSequence(seed).spawn(S)[s])``
with that setting's values, and settings are statistically independent.

With ``store=`` each task writes its chunk into its own region of a Zarr
store (see :mod:`pycrn.store`) and the result is opened lazily from the
store, so memory stays bounded by a few chunks whatever the ensemble size.
Calling again with the same store and arguments computes only the chunks
that are missing (or fail their checksum); different arguments are refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from . import moments
from . import store as storage
from ._version import __version__
from .errors import ModelError, SimulationError
from .methods import Method, resolve
from .network import ReactionNetwork
from .problem import Problem
from .results import add_observables, make_dataset, observable_values, provenance
from .runner import (
    RunCancelled,
    Stop,
    check_count,
    check_fits,
    check_method,
    counters,
    default_threads,
    run,
    seed_attr,
    seed_sequence,
    split,
    thread_map,
)

#: The CPU time an automatically sized chunk aims at (Dask's advice: tasks of a second or more).
TARGET_CHUNK_SECONDS = 1.0
#: The largest automatically sized chunk, in bytes of trajectory data.
MAX_CHUNK_BYTES = 64 * 2**20
REDUCTIONS = ("moments",)


def grid(**axes: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
    """The outer product of parameter or initial-count values, as a sweep table.

    ``pycrn.grid(beta=[1e-4, 2e-4], nu=[0.01, 0.02, 0.03])`` gives 6
    settings; the first name varies slowest.

    Returns
    -------
    dict
        Name -> 1-D array, all of length ``prod(len(values))``.
    """
    if not axes:
        raise ValueError("grid() needs at least one name=values")
    arrays = []
    for name, values in axes.items():
        a = np.asarray(values)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"grid(): {name} must be a non-empty 1-D sequence of values")
        arrays.append(a)
    mesh = np.meshgrid(*arrays, indexing="ij")
    return {name: m.ravel() for name, m in zip(axes, mesh)}


@dataclass(frozen=True)
class _Task:
    """One chunk: trajectories ``lo .. hi-1`` of setting ``setting`` (``index`` in the store's chunk order)."""

    index: int
    setting: int
    lo: int
    hi: int


def _sweep_table(sweep, net: ReactionNetwork) -> dict[str, np.ndarray] | None:
    """The sweep as name -> equal-length 1-D arrays, names checked against the network."""
    if sweep is None:
        return None
    if isinstance(sweep, xr.Dataset):
        if "setting" not in sweep.dims:
            raise ValueError("a sweep Dataset needs a 'setting' dimension")
        sweep = {name: sweep[name].values for name in sweep.data_vars}
    if not isinstance(sweep, Mapping) or not sweep:
        raise ValueError("sweep must be a non-empty dict of equal-length arrays (see pycrn.grid) or a Dataset")
    table = {}
    for name, values in sweep.items():
        a = np.asarray(values)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"sweep: {name} must be a non-empty 1-D array of values")
        if name not in net.species_names and name not in net.parameter_names:
            raise ModelError(
                f"sweep: {name!r} is neither a species nor a parameter of the network "
                f"(species: {', '.join(net.species_names)}; parameters: {', '.join(net.parameter_names) or 'none'})"
            )
        table[name] = a
    sizes = {name: a.size for name, a in table.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"sweep: the arrays must have equal lengths, got {sizes}")
    return table


def _setting_values(table: dict[str, np.ndarray], s: int, net: ReactionNetwork) -> tuple[dict, dict]:
    u0, params = {}, {}
    for name, a in table.items():
        value = a[s].item()
        (u0 if name in net.species_names else params)[name] = value
    return u0, params


def _pilot_seconds(problem: Problem, method: Method, seq, size: int) -> float:
    """CPU seconds of one run of ``size`` trajectories, measured in the thread that runs it.

    CPU time rather than wall time: a stall of the machine (other load, a
    process releasing gigabytes) must not shrink every chunk of the run.
    """
    def timed() -> float:
        start = time.thread_time()
        run(problem, method, 0, size, seq)
        return time.thread_time() - start

    # In a worker thread, run() calls the kernel in that same thread (see runner.interruptible).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(timed).result()


def _auto_chunk(problem: Problem, method: Method, seq, n: int, workers: int) -> int:
    """Trajectories per chunk so that a chunk takes about TARGET_CHUNK_SECONDS of CPU.

    Timed on pilot runs of growing size (results discarded; they are
    recomputed in their chunk, identically); the fastest rate seen is used.
    """
    _pilot_seconds(problem, method, seq, min(n, 2))  # compile or load from the cache, outside the timing
    k, spent, per, trials = 8, 0.0, math.inf, 0
    while True:
        size = min(k, n)
        elapsed = _pilot_seconds(problem, method, seq, size)
        spent += elapsed
        trials += 1
        per = min(per, max(elapsed, 1e-9) / size)
        # At least three trials, so that one inflated by a compilation or a stall cannot decide alone.
        if size == n or (spent > 0.25 and trials >= 3):
            break
        if elapsed < 0.05:
            k *= 4
    by_time = math.ceil(TARGET_CHUNK_SECONDS / per)
    by_memory = max(1, MAX_CHUNK_BYTES // max(1, problem.output_bytes(1)))
    return int(max(1, min(by_time, by_memory, math.ceil(n / workers))))


def _fingerprint(problems, method, seq, n, chunk, table, reduce) -> dict:
    """What determines a store's contents: compared key by key on resume."""
    base = problems[0]
    times = np.ascontiguousarray(base.save_times)
    return {
        "model": base.model_text,
        "u0": base.attrs()["u0"],
        "params": base.attrs()["params"],
        "tspan": [base.t0, base.tf],
        "save_times": f"{times.size} times in [{times[0]!r}, {times[-1]!r}], sha256 "
        + hashlib.sha256(times.tobytes()).hexdigest()[:16],
        "volume": base.volume,
        "method": method.describe(),
        "seed": {"entropy": str(seq.entropy), "spawn_key": [int(k) for k in seq.spawn_key]},
        "trajectories": n,
        "chunk": chunk,
        "sweep": None if table is None else {k: v.tolist() for k, v in table.items()},
        "reduce": reduce,
        "pycrn_version": __version__,
    }


def _excerpts(stored, given, width: int = 60) -> tuple[str, str]:
    """Both values' reprs, cut to ``width`` characters from a little before the first one that differs."""
    a, b = repr(stored), repr(given)
    start = max(0, len(os.path.commonprefix([a, b])) - 20) if max(len(a), len(b)) > width else 0

    def cut(text: str) -> str:
        return ("..." if start else "") + text[start:start + width] + ("..." if len(text) > start + width else "")

    return cut(a), cut(b)


def _differences(stored: dict, given: dict) -> list[str]:
    return ["{} (stored {}, given {})".format(key, *_excerpts(stored.get(key), given[key]))
            for key in given if stored.get(key) != given[key]]


def _compute(problem: Problem, method: Method, seq, task: _Task, reduce: str | None,
             target: tuple[str, str] | None, region: tuple | None, setting_label: str, stop: Stop | None = None):
    """Run one chunk (a Dask task or a thread's job); write it to the store ``target`` = (path, id) if given.

    Returns ``(task, payload, steps)``: the payload (states or exact sums)
    only when there is no store to write it to.
    """
    result = run(problem, method, task.lo, task.hi - task.lo, seq, stop=stop, order=task.index)
    try:
        result.check(problem, method)
    except RunCancelled:
        raise  # the run's own failure is raised instead (thread_map)
    except SimulationError as exc:
        if setting_label:
            raise SimulationError(f"{setting_label}: {exc}") from None
        raise
    steps = result.steps.sum(axis=0)
    handle = storage.attach(*target) if target is not None else None
    if reduce == "moments":
        s1, s2 = moments.chunk_sums(result.states)
        (s1_hi, s1_lo), (s2_hi, s2_lo) = moments.to_limbs(s1), moments.to_limbs(s2)
        sums = {"s1_hi": s1_hi, "s1_lo": s1_lo, "s2_hi": s2_hi, "s2_lo": s2_lo}
        if handle is None:
            return task, sums, steps
        handle.write_sums(task.index, sums, steps)
        return task, None, steps
    if handle is None:
        return task, result.states, steps
    continuous = set(problem.model.continuous_species)
    data = {name: result.states[i].astype(np.int64) if method.float_counts and name not in continuous
            else result.states[i]
            for i, name in enumerate(problem.model.species_names)}
    data.update(observable_values(problem.model, data, problem.save_times, problem.model_p))
    handle.write_chunk(task.index, region, data, steps)
    return task, None, steps


def ensemble(
    net: ReactionNetwork,
    u0: Mapping[str, int] | None = None,
    tspan: tuple[float, float] | Sequence[float] | None = None,
    params: Mapping[str, float] | None = None,
    method: str | Method = "auto",
    saveat: float | Sequence[float] | np.ndarray | None = None,
    trajectories: int = 1,
    seed: int | np.random.SeedSequence | None = None,
    store: str | Path | None = None,
    chunk: int | None = None,
    client: Any = None,
    sweep: Mapping[str, Sequence] | xr.Dataset | None = None,
    reduce: Literal["moments"] | None = None,
    volume: float | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    verify: bool = True,
) -> xr.Dataset:
    """Simulate a large ensemble or a parameter sweep in chunks, on threads or a Dask cluster.

    Parameters
    ----------
    net, u0, tspan, params, method, saveat, volume
        As for :func:`pycrn.simulate` (``method`` a name or a
        :mod:`pycrn.methods` object with its options).
    trajectories
        Trajectories per setting.
    seed
        The root seed. Without a sweep, trajectory ``i`` uses stream ``i``
        of ``SeedSequence(seed)`` exactly as :func:`pycrn.simulate` does;
        with a sweep, trajectory ``i`` of setting ``s`` uses
        ``SeedSequence(seed, spawn_key=(s, i))``. ``None``: fresh entropy
        (recorded), or the stored seed when resuming a store.
    store
        A path for a Zarr (v3) store. Each finished chunk is written there by
        the task that computed it and the result is opened lazily from it;
        called again with the same store and arguments, only missing or
        damaged chunks are computed. ``None``: the result is kept in memory.
    chunk
        Trajectories per task. Default: sized from a short pilot run so that
        a task takes about a second (at most 64 MiB of data, at least one
        task per worker); on resume, the store's chunk size. The result does
        not depend on it.
    client
        A ``dask.distributed.Client`` or a scheduler address: the chunks run
        as Dask tasks with deterministic keys (workers need the store's path
        and the pycrn package). ``None``: local threads.
    sweep
        Settings to run: a dict of equal-length arrays (or an xarray Dataset
        over a ``setting`` dimension) of parameter values and/or initial
        counts; :func:`grid` builds an outer product. The result gains a
        leading ``setting`` dimension with the swept values as coordinates
        (a parameter under its name, an initial count as ``u0_<species>``).
    reduce
        ``"moments"``: keep only the exact mean, variance and sd of every
        species at every save time (``<species>_mean``, ``_var``, ``_sd``);
        no trajectories are stored, so memory and store size do not grow
        with the trajectory count. The sums are exact integers, so the
        result is bit-identical for any chunking (see :mod:`pycrn.moments`).
    threads
        Threads for local execution (default: all cores); ignored with a client.
    progress
        A progress bar over chunks (default: on a terminal, for more than one chunk).
    verify
        On resume, read back every finished chunk and check its checksum;
        a chunk that fails is recomputed.

    Returns
    -------
    xarray.Dataset
        Like :func:`pycrn.simulate`'s, with dims ``(setting,) trajectory,
        time``; dask-backed when read from a store. ``attrs`` add ``chunk``,
        ``chunks_computed`` (in this call), ``chunks_repaired`` and ``store``.

    Raises
    ------
    ValueError
        For bad arguments, or a store that was written with different arguments (naming them).
    SimulationError
        If a trajectory fails (naming the setting and trajectory); finished
        chunks stay in the store.
    """
    if not isinstance(net, ReactionNetwork):
        raise TypeError(f"ensemble() expects a ReactionNetwork, got {type(net).__name__}")
    m = resolve(method, net=net)
    net = m.prepare(net)
    if reduce is not None and reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {', '.join(map(repr, REDUCTIONS))} or None, got {reduce!r}")
    n = check_count(trajectories, "trajectories")
    table = _sweep_table(sweep, net)
    nsettings = 1 if table is None else next(iter(table.values())).size
    settings = [_setting_values(table, s, net) if table is not None else ({}, {}) for s in range(nsettings)]
    # The base is setting 0, so that a parameter given only by the sweep needs no default.
    base = Problem.build(net, {**(u0 or {}), **settings[0][0]}, tspan, {**(params or {}), **settings[0][1]},
                         saveat, volume)
    check_method(base, m)
    problems = [base.with_values(*vals) if table is not None else base for vals in settings]
    if m.deterministic:
        if n != 1:
            raise ValueError(f"method {m.name!r} is deterministic: trajectories must be 1, got {n}")
        if reduce is not None:
            raise ValueError(f"reduce={reduce!r} needs a stochastic method, not {m.name!r}")
    if reduce is not None and m.float_states:
        raise ValueError(f"reduce={reduce!r} sums counts exactly; method {m.name!r} has continuous amounts (keep "
                         "the trajectories, or a store, and summarise them with xarray)")
    path = None if store is None else str(Path(store))
    stored = path is not None and Path(path).exists() and storage.exists(path)
    if path is not None and Path(path).exists() and not stored:
        raise ValueError(f"{store} exists and is not a Zarr store; choose a new path")
    stored_fp = storage.read_fingerprint(path) if stored else None
    if seed is None and stored_fp is not None:
        entropy = int(stored_fp["seed"]["entropy"])
        seq = np.random.SeedSequence(entropy, spawn_key=tuple(stored_fp["seed"]["spawn_key"]))
    else:
        seq = seed_sequence(seed)
    if isinstance(client, str):
        from distributed import Client

        with Client(client) as connected:
            return ensemble(net, u0, tspan, params, m, saveat, n, seed, store, chunk, connected, sweep, reduce,
                            volume, threads, progress, verify)
    workers = (len(client.scheduler_info()["workers"]) or 1) if client is not None else (
        check_count(threads, "threads") if threads is not None else default_threads())
    if chunk is None:
        if stored_fp is not None:
            chunk = int(stored_fp["chunk"])
        else:
            chunk = 1 if m.deterministic else _auto_chunk(problems[0], m, _setting_seed(seq, 0, table), n, workers)
    chunk = min(check_count(chunk, "chunk"), n)
    per_setting = split(n, chunk)
    tasks = [_Task(s * len(per_setting) + k, s, lo, hi) for s in range(nsettings) for k, (lo, hi) in
             enumerate(per_setting)]
    fp = _fingerprint(problems, m, seq, n, chunk, table, reduce)
    attrs = {"method": m.name, "seed": seed_attr(seq), **base.attrs(), "trajectories": n, "chunk": chunk}
    if m.describe() != m.name:
        attrs["method_options"] = m.describe()
    if m.deterministic:
        attrs["seed"] = "none (deterministic)"
    if table is not None:
        attrs["sweep"] = ", ".join(table)
    if reduce is not None:
        attrs["reduce"] = reduce
    species = list(net.species_names)
    names = species + [name for name, _ in net.observables]
    sweep_dims = ("setting",) if table is not None else ()
    region = (lambda t: (t.setting, slice(t.lo, t.hi), slice(None))) if table is not None else (
        lambda t: (slice(t.lo, t.hi), slice(None)))
    ntimes = base.save_times.size

    repaired = 0
    finished = np.zeros(len(tasks), dtype=bool)
    handle = None
    if path is not None:
        if stored_fp is not None:
            diff = _differences(stored_fp, fp)
            if diff:
                raise ValueError(
                    f"store {store} was written by ensemble() with other arguments: {'; '.join(diff)}. "
                    "Use a new store, or delete this one to start over"
                )
            handle = storage.EnsembleStore(path)
            commits = handle.commits()
            finished = commits[:, 0] == 1
            if verify:
                for t in tasks:
                    if finished[t.index] and not handle.verify(t.index, region(t), names, reduce,
                                                               int(commits[t.index, 1])):
                        handle.uncommit(t.index)
                        finished[t.index] = False
                        repaired += 1
        else:
            continuous = set(species) if m.deterministic else set(net.continuous_species)
            variables = {name: "float64" if m.float_states and name in continuous else "int64" for name in species}
            variables.update({name: "float64" for name, _ in net.observables})
            layout = {
                "variables": variables, "reduce": reduce, "nchunks": len(tasks), "species": len(species),
                "ntimes": ntimes, "dims": (*sweep_dims, "trajectory", "time"),
                "shape": (*((nsettings,) if table is not None else ()), n, ntimes),
                "chunk_shape": (*((1,) if table is not None else ()), chunk, ntimes),
            }
            handle = storage.EnsembleStore.create(path, layout, _coords(base, n, table, reduce),
                                                  _store_attrs(attrs), fp)
    elif reduce is None:
        check_fits(base.output_bytes(n) * nsettings,
                   f"ensemble(trajectories={n:,}) of {nsettings} setting(s) kept in memory")

    dtype = np.float64 if m.float_states else np.int64
    out = None
    if path is None and reduce is None:
        out = np.zeros((len(species), *((nsettings,) if table is not None else ()), n, ntimes), dtype=dtype)
    totals = [None] * nsettings  # exact (s1, s2) per setting, in memory for reduce without a store
    steps_total = np.zeros(2, dtype=np.int64)
    labels = [_label(table, s) for s in range(nsettings)]
    todo = [t for t in tasks if not finished[t.index]]

    def absorb(outcome) -> int:
        task, payload, steps = outcome
        steps_total[:] += steps
        if payload is None:
            return 1
        if reduce == "moments":
            _accumulate(totals, task.setting, payload)
        elif table is not None:
            out[:, task.setting, task.lo:task.hi] = payload
        else:
            out[:, task.lo:task.hi] = payload
        return 1

    target = (path, handle.id) if handle is not None else None

    def args(task: _Task) -> tuple:
        return (problems[task.setting], m, _setting_seed(seq, task.setting, table), task, reduce, target,
                region(task), labels[task.setting])

    disable = (None if len(todo) > 1 else True) if progress is None else not progress
    with tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="chunk", disable=disable, leave=False) as bar:
        if client is None:
            stop = Stop()
            thread_map(lambda task: absorb(_compute(*args(task), stop)), todo, workers, bar.update, stop)
        else:
            _run_dask(client, todo, args, absorb, bar, fp)

    attrs["chunks_computed"] = len(todo)
    attrs["chunks_repaired"] = repaired
    if handle is not None:
        steps_total = handle.commits()[:, 2:].sum(axis=0)
    work = {} if m.deterministic else counters(m, steps_total)
    attrs.update(work)
    if handle is not None:
        handle.record(work)

    if reduce == "moments":
        if handle is not None:
            totals = _stored_totals(handle, tasks, nsettings)
        variables = _moment_variables(species, totals, n, sweep_dims)
        if handle is not None:
            handle.write_summary(variables)
            return _from_store(path, attrs)
        return xr.Dataset(variables, coords=_coords(base, n, table, reduce), attrs=provenance(attrs))
    if path is not None:
        return _from_store(path, attrs)
    if table is None:
        return add_observables(make_dataset(net, out, base.save_times, attrs, counts=m.float_counts), net, base.p)
    return _sweep_dataset(net, problems, out, table, attrs, m.float_counts)


def _setting_seed(seq: np.random.SeedSequence, s: int, table) -> np.random.SeedSequence:
    if table is None:
        return seq
    return np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, s))


def _label(table, s: int) -> str:
    if table is None:
        return ""
    return f"setting {s} (" + ", ".join(f"{k}={v[s].item()!r}" for k, v in table.items()) + ")"


def _coords(base: Problem, n: int, table, reduce) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    coords = {"time": (("time",), np.asarray(base.save_times, dtype=np.float64))}
    if reduce is None:
        coords["trajectory"] = (("trajectory",), np.arange(n))
    if table is not None:
        size = next(iter(table.values())).size
        coords["setting"] = (("setting",), np.arange(size))
        for name, values in table.items():
            coords[sweep_coordinate(name, base.model)] = (("setting",), np.asarray(values))
    return coords


def sweep_coordinate(name: str, net: ReactionNetwork) -> str:
    """The coordinate of a swept name: the parameter's name, or ``u0_<species>`` for an initial count
    (a species' own name is its data variable)."""
    return f"u0_{name}" if name in net.species_names else name


def _store_attrs(attrs: dict) -> dict:
    """Attributes as JSON-safe values for the Zarr group."""
    out = {"pycrn_version": __version__}
    for k, v in attrs.items():
        out[k] = v if isinstance(v, (str, int, float, bool, list)) or v is None else str(v)
    return out


def _from_store(path: str, attrs: dict) -> xr.Dataset:
    ds = storage.open_dataset(path)
    ds.attrs.update({k: v for k, v in attrs.items() if k in ("chunks_computed", "chunks_repaired", "steps",
                                                           "reactions_fired", "batches")})
    ds.attrs["store"] = path
    return ds


def _stored_totals(handle: storage.EnsembleStore, tasks: list[_Task], nsettings: int):
    sums = handle.sums()
    totals = [None] * nsettings
    for t in tasks:
        _accumulate(totals, t.setting, {name: block[t.index] for name, block in sums.items()})
    return totals


def _accumulate(totals: list, setting: int, sums: dict[str, np.ndarray]) -> None:
    """Add one chunk's exact sums (as limbs) to its setting's running totals (Python ints)."""
    s1 = moments.from_limbs(sums["s1_hi"], sums["s1_lo"])
    s2 = moments.from_limbs(sums["s2_hi"], sums["s2_lo"])
    prev = totals[setting]
    totals[setting] = (s1, s2) if prev is None else (prev[0] + s1, prev[1] + s2)


def _moment_variables(species: list[str], totals, n: int, sweep_dims: tuple) -> dict:
    per_setting = [moments.mean_and_variance(n, s1, s2) for s1, s2 in totals]
    variables = {}
    for i, name in enumerate(species):
        mean = np.stack([mv[0][i] for mv in per_setting]) if sweep_dims else per_setting[0][0][i]
        var = np.stack([mv[1][i] for mv in per_setting]) if sweep_dims else per_setting[0][1][i]
        dims = (*sweep_dims, "time")
        variables[f"{name}_mean"] = (dims, mean)
        variables[f"{name}_var"] = (dims, var)
        variables[f"{name}_sd"] = (dims, np.sqrt(var))
    return variables


def _sweep_dataset(net, problems, out, table, attrs, counts: bool = False) -> xr.Dataset:
    base = problems[0]
    times = base.save_times
    continuous = set(net.continuous_species)
    data = {name: (("setting", "trajectory", "time"), out[i].astype(np.int64) if counts and name not in continuous
                   else out[i]) for i, name in enumerate(net.species_names)}
    if net.observables:
        per = [observable_values(net, {name: out[i, s] for i, name in enumerate(net.species_names)}, times, pr.p)
               for s, pr in enumerate(problems)]
        for name, _ in net.observables:
            data[name] = (("setting", "trajectory", "time"), np.stack([v[name] for v in per]))
    return xr.Dataset(data, coords=_coords(base, out.shape[2], table, None), attrs=provenance(attrs))


def _run_dask(client, todo: list[_Task], args, absorb, bar, fp: dict) -> None:
    """Submit the chunks as Dask tasks with deterministic keys; absorb results as they complete.

    Each task carries only its own setting's problem (a few KB), not the whole sweep.
    """
    from distributed import as_completed

    token = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]
    futures = [client.submit(_compute, *args(t), key=f"pycrn-ensemble-{token}-{t.index}", pure=False)
               for t in todo]
    index = {fut.key: t.index for fut, t in zip(futures, todo, strict=True)}
    first_error: tuple[int, SimulationError] | None = None
    try:
        for fut in as_completed(futures):
            if fut.cancelled():
                continue
            if fut.status == "error":
                error = fut.exception()
                if not isinstance(error, SimulationError):
                    raise error
                # The chunks after the failed one are cancelled, the earlier ones finish: the error raised is
                # the first chunk's to fail, whichever worker reported first.
                if first_error is None or index[fut.key] < first_error[0]:
                    first_error = (index[fut.key], error)
                    client.cancel([f for f in futures if index[f.key] > first_error[0] and not f.done()])
                continue
            if first_error is None or index[fut.key] < first_error[0]:
                bar.update(absorb(fut.result()))
            fut.release()
    except BaseException:
        client.cancel(futures)
        raise
    if first_error is not None:
        raise first_error[1] from None
