"""Render the default plots of the built-in models, to look at them.

SIR (the Catalyst tutorial; S is bimodal: about one run in ten has no
outbreak), Lotka–Volterra (a few runs explode: symmetric-log axis), Schlögl
with the deterministic ODE (buffered species of 10^5 next to X: a panel per
species), the toggle switch (two stable states) with a final-value histogram,
and an immigration–death process (unimodal, mean ± sd drawn for contrast).

Run as ``python examples/plot_gallery.py [trajectories] [folder]``
(defaults 2000 and ``gallery/``); it prints the files it wrote.
"""

import sys
from pathlib import Path

import pycrn

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
folder = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("gallery")
folder.mkdir(parents=True, exist_ok=True)

runs = [
    ("sir", dict(saveat=1.0, trajectories=n), {}),
    ("lotka_volterra", dict(trajectories=n), {}),
    ("schlogl", dict(method="ode"), {}),
    ("toggle_switch", dict(trajectories=n), {"histogram": True}),
    ("immigration_death", dict(trajectories=n), {"band": "sd"}),
]
for name, options, plot_options in runs:
    ds = pycrn.simulate(pycrn.models.get(name), seed=1, **options)
    path = folder / f"{name}.png"
    ds.crn.plot(path, **plot_options)
    print(path)
