"""Per-model code generation for the compiled engines, cached on disk.

(Large mass-action networks do without: their engines run on shared
data-driven kernels compiled once per machine, see
:mod:`pycrn.engines.mass_action` and :func:`load_module` with ``net=None``.)

For a network and an engine, pycrn writes one self-contained Python module:
the network's propensity kernels (``rates`` and ``fire``; for networks of
more than :data:`DENSE_MAX_REACTIONS` reactions, ``fire`` unrolls the
dependency graph so that firing a reaction recomputes only the propensities
it changes), the random-number functions and the engine's loop.
Every function is compiled by numba in nopython mode with ``nogil`` (so
ensembles run in parallel threads) and ``cache=True``.

The module's file name is a hash of its own source, so a model is compiled
once per machine: a second process, or a second run with other parameter
values or initial counts (both are runtime arrays), loads the machine code
from numba's cache. Changing pycrn, the engine or the model changes the
source and therefore the file. The cache lives in ``$PYCRN_CACHE_DIR`` or
``~/.cache/pycrn``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from types import ModuleType

import numba

from .engines import mass_action, poisson, rng
from .network import MAX_EXACT_DOUBLE, ReactionNetwork
from .network_arrays import rate_laws
from .propensity import propensity_expression, symbols
from .status import constants_source as status_constants

_MAX_FLOAT = "1.7976931348623157e308"
_modules: dict[str, ModuleType] = {}
_lock = threading.Lock()


def cache_dir() -> Path:
    """Directory holding generated modules and numba's cache for them."""
    root = os.environ.get("PYCRN_CACHE_DIR")
    path = Path(root) if root else Path.home() / ".cache" / "pycrn"
    return path / f"jit-numba{numba.__version__}"


def propensity_source(net: ReactionNetwork, j: int) -> str:
    """Numba source of the propensity of reaction ``j`` in terms of ``x``, ``p`` and ``t``."""
    return propensity_expression(net, j)


def trusted_rate(net: ReactionNetwork, j: int) -> bool:
    """Whether reaction j's propensity is valid by construction.

    A mass-action propensity whose rate is a number or a single parameter is
    a non-negative finite number whenever counts are non-negative and the
    rate constant is (which :func:`check_rate_constants` checks once before
    a run), so the kernels skip its per-step validity test.
    """
    r = net.reactions[j]
    # Parameters that events reassign are checked at every use instead.
    assigned = {target for ev in net.events for target, _ in ev.assignments}
    return r.mass_action and (
        r.rate.constant_value() is not None
        or (r.rate.text in net.parameter_names and r.rate.text not in assigned)
    )


def _validated(lines: list[str], net: ReactionNetwork, j: int, indent: str) -> None:
    lines.append(f"{indent}v = {propensity_source(net, j)}")
    if not trusted_rate(net, j):
        lines.append(f"{indent}if not (v >= 0.0 and v <= {_MAX_FLOAT}):")
        lines.append(f"{indent}    return np.nan")


#: Networks with at most this many reactions recompute every propensity after
#: each firing, straight-line; larger ones recompute only the dependents the
#: dependency graph names. Measured on dimerisation (4 reactions): 41 -> 54
#: million reactions/s, because dispatching on the fired reaction is an
#: unpredictable branch that costs more than a few multiplications.
DENSE_MAX_REACTIONS = 8


def _kernel_source(net: ReactionNetwork) -> str:
    """Source of ``rates`` and ``fire`` for ``net``.

    ``rates(net, x, p, t, a)`` fills every propensity and returns their sum
    (NaN if one is invalid). ``fire(net, j, x, p, t, a, total)`` applies
    reaction ``j`` to ``x``, updates the propensities that changed and
    returns the new total (NaN if a propensity became invalid or a count
    negative, or, with nothing applied, if a count would pass ``COUNT_LIMIT``). ``dependency_arrays(net)`` returns the dependency graph in CSR
    form (the reactions whose propensity reaction ``j`` changes are
    ``idx[ptr[j]:ptr[j+1]]``). ``net`` is unused: the generated kernels have the network in
    their code; the argument gives them the signature of the shared
    data-driven kernels (:mod:`pycrn.engines.mass_action`).
    """
    m = len(net.reactions)
    S = net.stoichiometry
    n = S.shape[0]
    general = [j for j in range(m) if not net.reactions[j].mass_action]
    graph = net.dependency_graph
    ptr = [0]
    for deps in graph:
        ptr.append(ptr[-1] + len(deps))
    lines = [
        f"NUM_REACTIONS = {m}",
        f"NUM_SPECIES = {n}",
        f"DEP_PTR = np.array({ptr!r}, dtype=np.int64)",
        f"DEP_IDX = np.array({[k for deps in graph for k in deps]!r}, dtype=np.int64)",
        "",
        "def num_reactions(net):",
        f"    return {m}",
        "",
        "def dependency_arrays(net):",
        "    return DEP_PTR, DEP_IDX",
        "",
    ]
    lines.append("def rates(net, x, p, t, a):")
    lines.append("    total = 0.0")
    for j in range(m):
        _validated(lines, net, j, "    ")
        lines.append(f"    a[{j}] = v")
        lines.append("    total += v")
    lines.append("    return total")
    lines.append("")
    if m <= DENSE_MAX_REACTIONS:
        rows = ", ".join("[" + ", ".join(str(int(S[i, j])) for i in range(n)) + "]" for j in range(m))
        lines.insert(2, f"STOICHIOMETRY = np.array([{rows}], dtype=np.int64).reshape({m}, {n})")
        lines.append("def fire(net, j, x, p, t, a, total):")
        # Checked before any change: a count never wraps around, and the state stays diagnosable.
        for i in range(n):
            if (S[i] > 0).any():
                lines.append(f"    if STOICHIOMETRY[j, {i}] > 0 and x[{i}] > COUNT_LIMIT - STOICHIOMETRY[j, {i}]:")
                lines.append("        return np.nan")
        for i in range(n):
            if S[i].any():
                lines.append(f"    x[{i}] += STOICHIOMETRY[j, {i}]")
        if general:
            # A general rate law may fire without its reactants; never let a
            # count go negative silently.
            decreasing = sorted({i for j in general for i in range(n) if S[i, j] < 0})
            for i in decreasing:
                lines.append(f"    if x[{i}] < 0:")
                lines.append("        return np.nan")
        lines.append("    return rates(net, x, p, t, a)")
        return "\n".join(lines) + "\n"
    lines.append("def fire(net, j, x, p, t, a, total):")
    for j in range(m):
        lines.append(f"    {'if' if j == 0 else 'elif'} j == {j}:")
        changed = [(i, int(S[i, j])) for i in range(n) if S[i, j] != 0]
        # Checked before any change: a count never wraps around, and the state stays diagnosable.
        for i, nu in changed:
            if nu > 0:
                lines.append(f"        if x[{i}] > COUNT_LIMIT - {nu}:")
                lines.append("            return np.nan")
        for i, nu in changed:
            lines.append(f"        x[{i}] += {nu}")
        if j in general:
            for i, nu in changed:
                if nu < 0:
                    lines.append(f"        if x[{i}] < 0:")
                    lines.append("            return np.nan")
        for k in net.dependency_graph[j]:
            _validated(lines, net, k, "        ")
            lines.append(f"        total += v - a[{k}]")
            lines.append(f"        a[{k}] = v")
        lines.append("        return total")
    lines.append("    return total")
    return "\n".join(lines) + "\n"


def _symbols(net: ReactionNetwork) -> dict[str, str]:
    return symbols(net)


def _event_source(net: ReactionNetwork, continuous: bool = False) -> str:
    """Source of the event kernels.

    ``event_times(p, out)``: the firing time of each time event (inf for
    state events). ``event_triggers(x, p, t, out)``: the value of each state
    event's trigger. ``apply_event(e, x, p, t)``: evaluate event ``e``'s
    assignments on the current values, then assign them; returns 1 if a
    species would get a negative or non-integer count or a parameter a
    non-finite value, else 0. With ``continuous``, the network's continuous
    species take any non-negative finite amount (the float states of the
    hybrid engine).
    """
    events = net.events
    symbols = _symbols(net)
    species = {n: i for i, n in enumerate(net.species_names)}
    params = {n: k for k, n in enumerate(net.parameter_names)}
    is_time = [ev.trigger.time_threshold() is not None for ev in events]
    flags = ", ".join("True" if f else "False" for f in is_time)
    initial = ", ".join("True" if ev.initial_value else "False" for ev in events)
    lines = [
        f"NUM_EVENTS = {len(events)}",
        f"NUM_STATE_EVENTS = {sum(1 for f in is_time if not f)}",
        f"TIME_EVENT = np.array([{flags}], dtype=np.bool_)",
        f"INITIAL_VALUE = np.array([{initial}], dtype=np.bool_)",
        "",
        "def event_times(p, out):",
    ]
    for e, ev in enumerate(events):
        threshold = ev.trigger.time_threshold()
        lines.append(f"    out[{e}] = {threshold.to_source(symbols) if threshold is not None else 'np.inf'}")
    lines.append("    return")
    lines += ["", "def event_triggers(x, p, t, out):"]
    for e, ev in enumerate(events):
        lines.append(f"    out[{e}] = {'False' if is_time[e] else ev.trigger.to_source(symbols)}")
    lines.append("    return")
    lines += ["", "def apply_event(e, x, p, t):"]
    for e, ev in enumerate(events):
        lines.append(f"    {'if' if e == 0 else 'elif'} e == {e}:")
        for q, (_, expr) in enumerate(ev.assignments):
            lines.append(f"        v{q} = {expr.to_source(symbols)}")
        for q, (target, _) in enumerate(ev.assignments):
            if continuous and target in net.continuous_species:
                lines.append(f"        if not (v{q} >= 0.0 and v{q} <= {_MAX_FLOAT}):")
                lines.append("            return 1")
                lines.append(f"        x[{species[target]}] = v{q}")
            elif target in species:
                # Event values are doubles: whole numbers are exact only up to 2**53.
                lines.append(f"        if not (v{q} >= 0.0 and v{q} <= {float(MAX_EXACT_DOUBLE)!r} and v{q} == math.floor(v{q})):")
                lines.append("            return 1")
                lines.append(f"        x[{species[target]}] = int(v{q})")
            else:
                lines.append(f"        if not (v{q} >= -{_MAX_FLOAT} and v{q} <= {_MAX_FLOAT}):")
                lines.append("            return 1")
                lines.append(f"        p[{params[target]}] = v{q}")
        lines.append("        return 0")
    lines.append("    return 0")
    return "\n".join(lines) + "\n"


def rate_constant_source(net: ReactionNetwork) -> str:
    """Source of ``kernel_constants(p, out)`` for a mass-action network with events.

    The data-driven propensities read one constant per reaction (its rate
    constant over the factorials of its reactant orders); an event may
    reassign a parameter, so an engine recomputes them from the parameters
    ``p`` after every event: each distinct rate law once, then per reaction.
    """
    which, laws, scale = rate_laws(net)
    lines = [
        f"LAW_OF = np.array({which.tolist()!r}, dtype=np.int64)",
        f"LAW_SCALE = np.array({scale.tolist()!r}, dtype=np.float64)",
        "",
        "def kernel_constants(p, out):",
        f"    laws = np.empty({len(laws)}, dtype=np.float64)",
    ]
    for q, law in enumerate(laws):
        value = repr(law) if isinstance(law, float) else f"p[{law}]" if isinstance(law, int) else law
        lines.append(f"    laws[{q}] = {value}")
    lines += ["    for j in range(out.shape[0]):", "        out[j] = laws[LAW_OF[j]] * LAW_SCALE[j]", ""]
    return "\n".join(lines)


@functools.cache
def _function_source(fn) -> str:
    # inspect.getsource re-reads the file: cached, it was most of simulate()'s fixed cost.
    return textwrap.dedent(inspect.getsource(fn))


#: The kernel functions every engine module defines (generated per network, or shared).
KERNEL_FUNCTIONS = (
    "num_reactions", "dependency_arrays", "rates", "fire", "event_times", "event_triggers", "apply_event",
)


def _assemble(engine: ModuleType, parts: list[str], kernels: tuple, generated: tuple[str, ...] = ()) -> str:
    """A module: source ``parts``, then the functions ``kernels`` and the engine's, all decorated for numba.

    ``generated`` names functions defined in ``parts`` that need the decorator too.
    """
    decorator = "@numba.njit(cache=True, nogil=True, error_model='numpy')"
    parts = [
        # No names in the source: networks of the same shape share one compiled module.
        f'"""pycrn generated kernels for engine {engine.NAME!r}."""',
        "import math",
        "import numba",
        "import numpy as np",
        "",
        status_constants(),
        *parts,
    ]
    functions = [*kernels, *rng.SOURCES, *poisson.SOURCES, *engine.SOURCES]
    body = "\n".join(parts)
    # Kernels are decorated after their definition so that one decorator line
    # covers functions pasted from anywhere.
    for fn in functions:
        body += "\n" + (fn if isinstance(fn, str) else _function_source(fn))
    names = [*generated, *(fn.__name__ for fn in functions if not isinstance(fn, str))]
    names += list(getattr(engine, "GENERATED_FUNCTIONS", ()))
    body += "\n" + "\n".join(f"{n} = {decorator[1:]}({n})" for n in names) + "\n"
    return body


def module_source(net: ReactionNetwork, engine: ModuleType) -> str:
    """The complete generated module for ``net`` and ``engine``."""
    parts = [_kernel_source(net), _event_source(net, getattr(engine, "CONTINUOUS_EVENTS", False))]
    if hasattr(engine, "constants_source"):
        parts.append(engine.constants_source(net))
    return _assemble(engine, parts, (), KERNEL_FUNCTIONS)


def shared_module_source(engine: ModuleType) -> str:
    """The module of ``engine`` on the shared data-driven kernels (the same for every network)."""
    return _assemble(engine, [], mass_action.SOURCES)


def array_events_module_source(net: ReactionNetwork, engine: ModuleType) -> str:
    """The module of ``engine`` on the data-driven kernels with ``net``'s events and rate laws generated.

    For the engines that need the network arrays (the rejection-based SSAs) on a mass-action network
    with events: the propensities stay data-driven, the events and the rate constants (which an event
    may change) are compiled for the network.
    """
    return _assemble(engine, [_event_source(net), rate_constant_source(net)], mass_action.ARRAY_KERNELS,
                     ("event_times", "event_triggers", "apply_event", "kernel_constants"))


def can_share(engine: ModuleType) -> bool:
    """Whether ``engine`` runs on the shared kernels: it has no per-network constants of its own."""
    return not hasattr(engine, "constants_source")


def load_module(net: ReactionNetwork | None, engine: ModuleType, array_kernels: bool = False) -> ModuleType:
    """The compiled-on-demand module for ``net`` and ``engine`` (generated and cached).

    ``net=None`` loads the engine on the shared data-driven kernels; ``array_kernels=True`` on the
    data-driven kernels with the network's events (:func:`array_events_module_source`).
    """
    if net is None:
        source = shared_module_source(engine)
    elif array_kernels:
        source = array_events_module_source(net, engine)
    else:
        source = module_source(net, engine)
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    with _lock:
        module = _modules.get(digest)
        if module is not None:
            return module
        directory = cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        name = f"pycrn_{engine.NAME}_{digest}"
        path = directory / f"{name}.py"
        if not path.exists() or path.read_text() != source:
            # Atomic replace: concurrent processes never see a partial file.
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                fh.write(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _modules[digest] = module
        return module
