"""``ds.crn``: pycrn's methods on the xarray Datasets it returns (the xarray accessor convention).

Registered when pycrn is imported::

    ds = pycrn.simulate(net, trajectories=1000, seed=1)
    ds.crn.summary()            # mean and sd per species and time
    ds.crn.plot("sir.png")      # median, quantile bands and sample paths
    ds.crn.to_netcdf("sir.nc")  # compressed, written atomically
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xarray as xr


@xr.register_dataset_accessor("crn")
class CRNAccessor:
    """Methods of pycrn results, reached as ``ds.crn.<method>``."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    @property
    def species(self) -> list[str]:
        """The species variables (integer counts) of the results."""
        return [name for name, var in self._ds.data_vars.items() if var.dtype.kind in "iu"]

    @property
    def provenance(self) -> dict[str, Any]:
        """How the results were made: method, seed, model text, parameters, initial state, pycrn version."""
        keys = ("pycrn_version", "model_name", "method", "method_options", "seed", "backend", "model", "params",
                "u0", "tspan", "volume")
        return {k: self._ds.attrs[k] for k in keys if k in self._ds.attrs}

    def summary(self) -> xr.Dataset:
        """Ensemble mean and sd (ddof 1) of every variable at every saved time; see :func:`pycrn.summary`."""
        from .results import summary

        return summary(self._ds)

    def plot(self, path: str | Path | None = None, **options: Any):
        """Plot the results; options as :func:`pycrn.plotting.plot_ensemble` (band, log, layout, histogram, ...)."""
        from .plotting import plot_ensemble

        return plot_ensemble(self._ds, path, **options)

    def to_netcdf(self, path: str | Path, complevel: int = 4) -> None:
        """Write the results compressed (zlib) and atomically; see :func:`pycrn.save_results`."""
        from .results import save_results

        save_results(self._ds, path, complevel)
