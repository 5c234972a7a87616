"""An MDN abstraction of the SIR model (Bortolussi & Palmieri 2018, §5.1), trained and checked.

Run as ``python examples/abstraction_sir.py [--out DIR] [--small]``. The
defaults are the paper's sizes: 300,000 training and 50,000 validation pairs
(dt = 0.5) from initial states uniform in 30..199 per species, the SIR
architecture (150 ReLU units, 2 normals, max-norm 3), batches of 32,
early stopping after 6 epochs; then 25 held-out initial states, 100,000
samples each, histograms of S with 200 bins on [0.5, 200.5] (StochNet's
bounds: unit bins centred on the counts) after 1 and 5 steps.
``--small`` runs a few seconds' version (used by the tests).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import pycrn
from pycrn import abstraction as ab

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, default=Path("out/abstraction_sir"))
parser.add_argument("--train-settings", type=int, default=1000, help="initial states for training (x30 trajectories x10 steps)")
parser.add_argument("--trajectories", type=int, default=30, help="trajectories per training state")
parser.add_argument("--held-out", type=int, default=25, help="held-out initial states for the histogram distances")
parser.add_argument("--samples", type=int, default=100_000, help="samples per held-out state and side")
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=2018)
parser.add_argument("--small", action="store_true", help="a few seconds' run")
args = parser.parse_args()
if args.small:
    args.train_settings, args.trajectories, args.held_out, args.samples, args.epochs, args.batch_size = 60, 10, 3, 2000, 3, 256
args.out.mkdir(parents=True, exist_ok=True)

net = pycrn.models.sir_frequency()
dt, box = 0.5, {"S": (30, 199), "I": (30, 199), "R": (30, 199)}
wall = {}

t = time.perf_counter()
train_states = ab.sample_states(box, args.train_settings, seed=args.seed, net=net)
val_states = ab.sample_states(box, max(2, args.train_settings // 6), seed=args.seed + 1, net=net)
data = ab.generate(net, train_states, dt=dt, steps=10, trajectories_per_state=args.trajectories, seed=args.seed + 2)
val = ab.generate(net, val_states, dt=dt, steps=10, trajectories_per_state=args.trajectories, seed=args.seed + 3)
wall["generate"] = time.perf_counter() - t
data.to_netcdf(args.out / "sir_pairs.nc")
print(f"data: {data.sizes['pair']:,} training and {val.sizes['pair']:,} validation pairs in {wall['generate']:.1f} s")

t = time.perf_counter()
model = ab.MDN.sir(net.species_names, seed=args.seed)
history = ab.fit(
    model, data, validation=val, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
    checkpoint=args.out / "sir.ckpt",
)
wall["fit"] = time.perf_counter() - t
model.save(args.out / "sir_mdn.pt")
print(f"fit: {history.epochs} epochs, best {history.best_epoch} (validation NLL {min(history.val_loss):.3f}) in {wall['fit']:.1f} s")

held = ab.sample_states(box, args.held_out, seed=args.seed + 4, net=net)
result = ab.assess(
    model, net, held, species="S", steps=(1, 5), samples=args.samples, bins=200, range=(0.5, 200.5), seed=args.seed + 5
)
wall["exact_histograms"] = result.attrs["exact_seconds"]
wall["abstract_histograms"] = result.attrs["abstraction_seconds"]
result.drop_vars(["abstract", "exact"]).to_netcdf(args.out / "sir_assessment.nc")

summary = {"wall_seconds": wall, "samples": args.samples, "held_out": args.held_out, "bound": result.attrs["bound"]}
for k in (1, 5):
    summary[f"step_{k}"] = {
        "mean_distance": result.attrs[f"mean_distance_{k}"],
        "mean_self_distance": result.attrs[f"mean_self_distance_{k}"],
    }
    print(
        f"after {k} step(s): mean histogram distance {result.attrs[f'mean_distance_{k}']:.3f}, "
        f"self-distance {result.attrs[f'mean_self_distance_{k}']:.3f} "
        f"(Cao-Petzold bound {result.attrs['bound']:.3f}) at {args.samples:,} samples"
    )
(args.out / "sir_summary.json").write_text(json.dumps(summary, indent=2))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
edges = np.linspace(0.5, 200.5, 201)
for ax, s in zip(axes, range(min(3, args.held_out))):
    x0 = dict(zip(net.species_names, result["initial_state"].values[s].tolist()))
    ax.hist(result["exact"].sel(step=5).values[s], bins=edges, density=True, alpha=0.6, label="SSA (direct)")
    ax.hist(result["abstract"].sel(step=5).values[s], bins=edges, density=True, histtype="step", lw=1.5, label="MDN")
    ax.set_title(f"S after 5 steps from {x0}\ndistance {float(result['distance'].sel(step=5)[s]):.3f}", fontsize=9)
    ax.set_xlabel("S")
axes[0].set_ylabel("density")
axes[0].legend()
fig.tight_layout()
fig.savefig(args.out / "sir_histograms.png", dpi=120)
print(f"wrote {args.out}/sir_summary.json, sir_histograms.png, sir_mdn.pt")
