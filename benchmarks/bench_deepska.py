"""DeepSKA costs: training data, training steps, estimators per sample, peak memory; the authors' simulator beside.

DeepSKA (Badolle et al. 2025) trains SDnet on 20,000 exact trajectories of
T = 20 on a 1,001-point grid that carry each reaction's compensated counting
process. This script times, for each network:

* **data**: ``pycrn.deepska.generate`` (compiled SSA, exact compensators)
  and, with ``--peer DIR`` (a checkout of arthur-theuer/deep-ska, importable
  from ``DIR/src``), the authors' own ``ExpectationGeneratorSSA``
  (a Python loop per reaction event), on the same number of trajectories,
  per trajectory, median of ``--repeats``;
* **training**: seconds per Adam step at the paper's settings (10,000
  segments per draw, ``--accumulate`` draws per step, float32, ``--modes``),
  from the second step's end to the last's (the data's preparation left
  out), median of ``--repeats`` runs;
* **estimators**: seconds per sample of ``estimate(method=...)`` for plain
  SSA, DeepCV and DeepIS at ``t = 5`` (an untrained SDnet: the cost does not
  depend on the weights);
* **peak memory**: the process's maximum resident set size at the end.

``--device cpu,cuda`` runs the training and estimator rows with SDnet on
each device in turn, on the same data (the simulations stay on the CPU);
``--torch-threads`` sets torch's threads for both (pycrn's default: 1).

Compile cost is kept apart: one warm-up call of each pycrn path first.
``--busy`` repeats everything with a CPU-bound process on the other core.

``--threads`` times instead a training step (from the second step's end to
the last's, so the data's preparation is left out) and DeepIS per sample
with ``threads=1`` and ``threads=2``, the two taking turns within each
repeat; the ratio reported is the median of the paired ratios.
"""

from __future__ import annotations

import os

# Before torch loads (pycrn sets the same on import, too late once torch is in): OpenMP threads that
# spin while waiting make every training step 3x slower when the other core is busy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import pycrn
from pycrn import deepska

#: pycrn model name -> (the authors' config file, or None to time pycrn only; box of initial states; outputs).
NETWORKS = {
    "constitutive_gene_expression": ("CGE_training_only.ska.yaml", {"R": (0, 3), "P": (0, 3)}, ["P", "P**2"]),
    "toggle_switch": ("TSW_training_only.ska.yaml", {"P1": (0, 3), "P2": (0, 3)}, ["P1", "P2"]),
    # Four species and seven reactions: the training step's network evaluations grow with the reactions.
    "antithetic_integral_control": (None, {"R": (0, 10), "P": (0, 10), "Z1": (0, 10), "Z2": (0, 10)}, ["P", "P**2"]),
}


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peer_simulator(peer: Path, config: str, seed: int):
    sys.path.insert(0, str(peer / "src"))
    import yaml
    from deep_ska.core.simulation import ExpectationGeneratorSSA
    from deep_ska.reaction_networks import examples

    cfg = yaml.safe_load((peer / "configs" / config).read_text())["reaction_network_config"]
    net = getattr(examples, cfg["reaction_network"])(cfg, init_type=cfg["init_type"])
    return ExpectationGeneratorSSA(net, seed), cfg


def bench(name: str, args, device: str = "cpu", time_data: bool = True) -> dict:
    config, box, outputs = NETWORKS[name]
    net = pycrn.models.get(name)
    row: dict = {"network": name, "trajectories": args.trajectories, "device": device}
    if device.startswith("cuda"):
        row["device_name"] = torch.cuda.get_device_name(device)
    deepska.generate(net, box, 10, T=1.0, dt=0.5, seed=0)  # compile apart
    if time_data:
        row["pycrn_data_s_per_traj"] = _median_time(
            lambda: deepska.generate(net, box, args.trajectories, T=20.0, dt=0.02, seed=1), args.repeats
        ) / args.trajectories
    if args.peer is not None and config is not None and time_data:
        sim, cfg = _peer_simulator(args.peer, config, 1)
        count = max(1, args.trajectories // args.peer_fraction)
        row["peer_trajectories"] = count
        row["peer_data_s_per_traj"] = _median_time(
            lambda: [sim.sample_temporal_rtc_trajectory(cfg["t_stop"], cfg["n_time_samples"]) for _ in range(count)],
            args.repeats,
        ) / count
        row["data_speedup"] = row["peer_data_s_per_traj"] / row["pycrn_data_s_per_traj"]
    data = deepska.generate(net, box, args.trajectories, T=20.0, dt=0.02, seed=2)
    sd = deepska.SDnet(net, outputs, modes=args.modes, steady=np.zeros(len(outputs)))
    deepska.fit(sd, data, steps=1, segments=1000, accumulate=1, device=device)  # moves sd to the device
    row["train_s_per_step"] = statistics.median(
        _step_seconds(sd, data, max(args.steps, 3), args.accumulate, args.torch_threads) for _ in range(args.repeats))
    row["torch_threads"] = args.torch_threads
    row["accumulate"] = args.accumulate
    row["modes"] = args.modes
    x0 = {s: 0 for s in net.species_names}
    sd.horizon = None  # an untrained SDnet, timed only
    for method in ("ssa", "deep_cv", "deep_is"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            deepska.estimate(net, sd, x0, [5.0], 20, method, seed=0)
            row[f"{method}_s_per_sample"] = _median_time(
                lambda m=method: deepska.estimate(net, sd, x0, [5.0], args.samples, m, seed=1,
                                                  threads=args.torch_threads), args.repeats
            ) / args.samples
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def _step_seconds(sd, data, steps: int, accumulate: int, threads: int) -> float:
    marks: list[float] = []
    deepska.fit(sd, data, steps=steps, segments=10_000, accumulate=accumulate, threads=threads,
                callback=lambda step, history: marks.append(time.perf_counter()))
    return (marks[-1] - marks[0]) / (len(marks) - 1)


def bench_threads(name: str, args) -> dict:
    """A training step and DeepIS per sample with one and with two torch threads, in turns."""
    _, box, outputs = NETWORKS[name]
    net = pycrn.models.get(name)
    data = deepska.generate(net, box, args.trajectories, T=20.0, dt=0.02, seed=2)
    sd = deepska.SDnet(net, outputs, modes=args.modes, steady=np.zeros(len(outputs)))
    x0 = {s: 0 for s in net.species_names}
    deepska.fit(sd, data, steps=1, segments=1000, accumulate=1)
    sd.horizon = None
    times: dict = {(what, k): [] for what in ("train_s_per_step", "deep_is_s_per_sample") for k in (1, 2)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deepska.estimate(net, sd, x0, [5.0], 20, "deep_is", seed=0)
        for _ in range(args.repeats):
            for k in (1, 2):
                times[("train_s_per_step", k)].append(_step_seconds(sd, data, max(args.steps, 3), args.accumulate, k))
                start = time.perf_counter()
                deepska.estimate(net, sd, x0, [5.0], args.samples, "deep_is", seed=1, threads=k)
                times[("deep_is_s_per_sample", k)].append((time.perf_counter() - start) / args.samples)
    row: dict = {"network": name, "trajectories": args.trajectories, "accumulate": args.accumulate}
    for what in ("train_s_per_step", "deep_is_s_per_sample"):
        one, two = times[(what, 1)], times[(what, 2)]
        row[f"{what}_1_thread"] = statistics.median(one)
        row[f"{what}_2_threads"] = statistics.median(two)
        row[f"{what}_ratio_2_to_1"] = statistics.median([b / a for a, b in zip(one, two)])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--trajectories", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--accumulate", type=int, default=10)
    parser.add_argument("--modes", type=int, default=8, help="SDnet's modes (the authors' configs: 12-18)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer", type=Path, default=None, help="a checkout of arthur-theuer/deep-ska")
    parser.add_argument("--peer-fraction", type=int, default=10,
                        help="the authors' simulator runs trajectories / this many (it is slow)")
    parser.add_argument("--busy", action="store_true", help="repeat with a CPU-bound process on the other core")
    parser.add_argument("--busy-only", action="store_true", help="only the run with the other core busy")
    parser.add_argument("--threads", action="store_true",
                        help="compare threads=1 and threads=2 for training and DeepIS instead")
    parser.add_argument("--device", default="cpu",
                        help="torch device(s) of SDnet, comma-separated (e.g. cpu,cuda): training and estimators "
                             "run on each, on the same data; the simulations stay on the CPU")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch's threads for training and the estimators' SDnet calls (pycrn's default: 1)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    loads = ("busy",) if args.busy_only else ("idle", "busy") if args.busy else ("idle",)
    for load in loads:
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "busy" else None
        try:
            for name in args.networks.split(","):
                for i, device in enumerate(args.device.split(",")):
                    row = bench_threads(name, args) if args.threads else bench(name, args, device, i == 0)
                    row["load"] = load
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            if burner is not None:
                burner.kill()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
