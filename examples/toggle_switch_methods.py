"""A non-mass-action model: the genetic toggle switch, simulated with both exact SSAs.

Compares the ensemble mean and sd of P1 at t = 20 from
``direct`` and ``sorting_direct``. Run as
``python examples/toggle_switch_methods.py [trajectories]``.
"""

import sys

import numpy as np

import pycrn

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
net = pycrn.models.toggle_switch()
print(net)
for method in ("direct", "sorting_direct"):
    ds = pycrn.simulate(net, tspan=(0, 20), saveat=[20.0], trajectories=n, seed=1, method=method)
    p1 = ds["P1"].values[:, -1]
    se = p1.std(ddof=1) / np.sqrt(n)
    print(f"{method:15s} P1(20): mean {p1.mean():7.3f} ± {se:.3f}, sd {p1.std(ddof=1):6.3f}")
