"""Hybrid ODE/jump simulation: pycrn ``hybrid`` against pycrn ``direct`` and GillesPy2's TauHybridSolver.

The workload: gene expression with an abundant mRNA,

    km, 0 --> M      dm, M --> 0      kp, M --> M + P      dp, P --> 0

with km = M0 * dm, so that M holds about ``M0`` molecules (default 10^5 and
10^6, ``--sizes``) and turns over ``2 km`` times per unit time, while the
protein P (translation rate kp = 20 / M0, so about 20 per unit time;
dp = 0.2) stays near 100 molecules. Every tool simulates M continuously
(pycrn: ``Hybrid(continuous=("M",))``; GillesPy2: ``mode="continuous"``)
except the exact SSA, which fires every mRNA event. t in [0, 10], 101 save
points, ``--trajectories`` trajectories per run; each tool runs
``--repeats`` times after a warm-up in this one process and the table shows
the median wall time. One-time costs are reported apart: pycrn's numba
compilation (the warm-up call with an empty cache), GillesPy2's model
set-up. The last columns check that the tools agree: mean and variance of
P at t = 10 (the hybrid leaves out the mRNA noise, which adds
kp / (dm + dp) of the mean to the SSA's variance: negligible here).

``--busy`` repeats everything with a CPU-bound process on the other core
(``--busy-only``: only that).

    python benchmarks/bench_hybrid.py                       # M0 = 1e5, 1e6
    python benchmarks/bench_hybrid.py --sizes 1e5 --trajectories 10 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import pycrn

MODEL = """
@parameters km dm=1.0 kp dp=0.2
@species M P=0
km, 0 --> M
dm, M --> 0
kp, M --> M + P
dp, P --> 0
"""
TF = 10.0
POINTS = 101


def _params(m0: float) -> dict:
    return {"km": m0 * 1.0, "kp": 20.0 / m0}


def run_pycrn(method, m0: float, trajectories: int, seed: int) -> np.ndarray:
    ds = pycrn.simulate(pycrn.parse(MODEL), u0={"M": int(m0)}, params=_params(m0), tspan=(0.0, TF),
                        saveat=np.linspace(0, TF, POINTS), trajectories=trajectories, seed=seed, method=method)
    return ds["P"].values[:, -1]


class GillesPy2Hybrid:
    """GillesPy2's TauHybridSolver with M continuous and P discrete."""

    def __init__(self, m0: float):
        os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        import gillespy2

        t = time.perf_counter()
        p = _params(m0)
        model = gillespy2.Model(name="gene_expression")
        pars = {name: gillespy2.Parameter(name=name, expression=value)
                for name, value in {"km": p["km"], "dm": 1.0, "kp": p["kp"], "dp": 0.2}.items()}
        model.add_parameter(list(pars.values()))
        m = gillespy2.Species(name="M", initial_value=int(m0), mode="continuous")
        prot = gillespy2.Species(name="P", initial_value=0, mode="discrete")
        model.add_species([m, prot])
        model.add_reaction([
            gillespy2.Reaction(name="make_m", reactants={}, products={m: 1}, rate=pars["km"]),
            gillespy2.Reaction(name="lose_m", reactants={m: 1}, products={}, rate=pars["dm"]),
            gillespy2.Reaction(name="make_p", reactants={m: 1}, products={m: 1, prot: 1}, rate=pars["kp"]),
            gillespy2.Reaction(name="lose_p", reactants={prot: 1}, products={}, rate=pars["dp"]),
        ])
        model.timespan(np.linspace(0, TF, POINTS))
        self.model = model
        self.solver = gillespy2.TauHybridSolver(model=model)
        self.setup_s = time.perf_counter() - t

    def run(self, trajectories: int, seed: int) -> np.ndarray:
        results = self.model.run(solver=self.solver, number_of_trajectories=trajectories, seed=seed)
        return np.array([np.asarray(tr["P"])[-1] for tr in results])


def _median_time(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, last = [], None
    for r in range(repeats):
        t = time.perf_counter()
        last = fn(r)
        times.append(time.perf_counter() - t)
    return statistics.median(times), last


def _burn() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e5,1e6", help="mRNA copy numbers M0, comma-separated")
    parser.add_argument("--trajectories", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", action="store_true", help="repeat with a CPU-bound process on the other core")
    parser.add_argument("--busy-only", action="store_true", help="only the run with the other core busy")
    parser.add_argument("--skip-gillespy2", action="store_true")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    n = args.trajectories
    hybrid = pycrn.methods.Hybrid(continuous=("M",))

    # Compilation, apart: a fresh cache, one trajectory each.
    os.environ["PYCRN_CACHE_DIR"] = tempfile.mkdtemp(prefix="pycrn-bench-hybrid-")
    compile_s = {}
    for label, method in (("pycrn hybrid", hybrid), ("pycrn direct", "direct")):
        t = time.perf_counter()
        run_pycrn(method, 1e3, 1, 0)
        compile_s[label] = time.perf_counter() - t
    print("one-time costs: " + ", ".join(f"{k} first call {v:.1f} s" for k, v in compile_s.items()))

    rows = []
    loads = [("idle machine", False)] + ([("other core busy", True)] if args.busy else [])
    if args.busy_only:
        loads = [("other core busy", True)]
    for load, busy in loads:
        burner = _burn() if busy else None
        try:
            print(f"\n{load}: {n} trajectories, t in [0, {TF:g}], median of {args.repeats}")
            print(f"{'M0':>8} {'tool':>24} {'time (s)':>10} {'per traj (ms)':>14} {'x vs hybrid':>12} "
                  f"{'mean P(10)':>11} {'var P(10)':>10}")
            for m0 in sizes:
                tools = [("pycrn hybrid", lambda r, m0=m0: run_pycrn(hybrid, m0, n, 100 + r)),
                         ("pycrn direct (exact)", lambda r, m0=m0: run_pycrn("direct", m0, n, 200 + r))]
                if not args.skip_gillespy2:
                    peer = GillesPy2Hybrid(m0)
                    peer.run(1, 1)  # warm-up
                    tools.append(("gillespy2 TauHybridSolver", lambda r, peer=peer: peer.run(n, 300 + r)))
                base = None
                for name, fn in tools:
                    fn(-1) if name.startswith("pycrn") else None  # warm-up (loads the compiled kernels)
                    seconds, p = _median_time(fn, args.repeats)
                    base = seconds if base is None else base
                    row = dict(load=load, m0=m0, tool=name, seconds=seconds, trajectories=n,
                               mean_p=float(np.mean(p)), var_p=float(np.var(p, ddof=1)) if p.size > 1 else 0.0)
                    rows.append(row)
                    print(f"{m0:>8.0e} {name:>24} {seconds:>10.3f} {1e3 * seconds / n:>14.2f} "
                          f"{seconds / base:>12.1f} {row['mean_p']:>11.1f} {row['var_p']:>10.1f}")
        finally:
            if burner is not None:
                burner.kill()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"compile_s": compile_s, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
