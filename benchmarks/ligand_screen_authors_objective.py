"""One mini-batch of the authors' ligand-screen training objective, in their code and in pycrn, term by term.

``--recipe authors`` of ``examples/signaling_ligand_screen_cv.py`` trains with
the objective of the LEMBAS authors' ligand-screen script (Nilsson, Peters,
Meimetis, Bryson and Lauffenburger, "Artificial neural networks enable
genome-scale simulations of intracellular signaling", 2022; their
``ligandScreenCrossValidation.py``): ``LossWeights.ligand_screen()``. This
script checks that claim where it matters, at a trained model. For each fold it
takes the authors' own cross-validation model of that fold (their
``CVligandScreen/MML_model_K.pt``; needs a copy of their repository's ``Model``
folder, nothing of which is copied into pycrn), loads its parameters into pycrn
(their ``saveParam`` table, ``load_parameters``) and evaluates one mini-batch of
five training conditions on both sides:

* theirs: the loss of their script's training loop, term by term (data MSE,
  sign constraint, state uniformity with their running state cache, L2 on
  weights and biases, spectral barrier at one of the batch's states,
  projection and ligand-bias terms), and the gradients of its sum;
* pycrn: :func:`pycrn.signaling.training.batch_objective`, the function
  ``fit`` calls for every mini-batch, with the same batch, state cache and
  spectral state.

The random parts are drawn once and given to both sides (the input noise
of sd 1e-3 on every node, for the batch and for the cached states; the
batch; the spectral state), and both run exactly 150 forward steps and 150
adjoint iterations (their convergence tests disabled), so that the two agree
to rounding where the objectives are the same. The noise matters: without
it, nodes that no ligand reaches have the same state in every condition,
and the per-node maximum and minimum of the uniformity term are then ties,
whose gradient each implementation assigns its own way (torch.max gives it
all to one row, torch.maximum splits it between the batch and the cache);
noise breaks the ties in training, as here. The spectral barriers differ by design by a constant
(``LossWeights.ligand_screen``'s docstring); the script reports it.

    python benchmarks/ligand_screen_authors_objective.py --reference PATH/Artificial-Signaling-Network/Model
        [--folds 0,3] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from bench_signaling import reference_fixed_steps
from ligand_screen_authors_models import ligand_screen_with_reference, orders

from pycrn import signaling as sig
from pycrn.signaling.training import batch_objective

# Their script's coefficients (ligandScreenCrossValidation.py), written out here to check pycrn's against.
MOA, L2, SPECTRAL, PROJECTION, LIGAND, STATE, NOISE = 1e-1, 1e-6, 1e-3, 1e-4, 1e-4, 1e-5, 1e-3
PROJECTION_AMPLITUDE = 1.2


def their_objective(ref, model, x: torch.Tensor, y: torch.Tensor, index: np.ndarray, cache: torch.Tensor,
                    pick: int, noise: torch.Tensor, update_cache: bool = False) -> dict[str, torch.Tensor]:
    """The loss terms of one step of their training loop, with the given input noise and spectral state ``pick``.

    ``cache`` is their state cache (``curState``); with ``update_cache`` the batch's states are written into it,
    as their loop does, else into a copy."""
    net = model.network
    full = net(model.inputLayer(x[index]) + noise)
    yhat = model.projectionLayer(full)
    state = cache if update_cache else cache.clone()
    state[index, :] = full.detach()
    idx = torch.as_tensor(index)
    # spectralLoss draws its state with numpy.random.randint over the rows it is given: give it the one row.
    barrier, rho = ref.spectralLoss(net, full.detach()[pick:pick + 1], net.weights, expFactor=10)
    return dict(
        mse=torch.nn.MSELoss(reduction="mean")(yhat, y[index]),
        sign=MOA * torch.sum(torch.abs(net.weights[net.getViolations(net.weights)])),
        uniformity=STATE * ref.uniformLoss(state, idx, full, maxConstraintFactor=1, targetMax=1 / PROJECTION_AMPLITUDE),
        l2=L2 * torch.sum(torch.square(net.bias)) + L2 * torch.sum(torch.square(net.weights)),
        spectral=SPECTRAL * barrier,
        output_scale=PROJECTION * torch.sum(torch.square(model.projectionLayer.weights - PROJECTION_AMPLITUDE)),
        ligand_bias=LIGAND * torch.sum(torch.square(net.bias[model.inputLayer.nodeOrder, :])),
        rho=rho,
    )


def check_fold(ref, reference: Path, k: int, d: SimpleNamespace, rng: np.random.Generator) -> dict:
    """One mini-batch of fold ``k``'s training set at the authors' model of that fold: terms and gradients."""
    net, ligands, tfs, conditions = d.net, d.ligands, d.tfs, d.conditions
    names, their_nodes, node_of, weights = d.names, d.their_nodes, d.node_of, d.weights
    test = [d.row[c] for c in d.all_folds[k]]
    train = np.setdiff1d(np.arange(len(conditions)), test)
    theirs = torch.load(reference / "CVligandScreen" / f"MML_model_{k}.pt", weights_only=False)
    order_in = np.array([d.lig_names.index(n) for n in their_nodes[theirs.inputLayer.nodeOrder]])
    order_out = np.array([d.tf_names.index(n) for n in their_nodes[theirs.projectionLayer.nodeOrder]])
    x_t = torch.as_tensor(ligands[train][:, order_in])
    y_t = torch.as_tensor(tfs[train][:, order_out])
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "params.tsv"
        ref.saveParam(theirs, list(their_nodes), table)
        ours = sig.SignalingModel(net, steps=150, tol=0.0).load_parameters(table)
    # Their running state cache, as after an epoch: every training condition's state under this model, with
    # the training noise.
    noise_cache = torch.as_tensor(rng.normal(0.0, NOISE, (len(train), net.n_nodes)))
    with reference_fixed_steps(ref, True), torch.no_grad():
        cache_t = theirs.network(theirs.inputLayer(x_t) + noise_cache).detach()
    cache_o = torch.zeros(len(train), net.n_nodes, dtype=torch.float64)
    cache_o[:, node_of] = cache_t
    index = np.sort(rng.choice(len(train), 5, replace=False))
    pick = int(rng.integers(5))
    noise_t = torch.as_tensor(rng.normal(0.0, NOISE, (5, net.n_nodes)))  # in their node order
    noise_o = torch.zeros(5, net.n_nodes, dtype=torch.float64)
    noise_o[:, node_of] = noise_t

    # Gradients in pycrn's order: edges by (source, target) name, nodes by name, TFs by name.
    _, their_edge, _ = orders(net, names, d.tf_names, their_nodes, theirs.network.networkList)
    idx = torch.as_tensor(index)

    def gradients(parts) -> tuple[dict, dict, float, float, list[np.ndarray], list[np.ndarray]]:
        """Both sides' terms and the gradients of the sum of the terms ``parts`` (all: None)."""
        theirs.zero_grad()
        with reference_fixed_steps(ref, True):
            t = their_objective(ref, theirs, x_t, y_t, index, cache_t.clone(), pick, noise_t)
            r_t = float(t.pop("rho").detach())
            sum(v for n, v in t.items() if parts is None or n in parts).backward()
        ours.zero_grad()
        _, m, o, r_o = batch_objective(ours, torch.as_tensor(ligands[train])[idx], torch.as_tensor(tfs[train])[idx],
                                       idx, cache_o.clone(), pick, weights, noise_o)
        o = {"mse": m, **o}
        sum(v for n, v in o.items() if parts is None or n in parts).backward()
        g_t = [np.zeros(net.n_edges), np.zeros(net.n_nodes), np.zeros(len(net.tfs))]
        g_t[0][their_edge] = grad(theirs.network.weights)
        g_t[1][node_of] = grad(theirs.network.bias).ravel()
        g_t[2][order_out] = grad(theirs.projectionLayer.weights)
        g_o = [grad(ours.weights), grad(ours.bias), grad(ours.output_scale)]
        return t, o, r_t, r_o, g_t, g_o

    def grad(p: torch.Tensor) -> np.ndarray:
        return np.zeros(tuple(p.shape)) if p.grad is None else p.grad.numpy().copy()

    def rel(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))

    terms_t, terms_o, rho_t, rho_o, g_t, g_o = gradients(None)
    split = {}
    for label, parts in (("without the spectral term", set(terms_t) - {"spectral"}), ("spectral term", {"spectral"}),
                         ("data term", {"mse"}), ("uniformity term", {"uniformity"})):
        *_, gt, go = gradients(parts)
        split[label] = dict(weights=rel(go[0], gt[0]), biases=rel(go[1], gt[1]), output_scales=rel(go[2], gt[2]))
    entry = dict(fold=k, batch=[str(conditions[train[i]]) for i in index], spectral_state=pick,
                 rho_theirs=rho_t, rho_pycrn=rho_o,
                 terms_theirs={n: float(v.detach()) for n, v in terms_t.items()},
                 terms_pycrn={n: float(v.detach()) for n, v in terms_o.items()},
                 grad_weights_relative_difference=rel(g_o[0], g_t[0]),
                 grad_bias_relative_difference=rel(g_o[1], g_t[1]),
                 grad_output_scale_relative_difference=rel(g_o[2], g_t[2]), grad_split=split)
    # The barriers' designed difference: 1e-3 exp(10 (rho - 0.9)) against 1e-3 (exp(10 rho) - 1) / exp(9).
    entry["spectral_designed_offset"] = SPECTRAL * math.exp(-9.0) if rho_t > 0.5 else None
    print(f"fold {k}: batch {entry['batch']}, spectral state {pick}; rho theirs {rho_t:.12f} pycrn {rho_o:.12f}")
    for name in terms_t:
        a, b = float(terms_t[name].detach()), float(terms_o[name].detach())
        print(f"  {name:13s} theirs {a: .12e}  pycrn {b: .12e}  difference {b - a: .2e}")
    print(f"  gradients, largest difference over largest value: weights "
          f"{entry['grad_weights_relative_difference']:.2e}, biases {entry['grad_bias_relative_difference']:.2e}, "
          f"output scales {entry['grad_output_scale_relative_difference']:.2e}; "
          + "; ".join(f"{label}: weights {g['weights']:.2e}, biases {g['biases']:.2e}" for label, g in split.items()),
          flush=True)
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="the authors' Model/ folder (bionetwork.py, CVligandScreen/)")
    ap.add_argument("--folds", default="0,3", help="comma-separated fold indices")
    ap.add_argument("--batch-seed", type=int, default=0, help="seed of the mini-batch and spectral-state choice")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    data = ligand_screen_with_reference(args.reference)
    data.weights = sig.LossWeights.ligand_screen()
    ref = data.ref
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.batch_seed)
    results, start = [], time.perf_counter()
    for k in (int(v) for v in args.folds.split(",") if v):
        results.append(check_fold(ref, Path(args.reference), k, data, rng))
    print(f"{time.perf_counter() - start:.0f} s")
    if args.out is not None:
        args.out.write_text(json.dumps(dict(reference=str(args.reference), folds=results), indent=1))


if __name__ == "__main__":
    main()
