"""The data term's gradient at pycrn's own ligand-screen training checkpoints, in pycrn and in the authors' code.

``benchmarks/ligand_screen_authors_objective.py`` checks the training
objective term by term at the authors' trained models, with both codes forced
to exactly 150 forward steps and 150 adjoint iterations. Two things it cannot
see differ between the codes' adjoints (the linear fixed point
mu = clip(D (g + A^T mu)) that gives the gradient of the steady state):

* pycrn (by default) solves it by Gauss–Seidel sweeps to a relative tolerance of 1e-8;
  the authors' code (Nilsson et al., "Artificial neural networks enable
  genome-scale simulations of intracellular signaling", 2022; their
  ``bionetwork.py``) by Jacobi iterations, stopped after at most 150 or once
  an iteration changes mu by less than 1e-6 in absolute sum. Both reach the
  same fixed point where the iteration converges; they differ where it
  converges slowly (the Jacobi error after n steps is about rho(DA)^n) or
  not at all;
* the soft clip ``limit + tanh(excess)``: their ligand-screen script sets
  ``clipping=5`` (every other script of theirs 1); pycrn's default is 1.

``SignalingModel(..., adjoint="jacobi", clip=5)`` iterates as their code
does; this script shows where that matters.

This script takes checkpoints that ``examples/signaling_ligand_screen_cv.py
--out DIR`` wrote during training (``foldK_data.pt``, or copies of it taken
at other epochs), copies each model's parameters into the authors' model
(by node and edge name), and for every mini-batch of five training
conditions (the fold's 100, in order) compares the gradient of the data
term (mean squared error of the TF outputs, the term that passes through the
adjoint) with respect to the biases and the weights:

* pycrn's, with each of its adjoint iterations (``SignalingModel``'s
  ``adjoint="gauss-seidel"``, the default, and ``"jacobi"``), both with
  ``--clip`` as the clip limit (default 5, their script's), against
* theirs as their training runs it (convergence tests on, clip 5);
* theirs with their convergence tests off (150 iterations exactly), clip 5;
* theirs as run, clip 1.

The same input noise (sd 1e-3 on every node, their training noise) is given
to both. Reported per checkpoint: the largest relative difference over the
batches (largest |difference| over largest |value|) and the smallest cosine
between the two gradients. Needs a copy of the authors' repository's
``Model`` folder (``--reference``); nothing of it is copied into pycrn.

    python benchmarks/ligand_screen_adjoint_check.py --reference PATH/Artificial-Signaling-Network/Model \\
        --fold K CHECKPOINT [CHECKPOINT ...] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_signaling import reference_fixed_steps, reference_model, reference_network
from ligand_screen_authors_models import ligand_screen_with_reference

from pycrn import signaling as sig
from pycrn.signaling import recurrent

NOISE = 1e-3  # their script's input noise (noiseLevel)


def their_gradient(ref, theirs, x: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, clip: float,
                   fixed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the data term in their code: (biases in their node order, weights in their edge order)."""
    theirs.network.param["clipping"] = clip
    theirs.zero_grad()
    with reference_fixed_steps(ref, fixed):
        full = theirs.network(theirs.inputLayer(x) + noise)
        torch.nn.MSELoss(reduction="mean")(theirs.projectionLayer(full), y).backward()
    return theirs.network.bias.grad.numpy().ravel().copy(), theirs.network.weights.grad.numpy().copy()


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(largest |a - b| over largest |b|, cosine of a and b)."""
    rel = float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
    cos = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-300))
    return rel, cos


def check(d, k: int, path: Path, clip: float, rng: np.random.Generator) -> dict:
    net, ligands, tfs = d.net, d.ligands, d.tfs
    test = [d.row[c] for c in d.all_folds[k]]
    train = np.setdiff1d(np.arange(len(d.conditions)), test)
    state = torch.load(path, weights_only=False)
    models = {}
    for adjoint in recurrent.ADJOINTS:
        models[adjoint] = sig.SignalingModel(net, steps=150, adjoint=adjoint, clip=clip)
        models[adjoint].load_state_dict(state["model"])
    theirs = reference_model(d.ref, models["jacobi"], 150)  # ligands and TFs in pycrn's order; nodes, edges theirs
    order = reference_network(d.ref, net)
    variants = (("as run", 5.0, False), ("150 iterations", 5.0, True), ("as run, clip 1", 1.0, False))
    comparisons: dict[str, list] = {f"{adjoint} / {key}": [] for adjoint in models for key, *_ in variants}
    for lo in range(0, len(train), 5):
        idx = train[lo:lo + 5]
        x = torch.as_tensor(ligands[idx])
        y = torch.as_tensor(tfs[idx])
        noise = rng.normal(0.0, NOISE, (len(idx), net.n_nodes))
        ours = {}
        for adjoint, model in models.items():
            model.zero_grad()
            out = model.output(model.states(x, bias_offset=torch.as_tensor(noise)))
            torch.nn.MSELoss()(out, y).backward()
            ours[adjoint] = (model.bias.grad.numpy()[order.nodes], model.weights.grad.numpy()[order.edges])
        nt = torch.as_tensor(noise[:, order.nodes])
        for key, c, fixed in variants:
            tb, tw = their_gradient(d.ref, theirs, x, y, nt, c, fixed)
            for adjoint, (ob, ow) in ours.items():
                rb, cb = compare(ob, tb)
                rw, cw = compare(ow, tw)
                comparisons[f"{adjoint} / {key}"].append(dict(
                    bias_relative=rb, bias_cosine=cb, weights_relative=rw, weights_cosine=cw,
                    largest_bias_gradient=float(np.max(np.abs(tb)))))
    summary = {key: dict(bias_relative_max=max(r["bias_relative"] for r in rows),
                         bias_cosine_min=min(r["bias_cosine"] for r in rows),
                         weights_relative_max=max(r["weights_relative"] for r in rows),
                         weights_cosine_min=min(r["weights_cosine"] for r in rows),
                         bias_relative_median=float(np.median([r["bias_relative"] for r in rows])))
               for key, rows in comparisons.items()}
    entry = dict(checkpoint=str(path), fold=k, epoch=int(state["epoch"]), clip=clip, summary=summary,
                 batches=comparisons)
    print(f"fold {k}, epoch {entry['epoch']:5d}:", flush=True)
    for key, s in summary.items():
        print(f"    pycrn {key:32s} bias {s['bias_relative_max']:.1e} (cosine {s['bias_cosine_min']:.6f}), weights "
              f"{s['weights_relative_max']:.1e}", flush=True)
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="the authors' Model/ folder (bionetwork.py)")
    ap.add_argument("--fold", type=int, required=True, help="the fold the checkpoints were trained on")
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--clip", type=float, default=5.0, help="pycrn's clip limit (default 5, their script's)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the input noise")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    d = ligand_screen_with_reference(args.reference)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    results = [check(d, args.fold, path, args.clip, rng) for path in args.checkpoints]
    print(f"{time.perf_counter() - start:.0f} s")
    if args.out is not None:
        args.out.write_text(json.dumps(dict(reference=str(args.reference), results=results), indent=1))


if __name__ == "__main__":
    main()
