"""Peak memory of a DeepSKA training at the seed's sizes: the data, then a few training steps.

The seed's examples train on 20,000 + 10,000 trajectories on [0, 20] with
1,001 grid points (Badolle et al., "Interpretable neural approximation of
stochastic reaction dynamics with guaranteed reliability", 2025, section D);
the authors' pipeline asks for 200-400 GB. This script measures, in a fresh
process, the resident set size (its peak, from the kernel) after
``deepska.generate`` and again after ``steps`` steps of ``deepska.fit``
with the seed's mini-batches (ten draws of 10,000 segments), for the network,
outputs, box, modes, horizon, grid and sizes of a study config of examples/::

    python benchmarks/deepska_training_memory.py examples/deepska_cascade.json [--train N] [--validate N]
        [--steps 3] [--json out.json]

Run it at two versions (``PYTHONPATH=other-checkout``) to compare them.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

import pycrn
from pycrn import deepska, models


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="a study config of examples/ (deepska_*.json)")
    parser.add_argument("--train", type=int, default=None, help="training trajectories (default: the config's)")
    parser.add_argument("--validate", type=int, default=None, help="validation trajectories (default: the config's)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = json.loads(args.config.read_text())
    n_train = args.train if args.train is not None else cfg["train"]
    n_val = args.validate if args.validate is not None else cfg["validate"]
    net = getattr(models, cfg["network"])()
    box = {k: tuple(v) for k, v in cfg["box"].items()}
    row = dict(config=args.config.name, network=cfg["network"], train=n_train, validate=n_val, steps=args.steps,
               delta_network=bool(cfg.get("delta_network", False)), pycrn_version=pycrn.__version__,
               start_mb=peak_mb())
    clock = time.perf_counter()
    train = deepska.generate(net, box, n_train, T=cfg["T"], dt=cfg["dt"], seed=2)
    val = deepska.generate(net, box, n_val, T=cfg["T"], dt=cfg["dt"], seed=3)
    row.update(data_seconds=time.perf_counter() - clock, data_mb=peak_mb(),
               data_bytes=int(sum(v.nbytes for d in (train, val) for v in d.data_vars.values())))
    sd = deepska.SDnet(net, cfg["outputs"], modes=cfg["modes"], steady=np.ones(len(cfg["outputs"])),
                       delta_network=row["delta_network"])
    clock = time.perf_counter()
    deepska.fit(sd, train, steps=args.steps, segments=10_000, accumulate=10, validation=val,
                validate_every=args.steps, progress=False)
    row.update(fit_seconds=time.perf_counter() - clock, peak_mb=peak_mb())
    print(f"{cfg['network']}: {n_train:,} + {n_val:,} trajectories ({row['data_bytes'] / 2**30:.2f} GiB "
          f"as stored) in {row['data_seconds']:.0f} s, peak RSS {row['data_mb'] / 1024:.2f} GiB; after {args.steps} "
          f"training steps ({row['fit_seconds']:.0f} s) peak RSS {row['peak_mb'] / 1024:.2f} GiB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(row, fh, indent=1)


if __name__ == "__main__":
    main()
