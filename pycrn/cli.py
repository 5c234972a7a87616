"""The ``pycrn`` command: simulate, plot, list models."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import ModelError, SimulationError


def _assignments(items: Sequence[str] | None, what: str, cast) -> dict:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{what} must look like NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = cast(value)
        except ValueError:
            if cast is _whole and _is_number(value):
                raise ValueError(f"{what} {item!r}: initial counts must be whole numbers, got {value!r}") from None
            raise ValueError(f"{what} {item!r}: {value!r} is not a number") from None
    return out


def _whole(text: str) -> int | float:
    """A count as typed: digits exactly (never through float), or a whole number such as ``1e6`` (checked like u0)."""
    text = text.strip()
    if text.lstrip("+-").isdigit():
        return int(text)
    number = float(text)
    if not (math.isfinite(number) and number.is_integer()):
        raise ValueError(text)
    return number


def _initial_values(items: Sequence[str] | None, net) -> dict:
    """``--u0`` values: whole counts, and any number for the network's continuous species."""
    continuous = set(net.continuous_species)
    counts = [item for item in items or [] if item.partition("=")[0].strip() not in continuous]
    amounts = [item for item in items or [] if item.partition("=")[0].strip() in continuous]
    return {**_assignments(counts, "--u0", _whole), **_assignments(amounts, "--u0", float)}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load_model(spec: str):
    from . import models
    from .loading import load

    if Path(spec).exists():
        return load(spec)
    if spec in models.names():
        return models.get(spec)
    raise ValueError(f"{spec!r} is neither a model file nor a built-in model (see 'pycrn models')")


def _progress(args) -> bool | None:
    """The progress bar: off with --quiet, on with --verbose, otherwise only on a terminal."""
    return False if args.quiet else True if args.verbose else None


def _cmd_simulate(args) -> int:
    import secrets

    from .simulate import simulate

    net, tspan, method = _run_inputs(args)
    u0 = _initial_values(args.u0, net)
    params = _assignments(args.param, "--param", float)
    from .results import check_output_path, save_results

    check_output_path(args.output, "results.nc")
    trajectories = args.trajectories if args.trajectories is not None else 1 if method.deterministic else 1000
    # A run without --seed still gets a seed, recorded in the file and printed, so that it can be repeated.
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    start = time.perf_counter()
    ds = simulate(
        net, u0=u0, tspan=tspan, params=params, method=method, saveat=args.saveat,
        trajectories=trajectories, seed=None if method.deterministic else seed, threads=args.threads,
        progress=_progress(args), volume=args.volume,
    )
    elapsed = time.perf_counter() - start
    out = Path(args.output)
    save_results(ds, out)
    if not args.quiet:
        attrs = ds.attrs
        work = (f", {attrs['reactions_fired']:,} reactions" if "reactions_fired" in attrs
                # The hybrid methods count jumps as steps, and their integration apart.
                else f", {attrs['steps']:,} jumps, {attrs['integration_steps']:,} integration steps"
                if "integration_steps" in attrs
                else f", {attrs['steps']:,} steps" if "steps" in attrs else "")
        what = "1 trajectory" if trajectories == 1 else f"{trajectories:,} trajectories"
        again = "" if method.deterministic else f", seed {seed}" + ("" if args.seed is not None else
                                                                   f" (repeat with --seed {seed})")
        print(f"{what} of {net.name or args.model} with {ds.attrs['method']}{again} in {elapsed:.2f} s{work} -> {out}")
    return 0


def _sweep_axis(item: str, net) -> tuple[str, list]:
    """``NAME=START:STOP:NUM`` (evenly spaced, inclusive) or ``NAME=V1,V2,...``."""
    import numpy as np

    name, sep, spec = item.partition("=")
    name = name.strip()
    if not sep or not name or not spec:
        raise ValueError(f"--sweep must look like NAME=START:STOP:NUM or NAME=V1,V2,..., got {item!r}")
    try:
        if ":" in spec:
            start, stop, num = spec.split(":")
            if int(num) < 1:
                raise ValueError
            values = np.linspace(float(start), float(stop), int(num)).tolist()
        else:
            values = [float(v) for v in spec.split(",")]
    except ValueError:
        raise ValueError(f"--sweep {item!r}: expected START:STOP:NUM with NUM a positive integer, "
                         "or a comma-separated list of numbers") from None
    if name in net.species_names:
        if any(v != round(v) or v < 0 for v in values):
            raise ValueError(f"--sweep {item!r}: initial counts of species {name!r} must be whole numbers >= 0")
        values = [int(round(v)) for v in values]
    return name, values


def _cmd_ensemble(args) -> int:
    from .ensemble import ensemble, grid

    net, tspan, method = _run_inputs(args)
    if method.deterministic:
        raise ValueError(f"--method {method.name} is deterministic: use 'pycrn simulate' for one trajectory")
    sweep = grid(**dict(_sweep_axis(item, net) for item in args.sweep)) if args.sweep else None
    start = time.perf_counter()
    ds = ensemble(
        net, u0=_initial_values(args.u0, net), tspan=tspan, params=_assignments(args.param, "--param", float),
        method=method, saveat=args.saveat, trajectories=args.trajectories, seed=args.seed, store=args.store,
        chunk=args.chunk, client=args.scheduler, sweep=sweep, reduce=args.reduce, volume=args.volume,
        threads=args.threads, progress=_progress(args),
    )
    elapsed = time.perf_counter() - start
    if not args.quiet:
        settings = ds.sizes.get("setting", 1)
        print(f"{args.trajectories:,} trajectories x {settings} setting(s) of {net.name or args.model} with "
              f"{method.name} (seed {ds.attrs['seed']}) in {elapsed:.2f} s: {ds.attrs['chunks_computed']} chunk(s) "
              f"of {ds.attrs['chunk']} computed, {ds.attrs['chunks_repaired']} repaired -> {args.store}")
    return 0


def _cmd_plot(args) -> int:
    from .plotting import check_figure_path, plot_ensemble
    from .results import open_results

    check_figure_path(args.output)
    ds = open_results(args.results)
    plot_ensemble(ds, args.output, species=args.species, samples=args.samples, setting=args.setting,
                  band=args.band, log=args.log, layout=args.layout, histogram=args.histogram)
    if not args.quiet:
        print(f"plot -> {args.output}")
    return 0


def _cmd_conformance(args) -> int:
    from .conformance import format_table, run_suite

    results = []
    for method in args.method:
        results += run_suite(args.directory, n=args.trajectories, method=method, seed=args.seed,
                             cases=args.cases, threads=args.threads)
    print(format_table(results))
    failed = [f"{r.case}/{r.method}" for r in results if not r.passed]
    print(f"\n{len(results) - len(failed)}/{len(results)} passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _cmd_models(args) -> int:
    from . import models

    width = max(len(n) for n in models.names())
    for name in models.names():
        print(f"{name:<{width}}  {_plain(models.describe(name))}")
    return 0


def _plain(text: str) -> str:
    """Docstring markup as plain text: ``x`` and :role:`x` become x."""
    import re

    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"``([^`]+)``", r"\1", text)


def _cmd_warmup(args) -> int:
    from . import models
    from .codegen import cache_dir
    from .methods import NRM, RSSA, Direct, SortingDirect, resolve
    from .simulate import simulate

    # The shared kernels serve every mass-action network from 32 reactions on (BioNetGen networks and the
    # like): compiled once here, a large network's first call needs no compilation at all.
    jobs = [(models.birth_death(), m, f"{m.name} (shared kernels)")
            for m in (Direct(kernels="shared"), SortingDirect(kernels="shared"), NRM(kernels="shared"), RSSA())]
    for name in args.models or []:
        net = models.get(name)
        jobs += [(net, resolve(m, net=net, dt=0.01 if m == "simple_tau_leaping" else None), f"{m} for {name}")
                 for m in args.methods]
    if not args.quiet:
        print(f"compiling into {cache_dir()} (one-time per machine and pycrn version)")
    # This command reports each compilation itself: the runner's announcement is silenced meanwhile only.
    previous = os.environ.get("PYCRN_QUIET")
    os.environ["PYCRN_QUIET"] = "1"
    try:
        for net, method, label in jobs:
            start = time.perf_counter()
            simulate(net, tspan=(0.0, 1e-6), method=method, trajectories=1, seed=0, progress=False)
            if not args.quiet:
                print(f"  {label}: {time.perf_counter() - start:.1f} s")
    finally:
        if previous is None:
            os.environ.pop("PYCRN_QUIET", None)
        else:
            os.environ["PYCRN_QUIET"] = previous
    return 0


def _add_run_options(parser: argparse.ArgumentParser, methods) -> None:
    """The options that 'simulate' and 'ensemble' share: the model, its values, the method and its options."""
    parser.add_argument("model", help="a model file (network language .crn, SBML .xml, BioNetGen .net or .bngl), "
                        "or a built-in model name")
    parser.add_argument("--tspan", nargs=2, type=float, metavar=("T0", "TF"), help="time span (default: the model's)")
    parser.add_argument("--saveat", type=float, default=None, metavar="STEP",
                        help="save every STEP time units (default: 101 evenly spaced points)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default: a fresh one, recorded in the results and printed)")
    parser.add_argument("--method", default="auto", choices=["auto", *methods], metavar="METHOD",
                        help=f"one of: auto, {', '.join(methods)} (default auto: an exact method chosen for the "
                             "network)")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    parser.add_argument("--u0", nargs="*", metavar="S=N", help="initial counts (any amount for a continuous species), e.g. --u0 S=990 I=10")
    parser.add_argument("--param", nargs="*", metavar="K=V", help="parameter values, e.g. --param beta=2e-4")
    parser.add_argument("--dt", type=float, default=None, help="fixed step of simple_tau_leaping and hybrid_sde")
    parser.add_argument("--tau-epsilon", type=float, default=None, help="error control of tau_leaping (default 0.03)")
    parser.add_argument("--integrator", choices=["dopri5", "rosenbrock23"], default=None,
                        help="integrator of hybrid's continuous species (default dopri5; rosenbrock23 for a stiff "
                             "continuous part)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="step budget per trajectory, so that a runaway run ends with an error (default: the "
                             "method's: 10^9 reactions or leaps, 10^8 batches, 10^6 ODE evaluations)")
    parser.add_argument("--volume", type=float, default=None,
                        help="reaction volume: an order-o mass-action rate is divided by volume^(o-1)")
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    talk.add_argument("-v", "--verbose", action="store_true",
                      help="a progress bar even when the output is not a terminal (default: only on a terminal)")


def _run_inputs(args):
    """The network, time span and method object named by the shared options."""
    from .methods import resolve

    net = _load_model(args.model)
    tspan = tuple(args.tspan) if args.tspan else net.tspan
    if tspan is None:
        raise ValueError(f"model {args.model!r} has no default time span; pass --tspan T0 TF")
    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError(f"--max-steps must be a positive integer, got {args.max_steps}")
    if args.method == "simple_tau_leaping" and args.dt is None:
        raise ValueError("--method simple_tau_leaping needs its fixed step: --dt DT")
    method = resolve(args.method, aliases={"epsilon": "--tau-epsilon", "dt": "--dt", "max_steps": "--max-steps",
                                           "integrator": "--integrator"},
                     net=net, epsilon=args.tau_epsilon, dt=args.dt, max_steps=args.max_steps,
                     integrator=args.integrator)
    return net, tspan, method


def build_parser() -> argparse.ArgumentParser:
    from .methods import METHODS

    parser = argparse.ArgumentParser(prog="pycrn", description="Stochastic simulation of reaction networks.")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="simulate an ensemble and write it to netCDF")
    _add_run_options(sim, METHODS)
    sim.add_argument("-n", "--trajectories", type=int, default=None,
                     help="number of trajectories (default 1000; 1 for the deterministic method ode)")
    sim.add_argument("-o", "--output", default="out.nc", help="netCDF file to write, compressed (default out.nc)")
    sim.set_defaults(func=_cmd_simulate)

    ens = sub.add_parser("ensemble", help="simulate a large ensemble or a sweep in chunks into a Zarr store "
                                          "(resumable; threads or a Dask scheduler)")
    _add_run_options(ens, METHODS)
    ens.add_argument("-n", "--trajectories", type=int, default=1000, help="trajectories per setting (default 1000)")
    ens.add_argument("--store", required=True, help="Zarr store to write (run again to resume)")
    ens.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="a Dask scheduler address, e.g. tcp://host:8786 (default: local threads)")
    ens.add_argument("--chunk", type=int, default=None,
                     help="trajectories per task (default: about one second of work each)")
    ens.add_argument("--sweep", nargs="*", metavar="NAME=START:STOP:NUM",
                     help="sweep a parameter or initial count; several give their outer product, "
                          "e.g. --sweep beta=1e-4:3e-4:5 nu=0.01,0.02")
    ens.add_argument("--reduce", choices=["moments"], default=None,
                     help="keep only the mean, variance and sd per species and time (no trajectories)")
    ens.set_defaults(func=_cmd_ensemble)

    plot = sub.add_parser("plot", help="plot the ensemble per species: median with quantile bands and sample paths")
    plot.add_argument("results", help="netCDF file written by 'pycrn simulate', or a Zarr store of 'pycrn ensemble'")
    plot.add_argument("--setting", type=int, default=None, help="the setting to plot, for a sweep")
    plot.add_argument("-o", "--output", default="out.png", help="image file (default out.png)")
    plot.add_argument("--species", nargs="*", default=None, help="species to plot (default: all)")
    plot.add_argument("--samples", type=int, default=3,
                      help="sample paths per species, picked across the spread of final values (default 3)")
    plot.add_argument("--band", choices=["quantiles", "sd"], default="quantiles",
                      help="median with 25-75%% and 5-95%% bands, or mean ± sd (default quantiles)")
    plot.add_argument("--log", action=argparse.BooleanOptionalAction, default=None,
                      help="symmetric-log count axis (default: when the counts span more than 3 decades)")
    plot.add_argument("--layout", choices=["auto", "single", "panels"], default="auto",
                      help="one axis, or a panel per species (default auto: panels when scales differ 100-fold)")
    plot.add_argument("--histogram", action="store_true", help="add a histogram of the final values")
    plot.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    plot.set_defaults(func=_cmd_plot)

    conf = sub.add_parser("conformance", help="run the DSMTS stochastic conformance cases in a folder")
    conf.add_argument("directory", help="folder of case folders NNNNN/ (SBML, settings, results)")
    conf.add_argument("-n", "--trajectories", type=int, default=10_000, help="trajectories per case (default 10000)")
    conf.add_argument("--method", nargs="+", default=["direct"], choices=list(METHODS), metavar="METHOD",
                      help="methods to check (default direct)")
    conf.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    conf.add_argument("--cases", nargs="*", default=None, help="only these cases, e.g. 00001 00028")
    conf.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    conf.set_defaults(func=_cmd_conformance)

    warm = sub.add_parser("warmup", help="compile the engines into the cache now (after installing), so that "
                                         "first runs start without compiling")
    warm.add_argument("--models", nargs="*", default=None, metavar="MODEL",
                      help="also compile the engines of these built-in models (default: only the shared kernels "
                           "that serve every large mass-action network)")
    warm.add_argument("--methods", nargs="+", default=["direct"], choices=list(METHODS), metavar="METHOD",
                      help="methods to compile for --models (default direct)")
    warm.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    warm.set_defaults(func=_cmd_warmup)

    lst = sub.add_parser("models", help="list the built-in models")
    lst.set_defaults(func=_cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pycrn`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ModelError, SimulationError, ValueError, OSError) as exc:
        print(f"pycrn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pycrn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
