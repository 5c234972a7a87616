"""SDnets against the exact expected outputs, from the backward equation on a truncated state space.

For a network with few species, U(x, f, t) = E_x[f(X(t))] for *every* initial
state x of a box at once solves the backward Kolmogorov equation
dU/dt = Q U, U(., 0) = f, with Q the generator restricted to the box
(transitions that would leave it are dropped, so the box must be large
enough: ``--check-truncation`` solves again on a box twice as large in every
direction and reports the largest difference at the states compared; for
constitutive gene expression with R <= 40, P <= 200 it was 4.4e-12 relative). Solving for f and
f^2 gives the variance, and with it the half-width of the 95% interval that a
plain SSA estimate from ``--band-samples`` samples would have (1.96 sd / sqrt(n)).

For each SDnet (``SDnet.save`` files, or the authors' published model of the
network through ``--authors``) and each state and output it reports, over the
times linspace(0, ``--t-max``, ``--times``) after 0: the miss |SDnet - U| in those
half-widths, within the training horizon and beyond it (median, largest,
share of times inside), U(x, 0) against f(x), and the decay modes. Unlike a
comparison with an SSA band, nothing here is random, so small differences
between SDnets are visible and the steady-state mean's own error is not
mixed in (it is reported apart).

With ``--cv-time t`` it also gives the variance of SSA with DeepCV at time t
for each SDnet and state, exactly: the isometry of stochastic integrals
against the reactions' compensated counting processes turns it into an
integral over the forward distribution of the squared error of SDnet's
Delta U (``deep_cv_variance``), so variance ratios come without the noise of
sample variances, and with where in the remaining time the variance comes from.

    python benchmarks/deepska_exact_curves.py --network constitutive_gene_expression --bounds R=50,P=250
        --outputs P P**2 --states 0,0 2,22 7,40 3,47 17,87 --sdnet LABEL=PATH [...] [--cv-time 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.sparse.linalg import expm_multiply, spsolve

import pycrn
from pycrn import deepska
from pycrn.deepska.outputs import Outputs
from pycrn.deepska.spectrum import box_generator


def exact(net, outputs, bounds: dict[str, int], states: np.ndarray,
          times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E_x[f(X(t))] and E_x[f(X(t))^2], (times, states, outputs), for the given states; and U(f), the stationary
    mean of each output (pi Q = 0 on the box, one equation replaced by sum(pi) = 1)."""
    gen = box_generator(net, bounds)
    q, box = gen.Q.T.tocsr(), gen.states  # the backward generator (rows: from-states)
    f = Outputs(net, outputs)(box)  # (box, outputs)
    qt = gen.Q.tolil()
    qt[0, :] = np.ones(q.shape[0])
    rhs = np.zeros(q.shape[0])
    rhs[0] = 1.0
    pi = spsolve(qt.tocsc(), rhs)
    steady = pi @ f
    g = np.concatenate([f, f * f], axis=1)
    u = expm_multiply(q, g, start=0.0, stop=float(times[-1]), num=len(times), endpoint=True)  # (times, box, 2 outputs)
    idx = np.ravel_multi_index(tuple(states.T), box.max(axis=0) + 1)
    m = f.shape[1]
    return u[:, idx, :m], u[:, idx, m:], steady


def deep_cv_variance(net, outputs, bounds: dict[str, int], starts: np.ndarray, t_eval: float, models: dict,
                     steps: int = 201) -> dict:
    """The variance of plain SSA and of SSA with DeepCV at ``t_eval``, exactly, for each SDnet and start.

    DeepCV's estimate from one path is f(X(t)) - sum_k int Delta_k U_hat(X(s-), t - s) dM_k(s), with M_k the
    compensated counting process of reaction k. Its error is the same stochastic integral with the error of
    Delta_k U_hat, so by the isometry of these integrals

        Var = int_0^t sum_x p(x, s) sum_k lambda_k(x) (Delta_k U(x, t - s) - Delta_k U_hat(x, t - s))^2 ds,

    and plain SSA's is the same with U_hat = 0 (it equals Var f(X(t)), checked). p comes from the forward
    equation, U from the backward one, on the box; the integral is the trapezoid rule over ``steps`` points.
    Also returned: the share of DeepCV's variance from remaining times t - s in (0, 0.5], (0.5, 2] and beyond.
    """
    gen = box_generator(net, bounds)
    box = gen.states
    f = Outputs(net, outputs)(box)
    h = t_eval / (steps - 1)
    back = expm_multiply(gen.Q.T.tocsr(), f, start=0.0, stop=t_eval, num=steps, endpoint=True)  # [j]: U(., tau = j h)
    valid = gen.target.T >= 0  # (box, reactions): a jump that stays in the box
    neighbour = np.where(valid, gen.target.T, 0)
    rate = np.where(valid, gen.propensities, 0.0)[:, :, None]  # (box, reactions, 1)
    starts_idx = np.ravel_multi_index(tuple(np.asarray(starts).T), box.max(axis=0) + 1)
    fwd = []
    for i in starts_idx:
        e = np.zeros(len(box))
        e[i] = 1.0
        fwd.append(expm_multiply(gen.Q, e, start=0.0, stop=t_eval, num=steps, endpoint=True))  # [j]: p(., s = j h)
    fwd = np.stack(fwd)  # (starts, steps, box)
    reach = np.flatnonzero(fwd.max(axis=(0, 1)) > 1e-12)  # states that carry probability before t_eval
    weights = np.full(steps, h)
    weights[[0, -1]] = h / 2
    shares = {"tau<=0.5": lambda tau: tau <= 0.5, "0.5<tau<=2": lambda tau: (tau > 0.5) & (tau <= 2.0),
              "tau>2": lambda tau: tau > 2.0}
    tau = t_eval - h * np.arange(steps)  # remaining time at s = j h

    def integrand(err_of_j):  # (steps, starts, outputs): sum_x p sum_k lambda err^2 at each s
        out = np.zeros((steps, len(starts_idx), f.shape[1]))
        for j in range(steps):
            err2 = (rate[reach] * err_of_j(j) ** 2).sum(axis=1)  # (reach, outputs)
            out[j] = fwd[:, j, reach] @ err2
        return out

    def exact_delta(j):
        u = back[steps - 1 - j]
        return u[neighbour[reach]] - u[reach][:, None, :]

    plain = integrand(exact_delta)
    first = np.stack([fwd[:, -1, :] @ f, fwd[:, -1, :] @ (f * f)])  # E f, E f^2 at t_eval
    result = {"t_eval": t_eval, "steps": steps, "starts": np.asarray(starts).tolist(),
              "ssa": (weights @ plain.reshape(steps, -1)).reshape(plain.shape[1:]).tolist(),
              "var_f": (first[1] - first[0] ** 2).tolist(), "models": {}}
    xs = box[reach]
    for label, sd in models.items():
        with torch.no_grad():
            hat = [sd.delta(xs, float(tau[j])).double().numpy() for j in range(steps)]  # (reach, reactions, outputs)
        dv = integrand(lambda j, hat=hat: exact_delta(j) - hat[j])
        total = (weights @ dv.reshape(steps, -1)).reshape(dv.shape[1:])
        result["models"][label] = {
            "deep_cv": total.tolist(),
            "ratio": (np.asarray(result["ssa"]) / total).tolist(),
            "share": {name: (((weights * sel(tau)) @ dv.reshape(steps, -1)).reshape(dv.shape[1:]) / total).tolist()
                      for name, sel in shares.items()}}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", required=True, help="a pycrn.models name")
    ap.add_argument("--bounds", required=True, help="upper bound of each species, e.g. R=50,P=250")
    ap.add_argument("--outputs", nargs="+", required=True)
    ap.add_argument("--states", nargs="+", required=True, help="initial states, counts in species order: 0,0 2,22")
    ap.add_argument("--sdnet", nargs="*", default=[], metavar="LABEL=PATH")
    ap.add_argument("--authors", default=None, metavar="ABBR=PATH",
                    help="also the authors' published model of this network: their abbreviation and a deep-ska "
                         "checkout, e.g. CGE=/tmp/deep-ska")
    ap.add_argument("--t-max", type=float, default=60.0)
    ap.add_argument("--times", type=int, default=121)
    ap.add_argument("--band-samples", type=int, default=50_000)
    ap.add_argument("--check-truncation", action="store_true",
                    help="solve again on a box twice as large and report the largest difference")
    ap.add_argument("--cache", type=Path, default=None,
                    help="an .npz file keeping the exact solution for reruns with the same network, box, states and times")
    ap.add_argument("--cv-time", type=float, default=None,
                    help="also DeepCV's variance at this time, exactly (backward and forward equations), "
                         "next to plain SSA's, for each SDnet and state")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    net = pycrn.models.get(args.network)
    bounds = {k: int(v) for k, v in (item.split("=") for item in args.bounds.split(","))}
    if set(bounds) != set(net.species_names):
        ap.error(f"--bounds must name every species of {net.name}: {net.species_names}")
    states = np.array([[int(c) for c in s.split(",")] for s in args.states])
    times = np.linspace(0.0, args.t_max, args.times)
    clock = time.perf_counter()
    key = json.dumps([net.name, bounds, args.outputs, states.tolist(), times.tolist()])
    saved = np.load(args.cache) if args.cache is not None and args.cache.exists() else None
    if saved is not None and str(saved["key"]) == key:
        mean, second, steady = saved["mean"], saved["second"], saved["steady"]
        print(f"exact U read from {args.cache}")
    else:
        mean, second, steady = exact(net, args.outputs, bounds, states, times)
        print(f"exact U from the backward equation on {bounds} in {time.perf_counter() - clock:.1f} s")
        if args.cache is not None:
            np.savez(args.cache, key=key, mean=mean, second=second, steady=steady)
    truncation = None
    if args.check_truncation:
        wide_mean, _, _ = exact(net, args.outputs, {k: 2 * v + 1 for k, v in bounds.items()}, states, times)
        truncation = float(np.max(np.abs(wide_mean - mean) / (1 + np.abs(wide_mean))))
        print(f"the doubled box differs by at most {truncation:.2g} (relative) at these states")
    half = 1.96 * np.sqrt(np.maximum(second - mean**2, 0.0) / args.band_samples)

    models = {}
    for item in args.sdnet:
        label, path = item.split("=", 1)
        models[label] = deepska.load(path, net, args.outputs)
    if args.authors is not None:
        abbr, path = args.authors.split("=", 1)
        models["authors"] = _authors_model(Path(path), abbr, net, args.outputs)

    results = {"network": net.name, "bounds": bounds, "outputs": args.outputs, "states": states.tolist(),
               "times": times.tolist(), "band_samples": args.band_samples, "truncation": truncation,
               "exact_steady": steady.tolist(), "models": {}}
    print(f"misses in half-widths of a {args.band_samples:,}-sample 95% interval; t in [0, {args.t_max:g}]")
    for label, sd in models.items():
        horizon = sd.horizon or 20.0
        sigma = sd.decay_modes().detach().to(torch.complex128).numpy()
        order = np.argsort(sigma.real)
        entry = {"decay_rates": sigma.real[order].tolist(), "frequencies": np.abs(sigma.imag[order]).tolist(),
                 "steady": sd.steady.detach().double().numpy().tolist(), "curves": []}
        print(f"\n{label}: decay rates {np.round(sigma.real[order], 3).tolist()}, "
              f"|frequencies| {np.round(np.abs(sigma.imag[order]), 3).tolist()}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # beyond the horizon on purpose
            pred = np.stack([sd.predict(x.tolist(), times).values.T for x in states], axis=1)  # (times, states, outputs)
        # t = 0 is left out of the band's statistics: its interval has width 0 (U(x, 0) = f(x) is reported apart).
        z = np.abs(pred - mean)[1:] / half[1:]
        within = times[1:] <= horizon + 1e-9
        for i, x in enumerate(states):
            for j, name in enumerate(args.outputs):
                zi = z[:, i, j]
                row = {"state": x.tolist(), "output": name,
                       "inside_within": float(np.mean(zi[within] <= 1)), "inside_beyond": float(np.mean(zi[~within] <= 1)),
                       "median_within": float(np.median(zi[within])), "median_beyond": float(np.median(zi[~within])),
                       "max": float(zi.max()), "u0": float(pred[0, i, j]), "f": float(mean[0, i, j]),
                       "relative_rms": float(np.sqrt(np.mean(((pred[:, i, j] - mean[:, i, j])
                                                                / (1 + np.abs(mean[:, i, j]))) ** 2)))}
                entry["curves"].append(row)
                print(f"  {name:>5} from {tuple(x.tolist())}: inside {row['inside_within']:.0%} within T / "
                      f"{row['inside_beyond']:.0%} beyond; median miss {row['median_within']:.2f} / "
                      f"{row['median_beyond']:.2f}, largest {row['max']:.3g}; U(x, 0) {row['u0']:.4g} vs {row['f']:.4g}")
        entry["summary"] = {key: float(np.median([c[key] for c in entry["curves"]]))
                            for key in ("inside_within", "inside_beyond", "median_within", "median_beyond")}
        print("  over the curves (median): inside {inside_within:.0%} within T / {inside_beyond:.0%} beyond; "
              "median miss {median_within:.2f} / {median_beyond:.2f} half-widths".format(**entry["summary"]))
        steady_miss = (entry["steady"] - steady) / half[-1, 0]
        entry["steady_miss"] = steady_miss.tolist()
        print(f"  steady-state mean {np.round(entry['steady'], 4).tolist()} vs exact {np.round(steady, 4).tolist()} "
              f"({np.round(steady_miss, 2).tolist()} half-widths at t = {args.t_max:g} from the first state)")
        results["models"][label] = entry
    if args.cv_time is not None and models:
        clock = time.perf_counter()
        cv = deep_cv_variance(net, args.outputs, bounds, states, args.cv_time, models)
        results["deep_cv_exact"] = cv
        print(f"\nvariance at t = {args.cv_time:g}, exact ({time.perf_counter() - clock:.1f} s): plain SSA's from the "
              f"integral against Var f(X(t)), largest relative difference "
              f"{np.max(np.abs(np.subtract(cv['ssa'], cv['var_f'])) / np.abs(cv['var_f'])):.1g}")
        for label, entry in cv["models"].items():
            for j, name in enumerate(args.outputs):
                ratio = " / ".join(f"{r[j]:,.3g}" for r in entry["ratio"])
                near = " / ".join(f"{s_[j]:.0%}" for s_ in entry["share"]["tau<=0.5"])
                far = " / ".join(f"{s_[j]:.0%}" for s_ in entry["share"]["tau>2"])
                print(f"  {label}, {name}: SSA / DeepCV {ratio} from the states; share of DeepCV's variance from "
                      f"remaining times <= 0.5: {near}; > 2: {far}")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1))
        print(f"\nwrote {args.out}")


def _authors_model(checkout: Path, abbr: str, net, outputs):
    """The authors' published SDnet of this network (``pycrn.deepska.load_reference``, their reaction order from
    their network object), with steady-state means from ``pycrn.deepska.ergodic_mean`` (the paper's protocol,
    seed 1, as ``deepska_authors_models.py``)."""
    import yaml

    sys.path.insert(0, str(checkout / "src"))
    from deep_ska.reaction_networks import examples

    cfg = yaml.safe_load((checkout / "configs" / f"{abbr}_analysis_only.ska.yaml").read_text())
    rn_cfg, nn_cfg = cfg["reaction_network_config"], cfg["neural_network_config"]
    theirs = getattr(examples, rn_cfg["reaction_network"])(rn_cfg)
    steady = deepska.ergodic_mean(net, outputs, burn_in=100.0, horizon=100_000.0, runs=5, seed=1)
    return deepska.load_reference(checkout / nn_cfg["trained_model_path"], net, outputs, steady=steady,
                                  stoichiometry_order=np.asarray(theirs.stoichiometry_matrix, dtype=np.int64),
                                  horizon=float(rn_cfg["t_stop"]),
                                  dt=float(rn_cfg["t_stop"]) / (rn_cfg["n_time_samples"] - 1))


if __name__ == "__main__":
    main()
