"""Simulation results as xarray Datasets: assembly, summaries, netCDF round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ._version import __version__
from .network import ReactionNetwork


def make_dataset(net: ReactionNetwork, states: np.ndarray, times: np.ndarray, attrs: dict) -> xr.Dataset:
    """Dataset with dims (trajectory, time) and one variable per species.

    ``states`` has shape (species, trajectories, times); each species' block
    becomes its variable without a copy when ``states`` is C-contiguous.
    """
    data = {name: (("trajectory", "time"), states[i]) for i, name in enumerate(net.species_names)}
    coords = {"trajectory": np.arange(states.shape[1]), "time": np.asarray(times, dtype=np.float64)}
    meta = {"pycrn_version": __version__, **attrs}
    # netCDF attributes hold only scalars, strings and 1-D arrays.
    for key, value in list(meta.items()):
        if isinstance(value, (dict, list, tuple)) and not _is_flat_numeric(value):
            meta[key] = json.dumps(value)
    ds = xr.Dataset(data, coords=coords, attrs=meta)
    ds["time"].attrs["long_name"] = "time"
    return ds


def add_observables(ds: xr.Dataset, net: ReactionNetwork, p: np.ndarray) -> xr.Dataset:
    """Add the network's observables (derived outputs) as float variables over (trajectory, time).

    Parameters enter with the values the run started from.
    """
    if not net.observables:
        return ds
    args = {name: ds[name].values.astype(np.float64) for name in net.species_names}
    args.update(dict(zip(net.parameter_names, p.tolist())))
    args["t"] = ds["time"].values[None, :]
    order = list(args)
    for name, law in net.observables:
        with np.errstate(all="ignore"):
            value = np.broadcast_to(law.to_numpy(order)(**args), (ds.sizes["trajectory"], ds.sizes["time"]))
        ds[name] = (("trajectory", "time"), np.array(value, dtype=np.float64))
        ds[name].attrs["observable"] = str(law)
    return ds


def _is_flat_numeric(value) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)


def summary(ds: xr.Dataset) -> xr.Dataset:
    """Ensemble mean and standard deviation of every species at every saved time.

    Returns a Dataset with variables ``<species>_mean`` and ``<species>_sd``
    over ``time`` (the sd uses ``ddof=1``).
    """
    out = {}
    for name, var in ds.data_vars.items():
        values = var.astype(np.float64)
        out[f"{name}_mean"] = values.mean("trajectory")
        out[f"{name}_sd"] = values.std("trajectory", ddof=1) if ds.sizes["trajectory"] > 1 else values.isel(trajectory=0) * 0.0
    return xr.Dataset(out, attrs=ds.attrs)


def save_results(ds: xr.Dataset, path: str | Path, complevel: int = 4) -> None:
    """Write ``ds`` to netCDF with zlib compression of every variable (counts compress well)."""
    encoding = {name: {"zlib": True, "complevel": complevel} for name in ds.data_vars}
    ds.to_netcdf(path, encoding=encoding)


def open_results(path: str | Path) -> xr.Dataset:
    """Open a Dataset saved with ``Dataset.to_netcdf`` (loaded into memory)."""
    with xr.open_dataset(path) as ds:
        return ds.load()
