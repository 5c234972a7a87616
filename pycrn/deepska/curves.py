"""How closely SDnet's curves follow a Monte Carlo reference: two criteria, side by side.

The DeepSKA paper (Badolle, Theuer, Fang, Gupta & Khammash, "Interpretable
neural approximation of stochastic reaction dynamics with guaranteed
reliability", 2025) plots SDnet's mean curves against the 95% confidence band
of 50,000 SSA samples. With that many samples the band is a fraction of a
percent wide, so it measures SDnet's error against the Monte Carlo error of a
very large reference: a curve equal to the true mean lies inside it about 95%
of the time, and a curve 1% off almost never. The authors' own analysis code
(``compare_nn_expectation_with_ssa_tolerance`` in their pipeline) counts
instead the times at which SDnet lies within +-5% of SSA's mean, a tolerance
fixed in relative terms. Both are reported here, within and beyond the
training horizon.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def agreement(sdnet_curve: xr.DataArray, ssa: xr.Dataset, tolerance: float = 0.05,
              horizon: float | None = None) -> xr.Dataset:
    """Share of times at which SDnet's curve agrees with an SSA estimate, per output.

    Parameters
    ----------
    sdnet_curve
        ``SDnet.predict(x0, times)``: dims (output, time).
    ssa
        ``estimate(net, None, x0, times, n, "ssa", outputs=...)`` on the same
        outputs and times (its ``estimate``, ``ci_low`` and ``ci_high``).
    tolerance
        Relative half-width of the tolerance band: SDnet agrees at a time if
        ``|U - m| <= tolerance * |m|`` with ``m`` SSA's mean (the DeepSKA
        authors' check uses 0.05). Where ``m`` is 0 only ``U = 0`` agrees, as
        in their code.
    horizon
        The training horizon T; if given, the shares are also reported for
        ``t <= T`` and ``t > T`` separately (NaN where no time falls).

    Returns
    -------
    xarray.Dataset
        Per output: ``inside_ci`` (share of times inside SSA's 95% interval),
        ``within_tolerance`` (share within the tolerance band),
        ``miss_half_widths`` (median of ``|U - m|`` over the interval's
        half-width: 1 is the interval's edge) and ``max_relative_error``
        (largest ``|U - m| / |m|`` over times where ``m`` is not 0); with
        ``horizon``, also ``inside_ci_within_horizon``,
        ``inside_ci_beyond_horizon``, ``within_tolerance_within_horizon`` and
        ``within_tolerance_beyond_horizon``.
    """
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a non-negative relative half-width, got {tolerance!r}")
    for name in ("estimate", "ci_low", "ci_high"):
        if name not in ssa:
            raise ValueError(f"the SSA reference has no {name!r}: pass the Dataset that deepska.estimate returns")
    outputs = [str(o) for o in sdnet_curve["output"].values]
    missing = [o for o in outputs if o not in set(map(str, ssa["output"].values))]
    if missing:
        raise ValueError(f"the SSA reference has no output {missing[0]!r} (it has {list(map(str, ssa['output'].values))})")
    times = np.asarray(sdnet_curve["time"].values, dtype=float)
    ref = ssa.sel(output=outputs)
    if ref["time"].size != times.size or not np.allclose(np.asarray(ref["time"].values, dtype=float), times):
        raise ValueError("SDnet's curve and the SSA reference must be given at the same times")
    u = np.asarray(sdnet_curve.transpose("output", "time").values, dtype=float)
    mean = np.asarray(ref["estimate"].transpose("output", "time").values, dtype=float)
    low = np.asarray(ref["ci_low"].transpose("output", "time").values, dtype=float)
    high = np.asarray(ref["ci_high"].transpose("output", "time").values, dtype=float)
    gap = np.abs(u - mean)
    inside = (u >= low) & (u <= high)
    within = gap <= tolerance * np.abs(mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        miss = np.where(high > low, gap / ((high - low) / 2), np.where(gap == 0, 0.0, np.inf))
        rel = np.where(mean != 0, gap / np.abs(mean), np.nan)
    data = {
        "inside_ci": inside.mean(1),
        "within_tolerance": within.mean(1),
        "miss_half_widths": np.median(miss, 1),
        "max_relative_error": np.array([np.nanmax(r) if np.any(np.isfinite(r)) else np.nan for r in rel]),
    }
    if horizon is not None:
        early = times <= horizon * (1 + 1e-12)
        for label, part in (("within_horizon", early), ("beyond_horizon", ~early)):
            for name, hits in (("inside_ci", inside), ("within_tolerance", within)):
                data[f"{name}_{label}"] = hits[:, part].mean(1) if part.any() else np.full(len(outputs), np.nan)
    ds = xr.Dataset({k: ("output", np.asarray(v, dtype=float)) for k, v in data.items()}, coords={"output": outputs})
    ds.attrs.update(tolerance=float(tolerance), times=int(times.size),
                    **({"horizon": float(horizon)} if horizon is not None else {}))
    return ds
