"""The DeepSKA authors' own trained SDnets, loaded into pycrn and run in pycrn's estimators.

The DeepSKA authors (Badolle, Theuer, Fang, Gupta and Khammash, "Interpretable
neural approximation of stochastic reaction dynamics with guaranteed
reliability", 2025) publish one trained SDnet per network in their repository
(arthur-theuer/deep-ska: ``pretrained_models/NAME_pretrained_weights.pth``,
configurations in ``configs/NAME_analysis_only.ska.yaml``). This script needs a
checkout of that repository (``--reference``); nothing of it is copied into
pycrn. For each network it

* builds the authors' network object in their code, and checks that pycrn's
  model of the same name has the same propensities (at random states, after
  matching the reactions by change vector);
* loads their weights with ``pycrn.deepska.load_reference`` (the steady-state
  means, which the file lacks, from ``pycrn.deepska.ergodic_mean`` with the
  paper's protocol: five runs over [100, 100000]) and checks U and Delta U
  against their own subnet classes run on the same states and times;
* compares SDnet's curves from the configuration's test states with a
  ``--reference-samples`` SSA 95% interval up to t = 60 (3x the training
  horizon), and with +-5% of SSA's mean (the authors' own check), and its
  U(x, 0) with f(x); the curves themselves go into the ``--out`` file;
* estimates the outputs at t = ``--eval-time`` from each test state with plain
  SSA, SSA with DeepCV and SSA with DeepIS from ``--samples`` samples each, and
  reports the variance ratios (the seed's >= 100x claim); ``--samples 0``
  skips this, ``--pilot N`` adds DeepCV with the coefficient rho* from N
  pilot trajectories.

With ``--their-deep-cv N`` it also runs the authors' own exact DeepCV
estimator (their ``ExpectationGeneratorExactCV``, single process) with their
model from each test state, N samples, and reports its variance ratio, its
estimate and its cost per sample next to pycrn's: a check of pycrn's
estimator against theirs on the same SDnet.

This separates the two questions an own training cannot: how good the
authors' trained SDnet is, and what pycrn's estimators make of it. With
``--ours ABBR:LABEL=PATH`` SDnets trained in pycrn (``SDnet.save``) are
evaluated next to theirs, on the same states and seeds (and the same SSA band
where their outputs are the authors'). Where pycrn's model is theirs with the
species relabelled (their repressilator), pycrn's SDnets run on pycrn's model
from the relabelled states, each with its own SSA band.

    python benchmarks/deepska_authors_models.py --reference PATH/deep-ska [--networks TSW,rAIC,...]
        [--samples 1000] [--reference-samples 50000] [--out results.json] [--plots DIR]
        [--ours TSW:LABEL=PATH/toggle_switch_sdnet.pt ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

# The authors' classes, from their checkout, by their configuration's name; pycrn's model of the same network.
NETWORKS = {
    "GeneticToggleSwitch": "toggle_switch",
    "ConstitutiveGeneExpression": "constitutive_gene_expression",
    "ReferenceBasedAntitheticIntegralController": "antithetic_integral_control",
    "SensorBasedAntitheticIntegralController": "antithetic_sensor_control",
    "Repressilator": "repressilator",
    "LinearConversionCascadeWithFeedback": "linear_cascade_feedback",
    "NonlinearConversionCascade": "nonlinear_cascade",
    "SelfRegulatoryGeneExpression": "self_regulatory_gene",
    "SusceptibleInfectedRecoveredNetwork": "sir_demography",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="a checkout of arthur-theuer/deep-ska")
    parser.add_argument("--networks", default="TSW", help="their abbreviations, comma-separated (TSW, CGE, rAIC, ...)")
    parser.add_argument("--samples", type=int, default=1000,
                        help="samples per estimator at --eval-time; 0: compare the curves only")
    parser.add_argument("--reference-samples", type=int, default=50_000)
    parser.add_argument("--eval-time", type=float, default=5.0)
    parser.add_argument("--pilot", type=int, default=0, metavar="N",
                        help="also DeepCV with the coefficient rho* estimated from N pilot trajectories")
    parser.add_argument("--times", type=int, default=50, help="points of the curve comparison up to t = 60")
    parser.add_argument("--ergodic-horizon", type=float, default=100_000.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--plots", type=Path, default=None)
    parser.add_argument("--their-deep-cv", type=int, default=0, metavar="N",
                        help="also run the authors' own exact DeepCV estimator (their ExpectationGeneratorExactCV) "
                             "with N samples per test state, single process, next to pycrn's")
    parser.add_argument("--ours", nargs="+", default=[], metavar="ABBR[:LABEL]=PATH",
                        help="SDnets trained in pycrn (SDnet.save files) to evaluate next to the authors', "
                             "e.g. TSW:full=out/toggle_switch_sdnet.pt")
    args = parser.parse_args()
    ours: dict[str, list[tuple[str, str]]] = {}
    for item in args.ours:  # ABBR[:LABEL]=PATH
        key, _, path = item.partition("=")
        abbr, _, label = key.partition(":")
        ours.setdefault(abbr, []).append((label or "pycrn", path))

    import torch
    import yaml

    import pycrn
    from pycrn import deepska
    sys.path.insert(0, str(args.reference / "src"))
    from deep_ska.reaction_networks import examples
    from deep_ska.subnets.v_subnets import SpectralDecompositionExpectationSubnet

    results = {"reference": str(args.reference), "samples": args.samples,
               "reference_samples": args.reference_samples, "eval_time": args.eval_time, "networks": {}}
    for abbr in args.networks.split(","):
        cfg = yaml.safe_load((args.reference / "configs" / f"{abbr}_analysis_only.ska.yaml").read_text())
        rn_cfg, nn_cfg, val_cfg = cfg["reaction_network_config"], cfg["neural_network_config"], cfg["validation_config"]
        theirs = getattr(examples, rn_cfg["reaction_network"])(rn_cfg)
        net = pycrn.models.get(NETWORKS[rn_cfg["reaction_network"]])
        zeta_ref = np.asarray(theirs.stoichiometry_matrix, dtype=np.int64)
        # Same network? Propensities at random states, reactions matched by change vector.
        rng = np.random.default_rng(0)
        states = rng.integers(0, 40, size=(300, len(theirs.species_labels)))
        lam_ref = np.array([theirs._calculate_all_propensities(s.astype(float)) for s in states])
        try:
            order, gap = _propensity_gap(net, zeta_ref, states, lam_ref)
        except ValueError as err:  # other reactions or species
            print(f"{abbr}: {err}")
            gap = float("inf")
        print(f"{abbr}: pycrn.models.{net.name} against their {rn_cfg['reaction_network']}: propensities differ by "
              f"at most {gap:.2g} (relative) at 300 random states")
        entry = {"network": net.name, "propensity_gap": gap}
        results["networks"][abbr] = entry
        own, relabel = net, None  # pycrn's model, and their species j's index in it where only the labels differ
        if gap > 1e-9:
            relabel = _species_relabeling(net, zeta_ref, states, lam_ref)
            if relabel is not None:
                entry["species_relabeling"] = {str(theirs.species_labels[j]): net.species_names[i]
                                               for j, i in enumerate(relabel)}
                print(f"{abbr}: pycrn's model is theirs with the species relabelled "
                      f"{entry['species_relabeling']}: SDnets trained in pycrn are evaluated on pycrn's model "
                      "from the relabelled test states")
            # Their trained model belongs to their network: rebuild that one in pycrn's language and check it.
            try:
                net = pycrn.parse(_network_text(theirs, abbr))
            except ValueError as err:  # a reaction type the translation does not cover
                print(f"{abbr}: could not rebuild their network ({err}); skipped")
                continue
            order, gap = _propensity_gap(net, zeta_ref, states, lam_ref)
            entry.update(network=f"the authors' {rn_cfg['reaction_network']}", network_text=str(net),
                         rebuilt_propensity_gap=gap)
            print(f"{abbr}: pycrn's model differs from their code; their network rebuilt in pycrn:\n{net}\n"
                  f"propensities differ from theirs by at most {gap:.2g}")
            if gap > 1e-9:
                print(f"{abbr}: could not rebuild their network; skipped")
                continue
        species = [net.species_names[i] for i in np.atleast_1d(theirs.out_species_indices)]
        outputs = [f"{s}**{p}" if p != 1 else s for p in rn_cfg["output_function_arguments"]["monomial_orders"]
                   for s in species]
        clock = time.perf_counter()
        steady, steady_se = deepska.ergodic_mean(net, outputs, burn_in=100.0, horizon=args.ergodic_horizon, runs=5,
                                                 seed=1, std_error=True)
        entry.update(outputs=outputs, steady=np.asarray(steady).tolist(), steady_std_error=steady_se.tolist(),
                     ergodic_seconds=time.perf_counter() - clock)
        weights = args.reference / nn_cfg["trained_model_path"]
        sd = deepska.load_reference(weights, net, outputs, steady=steady, stoichiometry_order=zeta_ref,
                                    horizon=float(rn_cfg["t_stop"]), dt=float(rn_cfg["t_stop"]) / (rn_cfg["n_time_samples"] - 1))

        # Their subnets on the same states and times: the loaded SDnet must reproduce them.
        state = torch.load(weights, map_location="cpu", weights_only=True)
        nspecies, nreact, nout = len(net.species_names), len(net.reactions), len(outputs)
        args_ref = (torch.as_tensor(np.asarray(steady), dtype=torch.float64).reshape(1, -1), state["func_coord_real"],
                    state["func_coord_imag"], state["decay_real"], state["decay_imag"])
        x = torch.as_tensor(rng.integers(0, 30, size=(50, nspecies)), dtype=torch.float64)
        grid = torch.linspace(0.0, float(rn_cfg["t_stop"]), 21, dtype=torch.float64)
        xs = x.unsqueeze(1).expand(50, grid.numel(), nspecies)
        gaps = {}
        for name, int_net in (("main_net", False), ("diff_net", True)):
            sub = SpectralDecompositionExpectationSubnet(nspecies, nreact, nout, nn_cfg, int_net=int_net).double()
            sub.pairing_mode = "unconstrained"
            sub.load_state_dict({k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")})
            with torch.no_grad():
                ref = sub(xs, float(rn_cfg["t_stop"]), grid, *args_ref).real
                u, du = sd.value_and_delta(xs.reshape(-1, nspecies), (float(rn_cfg["t_stop"]) - grid).repeat(50))
            if int_net:
                ref = ref.view(50, grid.numel(), nout, nreact)[..., np.argsort(order)]
                mine = du.view(50, grid.numel(), nreact, nout).transpose(-1, -2)
            else:
                ref, mine = ref.view(50, grid.numel(), nout), u.view(50, grid.numel(), nout)
            gaps[name] = float((ref - mine).abs().max() / ref.abs().max())
        entry["forward_gap_relative"] = gaps
        print(f"{abbr}: loaded SDnet against their subnets: U {gaps['main_net']:.1e}, Delta U {gaps['diff_net']:.1e} "
              "(largest difference over largest value)")

        # Curves against SSA, from the configuration's test states, to 3x the training horizon.
        horizon = float(val_cfg["t_stop"])
        times = np.linspace(horizon / args.times, horizon, args.times)
        models = {"authors": sd}
        for label, path in ours.get(abbr, []):  # SDnets trained in pycrn, on the same states, bands and seeds
            if own is not net and relabel is None:
                print(f"{abbr}: {path} belongs to pycrn's model, which is not theirs up to a relabelling; skipped")
                continue
            models[label] = deepska.load(path, own)
            entry[f"sdnet_{label}"] = {"path": str(path), "config": models[label].config,
                                       "outputs": models[label].output_names}
        curves = {who: [] for who in models}
        for who in models:
            entry["states" if who == "authors" else f"states_{who}"] = {}
        for i, x0 in enumerate(val_cfg["test_states"]):
            x0 = dict(zip(net.species_names, (int(v) for v in x0)))
            key = str(list(x0.values()))
            clock = time.perf_counter()
            ssa = deepska.estimate(net, None, x0, times, args.reference_samples, "ssa", seed=10 + i, outputs=outputs)
            ssa_seconds = time.perf_counter() - clock
            for who, model in models.items():
                model_net, model_x0 = net, x0
                if who != "authors" and own is not net:  # pycrn's model, the same state under its labels
                    model_net = own
                    model_x0 = {own.species_names[relabel[j]]: v for j, v in enumerate(x0.values())}
                band = ssa  # another SDnet's outputs get their own band, from the same seed
                if model.output_names != outputs or model_net is not net:
                    band = deepska.estimate(model_net, None, model_x0, times, args.reference_samples, "ssa",
                                            seed=10 + i, outputs=model.output_names)
                row, pred = _evaluate(deepska, model_net, model, model_x0, times, band, args.samples,
                                      args.eval_time, float(rn_cfg["t_stop"]), args.pilot)
                if model_x0 is not x0:
                    row["state_relabelled"] = model_x0
                row["ssa_seconds"] = ssa_seconds
                entry["states" if who == "authors" else f"states_{who}"][key] = row
                curves[who].append((str(list(model_x0.values())), band, pred))
                line = (f"{abbr} ({who}) from {key}: SDnet inside SSA's 95% CI at "
                        + ", ".join(f"{o} {v:.0%}" for o, v in row["inside_ci"].items())
                        + f" of {times.size} times (within the horizon "
                        + ", ".join(f"{v:.0%}" for v in row["inside_ci_within_horizon"].values())
                        + "; median miss " + ", ".join(f"{v:.2g}" for v in row["miss_in_half_widths_median"].values())
                        + " half-widths); within +-5% of SSA's mean at "
                        + ", ".join(f"{o} {v:.0%}" for o, v in row["within_5pct"].items())
                        + " (within the horizon "
                        + ", ".join(f"{v:.0%}" for v in row["within_5pct_within_horizon"].values())
                        + f"); U(x, 0) = {np.round(row['u_at_0'], 3).tolist()} vs f = {row['f']}")
                if "variance_ratio_deep_cv" in row:
                    line += (f"; at t = {args.eval_time:g} SSA/DeepCV "
                             + ", ".join(f"{o} {v:.3g}" for o, v in row["variance_ratio_deep_cv"].items())
                             + "; SSA/DeepIS "
                             + ", ".join(f"{o} {v:.3g}" for o, v in row["variance_ratio_deep_is"].items()))
                if "variance_ratio_deep_cv_pilot" in row:
                    line += ("; SSA/DeepCV with rho* from the pilot "
                             + ", ".join(f"{o} {v:.3g}" for o, v in row["variance_ratio_deep_cv_pilot"].items()))
                print(line, flush=True)
            if args.their_deep_cv > 0 and who == "authors":
                their = _their_deep_cv(examples, rn_cfg, nn_cfg, val_cfg, weights, steady, x0, args.eval_time,
                                       args.their_deep_cv, seed=100 + i)
                entry["states"][key]["their_deep_cv"] = their
                print(f"{abbr} (authors) from {key}: their own exact DeepCV, {args.their_deep_cv} samples: SSA/DeepCV "
                      + ", ".join(f"{o} {v:.3g}" for o, v in zip(outputs, their["variance_ratio"]))
                      + f"; estimate {np.round(their['estimate'], 3).tolist()} +- "
                      + f"{np.round(their['std_error'], 3).tolist()} ({their['ms_per_sample']:.0f} ms per sample)",
                      flush=True)
        if args.plots is not None:
            for who, rows in curves.items():
                _plot(args.plots / f"deepska_{who}_{abbr}.png", abbr, models[who].output_names, rows, float(rn_cfg["t_stop"]),
                      args.reference_samples, "authors' SDnet in pycrn" if who == "authors" else "SDnet trained in pycrn")
        if args.out is not None:  # after every network: a long run keeps what it finished
            args.out.write_text(json.dumps(results, indent=1))
    if args.out is not None:
        print(f"wrote {args.out}")


def _propensity_gap(net, zeta_ref: np.ndarray, states: np.ndarray, lam_ref: np.ndarray) -> tuple[np.ndarray, float]:
    """pycrn's reaction index of each of the authors' reactions, and the largest relative difference of propensities."""
    from pycrn.deepska.reference import _reaction_order
    from pycrn.deepska.sdnet import stoichiometry
    from pycrn.propensity import propensity_function

    order = _reaction_order(zeta_ref, stoichiometry(net))
    lam = propensity_function(net, net.parameter_values(None))(states)
    return order, float(np.max(np.abs(lam[:, order] - lam_ref) / (1 + np.abs(lam_ref))))


def _species_relabeling(net, zeta_ref: np.ndarray, states: np.ndarray, lam_ref: np.ndarray) -> np.ndarray | None:
    """``relabel[j]``: pycrn's index of the authors' species ``j`` if a relabelling makes the two models equal.

    The authors' repressilator is the paper's with genes 2 and 3 swapped, so its E[P_1] from a state is pycrn's
    E[P1] from the relabelled state, and SDnets trained on either model answer the same question. Searched over
    all species permutations (up to 8 species), pruned by the change vectors.
    """
    from itertools import permutations

    n = zeta_ref.shape[1]
    if n > 8:
        return None
    for perm in permutations(range(n)):
        relabel = np.asarray(perm)
        zeta, mapped = np.zeros_like(zeta_ref), np.zeros_like(states)
        zeta[:, relabel], mapped[:, relabel] = zeta_ref, states
        try:
            _, gap = _propensity_gap(net, zeta, mapped, lam_ref)
        except ValueError:  # a change vector without counterpart under this relabelling
            continue
        if gap <= 1e-9:
            return relabel
    return None


def _evaluate(deepska, net, sd, x0: dict, times: np.ndarray, ssa, samples: int, eval_time: float,
              horizon: float, pilot: int = 0) -> tuple[dict, object]:
    """SDnet's curve against the SSA band, its U(x, 0), and the three estimators' variances at ``eval_time``.

    Besides the share of times inside the band, the share within +-5% of SSA's mean (the authors' own check,
    ``compare_nn_expectation_with_ssa_tolerance`` in their pipeline; :func:`pycrn.deepska.agreement`), each within
    and beyond the training ``horizon``, and how far SDnet lies from SSA's estimate in units of the band's
    half-width (1 is the band's edge). ``samples`` 0: the curves only, no estimators. ``pilot`` > 0: DeepCV
    also with the coefficient rho* from that many pilot trajectories (``coefficient="pilot"``).
    """
    outputs = sd.output_names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # beyond the horizon on purpose
        pred = sd.predict(x0, times)
        at0 = sd.predict(x0, [0.0]).values[:, 0]
    f0 = sd.outputs(sd.state_vector(x0)[None, :])[0]
    low, high, mid = ssa["ci_low"].values, ssa["ci_high"].values, ssa["estimate"].values
    fit = deepska.agreement(pred, ssa, tolerance=0.05, horizon=horizon)
    miss = np.abs(pred.values - mid) / np.maximum((high - low) / 2, 1e-300)
    rel = np.abs(pred.values - mid) / np.maximum(np.abs(mid), 1.0)

    def per_output(name):
        return dict(zip(outputs, fit[name].values.tolist()))

    row = {"inside_ci": per_output("inside_ci"),
           "inside_ci_within_horizon": per_output("inside_ci_within_horizon"),
           "inside_ci_beyond_horizon": per_output("inside_ci_beyond_horizon"),
           "within_5pct": per_output("within_tolerance"),
           "within_5pct_within_horizon": per_output("within_tolerance_within_horizon"),
           "within_5pct_beyond_horizon": per_output("within_tolerance_beyond_horizon"),
           "miss_in_half_widths_median": per_output("miss_half_widths"),
           "miss_in_half_widths_max": dict(zip(outputs, miss.max(1).tolist())),
           "max_relative_error": dict(zip(outputs, rel.max(1).tolist())),
           "band_half_width_at_end": dict(zip(outputs, ((high - low)[:, -1] / 2).tolist())),
           "u_at_0": at0.tolist(), "f": np.asarray(f0).tolist(),
           "curve": {"times": times.tolist(), **{name: _significant(v) for name, v in (
               ("sdnet", pred.values), ("ssa_mean", mid), ("ssa_ci_low", low), ("ssa_ci_high", high))}}}
    if samples <= 0:  # the curves only
        return row, pred
    var = {}
    for method in ("ssa", "deep_cv", "deep_is"):
        c = time.perf_counter()
        est = deepska.estimate(net, sd, x0, [eval_time], samples, method, seed=5)
        var[method] = est["variance"].values[:, 0]
        row[f"{method}_estimate"] = est["estimate"].values[:, 0].tolist()
        row[f"{method}_std_error"] = est["std_error"].values[:, 0].tolist()
        row[f"{method}_ms_per_sample"] = (time.perf_counter() - c) / samples * 1e3
    if pilot > 0:  # the same trajectories as deep_cv above, the coefficient rho* from independent pilot ones
        c = time.perf_counter()
        est = deepska.estimate(net, sd, x0, [eval_time], samples, "deep_cv", seed=5, coefficient="pilot", pilot=pilot)
        var["deep_cv_pilot"] = est["variance"].values[:, 0]
        row["deep_cv_pilot_estimate"] = est["estimate"].values[:, 0].tolist()
        row["deep_cv_pilot_std_error"] = est["std_error"].values[:, 0].tolist()
        row["deep_cv_pilot_coefficient"] = est["coefficient"].values[:, 0].tolist()
        row["deep_cv_pilot_ms_per_sample"] = (time.perf_counter() - c) / samples * 1e3
        row["variance_ratio_deep_cv_pilot"] = dict(zip(outputs, (var["ssa"] / var["deep_cv_pilot"]).tolist()))
    row["variance_ratio_deep_cv"] = dict(zip(outputs, (var["ssa"] / var["deep_cv"]).tolist()))
    row["variance_ratio_deep_is"] = dict(zip(outputs, (var["ssa"] / var["deep_is"]).tolist()))
    return row, pred


def _significant(values: np.ndarray, digits: int = 7) -> list:
    """Nested lists of ``values`` rounded to ``digits`` significant digits (the curves' JSON stays small)."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"))(np.asarray(values, dtype=float)).tolist()


def _their_deep_cv(examples, rn_cfg: dict, nn_cfg: dict, val_cfg: dict, weights: Path, steady, x0: dict,
                   t_stop: float, n: int, seed: int) -> dict:
    """The authors' own exact DeepCV (``ExpectationGeneratorExactCV``) with their model, from ``x0`` to ``t_stop``.

    Their estimator freezes Delta U at the last event's time over each interval between events (a left-point
    rule; still a martingale, so still unbiased), where pycrn integrates Delta U(x, T - s) exactly. Plain SSA's
    variance is taken from the same trajectories (their ``final_output``), as pycrn's ratio is.
    """
    import copy

    import torch
    from deep_ska.analysis.analyzers import ExpectationGeneratorExactCV
    from deep_ska.core.model import ExpectationModel

    nn_cfg = copy.deepcopy(nn_cfg)
    nn_cfg["v"]["stationary_mean_initialization"] = "zeros"  # set below: their "estimate" reruns the ergodic means
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # as their RunContext does
    try:
        network = getattr(examples, rn_cfg["reaction_network"])(rn_config=rn_cfg, initial_state=np.array(list(x0.values()), dtype=float))
        model = ExpectationModel(network, torch.Generator().manual_seed(0), nn_cfg)
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=False)
        for name in ("main_net", "diff_net", "quot_net"):  # their main.py's switch to real outputs for the analysis
            if getattr(model, name, None) is not None:
                getattr(model, name).allow_complex = False
        with torch.no_grad():
            model.v_stationary_mean.copy_(torch.as_tensor(np.asarray(steady), dtype=torch.float64).reshape(1, -1))
        generator = ExpectationGeneratorExactCV(network, model, val_cfg, seed=seed)
        clock = time.perf_counter()
        draws = [generator.sample_final_exact_cv_trajectory(t_stop) for _ in range(n)]
        seconds = time.perf_counter() - clock
    finally:
        torch.set_default_dtype(default)
    final = np.array([np.ravel(f) for f, _ in draws])
    adjusted = final - np.array([np.ravel(a) for _, a in draws])
    return {"samples": n, "estimate": adjusted.mean(0).tolist(),
            "std_error": (adjusted.std(0, ddof=1) / np.sqrt(n)).tolist(),
            "ssa_estimate": final.mean(0).tolist(),
            "variance_ratio": (final.var(0, ddof=1) / adjusted.var(0, ddof=1)).tolist(),
            "ms_per_sample": seconds / n * 1e3}


def _network_text(theirs, name: str) -> str:
    """The authors' network (their ``reaction_dict``, reactant and product matrices) in pycrn's language."""
    species = [str(s) for s in theirs.species_labels]
    par = theirs.parameter_dict

    def side(row) -> str:
        terms = [(f"{n} " if n > 1 else "") + species[j] for j, n in enumerate(row) if n > 0]
        return " + ".join(terms) if terms else "0"

    lines = [f"# {name} (the DeepSKA authors' code)", "@species " + " ".join(f"{s}=0" for s in species)]
    for k in range(theirs.n_reactions):
        kind, *a = theirs.reaction_dict[k]
        left, right = side(theirs.reactant_matrix[k]), side(theirs.product_matrix[k])
        if kind == "mass action":
            lines.append(f"{par[a[0]]!r}, {left} --> {right}")
        elif kind == "Hill repression":
            s, amp, half, hill = species[a[0]], par[a[1]], par[a[2]], par[a[3]]
            base = par[a[4]] if a[4] is not None else 0.0
            lines.append(f"{base!r} + {amp!r} / ({half!r} + {s} ^ {hill!r}), {left} => {right}")
        else:
            raise ValueError(f"{name}: reaction {k}'s type {kind!r} has no translation into pycrn's language here")
    return "\n".join(lines) + "\n"


def _plot(path: Path, abbr: str, outputs: list[str], curves: list, horizon: float, n: int, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(curves), len(outputs), figsize=(4 * len(outputs), 2.6 * len(curves)), squeeze=False)
    for row, (key, ssa, pred) in enumerate(curves):
        for col, out in enumerate(outputs):
            ax, s = axes[row, col], ssa.sel(output=out)
            ax.fill_between(s["time"], s["ci_low"], s["ci_high"], color="0.7", label=f"SSA 95% CI ({n:,})")
            ax.plot(pred["time"], pred.sel(output=out), "C0", lw=1, label=label)
            ax.axvline(horizon, color="k", ls=":", lw=0.8)
            ax.set_title(f"{abbr}: {out} from {key}", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
