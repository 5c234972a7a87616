"""Simulation results as xarray Datasets: assembly, summaries, netCDF round trip."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from pathlib import Path

import numpy as np
import xarray as xr

from ._version import __version__
from .network import ReactionNetwork


def make_dataset(
    net: ReactionNetwork, states: np.ndarray, times: np.ndarray, attrs: dict, counts: bool = False
) -> xr.Dataset:
    """Dataset with dims (trajectory, time) and one variable per species.

    ``states`` has shape (species, trajectories, times); each species' block
    becomes its variable without a copy when ``states`` is C-contiguous.
    ``counts``: ``states`` are float64 from a hybrid run, whose species that
    are not continuous hold whole numbers: those become int64 variables.
    """
    continuous = set(net.continuous_species)
    data = {
        name: (("trajectory", "time"), states[i].astype(np.int64) if counts and name not in continuous else states[i])
        for i, name in enumerate(net.species_names)
    }
    coords = {"trajectory": np.arange(states.shape[1]), "time": np.asarray(times, dtype=np.float64)}
    ds = xr.Dataset(data, coords=coords, attrs=provenance(attrs))
    ds["time"].attrs["long_name"] = "time"
    return ds


def add_compensators(ds: xr.Dataset, net: ReactionNetwork, fired: np.ndarray, compensator: np.ndarray) -> xr.Dataset:
    """``ds`` with ``fired`` and ``compensator`` (reaction, trajectory, time) and the ``reaction`` coordinate.

    The coordinate numbers the reactions from 1 as the error messages do;
    ``reaction_text`` holds each one as written.
    """
    taken = sorted({"fired", "compensator", "reaction", "reaction_text"} & set(ds.variables))
    if taken:
        raise ValueError(f"record='compensators' adds variables named {', '.join(taken)}: rename those species "
                         "or observables")
    ds = ds.assign_coords(reaction=np.arange(1, len(net.reactions) + 1),
                          reaction_text=("reaction", [str(r) for r in net.reactions]))
    ds["fired"] = (("reaction", "trajectory", "time"), fired)
    ds["compensator"] = (("reaction", "trajectory", "time"), compensator)
    ds["fired"].attrs["long_name"] = "firings of each reaction up to each time (R_j(t))"
    ds["compensator"].attrs["long_name"] = "integral of each reaction's propensity up to each time"
    return ds


def provenance(attrs: dict) -> dict:
    """Dataset attributes: the pycrn version first, values made netCDF-safe.

    netCDF attributes hold only scalars, strings and 1-D arrays; other
    values are stored as JSON text.
    """
    meta = {"pycrn_version": __version__, **attrs}
    for key, value in list(meta.items()):
        if isinstance(value, (dict, list, tuple)) and not _is_flat_numeric(value):
            meta[key] = json.dumps(value)
    return meta


def observable_values(
    net: ReactionNetwork, species: dict[str, np.ndarray], times: np.ndarray, p: np.ndarray
) -> dict[str, np.ndarray]:
    """The network's observables as float arrays (trajectories, times), from the species' counts.

    Parameters enter with the values the run started from.
    """
    if not net.observables:
        return {}
    args = {name: np.asarray(species[name], dtype=np.float64) for name in net.species_names}
    args.update(dict(zip(net.parameter_names, np.asarray(p).tolist())))
    args["t"] = np.asarray(times)[None, :]
    order = list(args)
    shape = np.shape(species[net.species_names[0]])
    out = {}
    for name, law in net.observables:
        with np.errstate(all="ignore"):
            value = np.broadcast_to(law.to_numpy(order)(**args), shape)
        out[name] = np.array(value, dtype=np.float64)
    return out


def add_observables(ds: xr.Dataset, net: ReactionNetwork, p: np.ndarray) -> xr.Dataset:
    """Add the network's observables (derived outputs) as float variables over (trajectory, time)."""
    # ds.variables, not ds[name]: building a DataArray scans every variable (quadratic in the species).
    values = observable_values(net, {name: ds.variables[name].values for name in net.species_names}, ds["time"].values, p)
    for name, law in net.observables:
        ds[name] = (("trajectory", "time"), values[name])
        ds.variables[name].attrs["observable"] = str(law)
    return ds


def _is_flat_numeric(value) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)


def require_results(ds: xr.Dataset, what: str) -> bool:
    """Whether ``ds`` is reduced (``ensemble(reduce="moments")``); a clear error if it is no pycrn result at all.

    ``what`` names the caller in the error, e.g. ``"summary"``.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"{what} needs an xarray Dataset of pycrn results, got {type(ds).__name__}")
    if "trajectory" in ds.dims:
        return False
    if "time" in ds.coords and any(name.endswith("_mean") for name in ds.data_vars):
        return True
    raise ValueError(
        f"{what} needs pycrn results: trajectories over a 'trajectory' dimension (pycrn.simulate, pycrn.ensemble) "
        f"or an ensemble's <species>_mean/_sd over 'time'; this Dataset has dimensions "
        f"{', '.join(map(str, ds.dims)) or 'none'} and variables {', '.join(map(str, ds.data_vars)) or 'none'}"
    )


def summary(ds: xr.Dataset) -> xr.Dataset:
    """Ensemble mean and standard deviation of every species at every saved time.

    Returns a Dataset with variables ``<species>_mean`` and ``<species>_sd``
    over ``time`` (the sd uses ``ddof=1``). Results of
    ``ensemble(reduce="moments")`` hold them already: their means and sds are
    returned as they are.
    """
    if require_results(ds, "summary"):
        return ds[[name for name in ds.data_vars if name.endswith(("_mean", "_sd"))]]
    out = {}
    for name, var in ds.data_vars.items():
        values = var.astype(np.float64)
        out[f"{name}_mean"] = values.mean("trajectory")
        out[f"{name}_sd"] = values.std("trajectory", ddof=1) if ds.sizes["trajectory"] > 1 else values.isel(trajectory=0) * 0.0
    return xr.Dataset(out, attrs=ds.attrs)


@contextlib.contextmanager
def _sigint_deferred():
    """Hold Ctrl-C back until the block ends (main thread only), then raise it.

    An interrupt inside the HDF5 library leaves its file lock held: the
    writer deadlocks and the file is left truncated. A write takes seconds
    at most, so the interrupt waits for it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def check_output_path(path: str | Path, example: str) -> Path:
    """Refuse, before any work, an output path that is a folder or lies in a missing one; return its folder.

    ``example`` is a file name suggested when ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder (give a file name, e.g. {path / example})")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    return folder


def save_results(ds: xr.Dataset, path: str | Path, complevel: int = 4) -> None:
    """Write ``ds`` to netCDF with zlib compression of every variable (counts compress well).

    The file is written under a temporary name in the same folder and renamed
    to ``path`` only once complete, so ``path`` never holds a partial file,
    whatever interrupts the write (Ctrl-C waits for it to finish).
    """
    path = Path(path)
    if isinstance(complevel, bool) or not isinstance(complevel, (int, np.integer)) or not 0 <= complevel <= 9:
        raise ValueError(f"complevel must be an integer from 0 (no compression) to 9, got {complevel!r}")
    folder = check_output_path(path, "results.nc")
    encoding = {name: {"zlib": True, "complevel": int(complevel)} for name in ds.data_vars}
    tmp = None
    try:
        # The temporary file is created with Ctrl-C deferred too: a SIGINT between its creation and the
        # cleanup below left a stray .part file (seen once under load in the SIGINT test).
        with _sigint_deferred():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.",
                                       suffix=".part")
            os.close(fd)
            ds.to_netcdf(tmp, encoding=encoding)
            # mkstemp makes the file private; give it the mode a plain write would have.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def open_results(path: str | Path) -> xr.Dataset:
    """Open results: a netCDF file (loaded into memory) or an ensemble's Zarr store (opened lazily).

    Raises
    ------
    ValueError
        If ``path`` is not a complete pycrn result (unreadable or truncated
        netCDF, or a netCDF file that pycrn did not write), naming the path.
    FileNotFoundError
        If there is nothing at ``path``.
    """
    from . import store

    path = Path(path)
    if path.is_dir() and store.exists(path):
        return store.open_dataset(path)
    if not path.exists():
        raise FileNotFoundError(f"no results at {path}")
    try:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is not a readable netCDF file (truncated or not netCDF?): {exc}") from None
    missing = [what for what, ok in (("'pycrn_version' attribute", "pycrn_version" in ds.attrs),
                                     ("'time' coordinate", "time" in ds.coords),
                                     ("data variables", bool(ds.data_vars))) if not ok]
    if missing:
        raise ValueError(f"{path} is not a pycrn result: it has no {', no '.join(missing)}")
    return ds
