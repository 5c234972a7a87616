"""Training data for an abstraction: consecutive states of exact trajectories, every ``dt``.

Bortolussi & Palmieri, "Deep abstractions of chemical reaction networks"
(CMSB 2018), §3 "Dataset generation": trajectories from many initial states
are recorded on a grid of step ``dt`` and every pair of consecutive states
``(x_k, x_{k+1})`` is one sample of the transition kernel
``P(X(t + dt) | X(t))``. Features are standardised to zero mean and unit
variance (§5, "Data preparation"); the statistics travel with the data.

This module needs numpy and xarray only (no torch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from scipy.stats import qmc

from .._version import __version__
from ..ensemble import ensemble
from ..errors import ModelError
from ..network import ReactionNetwork

#: ``attrs["kind"]`` of a transition-pair Dataset made by :func:`generate`.
PAIRS_KIND = "pycrn.abstraction.pairs"


def sample_states(
    box: Mapping[str, tuple[int, int]],
    n: int,
    *,
    seed: int | np.random.SeedSequence | None = None,
    design: Literal["uniform", "lhs"] = "uniform",
    net: ReactionNetwork | None = None,
) -> dict[str, np.ndarray]:
    """Draw ``n`` initial states with integer counts in a box.

    Parameters
    ----------
    box
        ``{species: (low, high)}``, inclusive integer bounds. With ``net``,
        species missing from the box keep the network's initial count.
    n
        Number of states.
    seed
        Seed of the draw.
    design
        ``"uniform"``: independent uniform integers (StochNet's choice);
        ``"lhs"``: a Latin hypercube (scipy.stats.qmc), which covers the box
        more evenly for the same ``n``.
    net
        The network, to check the names and fill in the species left out.

    Returns
    -------
    dict
        ``{species: int64 array of length n}``, in the network's species order when ``net`` is given.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    bounds = {}
    for name, pair in box.items():
        try:
            low, high = pair
            # int() alone would turn a bound of 2.5 into 2 without a word: only whole numbers are counts.
            whole = all(not isinstance(v, bool) and float(v).is_integer() for v in (low, high))
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise ValueError(f"box[{name!r}] must be a pair of integers (low, high), got {pair!r}")
        low, high = int(low), int(high)
        if low < 0 or high < low:
            raise ValueError(f"box[{name!r}] = ({low}, {high}): need 0 <= low <= high")
        bounds[name] = (low, high)
    if net is not None:
        unknown = [s for s in bounds if s not in net.species_names]
        if unknown:
            raise ModelError(f"box names {', '.join(repr(s) for s in unknown)}, which is not a species of the network "
                             f"(species: {', '.join(net.species_names)})")
    names = list(bounds)
    if design == "uniform":
        rng = np.random.default_rng(seed)
        columns = [rng.integers(lo, hi + 1, size=n) for lo, hi in bounds.values()]
    elif design == "lhs":
        u = qmc.LatinHypercube(d=len(names), seed=seed).random(n)
        columns = [
            np.minimum(lo + np.floor(u[:, j] * (hi - lo + 1)), hi).astype(np.int64)
            for j, (lo, hi) in enumerate(bounds.values())
        ]
    else:
        raise ValueError(f"design must be 'uniform' or 'lhs', got {design!r}")
    out = {name: np.asarray(c, dtype=np.int64) for name, c in zip(names, columns)}
    if net is None:
        return out
    x0 = net.initial_state()
    return {s: out.get(s, np.full(n, int(x0[i]), dtype=np.int64)) for i, s in enumerate(net.species_names)}


def _states_table(net: ReactionNetwork, initial_states) -> dict[str, np.ndarray]:
    """Initial states as ``{species: counts}`` over every species, checked."""
    names = net.species_names
    if isinstance(initial_states, Mapping):
        unknown = [s for s in initial_states if s not in names]
        if unknown:
            raise ModelError(f"initial_states: {', '.join(unknown)} not species of the network ({', '.join(names)})")
        lengths = {np.size(v) for v in initial_states.values()}
        if len(lengths) != 1:
            raise ValueError("initial_states: every species needs the same number of states")
        n = lengths.pop()
        x0 = net.initial_state()
        table = {s: np.asarray(initial_states.get(s, np.full(n, x0[i]))).reshape(n) for i, s in enumerate(names)}
    else:
        a = np.asarray(initial_states)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] != len(names):
            raise ValueError(
                f"initial_states must be an array (settings, {len(names)}) in the species order "
                f"{', '.join(names)}, or a dict of species -> counts; got shape {a.shape}"
            )
        table = {s: a[:, i] for i, s in enumerate(names)}
    for s, v in table.items():
        if not np.all(np.isfinite(v.astype(float))) or np.any(v < 0) or np.any(v != np.round(v)):
            raise ValueError(f"initial_states: counts of {s} must be non-negative integers")
        table[s] = v.astype(np.int64)
    return table


def generate(
    net: ReactionNetwork,
    initial_states: Mapping[str, Sequence[int]] | np.ndarray,
    dt: float,
    steps: int,
    trajectories_per_state: int,
    seed: int,
    *,
    method: Any = "direct",
    params: Mapping[str, float] | None = None,
    t0: float = 0.0,
    store: str | Path | None = None,
    threads: int | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Simulate exact trajectories from many initial states and cut them into transition pairs.

    Every initial state (a *setting*) runs ``trajectories_per_state``
    trajectories of ``steps`` steps of ``dt`` with one of pycrn's engines,
    through :func:`pycrn.ensemble`, so the work runs on all cores (or a Dask
    cluster) and, with ``store=``, survives an interruption: calling again
    with the same arguments computes only the missing chunks.

    Parameters
    ----------
    net
        The network.
    initial_states
        An int array ``(settings, species)`` in the network's species order,
        or ``{species: counts}`` (see :func:`sample_states` for a box sampler;
        species left out keep the network's initial count).
    dt
        The abstraction's time step.
    steps
        Steps per trajectory; each trajectory gives ``steps`` pairs.
    trajectories_per_state
        Trajectories per initial state.
    seed
        The root seed (the data are a function of it, whatever the threads or chunks).
    method
        Any pycrn method name or method object (default ``"direct"``, exact).
    params
        Parameter values overriding the network's.
    t0
        Start time (matters only for networks with time-dependent rates or events).
    store
        A Zarr store for the trajectories (see :func:`pycrn.ensemble`).
    threads, progress
        As for :func:`pycrn.ensemble`.

    Returns
    -------
    xarray.Dataset
        ``x`` and ``y`` (pair, species): the state and the state ``dt``
        later; ``setting_id`` (pair): which initial state the pair came from;
        ``step`` (pair): the step index of ``x``; ``initial_state`` (setting,
        species); the scaling statistics ``x_mean``, ``x_std`` and, for
        log-normal kernels, ``log_mean``, ``log_std`` (species). ``attrs``
        carry ``dt``, ``t0``, ``method``, ``seed``, the model text and the
        pycrn version. Save it with ``to_netcdf`` or ``to_zarr``.
    """
    if not isinstance(net, ReactionNetwork):
        raise TypeError(f"generate() expects a ReactionNetwork, got {type(net).__name__}")
    dt = float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive finite number, got {dt}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    table = _states_table(net, initial_states)
    times = t0 + dt * np.arange(steps + 1)
    ds = ensemble(
        net,
        tspan=(t0, float(times[-1])),
        params=params,
        method=method,
        saveat=times,
        trajectories=trajectories_per_state,
        seed=seed,
        sweep=table,
        store=store,
        threads=threads,
        progress=progress,
    )
    names = net.species_names
    counts = np.stack([np.asarray(ds[s].transpose("setting", "trajectory", "time").values) for s in names], axis=-1)
    return pairs_from_trajectories(
        counts,
        species=names,
        dt=dt,
        t0=t0,
        initial_state=np.stack([table[s] for s in names], axis=-1),
        attrs={
            "method": ds.attrs.get("method", str(method)),
            "seed": ds.attrs.get("seed", seed),
            "model_name": ds.attrs.get("model_name", net.name or ""),
            "model": ds.attrs.get("model", str(net)),
            "params": ds.attrs.get("params", ""),
            "trajectories_per_state": int(trajectories_per_state),
            "steps": int(steps),
        },
    )


def pairs_from_trajectories(
    counts: np.ndarray,
    species: Sequence[str],
    dt: float,
    *,
    t0: float = 0.0,
    initial_state: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Transition pairs from trajectories on a grid of step ``dt``.

    Parameters
    ----------
    counts
        ``(settings, trajectories, times, species)`` (or without the leading
        settings axis) states on the grid ``t0 + k*dt``.
    species
        The species names, in the order of the last axis.
    dt, t0
        The grid.
    initial_state, attrs
        Stored with the pairs.
    """
    a = np.asarray(counts)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != len(species):
        raise ValueError(f"counts must be (settings, trajectories, times, {len(species)} species), got {a.shape}")
    if a.shape[2] < 2:
        raise ValueError("counts need at least two save times to make a pair")
    check_finite(a, "counts")
    settings, traj, times, n = a.shape
    x = a[:, :, :-1, :].reshape(-1, n)
    y = a[:, :, 1:, :].reshape(-1, n)
    setting = np.repeat(np.arange(settings), traj * (times - 1))
    step = np.tile(np.arange(times - 1), settings * traj)
    if initial_state is None:
        initial_state = a[:, 0, 0, :]
    ds = xr.Dataset(
        {
            "x": (("pair", "species"), x),
            "y": (("pair", "species"), y),
            "setting_id": ("pair", setting),
            "step": ("pair", step),
            "initial_state": (("setting", "species"), np.asarray(initial_state)),
        },
        coords={"species": list(species)},
        attrs={
            "kind": PAIRS_KIND,
            "pycrn_version": __version__,
            "dt": float(dt),
            "t0": float(t0),
            **dict(attrs or {}),
        },
    )
    return with_scaling(ds)


def with_scaling(ds: xr.Dataset) -> xr.Dataset:
    """Add the standardisation statistics of the features ``x`` (and of ``log1p(x)``) to a pair Dataset.

    A species that never varies gets a standard deviation of 1 (it carries no
    information and must not divide by zero).
    """
    x = np.asarray(ds["x"].values, dtype=np.float64)
    logx = np.log1p(np.maximum(x, 0.0))
    out = ds.copy()
    for name, values in (("x", x), ("log", logx)):
        mean = values.mean(axis=0)
        std = values.std(axis=0)
        out[f"{name}_mean"] = ("species", mean)
        out[f"{name}_std"] = ("species", np.where(std > 0, std, 1.0))
    return out


def check_finite(values: np.ndarray, what: str) -> None:
    """Raise a ValueError naming where the first NaN or infinity is."""
    bad = ~np.isfinite(np.asarray(values, dtype=np.float64))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{what} contains {int(bad.sum())} NaN or infinite value(s), the first at index {where}")


def open_pairs(data: xr.Dataset | str | Path) -> xr.Dataset:
    """A pair Dataset from :func:`generate`, or one saved to netCDF (``.nc``) or Zarr, checked.

    Raises
    ------
    ValueError
        If it is not a pair Dataset, or ``x``/``y`` hold NaN or infinities.
    """
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise FileNotFoundError(f"no pair data at {path}")
        data = xr.open_zarr(path) if path.is_dir() else xr.open_dataset(path)
        data = data.load()
    if not isinstance(data, xr.Dataset) or not {"x", "y"} <= set(data.data_vars) or "dt" not in data.attrs:
        raise ValueError("expected transition pairs from pycrn.abstraction.generate (variables x, y and attrs['dt'])")
    check_finite(data["x"].values, "data['x']")
    check_finite(data["y"].values, "data['y']")
    if "x_mean" not in data:
        data = with_scaling(data)
    return data
