"""SDnet's learned decay modes against the generator's, on the networks small enough for a finite state projection.

SDnet's decay modes estimate the generator's (Badolle et al., "Interpretable
neural approximation of stochastic reaction dynamics with guaranteed
reliability", 2025): the slowest of them set how its curves extrapolate
beyond the training horizon. This prints, per network, the slowest modes of
the generator restricted to a box (``pycrn.deepska.generator_spectrum``) and
every SDnet's modes, each with its weight at the training horizon T: the
largest ``|gamma_l(f) phi_l(x)| exp(-a_l T)`` over the test states and
outputs, relative to ``|U(f)|``. What is left of a mode at T is what it
carries beyond the horizon (at t = 0 the modes' amplitudes are large and
largely cancel, so they say little).

Usage::

    python benchmarks/deepska_decay_modes.py [--reference PATH/deep-ska] \
        [--ours TSW:LABEL=PATH/toggle_switch_sdnet.pt ...] [--out modes.json]

``--reference`` adds the authors' published SDnets (their
``pretrained_models/ABBR_pretrained_weights.pth``; the steady-state means
they need are estimated here, as in ``deepska_authors_models.py``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import pycrn
from pycrn import deepska

#: Network, outputs, box of the projection (holding the stationary mass), and test states (the authors').
NETWORKS = {
    "TSW": ("toggle_switch", ["P1", "P1**2"], {"P1": 120, "P2": 70},
            [[0, 0], [1, 6], [5, 1], [33, 6], [34, 0]]),
    "CGE": ("constitutive_gene_expression", ["P", "P**2"], {"R": 40, "P": 150},
            [[0, 0], [2, 22], [7, 40], [3, 47], [17, 87]]),
}


def weighted_modes(sd, states: np.ndarray, at: float) -> list[dict]:
    """Each decay mode of ``sd`` with its largest relative amplitude at time ``at`` over ``states`` and the outputs."""
    import torch

    with torch.no_grad():
        amp = sd.amplitudes(torch.as_tensor(states, dtype=sd.steady.dtype)).abs()  # (states, outputs, modes)
        scale = sd.steady.abs().clamp_min(1e-12).reshape(1, -1, 1)
        sigma = sd.decay_modes().numpy()
        weight = (amp / scale).amax(dim=(0, 1)).numpy() * np.exp(-sigma.real * at)
    order = np.argsort(sigma.real)
    return [dict(real=float(sigma[i].real), imag=float(sigma[i].imag), weight=float(weight[i])) for i in order]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="TSW,CGE")
    parser.add_argument("--modes", type=int, default=8, help="generator modes to compute")
    parser.add_argument("--reference", type=Path, default=None, help="a checkout of arthur-theuer/deep-ska")
    parser.add_argument("--ours", nargs="+", default=[], metavar="ABBR[:LABEL]=PATH")
    parser.add_argument("--at", type=float, default=20.0, help="time of the weights (the training horizon)")
    parser.add_argument("--ergodic-horizon", type=float, default=100_000.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    ours: dict[str, list[tuple[str, str]]] = {}
    for item in args.ours:
        key, _, path = item.partition("=")
        abbr, _, label = key.partition(":")
        ours.setdefault(abbr, []).append((label or "pycrn", path))

    results = {}
    for abbr in [a for a in args.networks.split(",") if a]:
        name, outputs, box, states = NETWORKS[abbr]
        net = pycrn.models.get(name)
        clock = time.perf_counter()
        sigma = deepska.generator_spectrum(net, box, args.modes)
        entry = dict(network=name, box=box, weights_at=args.at, generator=[[float(s.real), float(s.imag)] for s in sigma],
                     generator_seconds=time.perf_counter() - clock, sdnets={})
        print(f"{abbr}: generator on the box {box}, slowest {args.modes} decay modes "
              f"({entry['generator_seconds']:.1f} s):")
        print("   " + ", ".join(f"{s.real:.4f}{s.imag:+.4f}i" if abs(s.imag) > 1e-6 else f"{s.real:.4f}" for s in sigma))
        sdnets = []
        if args.reference is not None:
            steady = deepska.ergodic_mean(net, outputs, burn_in=100.0, horizon=args.ergodic_horizon, runs=5, seed=1)
            sdnets.append(("authors'", deepska.load_reference(
                args.reference / "pretrained_models" / f"{abbr}_pretrained_weights.pth", net, outputs,
                steady=np.asarray(steady))))
        sdnets += [(label, deepska.load(path, net)) for label, path in ours.get(abbr, [])]
        for label, sd in sdnets:
            modes = weighted_modes(sd, np.asarray(states, dtype=np.float64), args.at)
            entry["sdnets"][label] = modes
            shown = [m for m in modes if m["weight"] >= 0.01] or modes[:4]
            print(f"   {label}: {len(modes)} modes; those with weight >= 0.01 at t = {args.at:g}, else the 4 slowest "
                  "(real part, +-imag, weight):")
            print("      " + ", ".join(f"{m['real']:.4f}{m['imag']:+.3f}i ({m['weight']:.2g})" for m in shown))
        results[abbr] = entry
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
