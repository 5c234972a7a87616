"""The LEMBAS authors' own ligand-screen training script, run on one fold, resumably, and graded as it trains.

pycrn's cross-validation runs of the ligand screen (``examples/signaling_ligand_screen_cv.py
--recipe authors``) fall short of the authors' published models (Nilsson, Peters, Meimetis,
Bryson and Lauffenburger, "Artificial neural networks enable genome-scale simulations of
intracellular signaling", 2022) on some folds. Their published models are one training run
per fold, and only the final one. This script trains a fold again with *their* code, so
that one can see whether their training lands where their published model did, and what its
held-out r does along the way (pycrn's runs lose single held-out conditions late in training).

It needs a copy of their repository's ``Model`` folder (``--reference``;
Lauffenburger-Lab/Artificial-Signaling-Network); nothing of it is copied into pycrn. Their
``ligandScreenCrossValidation.py`` is read from there and run as it is, in a work folder
``OUT/foldK`` (``OUT/foldK_scrambled`` for their scrambled control). Their code and data are
linked in, and so are their published models except the one being trained, so that
``benchmarks/ligand_screen_authors_models.py --reference OUT/foldK`` grades the new model beside
all the published ones. Their script has no checkpoints and takes hours per fold, so two calls
are added to its text at run time and its final ``torch.save`` goes through ``save_model`` (for
the torch installed here), each edit checked to apply exactly once:

* before the epoch loop, a resume from ``OUT/foldK/checkpoint_K.pt`` if there is one (model,
  Adam state, their state cache, their progress record, torch's and numpy's random states);
* after each epoch (after their Adam reset), a checkpoint every 50 epochs and, every
  ``--grade-every`` epochs, their whole model saved as they save it
  (``CVligandScreen/MML_model_K_eE.pt``) and its held-out r on the fold's three conditions,
  computed with their forward pass (``model(X)``, as their script's last lines).

Their script seeds nothing; ``--seed`` seeds torch and numpy before it starts, so that a run
can be repeated. A resumed run is not the uninterrupted one: ARPACK's start vector, used by
their spectral term, lives inside the process (scipy's ``eigs`` called twice on one matrix in
one process gives eigenvalues 3e-9 apart), and that much is enough to move their training: a
run resumed after 50 epochs had weights up to 0.04 away from the uninterrupted run 150 epochs
later (largest weight 0.54). The held-out r of every graded epoch, with the training wall time,
is written to ``OUT/foldK/heldout_K.json``.

With ``--trace N`` the run stops after N epochs and writes, for every mini-batch, what a
replay needs (``OUT/foldK/trace``): the conditions drawn, the input noise, the state their
spectral term picked, the learning rate, whether Adam's moments were fresh, the gradients
before and the parameters after their Adam step, and (``meta.npz``) their node, edge and
condition order, the data and the initial parameters.
``benchmarks/ligand_screen_lockstep.py`` replays such a trace in pycrn. With ``--start-from
CHECKPOINT`` the traced run starts not from their initialisation but from a checkpoint that
pycrn's ``fit`` wrote on the same fold (``examples/signaling_ligand_screen_cv.py --out DIR``:
``DIR/foldK_data.pt``): its parameters and state cache, by node, edge and condition name, at its
epoch of their schedule, with Adam's moments fresh; so the two codes can be compared late in
training, where states converge slowly and held-out conditions are won or lost.

    python benchmarks/ligand_screen_authors_training.py --reference PATH/Artificial-Signaling-Network/Model \\
        --fold 13 --out DIR [--seed 0] [--scramble] [--grade-every 1000] [--threads 1]
        [--trace N [--start-from CHECKPOINT]]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from ligand_screen_authors_models import orders, pearson, per_condition

from pycrn.checkpoints import save_atomic
from pycrn.signaling import datasets

SCRIPT = "ligandScreenCrossValidation.py"
# Where the hooks go (resume, after each epoch, their final save), exactly as these lines stand in their script.
LOOP = "e=0\nfor e in range(e, maxIter):\n"
AFTER_EPOCH = "    if e % 50 == 0:\n        plotting.printStats(e, stats)\n"
SAVE = "torch.save(model, fileName)\n"


def patched_source(text: str) -> str:
    """Their script's text with the resume before the loop, the checkpoint after each epoch and the final save."""
    for marker in (LOOP, AFTER_EPOCH, SAVE):
        if text.count(marker) != 1:
            raise SystemExit(f"{SCRIPT}: expected the line(s) {marker!r} exactly once; is this their published script?")
    text = text.replace(LOOP, "e=0\ne = _pycrn_resume(globals())\nfor e in range(e, maxIter):\n")
    text = text.replace(AFTER_EPOCH, AFTER_EPOCH + "    _pycrn_after_epoch(globals(), e)\n")
    return text.replace(SAVE, "_pycrn_save(model, fileName)\n")


def save_model(model: torch.nn.Module, path) -> None:
    """``torch.save(model, path)`` as their script does, made to work with the torch and scipy installed here.

    Their forward pass points the scipy matrix ``network.A`` at the weight tensor's memory, which here
    arrives as a memoryview, and pickle refuses memoryviews. Every forward pass points it there again,
    so a copy changes nothing but the pickle.
    """
    model.network.A.data = np.array(model.network.A.data)
    torch.save(model, path)


class TraceDone(Exception):
    """Ends their script's loop after the traced epochs."""


class Tracer:
    """Records what each of their mini-batches drew and did (``--trace``): one file per epoch in ``folder``."""

    def __init__(self, folder: Path, epochs: int) -> None:
        self.folder, self.epochs, self.steps, self.done = folder, epochs, [], 0
        folder.mkdir(parents=True, exist_ok=True)

    def install(self, ns: dict) -> None:
        """Wrap their network's forward, their spectral term and their optimizer's step, in the script's namespace."""
        model, optimizer, bionetwork = ns["model"], ns["optimizer"], ns["bionetwork"]
        net = model.network
        params = dict(weights=net.weights, bias=net.bias, projection=model.projectionLayer.weights)
        np.savez(self.folder / "meta.npz", node_names=np.asarray(ns["nodeNames"], dtype=str),
                 network_list=np.array(net.networkList), in_names=np.asarray(ns["inName"], dtype=str),
                 out_names=np.asarray(ns["outName"], dtype=str),
                 conditions=np.asarray(ns["ligandInput"].index.values, dtype=str), x=ns["X"].numpy(), y=ns["Y"].numpy(),
                 state0=ns["curState"].numpy(), **{f"initial_{k}": p.detach().numpy().copy() for k, p in params.items()})
        forward, spectral, step = net.forward, bionetwork.spectralLoss, optimizer.step

        def traced_forward(x):
            if torch.is_grad_enabled():  # a training batch (grading runs without gradients)
                with torch.no_grad():
                    noise = x - model.inputLayer(ns["dataIn"])
                self.steps.append(dict(index=ns["dataIndex"].numpy().copy(), noise=noise.numpy().copy()))
            return forward(x)

        def traced_spectral(network, states, *args, **kwargs):
            saved = np.random.get_state()  # their pick is numpy's next randint; draw it, then let them draw it again
            self.steps[-1]["pick"] = np.random.randint(states.shape[0])
            np.random.set_state(saved)
            return spectral(network, states, *args, **kwargs)

        def traced_step(*args, **kwargs):
            record = self.steps[-1]
            record.update(lr=optimizer.param_groups[0]["lr"], fresh=len(optimizer.state) == 0)
            record.update({f"grad_{k}": p.grad.detach().numpy().copy() for k, p in params.items()})
            out = step(*args, **kwargs)
            record.update({f"after_{k}": p.detach().numpy().copy() for k, p in params.items()})
            return out

        net.forward, bionetwork.spectralLoss, optimizer.step = traced_forward, traced_spectral, traced_step

    def end_epoch(self, e: int) -> None:
        np.savez(self.folder / f"epoch_{e:04d}.npz",
                 **{k: np.stack([np.asarray(s[k]) for s in self.steps]) for k in self.steps[0]})
        self.steps = []
        self.done += 1
        if self.done >= self.epochs:
            raise TraceDone


def start_from_pycrn(ns: dict, path: Path, fold: int) -> int:
    """Put a pycrn ``fit`` checkpoint of ``fold`` into their script's model and state cache; return its epoch.

    Parameters are matched by node and edge name, the cache's rows by condition (``fit``'s rows are the fold's
    training conditions in pycrn's order). Their Adam starts with fresh moments, as pycrn's replay does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the three duplicate edges, merged as their loader merges them
        net, _, _, conditions = datasets.ligand_screen()
    names = list(net.nodes)
    model = ns["model"]
    nodes, edges, tfs = orders(net, names, [names[i] for i in net.tfs], ns["nodeNames"], model.network.networkList,
                               ns["outName"])
    test = set(datasets.ligand_screen_folds()[fold])
    row = {c: r for r, c in enumerate(c for c in conditions if c not in test)}  # fit's cache rows
    state = torch.load(path, weights_only=False)
    p, cache = state["model"], state["cache"]
    if cache.shape[0] != len(row):
        raise SystemExit(f"{path}: its state cache has {cache.shape[0]} rows, fold {fold} trains on {len(row)}")
    with torch.no_grad():
        model.network.weights.copy_(p["weights"][edges])
        model.network.bias.copy_(p["bias"][nodes].reshape(-1, 1))
        model.projectionLayer.weights.copy_(p["output_scale"][tfs])
        ns["curState"][:] = cache[[row[str(c)] for c in ns["ligandInput"].index]][:, nodes]
    print(f"started from {path} at epoch {state['epoch']}", flush=True)
    return int(state["epoch"])


def prepare(reference: Path, work: Path, fold: int, scramble: bool) -> str:
    """Link their code, data and published models into ``work``; return the file name their run will save."""
    (work / "CVligandScreen").mkdir(parents=True, exist_ok=True)
    for item in reference.iterdir():
        if item.name != "CVligandScreen" and not (work / item.name).exists():
            (work / item.name).symlink_to(item.resolve())
    name = f"MML_{'sramble_' if scramble else ''}model_{fold}.pt"  # their spelling
    for item in (reference / "CVligandScreen").iterdir():
        link = work / "CVligandScreen" / item.name
        if item.name != name and not link.exists():
            link.symlink_to(item.resolve())
    target = work / "CVligandScreen" / name
    if target.is_symlink():  # their run would write through it into the published model
        raise SystemExit(f"{target} links to a published model; remove the link first")
    return name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, required=True, help="the authors' Model/ folder")
    ap.add_argument("--fold", type=int, required=True, help="their fold index (0-27)")
    ap.add_argument("--out", type=Path, required=True, help="work folder; the fold's run goes in OUT/foldK[_scrambled]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scramble", action="store_true", help="their scrambled control")
    ap.add_argument("--grade-every", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--trace", type=int, default=None, metavar="N",
                    help="record every mini-batch of N epochs in OUT/foldK/trace, then stop")
    ap.add_argument("--start-from", type=Path, default=None, metavar="CHECKPOINT",
                    help="with --trace: start their loop from a checkpoint of pycrn's fit on the same fold (its "
                         "parameters and state cache, mapped by name, at its epoch), with Adam's moments fresh; "
                         "the checkpoint does not record its fold, so --fold must be the one it was trained on")
    args = ap.parse_args()
    if args.trace is not None and args.trace < 1:
        ap.error(f"--trace {args.trace}: must be a positive number of epochs")
    if args.start_from is not None and (args.trace is None or not args.start_from.exists()):
        ap.error("--start-from needs --trace and an existing pycrn checkpoint")
    if not (args.reference / SCRIPT).exists():
        ap.error(f"--reference: no {SCRIPT} in {args.reference}")
    if not 0 <= args.fold < 28:
        ap.error(f"--fold {args.fold}: their ligand screen has folds 0-27")
    if args.grade_every <= 0 or args.grade_every % 50:
        ap.error(f"--grade-every {args.grade_every}: must be a positive multiple of 50")
    work = (args.out / f"fold{args.fold}{'_scrambled' if args.scramble else ''}").resolve()
    name = prepare(args.reference.resolve(), work, args.fold, args.scramble)
    checkpoint = work / f"checkpoint_{args.fold}.pt"
    record_path = work / f"heldout_{args.fold}.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else dict(
        fold=args.fold, seed=args.seed, scramble=args.scramble, reference=str(args.reference), epochs={})
    if (record["seed"], record["scramble"]) != (args.seed, args.scramble):
        raise SystemExit(f"{record_path} was written with seed {record['seed']} and scramble {record['scramble']}")
    clock = {"start": time.perf_counter(), "before": 0.0}
    tracer = Tracer(work / "trace", args.trace) if args.trace is not None else None
    if tracer is not None and checkpoint.exists():
        raise SystemExit(f"--trace records a run from its first epoch, and {checkpoint} would resume one; "
                         "give another --out")

    def resume(ns: dict) -> int:
        start = start_from_pycrn(ns, args.start_from, args.fold) if args.start_from is not None else 0
        if tracer is not None:
            tracer.install(ns)
        if not checkpoint.exists():
            return start
        c = torch.load(checkpoint, weights_only=False)
        ns["model"].load_state_dict(c["model"])
        ns["optimizer"].load_state_dict(c["optimizer"])
        ns["curState"][:] = c["curState"]
        ns["stats"].update(c["stats"])
        torch.set_rng_state(c["torch_rng"])
        np.random.set_state(c["numpy_rng"])
        clock["before"] = c["wall_s"]
        print(f"resumed from {checkpoint} at epoch {c['epoch'] + 1} ({c['wall_s']:.0f} s of training before)",
              flush=True)
        return c["epoch"] + 1

    test_set: dict = {}  # the held-out inputs and data, read once from their files in their column order

    def held_out(ns: dict) -> dict:
        if not test_set:
            test = list(ns["selectedTest"])
            ligands = ns["pandas"].read_csv("data/ligandScreen-Ligands.tsv", sep="\t", index_col=0)
            tfs = ns["pandas"].read_csv("data/ligandScreen-TFs.tsv", sep="\t", index_col=0)
            test_set.update(names=test, y=tfs.loc[test, ns["outName"]].values,
                            x=torch.tensor(ligands.loc[test, ns["inName"]].values.copy(), dtype=torch.double))
        with torch.no_grad():
            yhat = ns["model"](test_set["x"])[0].numpy()
        return dict(held_out_r=pearson(yhat, test_set["y"]),
                    condition_r=per_condition(yhat, test_set["y"], test_set["names"]))

    def after_epoch(ns: dict, e: int) -> None:
        done = e + 1
        wall = clock["before"] + time.perf_counter() - clock["start"]
        if done % args.grade_every == 0:
            save_model(ns["model"], work / "CVligandScreen" / name.replace(".pt", f"_e{done}.pt"))
            graded = dict(held_out(ns), wall_s=wall)
            record["epochs"][str(done)] = graded
            record_path.write_text(json.dumps(record, indent=1))
            print(f"epoch {done}: held-out r {graded['held_out_r']:.3f} "
                  + ", ".join(f"{c} {r:.2f}" for c, r in graded["condition_r"].items()) + f"; {wall:.0f} s",
                  flush=True)
        if done % 50 == 0:
            state = dict(epoch=e, model=ns["model"].state_dict(), optimizer=ns["optimizer"].state_dict(),
                         curState=ns["curState"].clone(), stats=ns["stats"], torch_rng=torch.get_rng_state(),
                         numpy_rng=np.random.get_state(), wall_s=wall)
            save_atomic(checkpoint, state)  # a kill mid-write keeps the last one
        if tracer is not None:
            tracer.end_epoch(e)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    source = patched_source((args.reference / SCRIPT).read_text())
    os.chdir(work)
    sys.path.insert(0, str(work))
    sys.argv = [SCRIPT, "--leaveOut", str(args.fold), "--scramble", "true" if args.scramble else "false"]
    namespace = {"__name__": "__main__", "_pycrn_resume": resume, "_pycrn_after_epoch": after_epoch,
                 "_pycrn_save": save_model}
    try:
        exec(compile(source, str(args.reference / SCRIPT), "exec"), namespace)
    except TraceDone:
        print(f"traced {args.trace} epochs into {tracer.folder}")
        return
    record["final"] = dict(held_out(namespace), wall_s=clock["before"] + time.perf_counter() - clock["start"])
    record_path.write_text(json.dumps(record, indent=1))
    print(f"final: held-out r {record['final']['held_out_r']:.3f}; {record['final']['wall_s']:.0f} s of training")


if __name__ == "__main__":
    main()
