"""MDN abstraction against pycrn's fastest exact method, on the work of Bortolussi & Palmieri's Table 3.

The paper's Table 3: 100,000 trajectories for each of 25 initial settings,
SIR to t = 5 (10 steps of 0.5) and the gene network to t = 100,000 (250
steps of 400). Both sides run here, in this process, on the same initial
settings and time grid:

* exact: pycrn's ``direct`` method (the fastest exact engine on these
  networks; check with ``bench_ssa.py``) through ``pycrn.ensemble`` on all
  cores, saving every ``dt``;
* abstraction: ``MDN.simulate`` of the paper's architecture (``MDN.sir``,
  ``MDN.grn``), batched over all trajectories, on the CPU (and on a GPU with
  ``--device cuda``). The speed of sampling does not depend on the weights;
  ``--model`` loads a trained one (e.g. from ``examples/abstraction_*.py``),
  otherwise the preset is scaled on a small exact data set and left
  untrained, and ``--round`` rounds states to counts as they are sampled.

SIR runs the whole workload on both sides. On the gene network the exact
side would take hours (about 0.02 s of one core per trajectory step), so it
runs ``--grn-exact`` trajectories per setting for ``--grn-exact-steps``
steps and the comparison is per trajectory step (the unit both sides scale
linearly in, each step costing the same); the abstraction runs 25 x
100,000 trajectories for ``--grn-steps`` steps (default 10; 250 is the
paper's horizon and takes 25 times as long). Medians of ``--repeats`` runs
after a warm-up; compilation and data generation are reported apart.

    python benchmarks/bench_abstraction.py                       # both
    python benchmarks/bench_abstraction.py --only sir --repeats 3
    python benchmarks/bench_abstraction.py --only grn --device cuda --trajectories 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

import pycrn
from pycrn import abstraction as ab


def timed(f, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def sir_settings(n: int, seed: int, net) -> np.ndarray:
    s = ab.sample_states({"S": (30, 199), "I": (30, 199), "R": (30, 199)}, n, seed=seed, net=net)
    return np.stack([s[k] for k in net.species_names], axis=-1)


def grn_settings(n: int, seed: int, net) -> np.ndarray:
    s = ab.sample_states({"G_ON": (0, 1), "M": (0, 5), "P": (400, 799)}, n, seed=seed, net=net)
    s["G_OFF"] = 1 - s["G_ON"]
    return np.stack([s[k] for k in net.species_names], axis=-1)


CASES = {
    "sir": dict(net=pycrn.models.sir_frequency, dt=0.5, steps=10, preset="sir", settings=sir_settings),
    "grn": dict(net=pycrn.models.gene_regulatory_network, dt=400.0, steps=250, preset="grn", settings=grn_settings),
}


def model_for(case: dict, net, path: str | None, device: str):
    if path:
        return ab.load(path, device=device), "trained (" + os.path.basename(path) + ")"
    t = time.perf_counter()
    pairs = ab.generate(
        net, case["settings"](8, 1, net), dt=case["dt"], steps=1, trajectories_per_state=2, seed=2, progress=False
    )
    model = getattr(ab.MDN, case["preset"])(net.species_names)
    ab.fit(model, pairs, epochs=1, progress=False)
    return model.to(device), f"untrained preset (scaled on {time.perf_counter() - t:.1f} s of data)"


def run_case(name: str, args) -> dict:
    case = CASES[name]
    net = case["net"]()
    settings = case["settings"](25, 2018, net)
    model, origin = model_for(case, net, getattr(args, f"{name}_model"), args.device)
    steps = case["steps"] if name == "sir" else args.grn_steps
    n = args.trajectories

    def abstract():
        out = model.simulate(settings, steps=steps, trajectories=n, seed=3, device=args.device, round=args.round,
                             record_every=1 if n * steps <= 5e7 else steps)
        if args.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        return out

    model.simulate(settings[:1], steps=2, trajectories=10, seed=0, device=args.device)  # warm-up
    t_abs, _ = timed(abstract, args.repeats)
    state_steps_abs = 25 * n * steps

    exact_n = n if name == "sir" else args.grn_exact
    exact_steps = steps if name == "sir" else args.grn_exact_steps
    table = {s: settings[:, i] for i, s in enumerate(net.species_names)}
    times = case["dt"] * np.arange(exact_steps + 1)

    def exact():
        return pycrn.ensemble(
            net, tspan=(0.0, float(times[-1])), saveat=times, trajectories=exact_n, seed=4, sweep=table,
            method="direct", progress=False,
        )

    t = time.perf_counter()
    pycrn.simulate(net, tspan=(0.0, case["dt"]), trajectories=1, seed=0, method="direct")
    compile_s = time.perf_counter() - t
    t_exact, ds = timed(exact, args.exact_repeats)
    state_steps_exact = 25 * exact_n * exact_steps
    rate_abs = state_steps_abs / t_abs
    rate_exact = state_steps_exact / t_exact
    row = {
        "case": name,
        "model": origin,
        "device": args.device,
        "abstraction": {"trajectories": 25 * n, "steps": steps, "seconds": t_abs, "state_steps_per_s": rate_abs},
        "exact": {
            "method": "direct",
            "trajectories": 25 * exact_n,
            "steps": exact_steps,
            "seconds": t_exact,
            "state_steps_per_s": rate_exact,
            "reactions_fired": int(ds.attrs.get("reactions_fired", 0)),
            "first_call_seconds": compile_s,
        },
        "speedup_per_state_step": rate_abs / rate_exact,
    }
    if name == "grn" and (exact_n != n or exact_steps != steps):
        row["exact"]["full_workload_seconds_extrapolated"] = 25 * n * case["steps"] / rate_exact
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=list(CASES))
    p.add_argument("--trajectories", type=int, default=100_000, help="per setting (25 settings)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--exact-repeats", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--round", action="store_true")
    p.add_argument("--sir-model")
    p.add_argument("--grn-model")
    p.add_argument("--grn-steps", type=int, default=10, help="abstraction steps on the GRN (the paper's workload: 250)")
    p.add_argument("--grn-exact", type=int, default=4, help="exact trajectories per setting on the GRN")
    p.add_argument("--grn-exact-steps", type=int, default=10)
    p.add_argument("--json")
    args = p.parse_args()
    rows = []
    for name in [args.only] if args.only else list(CASES):
        row = run_case(name, args)
        rows.append(row)
        a, e = row["abstraction"], row["exact"]
        print(
            f"{name}: MDN {a['trajectories']:,} traj x {a['steps']} steps in {a['seconds']:.2f} s "
            f"({a['state_steps_per_s']:.3g} state-steps/s, {row['model']}, {row['device']}); "
            f"direct {e['trajectories']:,} traj x {e['steps']} steps in {e['seconds']:.2f} s "
            f"({e['state_steps_per_s']:.3g}/s, {e['reactions_fired']:,} reactions); "
            f"speed-up {row['speedup_per_state_step']:.3g}x"
            + (
                f"; direct on the full workload: ~{e['full_workload_seconds_extrapolated'] / 3600:.1f} h"
                if "full_workload_seconds_extrapolated" in e
                else ""
            ),
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
