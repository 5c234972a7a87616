"""First-call latency: import, compilation (or cache load) and a small simulation, per method and model.

Each cell is one fresh Python process: ``cold`` with an empty cache folder
(``PYCRN_CACHE_DIR`` set to a new directory, so numba compiles everything the
call needs), ``warm`` a second process with the same folder (everything
loaded from numba's cache). The work itself is small (100 trajectories of
the model's default time span; 1 for the ODE), so the figures are the fixed
cost a new user meets. ``import`` is the time of ``import pycrn`` alone.
``volume`` is a third process with the same cache running the same model
with ``volume=10`` (what a first ``--volume`` costs once the model is
compiled).

``--pythonpath DIR`` runs another checkout's pycrn (e.g. a ``git worktree``
of an older commit), for before/after figures in one session.

    python benchmarks/bench_first_call.py [--models sir approximate_majority] [--methods direct ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CODE = """
import time
t0 = time.perf_counter()
import pycrn
t1 = time.perf_counter()
net = pycrn.models.get({model!r})
method = pycrn.methods.resolve({method!r}, dt={dt!r}) if {method!r} == "simple_tau_leaping" else {method!r}
pycrn.simulate(net, method=method, trajectories={n}, seed=1, volume={volume!r})
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""

METHODS = ("direct", "sorting_direct", "nrm", "tau_leaping", "simple_tau_leaping", "batched", "ode")


def once(model: str, method: str, cache: str, dt: float, volume: float | None = None,
         pythonpath: str | None = None) -> tuple[float, float]:
    code = CODE.format(model=model, method=method, dt=dt, n=1 if method == "ode" else 100, volume=volume)
    env = {**os.environ, "PYCRN_CACHE_DIR": cache, "PYCRN_QUIET": "1"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    # In the other checkout's folder: ``python -c`` puts the working folder first on the path.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=pythonpath)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1])
    imported, call = (float(v) for v in out.stdout.split())
    return imported, call


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["sir", "approximate_majority"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--dt", type=float, default=0.001, help="the step of simple_tau_leaping (default 0.001)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--pythonpath", default=None, help="run the pycrn found in this folder instead")
    args = ap.parse_args()
    rows = []
    print(f"{'model':22s} {'method':20s} {'import':>7s} {'cold call':>10s} {'warm call':>10s} {'volume':>8s}  (s)")
    for model in args.models:
        for method in args.methods:
            with tempfile.TemporaryDirectory() as cache:
                try:
                    imported, cold = once(model, method, cache, args.dt, pythonpath=args.pythonpath)
                    _, warm = once(model, method, cache, args.dt, pythonpath=args.pythonpath)
                    _, volume = once(model, method, cache, args.dt, 10.0, args.pythonpath)
                except RuntimeError as exc:
                    print(f"{model:22s} {method:20s} failed: {exc}", flush=True)
                    continue
            rows.append(dict(model=model, method=method, import_s=imported, cold_s=cold, warm_s=warm,
                             volume_s=volume))
            print(f"{model:22s} {method:20s} {imported:7.2f} {cold:10.2f} {warm:10.2f} {volume:8.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
