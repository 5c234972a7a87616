"""Ten million molecules: the exact batched algorithm, tau-leaping and the mean field.

Lotka-Volterra in volume n (the batss paper's benchmark): R --> 2R, R + F
--> 2F (rate 1 in volume n, so 1/n per pair), F --> 0, from R = F = n/2 to
t = 1. ``batched`` is exact and, at this size, faster than the exact direct
method by an order of magnitude; ``tau_leaping`` is approximate; ``ode`` is
the deterministic limit the others approach as n grows. Run as
``python examples/large_populations.py [n]`` (default 10^7).
"""

import sys
import time

import pycrn

n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**7
net = pycrn.parse("@species R F\n1, R --> 2R\n1, R + F --> 2F\n1, F --> 0")
common = dict(u0={"R": n // 2, "F": n // 2}, tspan=(0.0, 1.0), saveat=[0.0, 1.0], volume=n, seed=1)
print(f"Lotka-Volterra, n = {n:,} molecules, t in [0, 1]")
for method in ("batched", "direct", "tau_leaping", "ode"):
    pycrn.simulate(net, **{**common, "u0": {"R": 500, "F": 500}, "volume": 1000}, method=method)  # compile once
    start = time.perf_counter()
    ds = pycrn.simulate(net, **common, method=method)
    elapsed = time.perf_counter() - start
    r, f = (float(ds[s].values[0, -1]) for s in ("R", "F"))
    extra = f", {ds.attrs['batches']:,} batches" if method == "batched" else ""
    if "reactions_fired" in ds.attrs:
        fired = f"{ds.attrs['reactions_fired']:,} reactions"
    elif method == "tau_leaping":
        fired = f"{ds.attrs['steps']:,} leaps"
    else:
        fired = "deterministic"
    print(f"{method:12s} {elapsed:8.3f} s   R/n = {r / n:.5f}  F/n = {f / n:.5f}   ({fired}{extra})")
