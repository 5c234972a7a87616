"""Exact SSA speed: pycrn against rebop and GillesPy2 (C++ SSA), side by side in one run.

Workloads (issue #2):

* ``sir``: the tutorial SIR, 10,000 trajectories saved every 1.0 to t = 250;
* ``dimerisation``: 0 -> A (100), A -> 0 (1), 2A -> B (0.001), B -> 2A (0.1),
  10,000 trajectories to t = 100, saved every 1.0;
* ``gene_cascade``: 24 species and 48 reactions with Hill-repressed
  transcription (the dependency graph matters), 200 trajectories to t = 100
  (rebop evaluates its string rate laws at about 1 M reactions/s).

rebop is timed twice: ``rebop`` keeps each trajectory's result (what a user
needs), ``rebop-bare`` discards them (the loop alone, its floor; ratios
against it are the strict comparison). For every tool the one-time cost
(pycrn: numba compilation, in a fresh process with an empty cache and then
with a warm cache; GillesPy2: its C++ build) is reported apart from the
steady-state time, the median of ``--repeats`` runs. Ratios are pycrn's
steady-state time over the peer's.

Usage::

    python benchmarks/bench_ssa.py [--repeats 3] [--scale 1.0] [--only sir,dimerisation]
        [--peers rebop-bare,rebop,gillespy2] [--json benchmarks/results/ssa.json]
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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from peers import GillesPy2, Rebop, RebopBare  # noqa: E402

import pycrn  # noqa: E402

WORKLOADS = {
    "sir": dict(model="sir", tspan=(0.0, 250.0), saveat=1.0, trajectories=10_000),
    "dimerisation": dict(model="dimerisation", tspan=(0.0, 100.0), saveat=1.0, trajectories=10_000),
    # 200 trajectories: rebop evaluates string rate laws at about 1 M reactions/s here.
    "gene_cascade": dict(model="gene_cascade", tspan=(0.0, 100.0), saveat=1.0, trajectories=200),
}
PEERS = {"rebop-bare": RebopBare, "rebop": Rebop, "gillespy2": GillesPy2}

_FIRST_CALL = """
import json, sys, time
t = time.perf_counter()
import pycrn
t_import = time.perf_counter() - t
net = pycrn.models.get({model!r})
t = time.perf_counter()
ds = pycrn.simulate(net, tspan={tspan!r}, saveat={saveat!r}, trajectories=1000, seed=1, threads=1, method={method!r})
print(json.dumps({{"import_s": t_import, "first_call_s": time.perf_counter() - t}}))
"""


def first_call(work: dict, method: str) -> dict:
    """First 1,000-trajectory call in a new process: empty cache, then warm cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYCRN_CACHE_DIR": cache}
        code = _FIRST_CALL.format(method=method, **{k: work[k] for k in ("model", "tspan", "saveat")})
        out = {}
        for label in ("cold_cache", "warm_cache"):
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            out[label] = json.loads(res.stdout.strip().splitlines()[-1])
        return out


def timed(fn, repeats: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply trajectory counts")
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--methods", default="direct,sorting_direct")
    ap.add_argument("--json", default=None, help="write all figures to this file")
    args = ap.parse_args()

    results = []
    for wname in args.only.split(","):
        work = WORKLOADS[wname]
        net = pycrn.models.get(work["model"])
        n = max(1, int(work["trajectories"] * args.scale))
        npoints = int(round((work["tspan"][1] - work["tspan"][0]) / work["saveat"])) + 1
        print(f"\n== {wname}: {len(net.species)} species, {len(net.reactions)} reactions, {n} trajectories")
        rows = []
        for method in args.methods.split(","):
            fc = first_call(work, method)
            kw = dict(tspan=work["tspan"], saveat=work["saveat"], trajectories=n, method=method)
            pycrn.simulate(net, **{**kw, "trajectories": 10}, seed=0)  # compile (cached on disk)
            for threads in (1, 2):
                med, all_t, ds = timed(lambda net=net, kw=kw, threads=threads: pycrn.simulate(net, **kw, seed=1, threads=threads), args.repeats)
                rows.append(
                    dict(tool=f"pycrn {method}", threads=threads, median_s=med, times_s=all_t,
                         reactions=ds.attrs["reactions_fired"], first_call=fc,
                         mean_final=float(ds[net.species_names[0]][:, -1].mean()))
                )
        for pname in args.peers.split(","):
            t = time.perf_counter()
            peer = PEERS[pname](net, work["tspan"], npoints)
            setup = time.perf_counter() - t
            peer.run(min(n, 10), seed=7)  # warm-up
            med, all_t, out = timed(lambda peer=peer, n=n: peer.run(n, seed=1), args.repeats)
            rows.append(dict(tool=pname, threads=1, median_s=med, times_s=all_t, setup_s=setup,
                             compile_s=peer.compile_s, mean_final=float(peer.to_array(out)[0, :, -1].mean())))
        ref = {r["tool"]: r["median_s"] for r in rows if r["threads"] == 1 and not r["tool"].startswith("pycrn")}
        reactions = next(r["reactions"] for r in rows if "reactions" in r)
        print(f"{'tool':24s} {'thr':>3s} {'median s':>9s} {'Mreact/s':>9s}  " + "  ".join(f"vs {p:>9s}" for p in ref))
        for r in rows:
            ratios = "  ".join(f"{r['median_s'] / v:12.2f}" for v in ref.values())
            print(f"{r['tool']:24s} {r['threads']:3d} {r['median_s']:9.3f} {reactions / r['median_s'] / 1e6:9.1f}  {ratios}"
                  f"   (mean final {net.species_names[0]}: {r['mean_final']:.2f})")
        for r in rows:
            if "first_call" in r and r["threads"] == 1:
                fc = r["first_call"]
                print(f"{r['tool']}: first 1,000-trajectory call in a new process: "
                      f"{fc['cold_cache']['first_call_s']:.2f} s with an empty cache (compile included), "
                      f"{fc['warm_cache']['first_call_s']:.2f} s with a warm cache; import {fc['warm_cache']['import_s']:.2f} s")
            if "compile_s" in r and r["compile_s"]:
                print(f"{r['tool']}: one-time C++ build {r['compile_s']:.2f} s")
        results.append(dict(workload=wname, trajectories=n, rows=rows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
