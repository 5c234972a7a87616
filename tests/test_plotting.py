"""Plots that tell the truth about an ensemble, and the ds.crn accessor."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import xarray as xr

import pycrn
from pycrn import plotting


def _bimodal(n: int = 1000) -> xr.Dataset:
    """S falls to ~20 in 90% of runs and stays at ~950 in 10% (as the SIR's susceptibles)."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 10, 11)
    high = rng.random(n) < 0.1
    end = np.where(high, 950, 20) + rng.integers(0, 10, n)
    s = np.rint(1000 + (end[:, None] - 1000) * (t[None, :] / 10)).astype(np.int64)
    return xr.Dataset({"S": (("trajectory", "time"), s)}, coords={"trajectory": np.arange(n), "time": t},
                      attrs={"method": "direct", "model_name": "sir", "seed": 1})


def test_quantile_bands_and_sample_paths_show_both_modes():
    ds = _bimodal()
    summaries, n, used = plotting._summaries(ds, ["S"], "quantiles", 3, reduced=False)
    s = summaries["S"]
    values = ds["S"].values.astype(float)
    np.testing.assert_allclose(s.center, np.median(values, axis=0))
    (q05, q95, label_outer, _), (q25, q75, label_inner, _) = s.bands
    np.testing.assert_allclose(q95, np.quantile(values, 0.95, axis=0))
    assert (label_outer, label_inner) == ("5–95%", "25–75%")
    finals = sorted(p[-1] for p in s.paths)
    assert finals[0] < 40 and finals[-1] > 900  # a run without an outbreak is among the sample paths
    # mean ± sd puts its centre where almost no trajectory is: the quantile summary does not.
    mean = values[:, -1].mean()
    assert np.mean(np.abs(values[:, -1] - mean) < 50) < 0.05 and abs(s.center[-1] - 25) < 10


def test_title_legend_and_log_axis():
    ds = _bimodal()
    fig = plotting.plot_ensemble(ds)
    assert fig._suptitle.get_text() == "sir: 1,000 trajectories, method direct"
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("sample paths" in t for t in texts) and "S median" in texts
    assert fig.axes[0].get_yscale() == "linear"  # 20..1000 spans less than 3 decades
    big = ds.copy()
    big["S"] = ds["S"] ** 3  # 8,000 to 10^9: more than 3 decades
    assert plotting.plot_ensemble(big).axes[0].get_yscale() == "symlog"
    assert plotting.plot_ensemble(big, log=False).axes[0].get_yscale() == "linear"


def test_deterministic_run_is_a_line_called_deterministic_and_scales_get_panels(tmp_path):
    ds = pycrn.simulate(pycrn.models.schlogl(), method="ode")
    fig = plotting.plot_ensemble(ds, tmp_path / "schlogl.png")
    assert "deterministic" in fig._suptitle.get_text() and "1 trajectories" not in fig._suptitle.get_text()
    assert len(fig.axes) == len(ds.data_vars)  # buffered species of 10^5 next to X: a panel each
    labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert all("deterministic" in t for t in labels) and not any("sd" in t for t in labels)
    assert (tmp_path / "schlogl.png").stat().st_size > 10_000


def test_histogram_and_sd_options_and_sweep_setting():
    ds = _bimodal()
    fig = plotting.plot_ensemble(ds, histogram=True)
    assert len(fig.axes) == 2 and fig.axes[1].get_xlabel().startswith("trajectories at t = 10")
    fig = plotting.plot_ensemble(ds, band="sd", samples=0)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["S mean ± sd", "S mean"]
    with pytest.raises(ValueError, match="band must be"):
        plotting.plot_ensemble(ds, band="iqr")


def test_moments_store_plots_mean_and_sd(tmp_path):
    store = tmp_path / "m.zarr"
    pycrn.ensemble(pycrn.models.birth_death(), trajectories=200, seed=1, store=store, reduce="moments")
    fig = plotting.plot_ensemble(pycrn.open_results(store))
    assert "mean ± sd of 200 trajectories" in fig._suptitle.get_text()


def test_accessor(tmp_path):
    ds = pycrn.simulate(pycrn.models.sir(), saveat=5.0, trajectories=300, seed=2)
    assert ds.crn.species == ["S", "I", "R"]
    xr.testing.assert_identical(ds.crn.summary(), pycrn.summary(ds))
    assert ds.crn.provenance["model_name"] == "sir" and ds.crn.provenance["seed"] == 2
    ds.crn.to_netcdf(tmp_path / "c.nc")
    ds.to_netcdf(tmp_path / "plain.nc")
    assert (tmp_path / "c.nc").stat().st_size < 0.5 * (tmp_path / "plain.nc").stat().st_size
    xr.testing.assert_identical(pycrn.open_results(tmp_path / "c.nc").load(), ds)
    assert ds.crn.plot(tmp_path / "sir.png") is not None and (tmp_path / "sir.png").exists()
