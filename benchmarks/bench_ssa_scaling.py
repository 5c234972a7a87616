"""How the exact SSAs scale with the number of reactions, on a sparse network.

Workload: a reversible chain X0 <-> X1 <-> ... of m/2 links (k = 1, 20
molecules in every species), so every reaction is active and each one
changes at most four propensities: the cost per reaction is the selection,
which is where the methods differ (direct: a linear search, O(m); nrm: a
heap, O(log m); direct_cr and rssa_cr: composition-rejection over binary
exponents, about constant; rssa: a two-level search, O(sqrt m), and
propensities recomputed only when a species leaves its bracket). All run
on the shared data-driven kernels (compiled once, before the clock
starts). One trajectory to a time giving about 500,000 reactions
(``--reactions``; more at 100,000 reactions, where a call's fixed cost is
seconds); million
reactions per second, median of 3 runs with different seeds, after
subtracting the fixed cost of a call (building a Dataset of m/2 + 1 species,
measured as the median of 3 calls with a horizon 1,000 times shorter and
reported apart: 0.5 s at 100,000 reactions).

    python benchmarks/bench_ssa_scaling.py [--sizes 100 1000 10000] [--busy]
    python benchmarks/bench_ssa_scaling.py --sizes 100000 --reactions 3000000 --methods nrm direct_cr rssa rssa_cr
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

METHODS = ("direct", "nrm", "direct_cr", "rssa", "rssa_cr")


def chain(m: int):
    import pycrn

    lines = ["@parameters k=1.0", "@species " + " ".join(f"X{i}=20" for i in range(m // 2 + 1))]
    for i in range(m // 2):
        lines += [f"k, X{i} --> X{i + 1}", f"k, X{i + 1} --> X{i}"]
    return pycrn.parse("\n".join(lines))


def method_object(name: str):
    import pycrn

    cls = pycrn.methods.METHODS[name]
    return cls(kernels="shared") if "kernels" in cls.__dataclass_fields__ else cls()


def _timed(net, method, tf: float, seed: int) -> tuple[float, int]:
    import pycrn

    t = time.perf_counter()
    ds = pycrn.simulate(net, tspan=(0, tf), saveat=[0, tf], seed=seed, method=method)
    return time.perf_counter() - t, ds.attrs["reactions_fired"]


def rate(net, name: str, m: int, repeats: int, reactions: int) -> tuple[float, float]:
    """(million reactions per second net of the call's fixed cost, that fixed cost in seconds)."""
    method = method_object(name)
    # The total propensity is about 20 m (k = 1, 20 molecules per reactant).
    tf = reactions / (20.0 * m)
    _timed(net, method, tf / 100, 0)  # compiled (or loaded from the cache) outside the clock
    fixed = statistics.median(_timed(net, method, tf / 1000, 100 + rep)[0] for rep in range(repeats))
    rates = []
    for rep in range(repeats):
        seconds, fired = _timed(net, method, tf, rep + 1)
        rates.append(fired / max(seconds - fixed, 1e-9) / 1e6)
    return statistics.median(rates), fixed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10_000])
    parser.add_argument("--reactions", type=int, default=500_000, help="reactions per timed run")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", action="store_true", help="also with a CPU-bound process on the other core")
    args = parser.parse_args()
    rows = []
    for label, busy in [("idle", False)] + ([("other core busy", True)] if args.busy else []):
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            for m in args.sizes:
                net = chain(m)
                row = {"load": label, "reactions": m, **{name: rate(net, name, m, args.repeats, args.reactions) for name in args.methods}}
                row["fixed_s"] = row[args.methods[0]][1]
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            if burner is not None:
                burner.kill()
    print("\n| load | reactions | " + " | ".join(args.methods) + " | fixed cost of a call, s |")
    print("|---" * (3 + len(args.methods)) + "|")
    for r in rows:
        print(f"| {r['load']} | {r['reactions']:,} | " + " | ".join(f"{r[n][0]:.2f}" for n in args.methods)
              + f" | {r['fixed_s']:.2f} |")
    print("\n(million reactions per second, net of the fixed cost)")


if __name__ == "__main__":
    main()
