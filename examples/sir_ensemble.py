"""Quick start: an SIR ensemble, saved to netCDF and plotted.

Run as ``python examples/sir_ensemble.py [trajectories] [output-dir]``.
"""

import sys
from pathlib import Path

import pycrn

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("out")
out.mkdir(parents=True, exist_ok=True)

net = pycrn.parse(
    """
    @parameters beta=1e-4 nu=0.01
    @species S=999 I=1 R=0
    beta, S + I --> 2I
    nu, I --> R
    """
)
ds = pycrn.simulate(net, tspan=(0.0, 250.0), saveat=1.0, trajectories=n, seed=42)
ds.to_netcdf(out / "sir.nc")

stats = pycrn.summary(ds)
peak = stats["I_mean"].idxmax("time").item()
print(f"{n} trajectories, {ds.attrs['reactions_fired']:,} reactions")
print(f"mean infected peaks at t = {peak:.0f} with {stats['I_mean'].max().item():.1f} infected")
print(f"fraction of outbreaks that die out early: {(ds['R'].isel(time=-1) < 50).mean().item():.3f}")

from pycrn.plotting import plot_ensemble  # noqa: E402

plot_ensemble(ds, out / "sir.png")
print(f"wrote {out / 'sir.nc'} and {out / 'sir.png'}")
