"""Plots of simulation results (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr


def plot_ensemble(
    ds: xr.Dataset,
    path: str | Path | None = None,
    species: Sequence[str] | None = None,
    samples: int = 3,
):
    """Plot, per species, the ensemble mean with a ±1 sd band and a few sample paths.

    Parameters
    ----------
    ds
        A Dataset from :func:`pycrn.simulate` (or read back from netCDF).
    path
        Where to save the figure (format from the suffix); ``None`` returns it only.
    species
        Species to plot (default: all).
    samples
        Number of individual trajectories drawn thinly behind the band.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = list(species) if species else list(ds.data_vars)
    unknown = [n for n in names if n not in ds.data_vars]
    if unknown:
        raise ValueError(f"species not in the results: {', '.join(unknown)} (have {', '.join(ds.data_vars)})")
    t = ds["time"].values
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ntraj = ds.sizes["trajectory"]
    for k, name in enumerate(names):
        c = colors[k % len(colors)]
        values = ds[name].values.astype(np.float64)
        mean = values.mean(axis=0)
        sd = values.std(axis=0, ddof=1) if ntraj > 1 else np.zeros_like(mean)
        for i in range(min(samples, ntraj)):
            ax.step(t, values[i], where="post", color=c, lw=0.6, alpha=0.5)
        # Counts are non-negative; clip the band rather than draw below zero.
        ax.fill_between(t, np.maximum(mean - sd, 0.0), mean + sd, color=c, alpha=0.2, lw=0)
        ax.plot(t, mean, color=c, lw=2, label=f"{name} (mean ± sd)")
    method = ds.attrs.get("method", "")
    ax.set_title(f"{ntraj} trajectories, method {method}")
    ax.set_xlabel("time")
    ax.set_ylabel("count")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
