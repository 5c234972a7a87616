"""An MDN abstraction of the self-repressing gene (Bortolussi & Palmieri 2018, §5.2), trained and checked.

Run as ``python examples/abstraction_grn.py [--out DIR] [--small]``. The
network (``pycrn.models.gene_regulatory_network``) switches between five or
six modes set by its mRNA count; its transition kernel over dt = 400 is
multimodal, which is what the mixture is for. Initial states as in
StochNet: the gene on or off, M in 0..5, P in 400..799. The architecture is
the paper's residual network (``MDN.grn``: max-norm 3, input noise of
variance 0.01, early stopping after 6 epochs, batches of 32).

Two comparisons of the protein P (200 bins on [0.5, 1800.5], StochNet's bounds):

* after one step, from each held-out initial state, against exact samples
  from the same state (:func:`pycrn.abstraction.assess`);
* at the paper's horizon (50 steps = 20,000 time units, 20 mRNA lifetimes),
  where the exact law no longer depends on the initial state (the slowest
  mode, mRNA decay, has rate 0.001: after 20,000 units its weight is
  e^-20): the abstraction from each held-out state against exact samples of
  the stationary law, taken from long trajectories every 2,000 units after a
  burn-in of 10,000 (successive samples are two mRNA lifetimes apart).

The paper's sizes (300,000 training pairs, 100,000 samples per state) take
hours of exact simulation on two cores (about 0.02 s per trajectory step);
the defaults here are smaller and every size is an argument. ``--small``
runs a minute's version (used by the tests).
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
parser.add_argument("--out", type=Path, default=Path("out/abstraction_grn"))
parser.add_argument("--train-settings", type=int, default=150, help="initial states for training")
parser.add_argument("--trajectories", type=int, default=100, help="trajectories per training state")
parser.add_argument("--steps", type=int, default=3, help="steps of dt = 400 per training trajectory")
parser.add_argument("--held-out", type=int, default=25, help="held-out initial states")
parser.add_argument("--samples", type=int, default=2000, help="exact samples per held-out state after one step (and per side)")
parser.add_argument("--horizon", type=int, default=50, help="steps of the long-horizon comparison")
parser.add_argument("--stationary", type=int, default=4000, help="exact samples of the stationary law")
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=2018)
parser.add_argument("--small", action="store_true", help="a minute's run")
args = parser.parse_args()
if args.small:
    args.train_settings, args.trajectories, args.steps, args.held_out = 8, 4, 2, 2
    args.samples, args.horizon, args.stationary, args.epochs, args.batch_size = 50, 3, 40, 2, 64
args.out.mkdir(parents=True, exist_ok=True)

net = pycrn.models.gene_regulatory_network()
dt, bins, hist_range = 400.0, 200, (0.5, 1800.5)
wall = {}


def initial_states(n: int, seed: int) -> np.ndarray:
    """StochNet's settings: the gene on or off (one copy), M in 0..5, P in 400..799."""
    s = ab.sample_states({"G_ON": (0, 1), "M": (0, 5), "P": (400, 799)}, n, seed=seed, net=net)
    s["G_OFF"] = 1 - s["G_ON"]
    return np.stack([s[name] for name in net.species_names], axis=-1)


t = time.perf_counter()
common = dict(dt=dt, steps=args.steps, trajectories_per_state=args.trajectories)
data = ab.generate(net, initial_states(args.train_settings, args.seed), seed=args.seed + 2, **common)
val = ab.generate(net, initial_states(max(2, args.train_settings // 5), args.seed + 1), seed=args.seed + 3, **common)
wall["generate"] = time.perf_counter() - t
data.to_netcdf(args.out / "grn_pairs.nc")
print(f"data: {data.sizes['pair']:,} training and {val.sizes['pair']:,} validation pairs in {wall['generate']:.1f} s")

t = time.perf_counter()
model = ab.MDN.grn(net.species_names, seed=args.seed)
history = ab.fit(
    model, data, validation=val, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
    checkpoint=args.out / "grn.ckpt",
)
wall["fit"] = time.perf_counter() - t
model.save(args.out / "grn_mdn.pt")
print(f"fit: {history.epochs} epochs, best {history.best_epoch} (validation NLL {min(history.val_loss):.3f}) in {wall['fit']:.1f} s")

held = initial_states(args.held_out, args.seed + 4)
one = ab.assess(
    model, net, held, species="P", steps=(1,), samples=args.samples, bins=bins, range=hist_range, seed=args.seed + 5
)
wall["exact_one_step"] = one.attrs["exact_seconds"]
one.drop_vars(["abstract", "exact"]).to_netcdf(args.out / "grn_assessment_step1.nc")

# The stationary law, exactly: long trajectories, sampled every 2,000 units after a burn-in of 10,000.
t = time.perf_counter()
chains = max(2, args.stationary // 100)
per_chain = -(-args.stationary // chains)
times = 10_000.0 + 2_000.0 * np.arange(per_chain)
stationary = pycrn.simulate(
    net, tspan=(0.0, float(times[-1])), saveat=times, trajectories=chains, seed=args.seed + 6
)["P"].values.reshape(-1)
wall["exact_stationary"] = time.perf_counter() - t
rng = np.random.default_rng(args.seed + 7)
stationary = rng.permutation(stationary)
half = stationary.size // 2
# Two abstract chains: continuous, as in the paper, and rounded to counts after every step. The kernel was
# trained on integer states only, so a continuous chain feeds it mRNA counts such as 2.4 that it never saw.
t = time.perf_counter()
far, far_round = (
    model.simulate(held, steps=args.horizon, trajectories=half, seed=args.seed + 8, record_every=args.horizon,
                   round=rounded)
    for rounded in (False, True)
)
wall["abstract_horizon"] = time.perf_counter() - t
far_p = far["P"].isel(time=-1).values  # (setting, trajectory)
d_far = ab.histogram_distance(far_p, np.broadcast_to(stationary[:half], far_p.shape), bins=bins, range=hist_range)
far_p_round = far_round["P"].isel(time=-1).values
d_far_round = ab.histogram_distance(far_p_round, np.broadcast_to(stationary[:half], far_p.shape), bins=bins,
                                    range=hist_range)
d_far_self = ab.histogram_distance(stationary[half : 2 * half], stationary[:half], bins=bins, range=hist_range)

summary = {
    "wall_seconds": wall,
    "training_pairs": int(data.sizes["pair"]),
    "step_1": {
        "samples": args.samples,
        "mean_distance": one.attrs["mean_distance_1"],
        "mean_self_distance": one.attrs["mean_self_distance_1"],
        "bound": one.attrs["bound"],
    },
    f"step_{args.horizon}": {
        "samples": int(half),
        "mean_distance": float(np.mean(d_far)),
        "mean_distance_rounded": float(np.mean(d_far_round)),
        "self_distance": float(d_far_self),
        "bound": ab.self_distance_bound(half, bins),
    },
}
print(
    f"after 1 step: mean histogram distance {summary['step_1']['mean_distance']:.3f}, self-distance "
    f"{summary['step_1']['mean_self_distance']:.3f} (bound {one.attrs['bound']:.3f}) at {args.samples:,} samples"
)
print(
    f"after {args.horizon} steps: mean histogram distance {np.mean(d_far):.3f} to the stationary law "
    f"({np.mean(d_far_round):.3f} with the chain rounded to counts at every step), "
    f"self-distance {d_far_self:.3f} (bound {ab.self_distance_bound(half, bins):.3f}) at {half:,} samples"
)
(args.out / "grn_summary.json").write_text(json.dumps(summary, indent=2))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 4, figsize=(15, 3.4), sharey=True)
edges = np.linspace(*hist_range, bins + 1)
for ax, s in zip(axes[:3], range(min(3, args.held_out))):
    x0 = dict(zip(net.species_names, held[s].tolist()))
    ax.hist(one["exact"].sel(step=1).values[s], bins=edges, density=True, alpha=0.6, label="SSA (direct)")
    ax.hist(one["abstract"].sel(step=1).values[s], bins=edges, density=True, histtype="step", lw=1.5, label="MDN")
    ax.set_title(f"P after 1 step from {x0}\ndistance {float(one['distance'].sel(step=1)[s]):.3f}", fontsize=8)
    ax.set_xlabel("P")
axes[3].hist(stationary[:half], bins=edges, density=True, alpha=0.6, label="SSA, stationary")
axes[3].hist(far_p[0], bins=edges, density=True, histtype="step", lw=1.5, label=f"MDN, {args.horizon} steps")
axes[3].hist(far_p_round[0], bins=edges, density=True, histtype="step", lw=1.5, label="MDN, rounded chain")
axes[3].set_title(f"P after {args.horizon} steps\ndistance {float(np.atleast_1d(d_far)[0]):.3f} "
                  f"(rounded {float(np.atleast_1d(d_far_round)[0]):.3f})", fontsize=8)
axes[3].set_xlabel("P")
axes[0].set_ylabel("density")
axes[0].legend(fontsize=8)
axes[3].legend(fontsize=8)
fig.tight_layout()
fig.savefig(args.out / "grn_histograms.png", dpi=120)
print(f"wrote {args.out}/grn_summary.json, grn_histograms.png, grn_mdn.pt")
