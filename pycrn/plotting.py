"""Plots of simulation results (matplotlib) that show what the ensemble does.

Stochastic ensembles are often skewed or bimodal (in the SIR model about one
run in ten never has an outbreak), so the default summary is the median with
the 25-75% and 5-95% quantile bands rather than mean ± sd, which can put a
band where no trajectory is; sample paths are chosen across the spread of
the final values, not the first few; counts that span decades get a
symmetric-log axis; species of very different scales get a panel each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from .results import check_output_path, require_results

#: Trajectories used for the quantiles: an evenly spaced subset of larger ensembles (the title says so).
MAX_STATISTICS = 20_000
#: Decades of positive values from which ``log="auto"`` uses a symmetric-log axis.
LOG_DECADES = 3.0
#: Ratio of species' largest values from which ``layout="auto"`` gives each species its own panel.
PANEL_RATIO = 100.0
#: Quantiles of the final value at which sample paths are picked (for 3 samples: 5%, 50%, 95%).
SAMPLE_SPREAD = (0.05, 0.95)


@dataclass
class _Summary:
    """What is drawn for one species."""

    center: np.ndarray
    label: str
    bands: list = field(default_factory=list)  # (low, high, label, alpha)
    paths: list = field(default_factory=list)  # arrays, one per sample path
    final: np.ndarray | None = None  # final values, for the histogram
    steps: bool = False  # draw the center as a step function (a single stochastic trajectory)


def _select_setting(ds: xr.Dataset, setting: int | None) -> tuple[xr.Dataset, str]:
    if "setting" not in ds.dims:
        return ds, ""
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
    return ds, ", " + ", ".join(f"{c}={float(ds.coords[c].values):g}" for c in swept)


def _summaries(ds: xr.Dataset, names: list[str], band: str, samples: int, *, reduced: bool) -> tuple[dict, int, int]:
    """Per species what to draw; the number of trajectories and how many the statistics used.

    ``reduced``: the results of ``ensemble(reduce="moments")`` (``<species>_mean``/``_sd`` over time, no
    trajectories), as ``require_results`` classifies them.
    """
    if reduced:
        n = int(ds.attrs.get("trajectories", 0))
        out = {}
        for name in names:
            mean = ds[f"{name}_mean"].values
            sd = np.nan_to_num(ds[f"{name}_sd"].values)
            out[name] = _Summary(mean, "mean", [(np.maximum(mean - sd, 0.0), mean + sd, "mean ± sd", 0.25)])
        return out, n, n
    n = ds.sizes["trajectory"]
    deterministic = ds.attrs.get("method") == "ode" or str(ds.attrs.get("seed", "")).startswith("none")
    if n == 1:
        label = "deterministic" if deterministic else "1 trajectory"
        return ({name: _Summary(ds[name].values[0].astype(np.float64), label, steps=not deterministic,
                                final=ds[name].values[0, -1:].astype(np.float64)) for name in names}, 1, 1)
    # Large stores are read for an evenly spaced subset only (chunk by chunk when dask-backed).
    idx = np.unique(np.linspace(0, n - 1, min(n, MAX_STATISTICS)).round().astype(np.int64))
    out = {}
    for name in names:
        values = np.asarray(ds[name].isel(trajectory=idx).values, dtype=np.float64)
        final = values[:, -1]
        if band == "quantiles":
            q05, q25, q50, q75, q95 = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
            s = _Summary(q50, "median", [(q05, q95, "5–95%", 0.15), (q25, q75, "25–75%", 0.3)], final=final)
        else:
            mean = values.mean(axis=0)
            sd = values.std(axis=0, ddof=1)
            s = _Summary(mean, "mean", [(np.maximum(mean - sd, 0.0), mean + sd, "mean ± sd", 0.25)], final=final)
        if samples > 0:
            order = np.argsort(final, kind="stable")
            where = np.linspace(*SAMPLE_SPREAD, samples) if samples > 1 else np.array([0.5])
            for q in where:
                s.paths.append(values[order[int(round(q * (len(order) - 1)))]])
        out[name] = s
    return out, n, len(idx)


def _top(s: _Summary) -> float:
    highs = [s.center] + [b[1] for b in s.bands] + s.paths
    return float(max(np.nanmax(h) for h in highs)) if highs else 0.0


def _wants_log(summaries: list[_Summary]) -> bool:
    values = np.concatenate([np.concatenate([s.center, *[b[1] for b in s.bands], *s.paths]) for s in summaries])
    positive = values[np.isfinite(values) & (values > 0)]
    return positive.size > 0 and np.log10(positive.max() / positive.min()) > LOG_DECADES


def check_figure_path(path: str | Path) -> None:
    """Refuse, before any work, a figure path that cannot be written or whose suffix names no image format.

    (matplotlib would add ``.png`` to a name without a suffix, so the figure would not be where asked.)
    """
    from matplotlib.figure import Figure

    check_output_path(path, "figure.png")
    formats = Figure().canvas.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        raise ValueError(f"cannot write a figure to {path}: its suffix must name an image format "
                         f"({', '.join('.' + f for f in sorted(formats))})")


def plot_ensemble(
    ds: xr.Dataset,
    path: str | Path | None = None,
    species: Sequence[str] | None = None,
    samples: int = 3,
    setting: int | None = None,
    band: str = "quantiles",
    log: bool | None = None,
    layout: str = "auto",
    histogram: bool = False,
):
    """Plot each species over time: a central curve, spread bands and sample paths.

    Parameters
    ----------
    ds
        A Dataset from :func:`pycrn.simulate` or :func:`pycrn.ensemble` (or
        read back with :func:`pycrn.open_results`). A store of moments
        (``reduce="moments"``) is drawn as mean ± sd; a large store of
        trajectories is summarised from an evenly spaced subset of
        :data:`MAX_STATISTICS` trajectories (the title says how many).
    path
        Where to save the figure (format from the suffix); ``None`` returns it only.
    species
        Species to plot (default: all).
    samples
        Sample paths per species, picked at evenly spaced quantiles of their
        final value between 5% and 95% (so both modes of a bimodal ensemble
        show), drawn thin and listed in the legend.
    setting
        For results with a ``setting`` dimension (a sweep): which setting
        (required when there are several).
    band
        ``"quantiles"`` (default): the median with the 25–75% and 5–95%
        bands. ``"sd"``: the mean with a ±1 sd band (clipped at 0).
    log
        Symmetric-log count axis (linear up to 1, logarithmic above, so that
        zero counts stay visible). ``None`` (default): when the plotted values
        span more than :data:`LOG_DECADES` decades.
    layout
        ``"single"``: all species on one axis. ``"panels"``: one axis per
        species. ``"auto"`` (default): panels when the species' largest values
        differ by more than :data:`PANEL_RATIO` times.
    histogram
        Add, per species, a histogram of the final-time values.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if path is not None:
        check_figure_path(path)
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if band not in ("quantiles", "sd"):
        raise ValueError(f"band must be 'quantiles' or 'sd', got {band!r}")
    if layout not in ("auto", "single", "panels"):
        raise ValueError(f"layout must be 'auto', 'single' or 'panels', got {layout!r}")
    reduced = require_results(ds, "plot")
    ds, title_extra = _select_setting(ds, setting)
    available = [n[: -len("_mean")] for n in ds.data_vars if n.endswith("_mean")] if reduced else list(ds.data_vars)
    names = list(species) if species else available
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"species not in the results: {', '.join(unknown)} (have {', '.join(available)})")
    summaries, n, used = _summaries(ds, names, band, samples, reduced=reduced)
    tops = [max(_top(summaries[name]), 1e-300) for name in names]
    panels = layout == "panels" or (layout == "auto" and len(names) > 1 and max(tops) / min(tops) > PANEL_RATIO)
    use_log = _wants_log(list(summaries.values())) if log is None else bool(log)
    histogram = histogram and not reduced
    rows = len(names) if panels else 1
    cols = 2 if histogram else 1
    fig, axes = plt.subplots(rows, cols, figsize=(10.5 + 3 * (cols - 1), 3.2 * rows + 1.3), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1]} if histogram else None)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    t = ds["time"].values
    for k, name in enumerate(names):
        ax = axes[k if panels else 0, 0]
        c = colors[k % len(colors)]
        s = summaries[name]
        for low, high, label, alpha in s.bands:
            ax.fill_between(t, low, high, color=c, alpha=alpha, lw=0, label=f"{name} {label}")
        for i, p in enumerate(s.paths):
            ax.step(t, p, where="post", color=c, lw=0.7, alpha=0.8, ls="--",
                    label=f"{name} sample paths ({len(s.paths)}, across the final values)" if i == 0 else None)
        if s.steps:
            ax.step(t, s.center, where="post", color=c, lw=2, label=f"{name} ({s.label})")
        else:
            ax.plot(t, s.center, color=c, lw=2, label=f"{name} {s.label}" if s.label != "deterministic"
                    else f"{name} (deterministic)")
        if histogram and s.final is not None:
            hax = axes[k if panels else 0, 1]
            finite = s.final[np.isfinite(s.final)]
            lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
            if use_log:
                bins = np.unique(np.geomspace(1, max(2.0, hi + 1), 40).round()) - 1
            elif hi - lo <= 100:
                bins = np.arange(lo, hi + 2) - 0.5  # one bin per count
            else:
                bins = 40
            hax.hist(finite, bins=bins, color=c, alpha=0.5, orientation="horizontal", label=name)
            hax.set_xlabel(f"trajectories at t = {t[-1]:g}")
            if use_log:
                hax.set_yscale("symlog", linthresh=1.0)
    for row in range(rows):
        ax = axes[row, 0]
        if use_log:
            ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylabel("count" + (" (symlog)" if use_log else ""))
        # Outside the axes (right of the histogram, if any): bands and sample paths fill the plot area.
        handles, labels = ax.get_legend_handles_labels()
        axes[row, cols - 1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="x-small",
                                   borderaxespad=0.0)
        if row == rows - 1:
            ax.set_xlabel("time")
    model = ds.attrs.get("model_name") or "model"
    method = ds.attrs.get("method", "")
    if reduced:
        what = f"mean ± sd of {n:,} trajectories"
    elif n == 1:
        what = "deterministic" if summaries[names[0]].label == "deterministic" else "1 trajectory"
    else:
        what = f"{n:,} trajectories" + (f" (statistics from {used:,})" if used < n else "")
    fig.suptitle(f"{model}: {what}, method {method}{title_extra}", fontsize="medium")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
