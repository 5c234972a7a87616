"""Ensembles at scale: Dask + Zarr against in-memory threads, peak memory, moments at 10^7.

Workload: the tutorial SIR (pycrn.models.sir), saved every 1.0 to t = 250
(251 times, 3 species), seed 1.

Phases, each in a fresh process so that its peak resident memory is its own:

* ``simulate``: ``pycrn.simulate(..., threads=2)``, the whole int64 result in memory;
* ``threads-store``: ``pycrn.ensemble(store=...)`` on 2 local threads;
* ``dask-store``: ``pycrn.ensemble(store=..., client=...)`` on a LocalCluster of
  2 worker processes with one thread each;
* ``dask-moments``: ``reduce="moments"`` on the same cluster (no trajectories stored).

Reported: wall time (compilation and cluster start apart: workers are warmed
up before the clock starts), trajectories per second, the ratio of per-trajectory
throughput to ``simulate``'s, the peak RSS of the client and of each worker, and
the store's size on disk. ``--busy`` runs everything again with a CPU-bound
process occupying one of the two cores.

    python benchmarks/bench_ensemble.py                 # 10^6 to Zarr, moments at 10^6 and 10^7
    python benchmarks/bench_ensemble.py --quick         # 10^5 / 10^6: a few minutes
    python benchmarks/bench_ensemble.py --busy          # also with the other core busy
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KW = dict(saveat=1.0, seed=1)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm(n_traj: int = 4) -> str:
    """Load pycrn's compiled SIR kernels in this process (run on each worker before timing)."""
    import pycrn

    pycrn.simulate(pycrn.models.sir(), trajectories=n_traj, **KW)
    return "ok"


def _worker_peaks(client) -> list[float]:
    return sorted(client.run(_peak_mib).values())


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def phase(name: str, n: int, workdir: Path) -> dict:
    """Run one phase in this process; returns its measurements."""
    import pycrn

    net = pycrn.models.sir()
    _warm()
    out: dict = {"phase": name, "n": n}
    if name == "simulate":
        start = time.perf_counter()
        ds = pycrn.simulate(net, trajectories=n, threads=2, **KW)
        out["wall_s"] = time.perf_counter() - start
        out["bytes"] = int(sum(v.nbytes for v in ds.data_vars.values()))
    elif name == "threads-store":
        store = workdir / f"threads-{n}.zarr"
        start = time.perf_counter()
        ds = pycrn.ensemble(net, trajectories=n, threads=2, store=store, progress=False, **KW)
        out["wall_s"] = time.perf_counter() - start
        out["chunk"] = ds.attrs["chunk"]
        out["store_bytes"] = _du(store)
    else:
        from distributed import Client, LocalCluster

        start = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=50) as cluster, Client(cluster) as client:
            client.run(_warm)
            out["cluster_start_s"] = time.perf_counter() - start
            store = workdir / f"{name}-{n}.zarr"
            start = time.perf_counter()
            reduce = "moments" if name == "dask-moments" else None
            ds = pycrn.ensemble(net, trajectories=n, client=client, store=store, reduce=reduce, progress=False,
                                **KW)
            out["wall_s"] = time.perf_counter() - start
            out["worker_peak_mib"] = _worker_peaks(client)
            out["chunk"] = ds.attrs["chunk"]
            out["store_bytes"] = _du(store)
            if reduce:
                out["I_mean_max"] = float(ds["I_mean"].max())
    out["client_peak_mib"] = _peak_mib()
    out["traj_per_s"] = n / out["wall_s"]
    return out


def run_phase(name: str, n: int, workdir: Path) -> dict:
    """Run a phase in a fresh interpreter and parse its JSON line."""
    proc = subprocess.run([sys.executable, __file__, "--phase", name, "-n", str(n), "--workdir", str(workdir)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"phase {name} n={n} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _burn() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def report(rows: list[dict], label: str) -> None:
    base = {r["n"]: r["traj_per_s"] for r in rows if r["phase"] == "simulate"}
    print(f"\n## {label}\n")
    print("| phase | trajectories | wall s | traj/s | ratio to simulate | chunk | client peak MiB | "
          "worker peaks MiB | store MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = base.get(r["n"])
        ratio = f"{r['traj_per_s'] / ref:.2f}" if ref and r["phase"] != "simulate" else "–"
        workers = ", ".join(f"{w:.0f}" for w in r.get("worker_peak_mib", [])) or "–"
        store = f"{r['store_bytes'] / 2**20:.0f}" if "store_bytes" in r else "–"
        print(f"| {r['phase']} | {r['n']:,} | {r['wall_s']:.1f} | {r['traj_per_s']:,.0f} | {ratio} | "
              f"{r.get('chunk', '–')} | {r['client_peak_mib']:.0f} | {workers} | {store} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help="where stores are written (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="10^5 trajectories to Zarr, moments at 10^5 and 10^6")
    parser.add_argument("--busy", action="store_true", help="repeat with a CPU-bound process on the other core")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.n, Path(args.workdir))))
        return
    big = 10**5 if args.quick else 10**6
    moments_sizes = (big, 10 * big)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="pycrn-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"pycrn ensemble benchmark: SIR saved every 1.0 to t = 250; {os.cpu_count()} cores; stores in {workdir}")
    loads = [("idle machine", False)] + ([("other core busy", True)] if args.busy else [])
    for label, busy in loads:
        burner = _burn() if busy else None
        try:
            rows = [run_phase("simulate", big, workdir), run_phase("threads-store", big, workdir),
                    run_phase("dask-store", big, workdir)]
            rows += [run_phase("dask-moments", n, workdir) for n in moments_sizes]
        finally:
            if burner is not None:
                burner.kill()
        report(rows, label)
        for path in workdir.glob("*.zarr"):
            shutil.rmtree(path)


if __name__ == "__main__":
    main()
