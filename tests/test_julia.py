"""The Julia bridge: generated Catalyst text and Julia sources, checked with a Julia parser.

Julia cannot be installed on this project's machines, so the bridge is checked
as far as it can be without it: every Julia file of ``julia/`` and every text
``to_catalyst`` writes (built-in models, the DSMTS cases, events) parses with
tree-sitter-julia without errors, and is read back from the parse tree (not
from pycrn's own strings) and compared with the network: species, initial
counts, boundary flags, parameters and values, stoichiometry, arrows, and rate
expressions evaluated at random points. The tests that run Julia are at the
end; they skip, saying why, where juliacall cannot start Julia.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from exact import DSMTS, assert_dsmts, immigration_death_moments
from scipy import stats

import pycrn
from pycrn import ModelError, julia
from pycrn.propensity import evaluate_propensity

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
tree_sitter = pytest.importorskip("tree_sitter")
tree_sitter_julia = pytest.importorskip("tree_sitter_julia")

ROOT = Path(__file__).resolve().parent.parent
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_julia.language()))


def parse(text: str):
    tree = PARSER.parse(text.encode())
    assert not tree.root_node.has_error, _first_error(tree.root_node, text)
    return tree.root_node


def _first_error(node, text: str) -> str:
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            line = n.start_point[0]
            return f"parse error at line {line + 1}: {text.splitlines()[line]!r}"
        stack.extend(reversed(n.children))
    return "parse error"


# -- reading Catalyst text back from the Julia parse tree -------------------------------------------

_OPS = {"^": "**", "&&": " and ", "||": " or ", "!": "not "}


def python_of(node) -> str:
    """A Julia expression node as Python source (numbers, names, operators, calls, u[i] 1-based)."""
    kind = node.type
    named = node.named_children
    if kind in ("identifier", "integer_literal", "float_literal"):
        return node.text.decode()
    if kind == "boolean_literal":
        return node.text.decode().capitalize()
    if kind == "parenthesized_expression":
        return f"({python_of(named[0])})"
    if kind == "binary_expression":
        left, op, right = node.children
        return f"({python_of(left)} {_OPS.get(op.text.decode(), op.text.decode())} {python_of(right)})"
    if kind == "unary_expression":
        op, operand = node.children
        return f"({_OPS.get(op.text.decode(), op.text.decode())}{python_of(operand)})"
    if kind == "call_expression":
        fn, args = node.children
        name = {"Float64": "float"}.get(fn.text.decode(), fn.text.decode())
        return f"{name}({', '.join(python_of(a) for a in args.named_children)})"
    if kind == "index_expression":
        array, index = named
        return f"{array.text.decode()}[{int(index.named_children[0].text) - 1}]"
    raise AssertionError(f"unexpected node {kind}: {node.text.decode()!r}")


def _side(node) -> dict[str, int]:
    if node.type == "binary_expression" and node.children[1].text == b"+":
        return {**_side(node.children[0]), **_side(node.children[2])}
    if node.type == "integer_literal" and node.text == b"0":
        return {}
    if node.type == "juxtaposition_expression":
        nu, name = node.named_children
        return {name.text.decode(): int(nu.text)}
    assert node.type == "identifier", node.type
    return {node.text.decode(): 1}


def read_catalyst(text: str) -> dict:
    """Species, parameters, observables and reactions of a generated ``@reaction_network`` block."""
    root = parse(text)
    macro = next(c for c in root.named_children if c.type == "assignment").named_children[-1]
    assert macro.named_children[0].text == b"@reaction_network"
    block = macro.named_children[1].named_children[-1]
    out: dict = {"species": [], "parameters": [], "observables": [], "reactions": []}
    for item in block.named_children:
        if item.type == "macrocall_expression":
            option = item.named_children[0].text.decode()
            args = item.named_children[1].named_children
            if option == "@parameters":
                for a in args:
                    if a.type == "identifier":
                        out["parameters"].append((a.text.decode(), None))
                    else:
                        out["parameters"].append((a.named_children[0].text.decode(), float(a.named_children[-1].text)))
            elif option == "@species":
                for a in args:
                    call, _, value = a.children
                    boundary = value.type == "juxtaposition_expression"
                    if boundary:
                        value, meta = value.named_children
                        assert meta.text == b"[isbcspecies=true]"
                    out["species"].append((call.named_children[0].text.decode(), int(value.text), boundary))
            elif option == "@observables":
                for eq in args[0].named_children:
                    name, _, expr = eq.children
                    out["observables"].append((name.text.decode(), python_of(expr)))
        elif item.type == "open_tuple":
            rate, arrow_expr = item.named_children
            lhs, arrow, rhs = arrow_expr.children
            out["reactions"].append((python_of(rate), _side(lhs), _side(rhs), arrow.text.decode()))
    return out


def _catalyst_functions() -> dict:
    # Catalyst's definitions (docs.sciml.ai/Catalyst, "Rate laws"), written here independently of pycrn.
    return {
        "hill": lambda x, v, k, n: v * x**n / (k**n + x**n),
        "hillr": lambda x, v, k, n: v * k**n / (k**n + x**n),
        "mm": lambda x, v, k: v * x / (k + x),
        "mmr": lambda x, v, k: v * k / (k + x),
        "exp": math.exp, "log": math.log, "sqrt": math.sqrt, "abs": abs, "floor": math.floor, "ceil": math.ceil,
        "min": min, "max": max, "float": float,
    }


def assert_reads_back(net: pycrn.ReactionNetwork, text: str, rng: np.random.Generator, label: str) -> None:
    back = read_catalyst(text)
    assert back["species"] == [(s.name, s.initial, s.boundary) for s in net.species], label
    assert back["parameters"] == [(p.name, p.value) for p in net.parameters], label
    assert [name for name, _ in back["observables"]] == [name for name, _ in net.observables], label
    assert len(back["reactions"]) == len(net.reactions), label
    defaults = {p.name: p.value for p in net.parameters if p.value is not None}
    for j, (r, (rate, lhs, rhs, arrow)) in enumerate(zip(net.reactions, back["reactions"])):
        where = f"{label} reaction {j + 1} ({r})"
        assert lhs == dict(r.reactants) and rhs == dict(r.products), where
        assert arrow == ("-->" if r.mass_action else "=>"), where
        # Parameters at their values (a rate may be a difference of them), species at random counts.
        point = {name: defaults[name] if name in defaults else float(rng.uniform(1.0, 20.0)) for name in r.rate.names}
        expected = float(r.rate.to_numpy(list(point))(**point))
        got = float(eval(rate, _catalyst_functions(), dict(point)))  # noqa: S307 (read back from our own text)
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-300), f"{where}: {got} != {expected}"


# -- the Julia files -----------------------------------------------------------------------------------

JULIA_FILES = sorted((ROOT / "julia").rglob("*.jl"))


def test_the_julia_package_is_there():
    names = {p.relative_to(ROOT).as_posix() for p in JULIA_FILES}
    assert {"julia/src/PycrnBridge.jl", "julia/src/batched.jl", "julia/test/runtests.jl"} <= names


@pytest.mark.parametrize("path", JULIA_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_julia_source_parses(path):
    root = parse(path.read_text())
    assert root.named_child_count > 0


def test_project_files_agree():
    package = tomllib.loads((ROOT / "julia" / "Project.toml").read_text())
    environment = tomllib.loads((ROOT / "JuliaProject.toml").read_text())
    juliapkg = json.loads((ROOT / "pycrn" / "juliapkg.json").read_text())
    uuid = package["uuid"]
    assert package["name"] == "PycrnBridge"
    assert environment["deps"]["PycrnBridge"] == uuid and environment["sources"]["PycrnBridge"]["path"] == "julia"
    entry = juliapkg["packages"]["PycrnBridge"]
    assert entry["uuid"] == uuid and (ROOT / "pycrn" / entry["path"]).resolve() == (ROOT / "julia").resolve()
    # Every dependency has compat bounds; the bridge's Catalyst syntax (keyword JumpProblem) needs >= 15.
    assert set(package["deps"]) <= set(package["compat"])
    assert package["compat"]["Catalyst"].split(",")[0].strip() == "15"
    # The packages the Julia sources load are dependencies.
    used = set()
    for path in (ROOT / "julia" / "src").glob("*.jl"):
        for line in path.read_text().splitlines():
            if line.startswith("using "):
                modules = line[6:].split(":")[0]  # `using A, B` or `using A: f, g`
                used |= {w.strip() for w in modules.split(",") if w.strip()}
    assert used - {"Base", "Core"} <= set(package["deps"]), used - set(package["deps"])


# -- to_catalyst -----------------------------------------------------------------------------------------


#: tree-sitter-julia takes about 20 s for BCR's 24,000-line block (its parse time grows faster than the text):
#: checked with pytest -m slow; the other built-in models cover every construct BCR uses.
SLOW_MODELS = {"bcr"}


@pytest.mark.parametrize(
    "name", [n if n not in SLOW_MODELS else pytest.param(n, marks=pytest.mark.slow) for n in pycrn.models.names()]
)
def test_builtin_model_translates_parses_and_reads_back(name):
    net = pycrn.models.get(name)
    text = julia.to_catalyst(net)
    assert_reads_back(net, text, np.random.default_rng(len(name)), name)


@pytest.mark.parametrize("case", sorted(p.name for p in DSMTS.iterdir() if p.is_dir()))
def test_dsmts_case_translates_parses_and_reads_back(case):
    net = pycrn.load_sbml(DSMTS / case / f"{case}-sbml-l3v2.xml")
    text = julia.to_catalyst(net)
    assert_reads_back(net, text, np.random.default_rng(int(case)), case)
    assert text.count("Callback(") == len(net.events)


EVENTS = """
@parameters k=0.5 T0=10 a=2
@species A=10 B=0 C=3
@observable Total = A + B + C
k, 2A --> B
hill(A, a, 5, 3), 0 => C
pow(B, 2) / (1 + max(A, B, C)), C --> 0
@event t >= 2 * T0: A = A + 5, k = 2 * k
@event B > 3 and not (C <= 1): C = 0
@event(initial=true) A < 3 or B >= 10: A = A + 1
"""


def test_events_become_callbacks():
    net = pycrn.parse(EVENTS)
    text = julia.to_catalyst(net, params={"T0": 12.5})
    root = parse(text)
    assert "PresetTimeCallback([25.0]," in text  # t >= 2*T0 at the given T0
    assert text.count("DiscreteCallback(") == 2 and "armed[] = !true" in text and "armed[] = !false" in text
    assert text.count("reset_aggregated_jumps!(integrator)") == 3
    # The callback set is the second top-level assignment; its conditions read the state symbolically.
    assignments = [c for c in root.named_children if c.type == "assignment"]
    assert [a.named_children[0].text for a in assignments] == [b"rn", b"rn_callbacks"]
    assert "(integrator[:B] > 3.0) && (!(integrator[:C] <= 1.0))" in text
    assert "integrator.ps[:k] = v1" in text
    back = read_catalyst(text)
    assert dict(back["parameters"])["T0"] == 12.5


def test_values_and_variable_name_can_be_given():
    text = julia.to_catalyst(pycrn.models.sir(), params={"beta": 2e-4}, u0={"S": 500}, variable="sir")
    back = read_catalyst(text)
    assert dict(back["parameters"])["beta"] == 2e-4
    assert back["species"][0] == ("S", 500, False)
    assert text.splitlines()[1].startswith("sir = @reaction_network sir begin")


@pytest.mark.parametrize("bad", ["missing", "end", "Inf", "nothing"])
def test_names_reserved_in_julia_are_refused(bad):
    net = pycrn.parse(f"@species {bad}=1\n1.0, {bad} --> 0")
    with pytest.raises(ModelError, match=f"'{bad}' is reserved in Julia or Catalyst"):
        julia.to_catalyst(net)


@pytest.mark.parametrize("name", ["sir", "dimerisation", "schlogl", "toggle_switch", "repressilator", "multistate"])
def test_tau_leaping_rate_function_is_pycrns_propensity(name):
    """The Julia ``rate(out, u, p, t)`` of the RegularJump evaluates to pycrn's propensities."""
    net = pycrn.models.get(name)
    root = parse(julia._leap_source(net))
    body = root.named_children[0].named_children[-1]  # the begin ... end block of the lambda
    rng = np.random.default_rng(7)
    p = net.parameter_values()
    for _ in range(5):
        x = rng.integers(0, 60, size=len(net.species)).astype(np.int64)
        values = {"u": x.astype(float), "p": p, "t": 0.0}
        got = {}
        for stmt in body.named_children:
            if stmt.type == "assignment":
                target, _, expr = stmt.children
                got[int(target.named_children[1].named_children[0].text) - 1] = eval(  # noqa: S307
                    python_of(expr), _catalyst_functions(), values
                )
        assert sorted(got) == list(range(len(net.reactions)))
        for j, value in got.items():
            assert math.isclose(value, evaluate_propensity(net, j, x, p, 0.0), rel_tol=1e-12, abs_tol=1e-300)


# -- without Julia --------------------------------------------------------------------------------------


def test_import_pycrn_never_imports_juliacall():
    code = (
        "import sys, pycrn; pycrn.julia.to_catalyst(pycrn.models.sir()); "
        "assert 'juliacall' not in sys.modules and 'juliapkg' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_backend_julia_without_juliacall_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "juliacall", None)  # import juliacall -> ModuleNotFoundError
    monkeypatch.setattr(julia, "_JL", None)
    with pytest.raises(ImportError, match=r"juliacall \(the 'julia' extra\).*pip install -e \"\.\[julia\]\""):
        pycrn.simulate(pycrn.models.sir(), tspan=(0, 10), backend="julia", seed=1)
    assert not julia.available()


def test_backend_julia_without_the_julia_package_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(julia, "JULIA_PACKAGE", tmp_path / "julia")
    monkeypatch.setattr(julia, "_JL", None)
    with pytest.raises(ImportError, match="the Julia package of the bridge"):
        julia.julia()


def test_backend_julia_refuses_before_starting_julia(monkeypatch):
    monkeypatch.setattr(julia, "julia", lambda: pytest.fail("Julia was started"))
    sir = pycrn.models.sir()
    with pytest.raises(ValueError, match="not offered by backend='julia'"):
        pycrn.simulate(sir, method="tau_leaping", backend="julia")
    with pytest.raises(ValueError, match="dt=0.3 must divide tf - t0"):
        pycrn.simulate(sir, tspan=(0, 10), method="simple_tau_leaping", dt=0.3, backend="julia")
    with pytest.raises(ValueError, match="saves on a grid"):
        pycrn.simulate(sir, save="events", backend="julia")
    with pytest.raises(ValueError, match="backend must be"):
        pycrn.simulate(sir, backend="jl")
    with pytest.raises(ModelError, match="batched"):
        pycrn.simulate(pycrn.models.self_regulatory_gene(), method="batched", backend="julia")
    early = pycrn.parse("@parameters k=1\n@species A=0\nk, 0 --> A\n@event t >= 0: A = 5")
    with pytest.raises(ModelError, match="at or before t0"):
        pycrn.simulate(early, tspan=(0, 1), backend="julia")
    timed = pycrn.parse("k * (1 + t), 0 --> A\n@parameters k=1")
    with pytest.raises(ModelError, match="time-homogeneous"):
        pycrn.simulate(timed, tspan=(0, 1), backend="julia")


def test_trajectory_seeds_are_the_seed_sequence_children():
    seeds = julia.trajectory_seeds(42, 5)
    children = np.random.SeedSequence(42).spawn(5)
    assert seeds.dtype == np.uint64
    assert list(seeds) == [c.generate_state(1, np.uint64)[0] for c in children]
    assert list(julia.trajectory_seeds(42, 3)) == list(seeds[:3])  # a prefix: independent of n


# -- with Julia (skipped where it cannot start) --------------------------------------------------------


def _julia_reason() -> str | None:
    # Checked before juliacall is imported: importing it without Julia would try to download Julia.
    if shutil.which("julia") is None:
        return "Julia is not installed here (no julia on PATH); these tests have not been run on our machines"
    try:
        julia.julia()
    except ImportError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def jl():
    reason = _julia_reason()
    if reason:
        pytest.skip(reason)
    return julia.julia()


def _two_sample(a: np.ndarray, b: np.ndarray, label: str, tests: int) -> None:
    """Two-sample z test of means and KS test, Bonferroni over ``tests`` comparisons at alpha 1e-3."""
    alpha = 1e-3 / tests
    z = (a.mean() - b.mean()) / math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(z) < stats.norm.isf(alpha / 2), f"{label}: z = {z:.2f}"
    assert stats.ks_2samp(a, b).pvalue > alpha, f"{label}: KS"


@pytest.mark.parametrize("method", ["direct", "sorting_direct", "nrm", "direct_cr", "rssa", "rssa_cr"])
def test_julia_aggregators_agree_with_native_direct(jl, method):
    net = pycrn.models.dimerisation()
    kwargs = {"tspan": (0, 10), "saveat": [2.0, 5.0, 10.0], "trajectories": 2000}
    ours = pycrn.simulate(net, method="direct", seed=1, **kwargs)
    theirs = pycrn.simulate(net, method=method, seed=2, backend="julia", **kwargs)
    assert theirs.attrs["backend"] == "julia" and list(theirs.data_vars) == list(ours.data_vars)
    for name in net.species_names:
        for k in range(3):
            _two_sample(ours[name].values[:, k], theirs[name].values[:, k], f"{method} {name} t={k}", 3 * len(net.species))


def test_julia_events_agree_with_native(jl):
    net = pycrn.parse("@parameters k=1 d=0.1\n@species A=0\nk, 0 --> A\nd, A --> 0\n@event t >= 5: A = A + 20, k = 3")
    kwargs = {"tspan": (0, 10), "saveat": [4.9, 5.0, 10.0], "trajectories": 2000}
    ours = pycrn.simulate(net, method="direct", seed=3, **kwargs)
    theirs = pycrn.simulate(net, method="direct", seed=4, backend="julia", **kwargs)
    for k in range(3):
        _two_sample(ours["A"].values[:, k], theirs["A"].values[:, k], f"event t={k}", 3)


def test_julia_batched_port_is_exact_on_immigration_death(jl):
    """The port's exactness check, as for the Python engine: closed-form moments, DSMTS bounds, n = 10,000."""
    net = pycrn.parse("@parameters a=2000 mu=0.1\n@species X=50000\na, 0 --> X\nmu, X --> 0")
    times = np.linspace(0, 20, 21)
    ds = pycrn.simulate(net, method=pycrn.methods.Batched(min_reactions_per_batch=0), saveat=times,
                        tspan=(0, 20), trajectories=10_000, seed=5, backend="julia")
    mean, sd = immigration_death_moments(50000, 2000, 0.1, times)
    assert_dsmts(ds["X"].values, mean, sd, "julia batched immigration-death")


def test_julia_simple_tau_leaping_matches_native_mean(jl):
    net = pycrn.models.immigration_death()
    kwargs = {"tspan": (0, 10), "saveat": [10.0], "trajectories": 2000}
    ours = pycrn.simulate(net, method="direct", seed=6, **kwargs)
    theirs = pycrn.simulate(net, method="simple_tau_leaping", dt=0.01, seed=7, backend="julia", **kwargs)
    _two_sample(ours["X"].values[:, 0], theirs["X"].values[:, 0], "simple_tau_leaping", 1)
