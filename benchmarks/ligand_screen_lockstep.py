"""pycrn's ligand-screen training replayed step by step against a trace of the authors' own training run.

pycrn's cross-validation runs (``examples/signaling_ligand_screen_cv.py --recipe authors``) and
the authors' script (Nilsson, Peters, Meimetis, Bryson and Lauffenburger, "Artificial neural
networks enable genome-scale simulations of intracellular signaling", 2022;
``ligandScreenCrossValidation.py``) draw their mini-batches, noise and spectral states from
different random generators, so two runs are never the same run, and single runs of either
spread widely (fold 0, three pycrn seeds: held-out r 0.39, 0.85, 0.84). This script asks whether
the two trainings are the same *map*: given the same draws, does pycrn take the same steps?

``benchmarks/ligand_screen_authors_training.py --trace N`` runs their script and records every
mini-batch of its first N epochs: the conditions, the input noise, the state picked for the
spectral term, the learning rate, whether Adam's moments were fresh, the gradients and the
parameters after their Adam step. This script builds pycrn's model with their initial parameters
(by node and edge name), their training rows and their state cache's starting value, the loss
weights of ``LossWeights.ligand_screen()``, the one-cycle schedule and the adjoint of ``--recipe
authors``, and also their own model and objective in this process (their ``bionetwork``; the
terms of their script as ``ligand_screen_authors_objective.their_objective`` writes them). Then:

* **one step at a time** (teacher forcing; the first ``--one-step-epochs``): every side starts
  each step from *their recorded* parameters and computes its gradient on the recorded draws;
  reported, the largest difference from the recorded gradient over its largest entry. The sides:
  pycrn as it trains (``tol=1e-12``); their code again (in this process ARPACK's random start
  vectors fall differently); their code with its convergence tests off (exactly 150 forward
  steps and 150 adjoint iterations); pycrn with ``tol=0`` (150 of each), also against the
  previous side. The last pair says whether the two codes compute the same step; the first
  rows, how much their convergence tests add;
* **free running**: pycrn, and their code again, train on from the recorded initial parameters
  with the recorded draws, their own gradients and torch's Adam (pycrn with the learning rate of
  ``OneCycle`` and the resets of ``OneCycle.resets_after``, as ``pycrn.signaling.fit``; theirs
  with the recorded rate and their script's reset); reported, the largest parameter difference
  from the recorded run after each epoch. A third run, pycrn from the initial weights changed by
  a relative ``--perturb`` (default 1e-9), against the unperturbed pycrn run, shows how fast the
  training separates two runs that start that close.

The schedule's learning rates and Adam resets are checked against the trace's at every step.

    python benchmarks/ligand_screen_lockstep.py --reference PATH/Artificial-Signaling-Network/Model \\
        --trace DIR/fold13/trace [--fold 13] [--epochs N] [--one-step-epochs 20] [--perturb 1e-9] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_signaling import reference_fixed_steps
from ligand_screen_adjoint_check import compare
from ligand_screen_authors_models import ligand_screen_with_reference, orders
from ligand_screen_authors_objective import PROJECTION_AMPLITUDE, their_objective

from pycrn import signaling as sig
from pycrn.signaling.training import batch_objective

LR = 1e-3  # their script's peak rate; the schedule below is --recipe authors' for their 8,000 epochs
SCHEDULE = sig.OneCycle(epochs=8000, peak=1000, start=0.1, end=0.01, reset_every=200)
GROUPS = ("weights", "bias", "projection")


def epoch_of(path: Path) -> int:
    """The epoch (0-based, as their loop counts) of a trace file ``epoch_EEEE.npz``."""
    return int(path.stem.split("_")[1])


class Pycrn:
    """pycrn's model and training rows laid out so that the trace's indices and parameters map onto them."""

    def __init__(self, d, meta, tol: float = 1e-12) -> None:
        net = d.net
        self.nodes, self.edges, self.tfs = orders(net, d.names, d.tf_names, meta["node_names"], meta["network_list"],
                                                  meta["out_names"])
        rows = [d.row[str(c)] for c in meta["conditions"]]
        self.x = torch.as_tensor(d.ligands[rows])
        self.y = torch.as_tensor(d.tfs[rows])
        self.y_mismatch = float(np.max(np.abs(d.tfs[rows][:, self.tfs] - meta["y"])))
        self.state0 = torch.zeros(len(rows), net.n_nodes, dtype=torch.float64)
        self.state0[:, self.nodes] = torch.as_tensor(meta["state0"])
        self.model = sig.SignalingModel(net, steps=150, initial_radius=0.7, adjoint="jacobi", clip=5.0, tol=tol)
        self.weights = sig.LossWeights.ligand_screen()

    def load(self, p: dict[str, np.ndarray]) -> None:
        m = self.model
        with torch.no_grad():
            m.weights[torch.as_tensor(self.edges)] = torch.as_tensor(p["weights"])
            m.bias[torch.as_tensor(self.nodes)] = torch.as_tensor(np.ravel(p["bias"]))
            m.output_scale[torch.as_tensor(self.tfs)] = torch.as_tensor(p["projection"])

    def read(self, what: str) -> dict[str, np.ndarray]:
        """The parameters (``what="param"``) or their gradients (``"grad"``), in their order."""
        m = self.model
        w, b, p = (m.weights, m.bias, m.output_scale) if what == "param" else (
            m.weights.grad, m.bias.grad, m.output_scale.grad)
        return dict(weights=w.detach().numpy()[self.edges], bias=b.detach().numpy()[self.nodes],
                    projection=p.detach().numpy()[self.tfs])

    def step(self, cache: torch.Tensor, batch: dict, i: int) -> None:
        """The objective of the trace's mini-batch ``i``, and its gradients."""
        m = self.model
        idx = torch.as_tensor(batch["index"][i])
        offset = torch.zeros(len(idx), m.network.n_nodes, dtype=torch.float64)
        offset[:, self.nodes] = torch.as_tensor(batch["noise"][i])
        m.zero_grad()
        loss, *_ = batch_objective(m, self.x[idx], self.y[idx], idx, cache, int(batch["pick"][i]), self.weights,
                                   offset)
        loss.backward()

    def rate(self, e: int, batch: dict) -> float:
        return SCHEDULE.rate(e, LR)

    def resets_after(self, e: int) -> bool:
        return SCHEDULE.resets_after(e)


class Theirs:
    """The authors' model and objective (their ``bionetwork``, their script's terms), run again in this process."""

    def __init__(self, ref, reference: str, meta, fixed: bool = False) -> None:
        network_list, node_names, mode = ref.loadNetwork(str(Path(reference) / "data" / "ligandScreen-Model.tsv"))
        if list(node_names) != [str(n) for n in meta["node_names"]] or not np.array_equal(network_list,
                                                                                         meta["network_list"]):
            raise SystemExit("the trace was recorded with another network than their data/ligandScreen-Model.tsv")
        params = ref.trainingParameters(iterations=150, clipping=5, leak=0.01, spectralTarget=0.9)
        self.ref, self.fixed = ref, fixed
        self.model = ref.model(network_list, node_names, mode, 3, PROJECTION_AMPLITUDE, list(meta["in_names"]),
                               list(meta["out_names"]), params, "MML", torch.double)
        self.model.inputLayer.weights.requires_grad = False
        self.x, self.y = torch.as_tensor(meta["x"]), torch.as_tensor(meta["y"])
        self.state0 = torch.as_tensor(meta["state0"]).clone()

    def _params(self):
        m = self.model
        return dict(weights=m.network.weights, bias=m.network.bias, projection=m.projectionLayer.weights)

    def load(self, p: dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            for k, t in self._params().items():
                t.copy_(torch.as_tensor(p[k]).reshape(t.shape))

    def read(self, what: str) -> dict[str, np.ndarray]:
        return {k: (t if what == "param" else t.grad).detach().numpy().copy() for k, t in self._params().items()}

    def step(self, cache: torch.Tensor, batch: dict, i: int) -> None:
        self.model.zero_grad()
        with reference_fixed_steps(self.ref, self.fixed):
            terms = their_objective(self.ref, self.model, self.x, self.y, batch["index"][i], cache,
                                    int(batch["pick"][i]), torch.as_tensor(batch["noise"][i]), update_cache=True)
            terms.pop("rho")
            sum(terms.values()).backward()

    def rate(self, e: int, batch: dict) -> float:
        return float(batch["lr"][0])  # their schedule, as recorded

    def resets_after(self, e: int) -> bool:
        return e % 200 == 0 and e > 0  # their script's reset


def difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Per group: the largest |a - b| over the largest |b|."""
    return {k: compare(np.ravel(a[k]), np.ravel(b[k]))[0] for k in GROUPS}


def recorded(batch: dict, i: int, prefix: str = "after") -> dict[str, np.ndarray]:
    return {k: batch[f"{prefix}_{k}"][i] for k in GROUPS}


def initial(meta) -> dict[str, np.ndarray]:
    return {k: meta[f"initial_{k}"] for k in GROUPS}


def teacher_forced(sides: dict, meta, files: list[Path], pairs=()) -> dict[str, list[dict]]:
    """Per step: each side's gradient at the trace's parameters before the step, against the trace's gradient,
    and each pair of sides against each other."""
    before = initial(meta)
    caches = {name: side.state0.clone() for name, side in sides.items()}
    rows: dict[str, list[dict]] = {name: [] for name in (*sides, *(f"{a} / {b}" for a, b in pairs))}
    for f in files:
        e, batch = epoch_of(f), dict(np.load(f))
        for i in range(len(batch["index"])):
            grads = {}
            for name, side in sides.items():
                side.load(before)
                side.step(caches[name], batch, i)
                grads[name] = side.read("grad")
                rows[name].append(dict(epoch=e, step=i, **difference(grads[name], recorded(batch, i, "grad"))))
            for a, b in pairs:
                rows[f"{a} / {b}"].append(dict(epoch=e, step=i, **difference(grads[a], grads[b])))
            before = recorded(batch, i)
    return rows


def free_run(side, meta, files: list[Path], perturb: float = 0.0) -> list[dict[str, np.ndarray]]:
    """The side trained on the trace's draws from the trace's initial parameters (weights moved by a relative
    ``perturb``), with torch's Adam as both codes use it; its parameters after every epoch."""
    start = initial(meta)
    if perturb:
        w = start["weights"]
        start = dict(start, weights=w * (1.0 + perturb * np.random.default_rng(0).uniform(-1.0, 1.0, w.shape)))
    side.load(start)
    opt = torch.optim.Adam([p for p in side.model.parameters() if p.requires_grad], lr=LR)
    cache = side.state0.clone()
    out = []
    for f in files:
        e, batch = epoch_of(f), dict(np.load(f))
        for group in opt.param_groups:
            group["lr"] = side.rate(e, batch)
        for i in range(len(batch["index"])):
            side.step(cache, batch, i)
            opt.step()
        if side.resets_after(e):
            opt.state.clear()
        out.append(side.read("param"))
    return out


def summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    out = {}
    for k in GROUPS:
        v = np.array([r[k] for r in rows])
        out[k] = dict(median=float(np.median(v)), q99=float(np.quantile(v, 0.99)), largest=float(v.max()),
                      at=int(v.argmax()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="the authors' Model/ folder (bionetwork.py)")
    ap.add_argument("--trace", type=Path, required=True, help="the trace folder of ligand_screen_authors_training.py")
    ap.add_argument("--fold", type=int, default=None, help="recorded with the results only")
    ap.add_argument("--epochs", type=int, default=None, help="replay only the first N traced epochs")
    ap.add_argument("--one-step-epochs", type=int, default=20, help="epochs compared one step at a time")
    ap.add_argument("--perturb", type=float, default=1e-9, help="relative change of the perturbed run's weights")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    files = sorted(args.trace.glob("epoch_*.npz"))[: args.epochs]
    if not files or not (args.trace / "meta.npz").exists():
        ap.error(f"--trace {args.trace}: no meta.npz and epoch_*.npz files")
    torch.set_num_threads(1)
    d = ligand_screen_with_reference(args.reference)
    meta = dict(np.load(args.trace / "meta.npz"))
    ours, theirs = Pycrn(d, meta), Theirs(d.ref, args.reference, meta)
    print(f"{len(files)} traced epochs; their targets against pycrn's data: largest difference {ours.y_mismatch:.1e}")
    result = dict(reference=str(args.reference), trace=str(args.trace), fold=args.fold, epochs_replayed=len(files),
                  perturb=args.perturb, target_mismatch=ours.y_mismatch)

    schedule_rows = []
    for f in files:
        e, batch = epoch_of(f), np.load(f)
        schedule_rows += [(e, i, float(lr), bool(fr)) for i, (lr, fr) in enumerate(zip(batch["lr"], batch["fresh"]))]
    fresh = [(e, i) for e, i, _, fr in schedule_rows if fr]
    first = epoch_of(files[0])  # a trace started from a checkpoint starts there, with Adam's moments fresh
    ours_fresh = [(e, 0) for e in map(epoch_of, files) if e == first or SCHEDULE.resets_after(e - 1)]
    result.update(lr_relative_difference=max(abs(lr - SCHEDULE.rate(e, LR)) / lr for e, _, lr, _ in schedule_rows),
                  adam_fresh_theirs=fresh, adam_fresh_pycrn=ours_fresh)
    print(f"pycrn's learning rates against theirs: {result['lr_relative_difference']:.1e} (relative); Adam's moments "
          f"fresh at (epoch, step): theirs {fresh}, pycrn's {ours_fresh}")

    clock = time.perf_counter()
    sides = {"pycrn": ours, "their code again": theirs, "pycrn, 150 steps": Pycrn(d, meta, tol=0.0),
             "their code, 150 iterations": Theirs(d.ref, args.reference, meta, fixed=True)}
    one = files[: args.one_step_epochs]
    steps = teacher_forced(sides, meta, one, pairs=[("pycrn, 150 steps", "their code, 150 iterations")])
    print(f"one step at a time, the first {len(one)} epochs ({time.perf_counter() - clock:.0f} s): the gradient, "
          "largest |difference| over largest |value|, median (largest) over the steps:")
    result["one_step"] = {}
    for side, side_rows in steps.items():
        result["one_step"][side] = summary(side_rows)
        print(f"  {side:>54s} against {'the trace' if '/' not in side else 'each other'}: " + "; ".join(
            f"{k} {v['median']:.1e} ({v['largest']:.1e})" for k, v in result["one_step"][side].items()))

    clock = time.perf_counter()
    trace = [recorded(dict(np.load(f)), -1) for f in files]
    runs = {name: free_run(side, meta, files) for name, side in sides.items()}
    perturbed = free_run(ours, meta, files, args.perturb)
    columns = {name: (runs[name], trace) for name in sides}
    columns["pycrn, 150 steps / their code, 150 iterations"] = (runs["pycrn, 150 steps"],
                                                               runs["their code, 150 iterations"])
    columns[f"pycrn moved by {args.perturb:g} / pycrn"] = (perturbed, runs["pycrn"])
    print(f"free running ({time.perf_counter() - clock:.0f} s), the parameters after each epoch (epochs counted from "
          "the start of training), largest |difference| over largest |value|, weights / biases; against the trace "
          "unless two runs are named:")
    for j, name in enumerate(columns):
        print(f"  ({j + 1}) {name}")
    print("  epoch  " + "  ".join(f"{f'({j + 1})':>13s}" for j in range(len(columns))))
    result["free_running"] = []
    for e in range(len(files)):
        entry = dict(epoch=epoch_of(files[e]) + 1, **{name: difference(a[e], b[e]) for name, (a, b) in columns.items()})
        result["free_running"].append(entry)
        if (e + 1) in (1, 2, 5) or (e + 1) % 10 == 0 or e + 1 == len(files):
            print(f"  {entry['epoch']:5d}  " + "  ".join(
                f"{entry[name]['weights']:.0e}/{entry[name]['bias']:.0e}".rjust(13) for name in columns), flush=True)
    if args.out is not None:
        result["one_step_rows"] = steps
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
