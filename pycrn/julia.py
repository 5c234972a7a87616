"""The Julia bridge: the same network in Catalyst.jl / JumpProcesses.jl, driven from Python.

Two parts:

* :func:`to_catalyst` translates a :class:`~pycrn.ReactionNetwork` to the
  text of a Catalyst ``@reaction_network`` block (plus, for events, a
  ``CallbackSet`` of DiffEqCallbacks callbacks). It needs no Julia.
* :func:`simulate` (also ``pycrn.simulate(..., backend="julia")``) runs the
  network in Julia through `juliacall <https://github.com/JuliaPy/PythonCall.jl>`_
  and returns exactly the Dataset the native engines return (species as
  int64 variables over ``trajectory`` x ``time``, observables as floats, the
  same provenance attributes, plus ``backend = "julia"``). The Julia side is
  the package in the repository's ``julia/`` folder (``PycrnBridge``), which
  juliacall resolves through ``pycrn/juliapkg.json``.

Methods: the exact aggregators of JumpProcesses (``direct``,
``sorting_direct``, ``nrm``, ``direct_cr``, ``rssa``, ``rssa_cr``, each
JumpProcesses' own implementation driven by ``SSAStepper``), fixed-step
tau-leaping (``simple_tau_leaping``: JumpProcesses' ``SimpleTauLeaping`` on a
``RegularJump``; the step ``dt`` must divide ``tf - t0``), and ``batched``:
the Julia port of pycrn's exact batched algorithm (``julia/src/batched.jl``,
the same algorithm and uniformisation as :mod:`pycrn.engines.batched`,
mass-action networks without events).

Seeding. JumpProcesses draws from one generator per problem, so a
reproducible ensemble seeds each solve: trajectory ``i`` is solved with the
64-bit seed ``SeedSequence(seed).spawn(n)[i].generate_state(1, uint64)[0]``,
the ``i``-th child of the same ``SeedSequence`` the native engines use, so a
result depends only on the seed and ``i``. The streams are Julia's (Xoshiro),
not pycrn's, so the two backends agree in distribution, not path by path.

Not run on this project's machines: Julia cannot be installed there, so the
Julia side has been checked by parsing (tree-sitter-julia) and by the
read-back tests of the generated Catalyst text, not by running it; the tests
that run it skip, with that reason, where juliacall cannot start Julia.
"""

from __future__ import annotations

import ast
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .errors import ModelError, SimulationError
from .network import ReactionNetwork
from .ratelaws import TIME, RateLaw

#: Methods of the Julia backend -> the JumpProcesses aggregator (``None``: not an SSA aggregator).
JULIA_METHODS: dict[str, str | None] = {
    "direct": "Direct",
    "sorting_direct": "SortingDirect",
    "nrm": "NRM",
    "direct_cr": "DirectCR",
    "rssa": "RSSA",
    "rssa_cr": "RSSACR",
    "simple_tau_leaping": None,
    "batched": None,
}

#: Julia's reserved words and the names Catalyst's DSL forbids or reads as constants.
JULIA_RESERVED = frozenset(
    "baremodule begin break catch const continue do else elseif end export false finally for function "
    "global if import let local macro module quote return struct true try using while abstract mutable "
    "primitive type where outer in isa im nothing missing Inf NaN Inf64 NaN64 Inf32 NaN32 pi integrator "
    "rn_callbacks".split()
)

#: Where the Julia package of the bridge lives (a source checkout or an editable install).
JULIA_PACKAGE = Path(__file__).resolve().parent.parent / "julia"

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
# Catalyst exports hill, hillr, mm and mmr with pycrn's definitions; Julia's Base has the rest.
_SAME_NAME = {"exp", "log", "sqrt", "abs", "floor", "ceil", "sin", "cos", "min", "max", "hill", "hillr", "mm", "mmr"}


def julia_expression(law: RateLaw, symbols: Mapping[str, str] | None = None) -> str:
    """Julia source of a rate expression or condition, each name replaced by ``symbols[name]`` (default: itself)."""
    return _render(law.tree, symbols or {})


def _render(node: ast.expr, symbols: Mapping[str, str]) -> str:
    if isinstance(node, ast.BoolOp):
        op = " && " if isinstance(node.op, ast.And) else " || "
        return "(" + op.join(_render(v, symbols) for v in node.values) + ")"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return f"(!{_render(node.operand, symbols)})"
    if isinstance(node, ast.Compare):
        parts = [_render(node.left, symbols)]
        for op, c in zip(node.ops, node.comparators):
            parts += [_COMPARE[type(op)], _render(c, symbols)]
        return "(" + " ".join(parts) + ")"
    if isinstance(node, ast.Constant):
        return repr(float(node.value))
    if isinstance(node, ast.Name):
        return symbols.get(node.id, node.id)
    if isinstance(node, ast.BinOp):
        return f"({_render(node.left, symbols)} {_BINOPS[type(node.op)]} {_render(node.right, symbols)})"
    if isinstance(node, ast.UnaryOp):
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"({sign}{_render(node.operand, symbols)})"
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    args = [_render(a, symbols) for a in node.args]
    if node.func.id == "pow":
        return f"({args[0]} ^ {args[1]})"
    assert node.func.id in _SAME_NAME, node.func.id
    return f"{node.func.id}({', '.join(args)})"


def _check_names(net: ReactionNetwork) -> None:
    names = [*net.species_names, *net.parameter_names, *(name for name, _ in net.observables)]
    for name in names:
        if name in JULIA_RESERVED:
            raise ModelError(
                f"the name {name!r} is reserved in Julia or Catalyst and cannot be used in a Catalyst model; rename it"
            )


def _side(side: tuple[tuple[str, int], ...]) -> str:
    if not side:
        return "0"
    return " + ".join(name if nu == 1 else f"{nu}{name}" for name, nu in side)


def _number(value: float) -> str:
    return repr(float(value))


def to_catalyst(
    net: ReactionNetwork,
    params: Mapping[str, float] | None = None,
    u0: Mapping[str, int] | None = None,
    variable: str = "rn",
) -> str:
    """The network as Julia source defining a Catalyst ``ReactionSystem`` (and its event callbacks).

    Parameters
    ----------
    net
        The network.
    params, u0
        Parameter values and initial counts that replace the network's
        defaults in the generated ``@parameters`` and ``@species`` lines.
    variable
        The Julia name the model is assigned to; with events, the callbacks
        are assigned to ``<variable>_callbacks``.

    Returns
    -------
    str
        ``<variable> = @reaction_network <name> begin ... end``: ``@parameters``
        and ``@species`` with their values (boundary species marked
        ``isbcspecies``), ``@observables``, then one reaction per line with
        the same rate expressions (``-->`` mass action with Catalyst's
        combinatorial rate laws, which are pycrn's: ``2A`` gives
        ``A (A-1) / 2``; ``=>`` a whole rate law; ``hill``, ``hillr``, ``mm``,
        ``mmr`` are Catalyst's functions of the same definitions). Events
        become DiffEqCallbacks callbacks, passed to ``solve(...; callback=...)``:
        a time event ``t >= T`` a ``PresetTimeCallback`` at ``T`` (evaluated
        with the parameter values given), a state event a ``DiscreteCallback``
        checked after every jump that fires when its trigger becomes true (as
        pycrn's engines do), each calling ``reset_aggregated_jumps!`` so that the
        aggregator sees the new state. Written for Catalyst 15 or later.
        Declared ``@bound`` clauses are not written: Catalyst's reaction
        language has no place for them, and JumpProcesses integrates rates
        that read ``t`` with the ODE solver instead.

    Raises
    ------
    ModelError
        For what does not map: a name reserved in Julia or Catalyst, a time
        event whose time is not finite, continuous species or equations
        (pycrn's hybrid models are not translated to Catalyst's ``@equations``).
    """
    if not isinstance(net, ReactionNetwork):
        raise TypeError(f"to_catalyst() expects a ReactionNetwork, got {type(net).__name__}")
    if net.continuous_species or net.equations:
        raise ModelError(
            f"the Julia bridge translates jump networks; continuous species "
            f"({', '.join(net.continuous_species)}) and @equation lines are not translated to Catalyst: "
            "simulate this network with method='hybrid' in pycrn"
        )
    if not variable.isidentifier() or variable in JULIA_RESERVED:
        raise ValueError(f"variable must be a Julia identifier, got {variable!r}")
    _check_names(net)
    x0 = net.initial_state(u0)
    values = dict(zip(net.parameter_names, [p.value for p in net.parameters]))
    if params:
        values.update(dict(zip(net.parameter_names, net.parameter_values(params).tolist())))
    label = net.name if net.name and net.name.isidentifier() and net.name not in JULIA_RESERVED else ""
    lines = [
        f"# Generated by pycrn {__version__} (pycrn.julia.to_catalyst) for Catalyst >= 15.",
        f"{variable} = @reaction_network {label + ' ' if label else ''}begin",
    ]
    if net.parameters:
        decl = " ".join(p if values[p] is None else f"{p}={_number(values[p])}" for p in net.parameter_names)
        lines.append(f"    @parameters {decl}")
    # Catalyst takes each option once: all species on one @species line, metadata after its species.
    decl = " ".join(f"{s.name}(t)={int(x0[i])}" + (" [isbcspecies=true]" if s.boundary else "")
                    for i, s in enumerate(net.species))
    lines.append(f"    @species {decl}")
    if net.observables:
        lines.append("    @observables begin")
        lines += [f"        {name} ~ {julia_expression(law)}" for name, law in net.observables]
        lines.append("    end")
    for r in net.reactions:
        arrow = "-->" if r.mass_action else "=>"
        lines.append(f"    {julia_expression(r.rate)}, {_side(r.reactants)} {arrow} {_side(r.products)}")
    lines.append("end")
    if net.events:
        lines.append("")
        lines += _callbacks(net, values, f"{variable}_callbacks")
    return "\n".join(lines) + "\n"


def _callbacks(net: ReactionNetwork, values: Mapping[str, float | None], name: str) -> list[str]:
    species = set(net.species_names)
    reads = {s: f"integrator[:{s}]" for s in net.species_names}
    reads.update({p: f"integrator.ps[:{p}]" for p in net.parameter_names})
    reads[TIME] = "integrator.t"
    out = [f"{name} = CallbackSet("]
    for e, ev in enumerate(net.events):
        out.append(f"    # {ev}")
        affect = ["integrator -> begin"]
        # All assignments read the values from before the event, as in pycrn's engines.
        affect += [f"        v{q} = {julia_expression(expr, reads)}" for q, (_, expr) in enumerate(ev.assignments)]
        for q, (target, _) in enumerate(ev.assignments):
            lhs = f"integrator[:{target}]" if target in species else f"integrator.ps[:{target}]"
            # A count must stay a whole, non-negative number: Int(v) raises an InexactError otherwise.
            rhs = f"Int(v{q} >= 0 ? v{q} : throw(DomainError(v{q}, \"event {e + 1} makes {target} negative\")))" if (
                target in species
            ) else f"v{q}"
            affect.append(f"        {lhs} = {rhs}")
        affect += ["        reset_aggregated_jumps!(integrator)", "        nothing", "    end"]
        threshold = ev.trigger.time_threshold()
        if threshold is not None:
            missing = sorted(n for n in threshold.names if values.get(n) is None)
            if missing:
                raise ModelError(f"event {ev}: its time uses {', '.join(missing)}, which have no value")
            when = _event_time(threshold, values)
            if not math.isfinite(when):
                raise ModelError(f"event {ev}: its time {threshold} = {when!r} is not finite")
            out.append(f"    PresetTimeCallback([{_number(when)}], {affect[0]}")
            out += affect[1:]
            out[-1] = "    end; save_positions=(false, false)),"
        else:
            cond = julia_expression(ev.trigger, reads)
            initial = "true" if ev.initial_value else "false"
            out += [
                "    let armed = Ref(true)",
                "        DiscreteCallback(",
                "            # Fires when the trigger becomes true, as pycrn's engines do (edge, not level).",
                f"            (u, t, integrator) -> (now = {cond}; fire = now && armed[]; armed[] = !now; fire),",
                "            " + affect[0],
            ]
            out += ["        " + line for line in affect[1:]]
            out[-1] = "            end;"
            out += [
                "            initialize = (c, u, t, integrator) -> begin",
                f"                armed[] = !{initial}",
                "                if c.condition(u, t, integrator)",
                "                    c.affect!(integrator)",
                "                end",
                "            end,",
                "            save_positions=(false, false))",
                "    end,",
            ]
    out.append(")")
    return out


def _event_time(threshold: RateLaw, values: Mapping[str, float | None]) -> float:
    """The time ``T`` of a time event ``t >= T``, with the parameters at ``values``."""
    source = threshold.to_source({n: repr(float(v)) for n, v in values.items() if v is not None})
    return float(eval(source, {"math": math}))  # noqa: S307 (rendered from a validated expression)


# -- running in Julia -------------------------------------------------------------------------------------


def _missing(what: str) -> ImportError:
    return ImportError(
        f"backend='julia' needs {what}. Install the bridge with `pip install -e \".[julia]\"` from a pycrn "
        "source checkout (it installs juliacall, which downloads Julia and the packages of julia/Project.toml "
        "on first use), or see the README section 'Julia bridge'."
    )


_JL: Any = None


def julia() -> Any:
    """juliacall's ``Main`` with the ``PycrnBridge`` package loaded (started on first use).

    Sets juliacall's environment as its documentation advises before the
    first import: ``PYTHON_JULIACALL_HANDLE_SIGNALS=yes`` (Julia's signal
    handling; without it multi-threaded Julia code can segfault), unless the
    user set it.

    Raises
    ------
    ImportError
        If juliacall is not installed, the Julia package ``julia/`` is not
        found, or Julia cannot be started; the message says what is missing
        and how to install it.
    """
    global _JL
    if _JL is not None:
        return _JL
    if not (JULIA_PACKAGE / "Project.toml").is_file():
        raise _missing(f"the Julia package of the bridge, expected at {JULIA_PACKAGE} (it is not in wheels)")
    if "juliacall" not in sys.modules:
        os.environ.setdefault("PYTHON_JULIACALL_HANDLE_SIGNALS", "yes")
    try:
        import juliacall  # noqa: F401  (starts Julia, resolving pycrn/juliapkg.json)
    except ModuleNotFoundError:
        raise _missing("the Python package juliacall (the 'julia' extra)") from None
    except Exception as exc:  # juliacall raises plain Exceptions when Julia cannot be found or installed
        raise _missing(f"a working Julia (juliacall could not start it: {exc})") from exc
    main = juliacall.Main
    main.seval("using PycrnBridge")
    _JL = main
    return main


def available() -> bool:
    """Whether the Julia backend can run here (juliacall installed and Julia starts)."""
    try:
        julia()
    except ImportError:
        return False
    return True


def trajectory_seeds(seed: Any, n: int) -> np.ndarray:
    """The 64-bit seed of each trajectory's solve (see the module docstring)."""
    from .runner import seed_sequence

    children = seed_sequence(seed).spawn(n)
    return np.array([c.generate_state(1, np.uint64)[0] for c in children], dtype=np.uint64)


def method_name(method: Any) -> tuple[str, dict[str, Any]]:
    """The Julia backend's method name and options for ``method`` (a name or a pycrn method object)."""
    from .methods import Method

    if isinstance(method, Method):
        name = method.name
        options = {"dt": method.dt} if name == "simple_tau_leaping" else {}
        if name == "batched":
            options = {"min_reactions_per_batch": float(method.kernel_options()[0])}
    else:
        name, options = method, {}
    if name == "auto":
        name = "direct"
    if name not in JULIA_METHODS:
        raise ValueError(f"method {name!r} is not offered by backend='julia'; available: {', '.join(JULIA_METHODS)}")
    return name, options


def simulate(
    net: ReactionNetwork,
    u0: Mapping[str, int] | None = None,
    tspan: Sequence[float] | None = None,
    params: Mapping[str, float] | None = None,
    method: Any = "direct",
    saveat: float | Sequence[float] | np.ndarray | None = None,
    trajectories: int = 1,
    seed: int | np.random.SeedSequence | None = None,
    dt: float | None = None,
    volume: float | None = None,
) -> Any:
    """Simulate ``net`` in Julia (Catalyst/JumpProcesses, or the Julia batched port); the native Dataset.

    Parameters are those of :func:`pycrn.simulate`; ``method`` is one of
    :data:`JULIA_METHODS` (see the module docstring), ``dt`` the step of
    ``simple_tau_leaping``.

    Returns
    -------
    xarray.Dataset
        As :func:`pycrn.simulate`, with ``attrs["backend"] = "julia"`` and
        ``attrs["julia_method"]`` naming the JumpProcesses algorithm.

    Raises
    ------
    ImportError
        Without juliacall or Julia (the message says how to install them).
    ModelError, ValueError
        For what the native engines refuse, and for what the Julia side
        cannot run (time-dependent rates, events with ``batched``).
    SimulationError
        If a trajectory fails in Julia (the Julia error is in the message).
    """
    from .problem import Problem
    from .results import add_observables, make_dataset
    from .runner import check_count, seed_attr, seed_sequence

    name, options = method_name(method)
    if dt is not None:
        options["dt"] = dt
    problem = Problem.build(net, u0, tspan, params, saveat, volume)
    if problem.net.depends_on_time:
        raise ModelError("backend='julia' runs time-homogeneous networks only (a rate uses t), as the native SSAs")
    values = dict(zip(problem.net.parameter_names, problem.p.tolist()))
    for ev in problem.net.events:
        threshold = ev.trigger.time_threshold()
        if threshold is not None and _event_time(threshold, values) <= problem.t0:
            # pycrn fires such an event at t0; a PresetTimeCallback at or before the start never fires.
            raise ModelError(f"event {ev}: a time event at or before t0 = {problem.t0} does not map to a "
                             "PresetTimeCallback; start the run earlier or apply it to u0")
    n = check_count(trajectories, "trajectories")
    seq = seed_sequence(seed)
    seeds = trajectory_seeds(seq, n)
    names = problem.net.species_names
    times = np.asarray(problem.save_times, dtype=np.float64)
    attrs: dict[str, Any] = {"method": name, "seed": seed_attr(seq), "backend": "julia", **problem.attrs()}
    if name == "simple_tau_leaping":
        step = options.get("dt")
        if step is None or not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
            raise ValueError("method 'simple_tau_leaping' needs a positive step dt=...")
        ratio = (problem.tf - problem.t0) / step
        if abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio):
            raise ValueError(
                f"backend='julia' simple_tau_leaping steps uniformly: dt={step} must divide tf - t0 = "
                f"{problem.tf - problem.t0} a whole number of times"
            )
        attrs["method_options"] = f"simple_tau_leaping(dt={step!r})"
    elif options.get("dt") is not None:
        raise ValueError(f"method {name!r} does not take dt")
    if name == "batched":
        from .engines import batched as native_batched

        native_batched.check_network(problem.net)
        if problem.net.events:
            raise ModelError("the Julia port of 'batched' runs networks without events; use the native backend")
    jl = julia()
    try:
        if name == "batched":
            from .methods import Batched

            least = options.get("min_reactions_per_batch", float(Batched().kernel_options()[0]))
            result = jl.PycrnBridge.batched_ensemble(*_batched_inputs(problem), problem.t0, times, seeds, least)
            attrs["julia_method"] = "PycrnBridge.batched (port of pycrn.engines.batched)"
        elif name == "simple_tau_leaping":
            result = jl.PycrnBridge.leap_ensemble(
                _leap_source(problem.net), np.ascontiguousarray(problem.net.stoichiometry), problem.x0, problem.p,
                problem.t0, problem.tf,
                float(options["dt"]), times, seeds,
            )
            attrs["julia_method"] = "JumpProcesses.SimpleTauLeaping"
        else:
            text = to_catalyst(problem.net, params=dict(zip(problem.net.parameter_names, problem.p.tolist())),
                               u0=dict(zip(names, problem.x0.tolist())))
            result = jl.PycrnBridge.ssa_ensemble(
                text, JULIA_METHODS[name], "\n".join(names), problem.x0, "\n".join(problem.net.parameter_names), problem.p,
                problem.t0, problem.tf, times, seeds,
            )
            attrs["julia_method"] = f"JumpProcesses.{JULIA_METHODS[name]} with SSAStepper"
    except ImportError:
        raise
    except Exception as exc:  # juliacall.JuliaError: the Julia exception, shown to the user
        raise SimulationError(f"backend='julia' method {name!r} failed in Julia: {exc}") from exc
    states = np.ascontiguousarray(np.asarray(result[0], dtype=np.int64))
    steps = np.asarray(result[1], dtype=np.int64)
    negative = np.argwhere(states < 0)
    if negative.size:
        i, j, k = negative[0]
        raise SimulationError(
            f"backend='julia' {name}: species {names[i]} went negative in trajectory {j} at t = {times[k]} "
            "(use a smaller dt)"
        )
    if steps.size and steps.min() >= 0:  # JumpProcesses' SSAStepper does not report its jumps
        attrs["steps"] = int(steps.sum())
        if name != "simple_tau_leaping":
            attrs["reactions_fired"] = int(steps.sum())
    ds = make_dataset(problem.model, states, times, attrs)
    return add_observables(ds, problem.model, problem.model_p)


def julia_propensity(net: ReactionNetwork, j: int) -> str:
    """Julia source of reaction ``j``'s propensity in terms of ``u`` (counts), ``p`` and ``t``, 1-based.

    The same propensity as :func:`pycrn.propensity.propensity_expression`:
    the rate expression times, for mass action, the falling factorial
    ``x (x-1) ... (x-nu+1) / nu!`` of each reactant.
    """
    table = {name: f"Float64(u[{i + 1}])" for i, name in enumerate(net.species_names)}
    table.update({name: f"p[{k + 1}]" for k, name in enumerate(net.parameter_names)})
    r = net.reactions[j]
    terms = [julia_expression(r.rate, table)]
    if r.mass_action:
        for name, nu in r.reactants:
            x = table[name]
            if nu == 1:
                terms.append(x)
            else:
                falling = " * ".join(f"({x} - {m}.0)" if m else x for m in range(nu))
                terms.append(f"({falling} / {_number(math.factorial(nu))})")
    return " * ".join(terms)


def _leap_source(net: ReactionNetwork) -> str:
    """Julia source of the ``rate(out, u, p, t)`` function of a RegularJump with pycrn's propensities."""
    body = [f"    out[{j + 1}] = {julia_propensity(net, j)}" for j in range(len(net.reactions))]
    return "\n".join(["(out, u, p, t) -> begin", *body, "    nothing", "end"])


def _batched_inputs(problem) -> tuple:
    """Reactant and net-change matrices, rate constants and initial state for the Julia batched port."""
    net = problem.net
    order = net.parameter_names
    values = problem.p.tolist()
    constants = np.array([float(r.rate.to_numpy(order)(*values)) for r in net.reactions], dtype=np.float64)
    return (np.ascontiguousarray(net.reactant_matrix), np.ascontiguousarray(net.stoichiometry), constants,
            problem.x0.copy())


__all__ = ["JULIA_METHODS", "available", "julia", "julia_expression", "simulate", "to_catalyst", "trajectory_seeds"]
