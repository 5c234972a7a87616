"""Where the shared data-driven kernels pay off against kernels generated per network.

Workload: mass-action networks of m reactions (a reversible chain
X0 <-> X1 <-> ... of m/2 links, 1,000 molecules in X0, k = 1), one
trajectory of the direct method to a time giving ~2 million reactions.
For each m and each kernel kind (``Direct(kernels="generated")`` and
``Direct(kernels="shared")``):

* first call: a fresh process with an empty cache (import, compilation,
  simulation of t = 1); the shared kernels are compiled once per machine,
  so their first call is also timed with the cache warm from another network;
* steady state: million reactions per second, median of 3 runs in a warm process;
  and the rejection-based SSA (always on the shared kernels) for comparison.

    python benchmarks/bench_kernels.py [--sizes 8 16 32 64 128]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_RUN = """
import json, statistics, sys, time
t0 = time.perf_counter()
import pycrn
m, kernels = int(sys.argv[1]), sys.argv[2]
lines = ["@parameters k=1.0", "@species X0=1000"]
for i in range(m // 2):
    lines += [f"k, X{i} --> X{i + 1}", f"k, X{i + 1} --> X{i}"]
net = pycrn.parse("\\n".join(lines))
method = pycrn.methods.RSSA() if kernels == "rssa" else pycrn.methods.Direct(kernels=kernels)
pycrn.simulate(net, tspan=(0, 1), saveat=[0, 1], seed=0, method=method)
first = time.perf_counter() - t0
rates = []
for rep in range(3):
    t = time.perf_counter()
    ds = pycrn.simulate(net, tspan=(0, 1000), saveat=[0, 1000], seed=rep + 1, method=method)
    rates.append(ds.attrs["reactions_fired"] / (time.perf_counter() - t) / 1e6)
print(json.dumps({"first_s": first, "mreactions_per_s": statistics.median(rates)}))
"""


def measure(m: int, kernels: str, cache: str) -> dict:
    env = {**os.environ, "PYCRN_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", _RUN, str(m), kernels], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.split("\n")[-2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[8, 16, 32, 64, 128])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as warm:
        measure(2, "shared", warm)  # the shared kernels, compiled once for every network below
        measure(2, "rssa", warm)
        for m in args.sizes:
            with tempfile.TemporaryDirectory() as cold, tempfile.TemporaryDirectory() as cold2:
                gen = measure(m, "generated", cold)
                shared_cold = measure(m, "shared", cold2)
            shared = measure(m, "shared", warm)
            rssa = measure(m, "rssa", warm)
            rows.append((m, gen, shared_cold, shared, rssa))
            print(json.dumps({"m": m, "generated": gen, "shared_cold": shared_cold, "shared_warm": shared,
                              "rssa_warm": rssa}), flush=True)
    print("\n| reactions | direct, generated: first call s | M reactions/s | direct, shared: first call s "
          "(empty cache) | first call s (kernels cached) | M reactions/s | rssa: M reactions/s |")
    print("|---|---|---|---|---|---|---|")
    for m, gen, sc, sw, rs in rows:
        print(f"| {m} | {gen['first_s']:.1f} | {gen['mreactions_per_s']:.1f} | {sc['first_s']:.1f} | "
              f"{sw['first_s']:.1f} | {sw['mreactions_per_s']:.1f} | {rs['mreactions_per_s']:.1f} |")


if __name__ == "__main__":
    main()
