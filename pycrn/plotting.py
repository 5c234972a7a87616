"""Plots of simulation results (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr


def _is_reduced(ds: xr.Dataset) -> bool:
    """Results of ``ensemble(reduce="moments")``: ``<species>_mean``/``_sd`` over time, no trajectories."""
    return "trajectory" not in ds.dims and any(name.endswith("_mean") for name in ds.data_vars)


def plot_ensemble(
    ds: xr.Dataset,
    path: str | Path | None = None,
    species: Sequence[str] | None = None,
    samples: int = 3,
    setting: int | None = None,
):
    """Plot, per species, the ensemble mean with a ±1 sd band and a few sample paths.

    Parameters
    ----------
    ds
        A Dataset from :func:`pycrn.simulate` or :func:`pycrn.ensemble` (or
        read back with :func:`pycrn.open_results`). For a store of moments
        (``reduce="moments"``) the stored mean and sd are drawn; for a
        store of trajectories the mean and sd are computed chunk by chunk
        and only the sample paths are loaded.
    path
        Where to save the figure (format from the suffix); ``None`` returns it only.
    species
        Species to plot (default: all).
    samples
        Number of individual trajectories drawn thinly behind the band.
    setting
        For results with a ``setting`` dimension (a sweep): which setting
        (required when there are several).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    title_extra = ""
    if "setting" in ds.dims:
        if setting is None:
            if ds.sizes["setting"] != 1:
                raise ValueError(
                    f"the results hold {ds.sizes['setting']} settings of a sweep; choose one with setting=K "
                    f"(pycrn plot --setting K), 0 <= K < {ds.sizes['setting']}"
                )
            setting = 0
        if not 0 <= setting < ds.sizes["setting"]:
            raise ValueError(f"setting must be in [0, {ds.sizes['setting']}), got {setting}")
        swept = [str(c) for c in ds.coords if c != "setting" and ds.coords[c].dims == ("setting",)]
        ds = ds.isel(setting=setting)
        title_extra = ", " + ", ".join(f"{c}={float(ds.coords[c].values):g}" for c in swept)
    reduced = _is_reduced(ds)
    available = [n[: -len("_mean")] for n in ds.data_vars if n.endswith("_mean")] if reduced else list(ds.data_vars)
    names = list(species) if species else available
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"species not in the results: {', '.join(unknown)} (have {', '.join(available)})")
    t = ds["time"].values
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ntraj = int(ds.attrs.get("trajectories", 0)) if reduced else ds.sizes["trajectory"]
    for k, name in enumerate(names):
        c = colors[k % len(colors)]
        if reduced:
            mean = ds[f"{name}_mean"].values
            sd = np.nan_to_num(ds[f"{name}_sd"].values)
        else:
            values = ds[name].astype(np.float64)
            # Reduced over trajectories by xarray: chunk by chunk when the data are dask-backed.
            mean = values.mean("trajectory").values
            sd = values.std("trajectory", ddof=1).values if ntraj > 1 else np.zeros_like(mean)
            for i in range(min(samples, ntraj)):
                ax.step(t, values.isel(trajectory=i).values, where="post", color=c, lw=0.6, alpha=0.5)
        # Counts are non-negative; clip the band rather than draw below zero.
        ax.fill_between(t, np.maximum(mean - sd, 0.0), mean + sd, color=c, alpha=0.2, lw=0)
        ax.plot(t, mean, color=c, lw=2, label=f"{name} (mean ± sd)")
    method = ds.attrs.get("method", "")
    ax.set_title(f"{ntraj} trajectories, method {method}{title_extra}")
    ax.set_xlabel("time")
    ax.set_ylabel("count")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
