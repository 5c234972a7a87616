"""The authors' own cross-validation models of the ligand screen, evaluated in their code and in pycrn.

The LEMBAS authors (Nilsson, Peters, Meimetis, Bryson and Lauffenburger,
"Artificial neural networks enable genome-scale simulations of intracellular
signaling", 2022) publish their 28 trained cross-validation models of the
ligand screen (``Model/CVligandScreen/MML_model_K.pt``, and the scrambled
controls ``MML_sramble_model_K.pt``) in their repository
(Lauffenburger-Lab/Artificial-Signaling-Network). This script needs a copy of
that repository's ``Model`` folder (``--reference``); nothing of it is copied
into pycrn. For every fold it

* runs their two pickled models (data and scrambled), in their code, on all
  103 conditions (the fold's three held out, the rest its training set);
* writes each model's parameters with their ``saveParam``, loads that table
  into a pycrn ``SignalingModel`` of the network shipped with pycrn
  (``load_parameters``, the migration path of the README) and runs pycrn's
  forward pass on the same conditions;

and reports the pooled held-out Pearson r over the folds (the paper's
0.796, and 0.178 for the scrambled controls), each fold's held-out and
training r, and the largest difference between the two forward passes
(their pass stops once a step changes the state by less than 1e-6 in sum;
pycrn's runs all 150 steps). With ``--ours DIR`` it also reads the held-out
predictions that ``examples/signaling_ligand_screen_cv.py --out DIR`` wrote
(``foldK_data_epochsE.npz``, for each E of ``--epochs``: a learning curve)
and puts each fold's held-out and training r next to the authors', pooled
over the folds found, and sets a summary of each model's parameters (rho(A),
sums of squared weights and biases, output scale, mean state and share of
nodes off) next to that of the authors' model, from the checkpoint
``foldK_data.pt`` there. With ``--ours`` it ends with a paired comparison
over the folds, at the last of ``--epochs``: mean held-out r on both sides,
the Wilcoxon signed-rank test of the per-fold differences, and Fisher's
exact test on the number of held-out conditions predicted with r < 0.
Next to the models it grades two predictors that use no network (the
training mean of each TF, and that mean over the training conditions with
the held-out condition's LPS status: ``baselines``), the floor a trained
model has to clear. For every model, both sides, it lists the training
conditions fitted with r < 0.5 (``training_unfitted``: fits that training
left in a poor local optimum). With two folds or more it also checks that
the authors' held-out conditions were held out: each fold's model should
fit its three conditions worse than the other folds' models, which trained
on them, do (a leak would make the two alike; ``held_out_against_training``).
``--earlier FILE ...`` takes folds graded by earlier runs of this script:
their saved predictions count in the pooled r; folds graded before
predictions were saved count in the paired comparison only.

    python benchmarks/ligand_screen_authors_models.py --reference PATH/Artificial-Signaling-Network/Model \\
        [--folds 0,1,...] [--ours DIR --epochs E1,E2,...] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from bench_signaling import load_reference
from scipy import stats

from pycrn import signaling as sig
from pycrn.signaling import datasets
from pycrn.signaling.spectral import spectral_radius


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def per_condition(y: np.ndarray, truth: np.ndarray, names) -> dict[str, float]:
    """Pearson r over the TFs of each held-out condition (one ligand's failure is hidden in a fold's pooled r)."""
    return {name: pearson(y[i], truth[i]) for i, name in enumerate(names)}


def unfitted(y: np.ndarray, truth: np.ndarray, names, below: float = 0.5) -> dict[str, float]:
    """The training conditions a model fits with Pearson r below ``below`` (over the TFs): the fits that
    training left in a poor local optimum."""
    return {name: r for name, r in per_condition(y, truth, names).items() if r < below}


def baselines(ligands: np.ndarray, tfs: np.ndarray, test: np.ndarray, train: np.ndarray) -> dict[str, np.ndarray]:
    """Predictions for the held-out rows ``test`` that use no network: the floor a trained model must clear.

    * ``training mean``: each TF's mean over the training conditions, the
      same for every held-out condition (it uses no input at all);
    * ``co-treatment mean``: that mean over the training conditions that
      share the held-out condition's value of the screen's co-treatment, the
      ligand given in the most conditions (LPS in the authors' screen: 43 of
      103). It knows only whether LPS was added.
    """
    common = int(np.argmax((ligands > 0).sum(axis=0)))
    group = ligands[:, common] > 0
    mean = tfs[train].mean(axis=0)
    by_group = {g: tfs[train[group[train] == g]].mean(axis=0) for g in (False, True) if np.any(group[train] == g)}
    same = np.array([by_group.get(bool(group[i]), mean) for i in test])
    return {"training mean": np.tile(mean, (len(test), 1)), "co-treatment mean": same}


def ligand_screen_with_reference(reference: str) -> SimpleNamespace:
    """The authors' code (``bionetwork``, imported from ``reference``), pycrn's ligand screen, and the maps between
    their node order and pycrn's: ``ref, net, ligands, tfs, conditions, names, lig_names, tf_names, their_nodes,
    node_of`` (pycrn's index of each of their nodes), ``all_folds`` and ``row`` (condition name -> row)."""
    ref = load_reference(reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the three duplicate edges, merged as the authors' loader merges them
        net, ligands, tfs, conditions = datasets.ligand_screen()
    names = list(net.nodes)
    _, their_node_list, _ = ref.loadNetwork(str(Path(reference) / "data" / "ligandScreen-Model.tsv"))
    their_nodes = np.array(their_node_list)
    return SimpleNamespace(ref=ref, net=net, ligands=ligands, tfs=tfs, conditions=conditions, names=names,
                           lig_names=[names[i] for i in net.ligands], tf_names=[names[i] for i in net.tfs],
                           their_nodes=their_nodes, node_of=np.array([names.index(n) for n in their_nodes]),
                           all_folds=datasets.ligand_screen_folds(), row={c: i for i, c in enumerate(conditions)})


def orders(net, names: list[str], tf_names: list[str], node_names, network_list, out_names=()
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pycrn's index of each of their nodes and edges (their ``networkList``: targets, sources), and pycrn's TF
    position of each of their TFs ``out_names``; all by name."""
    node = {n: i for i, n in enumerate(names)}
    nodes = np.array([node[str(n)] for n in node_names])
    targets, sources = network_list
    edge = {(int(s), int(t)): k for k, (s, t) in enumerate(zip(net.sources, net.targets))}
    edges = np.array([edge[(int(nodes[s]), int(nodes[t]))] for t, s in zip(targets, sources)])
    tf_pos = {n: j for j, n in enumerate(tf_names)}
    return nodes, edges, np.array([tf_pos[str(n)] for n in out_names])


def both_passes(ref, pickled, x_theirs, inverse, their_nodes, net, ligands
                ) -> tuple[np.ndarray, np.ndarray, sig.SignalingModel]:
    """A pickled model of theirs on all conditions: their forward pass, and pycrn's on the parameter table
    their ``saveParam`` writes, both in pycrn's TF order; and that pycrn model."""
    with torch.no_grad():
        theirs = pickled(x_theirs)[0].numpy()[:, inverse]
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "params.tsv"
        ref.saveParam(pickled, list(their_nodes), table)
        model = sig.SignalingModel(net, steps=150, tol=0.0).load_parameters(table)
    with torch.no_grad():
        mine = model(torch.as_tensor(ligands)).numpy()
    return theirs, mine, model


def parameter_summary(model: sig.SignalingModel, ligands: np.ndarray) -> dict[str, float]:
    """What a trained model's parameters look like, to set two trainings side by side: rho(A), the sums of
    squared weights and biases (the L2 terms' sums), the largest |weight|, the mean output scale, and the mean
    steady state over all conditions with the share of node states below 1e-3 (off)."""
    w, b = model.weights.detach(), model.bias.detach().numpy()
    with torch.no_grad():
        x = model.states(torch.as_tensor(ligands)).numpy()
    return dict(spectral_radius=float(spectral_radius(model.network, w)), sum_w2=float(torch.sum(w ** 2)),
                max_abs_w=float(w.abs().max()), sum_b2=float(np.sum(b ** 2)),
                output_scale=float(model.output_scale.detach().mean()), mean_state=float(x.mean()),
                off_share=float(np.mean(np.abs(x) < 1e-3)))


def held_out_against_training(fits: dict[int, np.ndarray], all_folds, row: dict, tfs: np.ndarray) -> dict | None:
    """Each held-out condition as the fold's model predicts it, against the same condition in the other models'
    training sets.

    ``fits[k]`` is fold k's model's output for all conditions. A condition
    that truly was held out should be fitted worse by its fold's model than
    by the models that trained on it; were it in that model's training set
    too (a leak), its error would look like theirs. Reported per condition:
    the held-out mean squared error over the median of the others', and how
    many of the others fit it better.
    """
    if len(fits) < 2:
        return None
    per = []
    for k, y in fits.items():
        for name in all_folds[k]:
            c = row[name]
            held = float(np.mean((y[c] - tfs[c]) ** 2))
            others = np.array([np.mean((fits[j][c] - tfs[c]) ** 2) for j in fits if j != k])
            per.append(dict(fold=k, condition=name, ratio=held / float(np.median(others)),
                            better=int(np.sum(others < held)), others=len(others)))
    ratios = np.array([p["ratio"] for p in per])
    return dict(conditions=per, median_ratio=float(np.median(ratios)), below_1_5=int(np.sum(ratios < 1.5)),
                worst_of_all=int(sum(p["better"] == p["others"] for p in per)))


def paired_comparison(rows: list[dict], epochs: int) -> dict | None:
    """pycrn's model of each fold after ``epochs`` epochs against the authors' model of the same fold.

    One training run per fold on each side, so a fold's difference carries
    both runs' spread; the tests ask whether the differences lean one way
    more than that spread explains: the Wilcoxon signed-rank test on the
    per-fold held-out r, and Fisher's exact test on the number of held-out
    conditions predicted with r < 0 (the failures seen: one condition of a
    fold anti-correlated with its data). The mean held-out r of the
    no-network co-treatment mean over the same folds comes with them.
    """
    pairs = [(e["held_out_r"], e["ours"][epochs]["held_out_r"], e["condition_r"], e["ours"][epochs]["condition_r"],
              e["baseline_r"]["co-treatment mean"]) for e in rows if epochs in e.get("ours", {})]
    if len(pairs) < 2:
        return None
    theirs, ours = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    neg_t = sum(int(v < 0) for p in pairs for v in p[2].values())
    neg_o = sum(int(v < 0) for p in pairs for v in p[3].values())
    n = sum(len(p[2]) for p in pairs)
    return dict(epochs=epochs, folds=len(pairs), mean_ours=float(ours.mean()), mean_authors=float(theirs.mean()),
                mean_co_treatment_baseline=float(np.mean([p[4] for p in pairs])), behind=int(np.sum(ours < theirs)),
                ahead=int(np.sum(ours > theirs)),
                wilcoxon_p=float(stats.wilcoxon(ours, theirs).pvalue), conditions=n, negative_ours=neg_o,
                negative_authors=neg_t,
                fisher_p=float(stats.fisher_exact([[neg_o, n - neg_o], [neg_t, n - neg_t]]).pvalue))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="the authors' Model/ folder (bionetwork.py, CVligandScreen/)")
    ap.add_argument("--folds", default="", help="comma-separated fold indices (default: all 28)")
    ap.add_argument("--ours", type=Path, default=None, help="an --out folder of examples/signaling_ligand_screen_cv.py")
    ap.add_argument("--epochs", default=None, help="which of --ours' recorded epoch counts to compare (E1,E2,...)")
    ap.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    ap.add_argument("--suffix", default="",
                    help="grade MML_model_K{SUFFIX}.pt as the authors' data models (e.g. _e2000: a model that "
                         "benchmarks/ligand_screen_authors_training.py saved after 2,000 epochs)")
    ap.add_argument("--earlier", type=Path, nargs="*", default=[],
                    help="--out files of earlier runs: their folds' saved held-out predictions stand in where "
                         "--ours has no .npz for a fold and epoch count")
    args = ap.parse_args()
    if (args.ours is None) != (args.epochs is None):
        ap.error("--ours and --epochs go together")
    epochs = [int(e) for e in args.epochs.split(",") if e] if args.epochs else []
    earlier: dict[tuple[int, int], dict] = {}
    for path in args.earlier:
        for fold in json.loads(path.read_text()).get("folds", []):
            for e, mine in fold.get("ours", {}).items():
                key = (int(fold["fold"]), int(e))
                if "prediction" in mine:
                    earlier[key] = {"prediction": np.asarray(mine["prediction"])}
                elif key not in earlier:  # graded before predictions were saved: its r values only
                    earlier[key] = {k: mine[k] for k in ("held_out_r", "condition_r", "training_r") if k in mine}

    d = ligand_screen_with_reference(args.reference)
    ref, net, ligands, tfs, conditions = d.ref, d.net, d.ligands, d.tfs, d.conditions
    lig_names, tf_names, their_nodes, all_folds, row = d.lig_names, d.tf_names, d.their_nodes, d.all_folds, d.row
    cv = Path(args.reference) / "CVligandScreen"
    folds = [int(k) for k in args.folds.split(",") if k] or list(range(len(all_folds)))
    torch.set_num_threads(1)

    rows: list[dict] = []
    pooled: dict[str, tuple[list, list]] = {}  # name -> (predictions, truths), one block per fold
    largest_difference = 0.0
    fits: dict[int, np.ndarray] = {}
    start = time.perf_counter()
    for k in folds:
        test = np.array([row[c] for c in all_folds[k]])
        train = np.setdiff1d(np.arange(len(conditions)), test)
        train_names = [conditions[i] for i in train]
        model = torch.load(cv / f"MML_model_{k}{args.suffix}.pt", weights_only=False)
        # Their layers order ligands and TFs their own way (nodeOrder into their node list): map by name.
        order_in = np.array([lig_names.index(n) for n in their_nodes[model.inputLayer.nodeOrder]])
        order_out = np.array([tf_names.index(n) for n in their_nodes[model.projectionLayer.nodeOrder]])
        x_theirs = torch.as_tensor(ligands[:, order_in])
        inverse = np.argsort(order_out)  # their TF columns back to pycrn's order
        y_theirs, y_pycrn, loaded = both_passes(ref, model, x_theirs, inverse, their_nodes, net, ligands)
        scrambled = torch.load(cv / f"MML_sramble_model_{k}.pt", weights_only=False)
        for layer in ("inputLayer", "projectionLayer"):
            if not np.array_equal(getattr(scrambled, layer).nodeOrder, getattr(model, layer).nodeOrder):
                raise SystemExit(f"fold {k}: the scrambled model's {layer} orders its nodes differently")
        y_scrambled, y_scrambled_pycrn, _ = both_passes(ref, scrambled, x_theirs, inverse, their_nodes, net, ligands)
        fits[k] = y_theirs
        largest_difference = max(largest_difference, float(np.max(np.abs(y_pycrn - y_theirs))),
                                  float(np.max(np.abs(y_scrambled_pycrn - y_scrambled))))
        entry = dict(fold=k, conditions=all_folds[k],
                     held_out_r=pearson(y_theirs[test], tfs[test]),
                     training_r=pearson(y_theirs[train], tfs[train]),
                     pycrn_forward_held_out_r=pearson(y_pycrn[test], tfs[test]),
                     scrambled_held_out_r=pearson(y_scrambled[test], tfs[test]),
                     condition_r=per_condition(y_theirs[test], tfs[test], all_folds[k]),
                     training_unfitted=unfitted(y_theirs[train], tfs[train], train_names),
                     parameters=parameter_summary(loaded, ligands))
        checkpoint = args.ours / f"fold{k}_data.pt" if args.ours is not None else None
        if checkpoint is not None and checkpoint.exists():  # ours, where training stands now
            state = torch.load(checkpoint, weights_only=False)
            mine = sig.SignalingModel(net, steps=150, tol=0.0)
            mine.load_state_dict(state["model"])
            entry["ours_parameters"] = dict(parameter_summary(mine, ligands), epoch=int(state["epoch"]))
        floor = baselines(ligands, tfs, test, train)
        entry["baseline_r"] = {name: pearson(y, tfs[test]) for name, y in floor.items()}
        entry["baseline_condition_r"] = {name: per_condition(y, tfs[test], all_folds[k]) for name, y in floor.items()}
        for key, y in (("authors", y_theirs[test]), ("pycrn_forward", y_pycrn[test]),
                       ("scrambled", y_scrambled[test]), ("scrambled, pycrn_forward", y_scrambled_pycrn[test]),
                       *((f"baseline: {name}", y) for name, y in floor.items())):
            pooled.setdefault(key, ([], []))[0].append(y)
            pooled[key][1].append(tfs[test])
        notes = []
        for e in epochs:
            path = args.ours / f"fold{k}_data_epochs{e}.npz"
            if path.exists():
                saved = np.load(path)
            elif (k, e) in earlier:  # trained elsewhere: its predictions from an earlier run of this script
                saved = earlier[(k, e)]
            else:
                continue
            if "prediction" not in saved:
                # Only the r values survive: the fold counts in the paired comparison over folds, not in the pooled r.
                mine = entry.setdefault("ours", {})[e] = dict(saved, without_prediction=True)
                notes.append(f"{e}: {mine['held_out_r']:.3f} (earlier, r only)")
                continue
            # The held-out predictions themselves (3 x 74 numbers): the pooled r over folds trained on different
            # machines can then be computed from these files alone.
            mine = entry.setdefault("ours", {})[e] = dict(
                held_out_r=pearson(saved["prediction"], tfs[test]),
                condition_r=per_condition(saved["prediction"], tfs[test], all_folds[k]),
                prediction=np.asarray(saved["prediction"]).tolist())
            if "train_prediction" in saved:  # written by the example since it keeps the training fit
                mine["training_r"] = pearson(saved["train_prediction"], saved["train_truth"])
                mine["training_unfitted"] = unfitted(saved["train_prediction"], saved["train_truth"],
                                                     train_names)
            for key, y in ((f"ours after {e} epochs", saved["prediction"]), (f"authors, folds of {e}", y_theirs[test])):
                pooled.setdefault(key, ([], []))[0].append(y)
                pooled[key][1].append(tfs[test])
            notes.append(f"{e}: {mine['held_out_r']:.3f}" +
                         (f" (training {mine['training_r']:.3f}, {len(mine['training_unfitted'])} below 0.5)"
                          if "training_r" in mine else ""))
        rows.append(entry)
        print(f"fold {k:2d}: held-out r authors {entry['held_out_r']:.3f} (pycrn's forward "
              f"{entry['pycrn_forward_held_out_r']:.3f}), training r {entry['training_r']:.3f} "
              f"({len(entry['training_unfitted'])} conditions below 0.5), scrambled "
              f"{entry['scrambled_held_out_r']:.3f}, co-treatment mean "
              f"{entry['baseline_r']['co-treatment mean']:.3f}" +
              (f"; ours after {', '.join(notes)}" if notes else ""), flush=True)
        for who, par in (("authors'", entry["parameters"]), ("ours", entry.get("ours_parameters"))):
            if par is not None:
                print(f"         {who:8s} rho(A) {par['spectral_radius']:.3f}, sum w^2 {par['sum_w2']:.0f}, max |w| "
                      f"{par['max_abs_w']:.2f}, sum b^2 {par['sum_b2']:.1f}, output scale {par['output_scale']:.3f}, "
                      f"mean state {par['mean_state']:.3f}, off {par['off_share']:.3f}"
                      + (f" (epoch {par['epoch']})" if "epoch" in par else ""))

    summary = {key: pearson(np.concatenate(p), np.concatenate(t)) for key, (p, t) in pooled.items() if p}
    counts = {key: len(p) for key, (p, t) in pooled.items() if p}
    for key, r in summary.items():
        print(f"pooled held-out r, {key:25s} ({3 * counts[key]} conditions, {counts[key]} folds): {r:.3f}")
    print(f"training r, authors' models, mean over folds: {np.mean([e['training_r'] for e in rows]):.3f}; "
          f"models leaving a training condition below r = 0.5: {sum(bool(e['training_unfitted']) for e in rows)} "
          f"of {len(rows)}")
    paired = paired_comparison(rows, max(epochs)) if epochs else None
    if paired is not None:
        print(f"paired over the {paired['folds']} folds with ours after {paired['epochs']} epochs: mean held-out r "
              f"{paired['mean_ours']:.3f} (ours) against {paired['mean_authors']:.3f} (authors'); ours behind on "
              f"{paired['behind']}, ahead on {paired['ahead']}; Wilcoxon signed-rank p = {paired['wilcoxon_p']:.3f}; "
              f"held-out conditions with r < 0: {paired['negative_ours']} (ours) and {paired['negative_authors']} "
              f"(authors') of {paired['conditions']}, Fisher's exact p = {paired['fisher_p']:.3f}; the co-treatment "
              f"mean's held-out r over the same folds {paired['mean_co_treatment_baseline']:.3f}")
    leak = held_out_against_training(fits, all_folds, row, tfs)
    if leak is not None:
        print(f"the authors' held-out conditions against the same conditions in the other {len(fits) - 1} models' "
              f"training sets: held-out MSE / median in-training MSE {leak['median_ratio']:.2f} (median), below 1.5 "
              f"for {leak['below_1_5']} of {len(leak['conditions'])}; fitted worse than by every other model for "
              f"{leak['worst_of_all']}")
    print(f"largest |pycrn - authors| over all outputs: {largest_difference:.2e}; "
          f"{time.perf_counter() - start:.0f} s")
    if args.out is not None:
        args.out.write_text(json.dumps(dict(folds=rows, pooled_held_out_r=summary, folds_pooled=counts,
                                            largest_forward_difference=largest_difference, paired=paired,
                                            held_out_against_training=leak,
                                            ours=str(args.ours) if args.ours else None, ours_epochs=epochs),
                                       indent=1))


if __name__ == "__main__":
    main()
