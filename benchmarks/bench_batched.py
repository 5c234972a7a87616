"""Large populations: pycrn ``batched`` against batss, rebop and pycrn ``direct``.

The workloads of the batss paper's benchmark, one trajectory each, in volume n:

* Lotka-Volterra: R + F -> 2F (rate 1, so stochastic constant 1/n),
  R -> 2R (1), F -> 0 (1); R = F = n/2; t in [0, 1].
* approximate majority: A + B -> 2U, A + U -> 2A, B + U -> 2B (rate 1 in
  volume n); A = B = n/2; t in [0, 100].

For each n (default 10^6, 10^7, 10^8) every tool runs ``--repeats`` times
after a warm-up, in this one process, and the table shows the median wall
time, the reactions per second (reactions counted by pycrn's exact run),
and the ratios pycrn/batss and pycrn-batched/pycrn-direct. batss is run as
its own benchmark does it (``simulator_method="crn"``, continuous time,
``volume=n``, construction untimed, ``reset()`` between runs); rebop with
its bare ``Gillespie().gillespie.run`` loop and rates divided by
``n^(order-1)``. One-time costs are reported apart: pycrn's numba
compilation (first call in a new process with an empty cache, and with a
warm disk cache), batss's simulation set-up.

Slow peers at 10^8 (Gillespie-type loops need minutes on approximate
majority) are skipped past ``--max-direct-reactions`` reactions and marked so.

    python benchmarks/bench_batched.py                 # everything
    python benchmarks/bench_batched.py --only lv --sizes 1e6,1e7 --repeats 3
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

import pycrn

WORKLOADS = {
    "lv": dict(
        title="Lotka-Volterra",
        model="@species R F\n1, R + F --> 2F\n1, R --> 2R\n1, F --> 0",
        u0=lambda n: {"R": n // 2, "F": n // 2},
        tf=1.0,
    ),
    "am": dict(
        title="approximate majority",
        model="@species A B U\n1, A + B --> 2U\n1, A + U --> 2A\n1, B + U --> 2B",
        u0=lambda n: {"A": n // 2, "B": n // 2, "U": 0},
        tf=100.0,
    ),
}

_FIRST_CALL = """
import json, time
t = time.perf_counter()
import pycrn
t_import = time.perf_counter() - t
net = pycrn.parse({model!r})
t = time.perf_counter()
pycrn.simulate(net, u0={u0!r}, tspan=(0, {tf!r}), saveat=[0, {tf!r}], volume={n!r}, method="batched", seed=1)
print(json.dumps({{"import_s": t_import, "first_call_s": time.perf_counter() - t}}))
"""


def first_call(work: dict, n: int) -> dict:
    """First call in a new process: with an empty numba cache (compile included), then warm."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYCRN_CACHE_DIR": cache}
        code = _FIRST_CALL.format(model=work["model"], u0=work["u0"](n), tf=work["tf"], n=n)
        out = {}
        for label in ("cold_cache", "warm_cache"):
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            out[label] = json.loads(res.stdout.strip().splitlines()[-1])
        return out


def timed(fn, repeats: int, reset=None) -> tuple[float, list[float], object]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(repeats):
        if reset is not None:
            reset()
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, result


def _order(side) -> int:
    return sum(nu for _, nu in side)


class Batss:
    name = "batss"

    def __init__(self, net: pycrn.ReactionNetwork, u0: dict, n: int, tf: float):
        from batss import Simulation
        from batss.crn import species

        t = time.perf_counter()
        sp = dict(zip(net.species_names, species(" ".join(net.species_names))))
        rxns = []
        for r in net.reactions:
            lhs = _batss_side(sp, r.reactants)
            rhs = _batss_side(sp, r.products)
            rxns.append((lhs >> rhs).k(r.rate.constant_value()))
        self.sim = Simulation(
            {sp[k]: v for k, v in u0.items() if v > 0}, rxns, simulator_method="crn",
            continuous_time=True, seed=1, volume=n,
        )
        self.setup_s = time.perf_counter() - t
        self.tf = tf
        self.sp = sp

    def run(self):
        self.sim.run(self.tf, self.tf, stopping_interval=self.tf, timer=False)
        return {name: self.sim.config_dict.get(s, 0) for name, s in self.sp.items()}

    def reset(self):
        self.sim.reset()


def _batss_side(sp, side):
    terms = [nu * sp[name] if nu > 1 else sp[name] for name, nu in side]
    if not terms:
        return None
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


class RebopBare:
    name = "rebop"

    def __init__(self, net: pycrn.ReactionNetwork, u0: dict, n: int, tf: float):
        import rebop

        t = time.perf_counter()
        g = rebop.Gillespie()
        for r in net.reactions:
            k = r.rate.constant_value() / n ** (_order(r.reactants) - 1)
            g.add_reaction(k, [s for s, nu in r.reactants for _ in range(nu)],
                           [s for s, nu in r.products for _ in range(nu)])
        self.core = g.gillespie
        self.core.set_init(u0)
        self.setup_s = time.perf_counter() - t
        self.tf = tf

    def run(self):
        return self.core.run(self.tf, 1, params={}, seed=1, sparse=None, var_names=None)

    def reset(self):
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--sizes", default="1e6,1e7,1e8")
    ap.add_argument("--peers", default="batss,rebop,direct")
    ap.add_argument("--max-direct-reactions", type=float, default=3e9,
                    help="skip Gillespie-type tools on runs with more reactions than this")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    peers = args.peers.split(",")
    results = []
    for wname in args.only.split(","):
        work = WORKLOADS[wname]
        net = pycrn.parse(work["model"])
        tf = work["tf"]
        for n in (int(float(v)) for v in args.sizes.split(",")):
            u0 = work["u0"](n)
            print(f"\n== {work['title']}, n = {n:.0e}, t in [0, {tf:g}], one trajectory", flush=True)
            fc = first_call(work, n)
            kw = dict(u0=u0, tspan=(0, tf), saveat=[0, tf], volume=n, seed=1, threads=1)
            med, all_t, ds = timed(lambda kw=kw, net=net: pycrn.simulate(net, method="batched", **kw), args.repeats)
            fired = ds.attrs["reactions_fired"]
            rows = [dict(tool="pycrn batched", median_s=med, times_s=all_t, batches=ds.attrs["batches"],
                         final={s: int(ds[s].values[0, -1]) for s in net.species_names})]
            for pname in peers:
                if pname in ("rebop", "direct") and fired > args.max_direct_reactions:
                    rows.append(dict(tool=pname, skipped=f"{fired:.2e} reactions"))
                    continue
                if pname == "direct":
                    med_d, all_d, dd = timed(lambda kw=kw, net=net: pycrn.simulate(net, method="direct", **kw), args.repeats)
                    rows.append(dict(tool="pycrn direct", median_s=med_d, times_s=all_d,
                                     final={s: int(dd[s].values[0, -1]) for s in net.species_names}))
                    continue
                peer = {"batss": Batss, "rebop": RebopBare}[pname](net, u0, n, tf)
                med_p, all_p, out = timed(peer.run, args.repeats, peer.reset)
                rows.append(dict(tool=pname, median_s=med_p, times_s=all_p, setup_s=peer.setup_s,
                                 final=out if pname == "batss" else None))
            base = {r["tool"]: r["median_s"] for r in rows if "median_s" in r}
            print(f"{'tool':16s} {'median s':>9s} {'Mreact/s':>9s} {'batched/tool':>13s}   repeats (s)")
            for r in rows:
                if "skipped" in r:
                    print(f"{r['tool']:16s} skipped ({r['skipped']})")
                    continue
                ratio = base["pycrn batched"] / r["median_s"]
                reps = ", ".join(f"{v:.3f}" for v in r["times_s"])
                print(f"{r['tool']:16s} {r['median_s']:9.3f} {fired / r['median_s'] / 1e6:9.1f} {ratio:13.2f}   [{reps}]")
            print(f"reactions: {fired:,}; batches: {rows[0]['batches']:,} "
                  f"({fired / max(rows[0]['batches'], 1):.0f} reactions per batch); final state {rows[0]['final']}")
            print(f"pycrn first call in a new process: {fc['cold_cache']['first_call_s']:.2f} s with an empty "
                  f"cache (numba compile included), {fc['warm_cache']['first_call_s']:.2f} s warm; "
                  f"import {fc['warm_cache']['import_s']:.2f} s")
            for r in rows:
                if r.get("setup_s"):
                    print(f"{r['tool']}: set-up {r['setup_s']:.3f} s (untimed above)")
            results.append(dict(workload=wname, n=n, reactions=fired, first_call=fc, rows=rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
