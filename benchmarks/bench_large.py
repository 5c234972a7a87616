"""Large rule-based networks: pycrn against BioNetGen's run_network and rebop, side by side.

Networks (pycrn.models, BioNetGen .net files from JumpProcesses' benchmark
suite): multistate (9 species / 18 reactions), multisite2 (66 / 288), EGFR
(356 / 3,749), BCR (1,122 / 24,388). Each runs one trajectory from the
file's initial state to a time that makes a run take seconds, saving only
the end state.

Peers, each run the way its users run it:

* ``run_network -p ssa`` (BioNetGen's C simulator, direct Gillespie), one
  process per run; its own "Propagation took" CPU time is the run time, its
  "Initialization" (reading the file, building the update lists) is
  reported apart;
* rebop (Rust; 0.9.2, the newest on PyPI here), its network built through
  its Python API with the same propensities (rebop's mass action is
  ``k x (x-1)``: the rate given is pycrn's per-reaction constant, already
  divided by ``nu!``); building it is reported apart. It runs in its own
  process, cut off after ``--peer-limit`` seconds.

pycrn: ``pycrn.simulate(net, method=...)`` for each of ``--methods``
(default ``auto direct nrm direct_cr rssa rssa_cr``; direct, nrm and direct_cr on their default kernels:
generated for multistate, the shared data-driven kernels above
``SHARED_MIN_REACTIONS``). "first call" is a fresh process with an empty
compilation cache running the default method (auto): import, load,
compile, simulate. Steady state: the median of ``--repeats`` runs
(different seeds) in a warm process.

    python benchmarks/bench_large.py                 # all four networks
    python benchmarks/bench_large.py --quick         # shorter horizons, no BCR
    python benchmarks/bench_large.py --busy          # again with the other core busy
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Network -> end time (a few seconds of simulation each).
HORIZONS = {"multistate": 600.0, "multisite2": 100.0, "egfr": 12.0, "bcr": 3.0}
QUICK = {"multistate": 100.0, "multisite2": 20.0, "egfr": 2.0}
FILES = {"multistate": "multistate.net", "multisite2": "multisite2.net", "egfr": "egfr_net.net", "bcr": "BCR.net"}

_FIRST_CALL = """
import sys, time
t0 = time.perf_counter()
import pycrn
net = pycrn.models.get(sys.argv[1])
t1 = time.perf_counter()
ds = pycrn.simulate(net, tspan=(0, float(sys.argv[2])), saveat=[0, float(sys.argv[2])], seed=1, method=sys.argv[3])
t2 = time.perf_counter()
# VmHWM is this process's own peak; ru_maxrss would also count the parent's resident size at the fork.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(t1 - t0, t2 - t1, ds.attrs["reactions_fired"], peak / 1024)
"""


def first_call(name: str, tf: float, method: str) -> dict:
    """A fresh process with an empty cache: (import + load) seconds, simulate seconds, peak MiB."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYCRN_CACHE_DIR": cache}
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _FIRST_CALL, name, str(tf), method], env=env,
                             capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
    load_s, sim_s, fired, peak = out.stdout.split()
    return {"first_call_s": wall, "load_s": float(load_s), "first_simulate_s": float(sim_s), "peak_mib": float(peak)}


def pycrn_steady(name: str, tf: float, method: str, repeats: int) -> dict:
    import pycrn

    net = pycrn.models.get(name)
    pycrn.simulate(net, tspan=(0, tf / 100), saveat=[0, tf / 100], seed=0, method=method)  # compiled, warm
    times, fired = [], []
    for rep in range(repeats):
        t = time.perf_counter()
        ds = pycrn.simulate(net, tspan=(0, tf), saveat=[0, tf], seed=rep + 1, method=method)
        times.append(time.perf_counter() - t)
        fired.append(ds.attrs["reactions_fired"])
    return {"median_s": statistics.median(times), "reactions": statistics.median(fired), "method": ds.attrs["method"]}


def run_network_binary() -> Path | None:
    try:
        import bionetgen
    except ImportError:
        return None
    path = Path(bionetgen.__file__).parent / "bng-linux" / "bin" / "run_network"
    return path if path.exists() else None


def bionetgen_steady(name: str, tf: float, repeats: int) -> dict | None:
    binary = run_network_binary()
    if binary is None:
        return None
    from importlib.resources import files

    net_file = str(files("pycrn") / "data" / "bionetgen" / FILES[name])
    prop, init, steps, walls = [], [], [], []
    with tempfile.TemporaryDirectory() as out:
        for rep in range(repeats):
            t = time.perf_counter()
            done = subprocess.run([str(binary), "-o", f"{out}/r", "-p", "ssa", "-h", str(rep + 1), net_file,
                                   str(tf), "1"], capture_output=True, text=True, check=True)
            walls.append(time.perf_counter() - t)
            text = done.stdout + done.stderr
            prop.append(float(re.search(r"Propagation took\s+([0-9.e+-]+)", text).group(1)))
            init.append(float(re.search(r"Initialization took\s+([0-9.e+-]+)", text).group(1)))
            steps.append(int(re.search(r"TOTAL STEPS:\s+(\d+)", text).group(1)))
    return {"median_s": statistics.median(prop), "init_s": statistics.median(init),
            "process_s": statistics.median(walls), "reactions": statistics.median(steps)}


_REBOP = """
import json, statistics, sys, time
import rebop
import pycrn
from pycrn.network_arrays import rate_constants

name, tf, repeats = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
net = pycrn.models.get(name)
t = time.perf_counter()
k = rate_constants(net, net.parameter_values())
g = rebop.Gillespie()
for j, r in enumerate(net.reactions):
    g.add_reaction(float(k[j]), [s for s, nu in r.reactants for _ in range(nu)],
                   [s for s, nu in r.products for _ in range(nu)])
init = dict(zip(net.species_names, net.initial_state().tolist()))
build = time.perf_counter() - t
times = []
for rep in range(repeats):
    t = time.perf_counter()
    g.run(init, tf, 1, rng=rep + 1)
    times.append(time.perf_counter() - t)
    print(json.dumps({"median_s": statistics.median(times), "build_s": build, "runs": len(times)}), flush=True)
"""


def rebop_steady(name: str, tf: float, repeats: int, limit_s: float) -> dict | None:
    """rebop in its own process; runs past ``limit_s`` in all are cut off and reported as such."""
    try:
        import rebop  # noqa: F401
    except ImportError:
        return None
    try:
        out = subprocess.run([sys.executable, "-c", _REBOP, name, str(tf), str(repeats)], capture_output=True,
                             text=True, timeout=limit_s)
        lines = out.stdout.splitlines()
    except subprocess.TimeoutExpired as exc:
        raw = exc.stdout or b""
        lines = (raw.decode() if isinstance(raw, bytes) else raw).splitlines()
        if not lines:
            return {"median_s": None, "over_s": limit_s}
    return json.loads(lines[-1])


def _burn() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter horizons, without BCR")
    parser.add_argument("--busy", action="store_true", help="repeat with a CPU-bound process on the other core")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--networks", nargs="*", default=None)
    parser.add_argument("--methods", nargs="*", default=["auto", "direct", "nrm", "direct_cr", "rssa", "rssa_cr"])
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--peer-limit", type=float, default=300.0, help="seconds before a peer's runs are cut off")
    args = parser.parse_args()
    horizons = QUICK if args.quick else HORIZONS
    names = args.networks or list(horizons)
    rows = []
    for label, busy in [("idle machine", False)] + ([("other core busy", True)] if args.busy else []):
        burner = _burn() if busy else None
        try:
            for name in names:
                tf = horizons.get(name, HORIZONS[name])
                row = {"load": label, "network": name, "tf": tf, **first_call(name, tf, "auto")}
                row["pycrn"] = {m: pycrn_steady(name, tf, m, args.repeats) for m in args.methods}
                row["run_network"] = bionetgen_steady(name, tf, args.repeats)
                row["rebop"] = rebop_steady(name, tf, args.repeats, args.peer_limit)
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            if burner is not None:
                burner.kill()
    print("\n| load | network | t | reactions | " + " | ".join(f"pycrn {m} s" for m in args.methods)
          + " | run_network s (init) | rebop s (build) | pycrn auto / faster peer | first call s (load, simulate) "
          "| peak MiB |")
    print("|---" * (9 + len(args.methods)) + "|")
    for r in rows:
        peers = [p["median_s"] for p in (r["run_network"], r["rebop"]) if p and p["median_s"] is not None]
        auto = r["pycrn"].get("auto") or next(iter(r["pycrn"].values()))
        ratio = f"{auto['median_s'] / min(peers):.2f}" if peers else "–"
        bng = f"{r['run_network']['median_s']:.2f} ({r['run_network']['init_s']:.2f})" if r["run_network"] else "–"
        if not r["rebop"]:
            reb = "–"
        elif r["rebop"]["median_s"] is None:
            reb = f"> {r['rebop']['over_s']:.0f} (cut off)"
        else:
            reb = f"{r['rebop']['median_s']:.2f} ({r['rebop']['build_s']:.2f})"
        ours = " | ".join(f"{r['pycrn'][m]['median_s']:.2f}" for m in args.methods)
        print(f"| {r['load']} | {r['network']} | {r['tf']:g} | {auto['reactions']:,.0f} | {ours} | {bng} | {reb} | "
              f"{ratio} | {r['first_call_s']:.1f} ({r['load_s']:.1f}, {r['first_simulate_s']:.1f}) | "
              f"{r['peak_mib']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
