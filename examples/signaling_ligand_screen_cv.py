"""Cross-validation on the authors' ligand screen (LEMBAS, the ligand-screen model), with their protocol.

103 conditions (60 ligands, alone or with LPS) with activities of 74 TFs, on
the authors' 1,262-node network. Their folds: 28 folds of 3 held-out
conditions (84 in all, ``datasets.ligand_screen_folds()``). For each fold a
model is trained on the other 100 conditions and predicts the held-out
three; as the control, the same with the training TF profiles scrambled
among the training conditions (no profile left in place), as in the
authors' ``--scramble true`` runs. Reported: Pearson r between all held-out
predictions and data, for both, each fold's r on its own training
conditions (the fit), and the wall time. The authors' models
reach r = 0.796 on their 84 held-out conditions (0.178 scrambled) after
8,000 epochs of mini-batches of 5.

Run as ``python examples/signaling_ligand_screen_cv.py [epochs] [folds] [steps]``
(defaults 400 epochs, all 28 folds, 150 recurrent steps). Long runs:

* ``--out DIR`` keeps each fold's checkpoint and predictions (held-out and
  training conditions) in ``DIR``: an interrupted run resumes where it
  stopped (training resumes exactly, see ``pycrn.signaling.fit``), and the
  pooled r is computed over every fold found there, so that
* ``--jobs N`` (with ``--out``) trains the folds in ``N`` processes of one
  thread each (give it the number of cores: one fold is too small a problem
  for many threads) and reports all folds when the last has finished;
  Ctrl-C stops them all, and the same command resumes;
* ``--part I/P`` (with ``--out``) trains folds ``I, I+P, ...`` only, for
  spreading the folds over machines by hand (``--jobs`` runs its parts so);
* ``--eval EPOCHS,...`` also records the held-out predictions after those
  epoch counts of the same run (a learning curve at no extra training);
* ``--no-control`` skips the scrambled models;
* ``--seed S`` initialises fold ``k``'s model and draws its mini-batches with
  seed ``S + k`` (default 0), to tell a fold's luck from the method's;
* ``--restart EPOCHS`` sets the period of the cosine schedule's warm restarts
  (default: half the epochs). A longer run with the same period continues
  a shorter one exactly: ``640 --restart 160`` resumes the checkpoints of
  ``320`` (whose period is 160) and trains on;
* ``--recipe authors`` trains with the authors' ligand-screen script instead
  of the paper's Methods: its loss coefficients
  (``LossWeights.ligand_screen()``), weights pre-scaled to rho = 0.7, and
  its one-cycle learning rate (1e-4 up to 1e-3 at 1/8 of the epochs, down
  to 1e-5 at 95 %) with Adam's state reset every 1/40 of the epochs; at
  8,000 epochs this is their schedule exactly (peak 1,000, resets every
  200), at fewer epochs the same shape compressed. Use another ``--out``
  folder than for the default recipe (a checkpoint refuses another schedule);
* ``--adjoint`` and ``--clip`` choose how the gradient's adjoint is
  iterated: with ``--recipe authors`` by default as the authors' code does
  (Jacobi iterations, at most ``steps``, clipping limit 5 as in their
  ligand-screen script), otherwise Gauss–Seidel with limit 1. The two
  differ where a training condition's state has not converged within the
  steps (``SignalingModel``'s ``adjoint``). The ``--recipe authors`` runs
  made before this default (docs/signaling_ligand_screen.md, up to
  2026-12-05) are ``--recipe authors --adjoint gauss-seidel --clip 1``.
"""

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from pycrn import signaling as sig
from pycrn.signaling import datasets


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r over all entries (conditions x TFs pooled), as the authors report it."""
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("epochs", nargs="?", type=int, default=400)
ap.add_argument("folds", nargs="?", type=int, default=28)
ap.add_argument("steps", nargs="?", type=int, default=150)
ap.add_argument("--out", type=Path, default=None, help="folder for checkpoints and held-out predictions")
ap.add_argument("--part", default="0/1", help="I/P: train folds I, I+P, ... (needs --out to pool the parts)")
ap.add_argument("--jobs", type=int, default=1, help="train the folds in N single-threaded processes (needs --out)")
ap.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)  # --jobs's processes: the parent pools
ap.add_argument("--eval", default="", help="comma-separated epoch counts at which predictions are also recorded")
ap.add_argument("--no-control", action="store_true", help="skip the models trained on scrambled profiles")
ap.add_argument("--restart", type=int, default=None, help="epochs between warm restarts (default: epochs // 2)")
ap.add_argument("--recipe", choices=("paper", "authors"), default="paper",
                help="paper: the Methods' objective and cosine restarts; authors: their ligand-screen script's")
ap.add_argument("--adjoint", choices=("gauss-seidel", "jacobi"), default=None,
                help="how the backward pass iterates (default: jacobi, the authors' code's, with --recipe authors; "
                     "gauss-seidel otherwise; see SignalingModel)")
ap.add_argument("--clip", type=float, default=None,
                help="the adjoint's clipping limit (default: 5, the authors' script's, with --recipe authors; 1 otherwise)")
ap.add_argument("--seed", type=int, default=0,
                help="fold k's model is initialised and its mini-batches drawn with seed SEED + k (default 0)")
args = ap.parse_args()
part, parts = (int(v) for v in args.part.split("/"))
if args.out is None and parts > 1:
    ap.error("--part needs --out (the parts are pooled from the files there)")
if args.jobs < 1:
    ap.error("--jobs must be a positive number of processes")
if args.jobs > 1 and (args.out is None or parts > 1):
    ap.error("--jobs needs --out and no --part (it runs the parts itself and pools them from --out)")
evals = sorted({int(v) for v in args.eval.split(",") if v} | {args.epochs})
if evals[0] < 1 or evals[-1] > args.epochs:
    ap.error(f"--eval epochs must lie in 1..{args.epochs}")
restart = args.restart if args.restart is not None else max(1, args.epochs // 2)
if restart < 1:
    ap.error("--restart must be a positive number of epochs")
if args.recipe == "authors":
    if args.restart is not None:
        ap.error("--restart sets the cosine schedule's period; --recipe authors uses a one-cycle schedule")
    if args.epochs < 40:
        ap.error("--recipe authors needs at least 40 epochs (its Adam resets come every epochs // 40)")
    recipe = dict(lr=1e-3, weights=sig.LossWeights.ligand_screen(),
                  schedule=sig.OneCycle(epochs=args.epochs, peak=args.epochs // 8, start=0.1, end=0.01,
                                        reset_every=args.epochs // 40))
    init = dict(initial_radius=0.7, adjoint=args.adjoint or "jacobi", clip=5.0 if args.clip is None else args.clip)
else:
    recipe = dict(lr=2e-3, restart_epochs=restart)
    init = dict(adjoint=args.adjoint or "gauss-seidel", clip=1.0 if args.clip is None else args.clip)

labels = ("data",) if args.no_control else ("data", "scrambled")
if args.out is not None:
    args.out.mkdir(parents=True, exist_ok=True)


def run_parts(jobs: int) -> None:
    """Train the folds as ``jobs`` processes of this script, ``--part 0/jobs .. jobs-1/jobs``, one thread each."""
    argv, skip = [], False
    for a in sys.argv[1:]:  # this command without --jobs, then a --part of its own for each process
        if skip or a.startswith("--jobs"):
            skip = a == "--jobs"
            continue
        argv.append(a)
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, __file__, *argv, "--part", f"{i}/{jobs}", "--no-summary"], env=env)
             for i in range(jobs)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:  # they got the same Ctrl-C; wait until each has stopped
            p.wait()
        sys.exit("interrupted: the finished folds and the checkpoints are in --out; the same command resumes")
    failed = [f"{i}/{jobs} (exit status {c})" for i, c in enumerate(codes) if c != 0]
    if failed:
        sys.exit(f"parts {', '.join(failed)} failed (their messages are above); the same command resumes")


start = time.perf_counter()
if args.jobs > 1:
    run_parts(args.jobs)  # every fold's files are now in --out, where the summary below finds them

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the three duplicate edges the file lists twice, merged
    net, ligands, tfs, conditions = datasets.ligand_screen()
fold_conditions = datasets.ligand_screen_folds()[: args.folds]
print(net, f"{len(conditions)} conditions, {len(fold_conditions)} folds of 3")
row = {name: i for i, name in enumerate(conditions)}
predicted: dict = {(label, e): {} for label in labels for e in evals}
training_r: dict = {(label, e): {} for label in labels for e in evals}
# With --jobs the parts have trained every fold: this process only pools them.
mine = [] if args.jobs > 1 else [k for k in range(len(fold_conditions)) if k % parts == part]
try:
    for k in mine:
        names = fold_conditions[k]
        test = np.array([row[c] for c in names])
        train = np.array([i for i in range(len(conditions)) if i not in set(test)])
        for label in labels:
            y = tfs[train]
            if label == "scrambled":
                rng = np.random.default_rng(k)  # per fold, so that parts and resumed runs scramble alike
                while True:  # a derangement: no training condition keeps its own profile
                    order = rng.permutation(len(train))
                    if np.all(order != np.arange(len(train))):
                        break
                y = y[order]
            model = sig.SignalingModel(net, steps=args.steps, seed=args.seed + k, **init)
            checkpoint = args.out / f"fold{k}_{label}.pt" if args.out is not None else None
            for e in evals:
                done = args.out / f"fold{k}_{label}_epochs{e}.npz" if args.out is not None else None
                if done is not None and done.exists() and e < args.epochs:
                    continue  # recorded by an earlier run; training goes on from the checkpoint
                # A bar on a terminal (fit's default), except in --jobs's processes, whose bars would overwrite
                # each other.
                sig.fit(model, ligands[train], y, epochs=e, batch_size=5, seed=args.seed + k, checkpoint=checkpoint,
                        progress=False if args.no_summary else None, **recipe)
                with torch.no_grad():
                    prediction = model(torch.as_tensor(ligands[test])).numpy()
                    fitted = model(torch.as_tensor(ligands[train])).numpy()
                predicted[(label, e)][k] = prediction
                training_r[(label, e)][k] = pearson(fitted, y)
                if done is not None:
                    np.savez(done, prediction=prediction, truth=tfs[test], train_prediction=fitted, train_truth=y)
        r = pearson(predicted[("data", args.epochs)][k], tfs[test])
        print(f"fold {k + 1:2d} ({', '.join(names)}): held-out r = {r:.3f}, training r = "
              f"{training_r[('data', args.epochs)][k]:.3f}  ({time.perf_counter() - start:.0f} s)", flush=True)
except KeyboardInterrupt:
    # fit has saved the fold's last finished epoch in its checkpoint; --jobs's parent says so once for all
    if args.no_summary:
        sys.exit(130)
    sys.exit("interrupted: " + ("the finished folds and the checkpoints are in --out; the same command resumes"
                                if args.out is not None else "nothing was kept (run with --out to resume later)"))

for (label, e), by_fold in predicted.items():
    if args.no_summary:
        break
    if args.out is not None:  # every fold recorded so far, also by other parts
        for k in range(len(fold_conditions)):
            path = args.out / f"fold{k}_{label}_epochs{e}.npz"
            if path.exists():
                saved = np.load(path)
                by_fold[k] = saved["prediction"]
                if "train_prediction" in saved:  # files of older runs hold the held-out predictions only
                    training_r[(label, e)][k] = pearson(saved["train_prediction"], saved["train_truth"])
    folds = sorted(by_fold)
    if not folds:
        continue
    pred = np.concatenate([by_fold[k] for k in folds])
    truth = np.concatenate([tfs[[row[c] for c in fold_conditions[k]]] for k in folds])
    r = pearson(pred, truth)
    fits = list(training_r[(label, e)].values())
    print(f"held-out conditions ({len(pred)}, {len(folds)} folds), trained on {label:9s} for {e:5d} epochs: "
          f"Pearson r = {r:.3f}" + (f" (training r, mean over {len(fits)} folds: {np.mean(fits):.3f})" if fits else ""))
which = f"the folds in {args.jobs} processes" if args.jobs > 1 else "this part's folds"
print(f"wall time {time.perf_counter() - start:.0f} s for {which} x {len(labels)} models x {args.epochs} epochs")
