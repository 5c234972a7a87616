"""A DeepSKA study driven by a small JSON config: train SDnet, check it, and estimate with DeepCV / DeepIS.

Badolle et al., "Interpretable neural approximation of stochastic reaction
dynamics with guaranteed reliability" (DeepSKA, 2025). For one network the
script

1. simulates training and validation trajectories from a box of initial
   states (``pycrn.deepska.generate``);
2. trains SDnet with the trajectory-wise loss (``pycrn.deepska.fit``,
   checkpointed: rerunning resumes);
3. compares SDnet's mean curves from held-out initial states with plain
   SSA's 95% intervals, up to ``extrapolate`` times the training horizon
   (the seed's panels b);
4. estimates the outputs at ``eval_time`` with plain SSA, SSA with DeepCV
   and SSA with DeepIS from the same number of samples, and reports each
   estimator's variance (panel d) and its mean squared error against a large
   SSA reference (or the exact values, ``exact_at_eval`` in the config) as
   the sample size grows (panel e).

Configs are next to this file: constitutive gene expression
(``deepska_cge.json``), the toggle switch, both antithetic controllers, the
repressilator and the linear cascade with feedback; their sizes are the
seed's (the numbers of modes those of the authors' published configs). ``--small`` shrinks every size for a quick check.

Run as ``python examples/deepska_study.py examples/deepska_toggle.json [--small] [--out DIR] [--set KEY=VALUE ...]``
(``--set`` overrides config entries, e.g. ``--set steps=2000 accumulate=1 modes=8`` for a shorter run;
``spectrum_box`` (e.g. ``--set 'spectrum_box={"P1": 120, "P2": 70}'``) starts the slowest decay modes at the
generator's, computed on that box (``train_decay=false`` then keeps them there; ``fixed_decay=K`` takes only
the generator's K slowest and keeps those, the others starting and training as usual); ``delta_network``, ``hidden``, ``reduction``, ``dtype`` and ``frequency_init`` choose the SDnet and loss of the authors' published
configurations, e.g. ``--set delta_network=true 'hidden=[24,24,24]' 'frequency_init="zero"'``; ``reduction``
is the loss's, ``"sum"`` by default as in ``pycrn.deepska.fit``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import pycrn  # noqa: E402
from pycrn import deepska  # noqa: E402

SMALL = {"accumulate": 1, "train": 300, "validate": 100, "steps": 30, "segments": 2000, "samples": 60,
         "reference": 500, "sizes": [10, 30], "repeats": 2, "ergodic_horizon": 2000.0, "dt": 0.1}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("config", type=Path)
parser.add_argument("--small", action="store_true", help="tiny sizes, for a quick check")
parser.add_argument("--out", type=Path, default=Path("out"))
parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="override config entries (JSON values), e.g. --set steps=2000 accumulate=1")
args = parser.parse_args()
cfg = json.loads(args.config.read_text())
if args.small:
    cfg.update(SMALL)
cfg.setdefault("from_start", 0.0)  # see pycrn.deepska.fit
# Choices of SDnet and loss, pycrn's defaults (the authors' published configurations differ in all but reduction;
# see the README's DeepSKA section).
cfg.setdefault("reduction", "sum")
cfg.setdefault("delta_network", False)
cfg.setdefault("hidden", [24, 24])
cfg.setdefault("dtype", "float32")
cfg.setdefault("frequency_init", "uniform")
# A box (species -> upper bound) holding the stationary mass: the first decay modes then start at the generator's
# slowest modes (pycrn.deepska.generator_spectrum; small networks only); None: all start random.
cfg.setdefault("spectrum_box", None)
cfg.setdefault("train_decay", True)  # false: the decay modes stay where they start
cfg.setdefault("fixed_decay", None)  # k: only the generator's k slowest modes, held fixed; the others train
cfg.setdefault("seed", 0)  # SDnet's initial weights and the training's draws; the data's seeds stay fixed
for item in args.set:
    key, sep, value = item.partition("=")
    if not sep or key not in cfg:
        parser.error(f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(cfg)}")
    cfg[key] = json.loads(value)
args.out.mkdir(parents=True, exist_ok=True)
name = cfg["network"]
net = pycrn.models.get(name)
outputs = cfg["outputs"]

steady = cfg.get("steady")
if steady is None:
    clock = time.perf_counter()
    steady = deepska.ergodic_mean(net, outputs, burn_in=100.0, horizon=cfg["ergodic_horizon"], runs=5, seed=1)
    print(f"ergodic means {dict(zip(outputs, np.round(steady, 4)))} in {time.perf_counter() - clock:.1f} s")

clock = time.perf_counter()
box = {k: tuple(v) for k, v in cfg["box"].items()}
train = deepska.generate(net, box, cfg["train"], T=cfg["T"], dt=cfg["dt"], seed=2)
val = deepska.generate(net, box, cfg["validate"], T=cfg["T"], dt=cfg["dt"], seed=3)
print(f"{cfg['train']:,} + {cfg['validate']:,} trajectories in {time.perf_counter() - clock:.1f} s")

decay_init = None
if cfg["fixed_decay"] is not None and cfg["spectrum_box"] is None:
    sys.exit("fixed_decay needs spectrum_box (the box on which to compute the generator's modes)")
if cfg["spectrum_box"] is not None:
    need = cfg["fixed_decay"] or cfg["modes"]
    # One of each conjugate pair (SDnet takes real parts); fixed modes must all come from the generator: ask for more.
    all_needed = not cfg["train_decay"] or cfg["fixed_decay"]
    want = cfg["modes"]
    while True:
        sigma = deepska.generator_spectrum(net, cfg["spectrum_box"], modes=want)
        decay_init = sigma[sigma.imag >= 0][:need]
        if decay_init.size >= need or not all_needed:
            break
        want *= 2
    print(f"decay modes start at the generator's slowest: {np.round(decay_init, 4).tolist()}"
          + (f", the first {cfg['fixed_decay']} held there" if cfg["fixed_decay"] else ""))
sd = deepska.SDnet(net, outputs, modes=cfg["modes"], hidden=cfg["hidden"], steady=steady,
                   delta_network=cfg["delta_network"], dtype=cfg["dtype"],
                   frequency_init=cfg["frequency_init"], init_seed=cfg["seed"], decay_init=decay_init,
                   train_decay=cfg["train_decay"], fixed_decay=cfg["fixed_decay"])
clock = time.perf_counter()
history = deepska.fit(sd, train, steps=cfg["steps"], segments=cfg["segments"], accumulate=cfg["accumulate"],
                      scaling=cfg.get("scaling", "batch"), from_start=cfg["from_start"],
                      reduction=cfg["reduction"], validation=val,
                      validate_every=max(1, cfg["steps"] // 20), seed=cfg["seed"],
                      checkpoint=args.out / f"{name}_{cfg['steps']}_{cfg['train']}.ckpt")
print(f"trained {cfg['steps']:,} steps in {time.perf_counter() - clock:.1f} s; validation loss "
      f"{history.val_loss[0]:.4g} -> {min(history.val_loss):.4g}")
sd.save(args.out / f"{name}_sdnet.pt")

# Panel b: SDnet against SSA from held-out initial states, beyond the training horizon.
horizon = cfg["T"] * cfg["extrapolate"]
grid = np.linspace(horizon / 50, horizon, 50)
fig, axes = plt.subplots(len(cfg["test_states"]), len(outputs), figsize=(4 * len(outputs), 3 * len(cfg["test_states"])),
                         squeeze=False)
coverage = {}  # the fraction of the grid's times where SDnet lies inside SSA's 95% interval
within_5pct = {}  # ... within +-5% of SSA's mean (the authors' own check)
for row, x0 in enumerate(cfg["test_states"]):
    ssa = deepska.estimate(net, None, x0, grid, cfg["reference"], "ssa", seed=10 + row, outputs=outputs)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # beyond T on purpose
            pred = sd.predict(x0, grid)
    state = "(" + ", ".join(str(x0.get(sp, "-")) for sp in net.species_names) + ")"
    fit = deepska.agreement(pred, ssa, tolerance=0.05)
    for col, out in enumerate(outputs):
        ax = axes[row, col]
        s = ssa.sel(output=out)
        ax.fill_between(grid, s["ci_low"], s["ci_high"], color="0.7", label=f"SSA 95% CI ({cfg['reference']:,})")
        ax.plot(grid, pred.sel(output=out), "C0", label="SDnet")
        ax.axvline(cfg["T"], color="k", ls=":", lw=0.8)
        inside, close = float(fit["inside_ci"].sel(output=out)), float(fit["within_tolerance"].sel(output=out))
        coverage[f"{out} from {x0}"] = inside
        within_5pct[f"{out} from {x0}"] = close
        ax.set_title(f"{out} from {state}: {inside:.0%} inside, {close:.0%} within 5%", fontsize=9)
        ax.set_xlabel("t")
        print(f"SDnet {out} from {x0}: {inside:.0%} of {grid.size} times inside SSA's 95% CI, {close:.0%} within "
              f"+-5% of its mean (to {horizon:g})")
axes[0, 0].legend(fontsize=7)
fig.tight_layout()
fig.savefig(args.out / f"{name}_sdnet.png", dpi=120)

# Panels d and e: variance and MSE at eval_time from the first test state.
x0, t = cfg["test_states"][0], cfg["eval_time"]
reference = deepska.estimate(net, None, x0, [t], cfg["reference"], "ssa", seed=99, outputs=outputs)
if "exact_at_eval" in cfg:  # known values (closed moment equations): an MSE with no reference error
    reference["estimate"][:, 0] = cfg["exact_at_eval"]
    reference["variance"][:, 0] = 0.0
summary = {"network": name, "eval_time": t, "x0": x0, "steps": cfg["steps"], "train": cfg["train"],
           "config": cfg, "inside_ci": coverage, "within_5pct": within_5pct, "fit_seconds": history.seconds,
           "variance": {}, "variance_ratio": {}, "seconds_per_sample": {}}
for method in ("ssa", "deep_cv", "deep_is"):
    deepska.estimate(net, sd, x0, [t], 2, method, seed=0)  # compiling (or loading the compiled code) apart
    clock = time.perf_counter()
    est = deepska.estimate(net, sd, x0, [t], cfg["samples"], method, seed=5)
    per = (time.perf_counter() - clock) / cfg["samples"]
    summary["variance"][method] = est["variance"].values[:, 0].tolist()
    summary["seconds_per_sample"][method] = per
    print(f"{method:8s} at t={t:g}: " + ", ".join(
        f"{o} = {float(est['estimate'].sel(output=o)[0]):.4g} +- {float(est['std_error'].sel(output=o)[0]):.2g}"
        for o in outputs) + f"   ({per * 1e3:.2f} ms/sample)")
for i, out in enumerate(outputs):
    ratio_cv = summary["variance"]["ssa"][i] / summary["variance"]["deep_cv"][i]
    ratio_is = summary["variance"]["ssa"][i] / summary["variance"]["deep_is"][i]
    summary["variance_ratio"][out] = {"deep_cv": ratio_cv, "deep_is": ratio_is}
    print(f"variance of SSA / DeepCV for {out}: {ratio_cv:.3g}; SSA / DeepIS: {ratio_is:.3g}")

fig, axes = plt.subplots(1, len(outputs), figsize=(4 * len(outputs), 3.2), squeeze=False)
mse = {m: np.zeros((len(cfg["sizes"]), len(outputs))) for m in ("ssa", "deep_cv", "deep_is")}
for m in mse:
    for i, size in enumerate(cfg["sizes"]):
        errs = [deepska.estimate(net, sd, x0, [t], size, m, seed=1000 + r)["estimate"].values[:, 0]
                - reference["estimate"].values[:, 0] for r in range(cfg["repeats"])]
        mse[m][i] = np.mean(np.square(errs), axis=0)
# The reference's own expected squared error: MSEs near it measure the reference, not the estimator.
floor = reference["variance"].values[:, 0] / cfg["reference"]
for col, out in enumerate(outputs):
    for m, style in (("ssa", "k-o"), ("deep_cv", "C0-s"), ("deep_is", "C1-^")):
        axes[0, col].loglog(cfg["sizes"], mse[m][:, col], style, label=m, ms=4)
    if floor[col] > 0:
        axes[0, col].axhline(floor[col], color="0.5", ls="--", lw=0.8, label="reference's own error")
    axes[0, col].set_title(f"MSE of E[{out}(t={t:g})]", fontsize=9)
    axes[0, col].set_xlabel("samples")
axes[0, 0].legend(fontsize=7)
fig.tight_layout()
fig.savefig(args.out / f"{name}_mse.png", dpi=120)
summary["mse"] = {m: v.tolist() for m, v in mse.items()}
summary["sizes"] = cfg["sizes"]
summary["reference_mse"] = floor.tolist()
(args.out / f"{name}_summary.json").write_text(json.dumps(summary, indent=1))
print(f"wrote {args.out / (name + '_sdnet.png')}, {args.out / (name + '_mse.png')}")
