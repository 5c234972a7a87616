"""The network language: semantics, round trip and error messages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pycrn
from pycrn import ModelError


def test_sir_from_design_doc():
    net = pycrn.parse(
        """
        @parameters beta=1e-4 nu=0.01
        @species S=999 I=1 R=0
        beta, S + I --> 2I
        nu, I --> R
        """
    )
    assert net.species_names == ["S", "I", "R"]
    assert net.parameter_names == ["beta", "nu"]
    np.testing.assert_array_equal(net.initial_state(), [999, 1, 0])
    np.testing.assert_array_equal(net.parameter_values(), [1e-4, 0.01])
    np.testing.assert_array_equal(net.stoichiometry, [[-1, 0], [1, -1], [0, 1]])
    np.testing.assert_array_equal(net.reactant_matrix, [[1, 0], [1, 1], [0, 0]])


def test_reversible_null_and_stoichiometry():
    net = pycrn.parse("@parameters k1=1 k2=2 kb=3\n(k1, k2), 2A + B <--> C\nkb, ∅ --> 3B\nkb, C --> 0")
    assert len(net.reactions) == 4
    forward, backward, birth, death = net.reactions
    assert dict(forward.reactants) == {"A": 2, "B": 1} and dict(forward.products) == {"C": 1}
    assert dict(backward.reactants) == {"C": 1} and dict(backward.products) == {"A": 2, "B": 1}
    assert str(forward.rate) == "k1" and str(backward.rate) == "k2"
    assert birth.reactants == () and dict(birth.products) == {"B": 3}
    assert death.products == ()


def test_full_propensity_arrow_and_functions():
    net = pycrn.parse(
        "@parameters v=2 K=3\n@species X=0 Y=5\n"
        "hillr(Y, v, K, 2) + mm(X, v, K) * exp(-t) + sqrt(max(X, 1, Y)) / log(2 + min(X, Y)), 0 => X"
    )
    r = net.reactions[0]
    assert not r.mass_action
    assert r.rate.depends_on_time
    assert r.rate.names == {"Y", "v", "K", "X", "t"}


def test_mass_action_term_in_generated_code():
    from pycrn.codegen import propensity_source

    net = pycrn.parse("@parameters k=2\nk, 3A + B --> C")
    src = propensity_source(net, 0)
    f = eval("lambda x, p, t: " + src, {"math": __import__("math")})  # noqa: S307
    # k * C(A, 3) * B = 2 * (5*4*3/6) * 7
    assert f(np.array([5, 7, 0]), np.array([2.0]), 0.0) == pytest.approx(2 * 10 * 7)
    assert f(np.array([2, 7, 0]), np.array([2.0]), 0.0) == 0.0


def test_catalyst_hill_definitions():
    law = pycrn.ratelaws.RateLaw.parse("hill(x, v, K, n) + 10 * hillr(x, v, K, n) + 100 * mm(x, v, K) + 1000 * mmr(x, v, K)")
    f = law.to_numpy(["x", "v", "K", "n"])
    x, v, K, n = 3.0, 2.0, 4.0, 2.0
    expected = (
        v * x**n / (K**n + x**n)
        + 10 * v * K**n / (K**n + x**n)
        + 100 * v * x / (K + x)
        + 1000 * v * K / (K + x)
    )
    assert f(x, v, K, n) == pytest.approx(expected)


def test_parameters_without_values_must_be_given():
    net = pycrn.parse("@parameters k\nk, A --> 0")
    with pytest.raises(ModelError, match="no value given for parameter.*k"):
        net.parameter_values()
    assert net.parameter_values({"k": 2.5})[0] == 2.5


def test_boundary_species_are_not_changed():
    net = pycrn.parse("@species A=5 [boundary] X=0\n@parameters k=1\nk, A --> X")
    np.testing.assert_array_equal(net.stoichiometry[:, 0], [0, 1])
    assert net.species[0].boundary


def test_dependency_graph():
    net = pycrn.parse(
        "@parameters k=1\n"
        "k, A --> B\n"      # 0: changes A, B
        "k, B --> C\n"      # 1: changes B, C
        "k, C --> 0\n"      # 2: changes C
        "hill(A, k, k, 1), 0 => D\n"  # 3: reads A, changes D
        "k, D + E --> D\n"  # 4: reads D, E; changes E
    )
    assert net.dependency_graph == ((0, 1, 3), (1, 2), (2,), (4,), (4,))


def test_load_file(tmp_path):
    path = tmp_path / "sir.crn"
    path.write_text(str(pycrn.models.sir()))
    net = pycrn.load(path)
    assert net == pycrn.models.sir()
    assert net.name == "sir"
    with pytest.raises(ModelError, match="does not exist"):
        pycrn.load(tmp_path / "missing.crn")
    folder = tmp_path / "model.net"
    folder.mkdir()
    for load in (pycrn.load, pycrn.load_sbml, pycrn.load_bionetgen, pycrn.dsl.load):
        with pytest.raises(ModelError, match=r"file '.*model\.net' is a folder"):
            load(folder)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k, A --> B", r"line 1: rate 'k' uses unknown name\(s\) k"),
        ("@parameters k=1\nk, A -> B", r"line 2: no reaction arrow"),
        ("@parameters k=1\nk A --> B", r"line 2: expected 'rate, reactants --> products'"),
        ("@parameters k=1\nk, -1A --> B", r"line 2: stoichiometry of 'A' must be a positive integer, got -1"),
        ("@parameters k=1\nk, 0A --> B", r"line 2: stoichiometry of 'A' must be a positive integer, got 0"),
        ("@parameters k=1\nk, A --> 2.5B", r"line 2: cannot read reaction term '2.5B'"),
        ("@parameters k=1\n(k, k, A --> B", r"line 2: unbalanced parentheses"),
        ("@parameters k=1\nk *, A --> B", r"line 2: rate expression 'k \*' is not valid"),
        ("@parameters k=1\nfoo(k), A --> B", r"line 2: rate expression 'foo\(k\)': unknown function 'foo'"),
        ("@parameters k=1\nk, A <--> B", r"line 2: a reversible reaction needs two rates"),
        ("@parameters k=1\nhill(A, k), A => B", r"line 2: .*hill\(\) takes 4 arguments, got 2"),
        ("@parameters k=1\nk.real, A --> B", r"line 2: .*'k.real' is not allowed"),
        ("@parameters k=1\n__import__('os'), A --> B", r"line 2: .*unknown function '__import__'"),
        ("@species A=-1", r"line 1: initial count of 'A' must be a non-negative integer"),
        ("@species A=1.5", r"line 1: initial count of 'A' must be a non-negative integer"),
        ("@parameters k=abc", r"line 1: value of parameter 'k' must be a number"),
        ("@parameters k=inf", r"line 1: value of parameter 'k' is not finite"),
        ("@parameters k=1 k=2", r"line 1: parameter 'k' is declared twice"),
        ("@species A=1 [sticky]", r"line 1: unknown species flag"),
        ("@reactions", r"line 1: unknown directive '@reactions' \(known: @species, @parameters, @observable, @event, "
                       r"@equation, @noise\)"),
        ("@species A=1\n@events A > 2: A = 0", r"line 2: unknown directive '@events'"),
        ("@parametersk=1", r"line 1: unknown directive '@parametersk'"),
        ("@parameters k=1\n@species k=2", r"'k' is declared both as a species and as a parameter"),
        ("@parameters k=1\nk, t --> A", r"line 2: species name 't' is reserved"),
        ("@parameters k=1\n@species A=1\nk, A --> k", r"line 3: 'k' is a parameter, not a species"),
        ("@parameters k=1\nk * t, 0 --> A @bound k * t", r"line 2: @bound k \* t uses t; a bound must hold"),
        ("@parameters k=1\nk, 0 --> A @bound q", r"line 2: @bound q uses unknown name\(s\) q"),
        ("@parameters k=1\nk, 0 --> A @bound", r"line 2: @bound needs an expression"),
        ("@parameters k=1\nk, 0 --> A @rate 3", r"line 2: unknown reaction annotation after '@'"),
        ("@parameters k=1\n(k, k), A <--> B @bound k", r"line 2: a reversible reaction's @bound needs two bounds"),
    ],
)
def test_errors_name_line_and_problem(text, message):
    with pytest.raises(ModelError, match=message):
        pycrn.parse(text)


def test_a_directive_may_be_followed_by_a_tab():
    net = pycrn.parse("@species\tA=1\tB=2\n@parameters\tk=3\nk, A --> B\n")
    assert list(net.species_names) == ["A", "B"] and net.parameter_values().tolist() == [3.0]


def test_model_error_is_value_error():
    assert issubclass(ModelError, ValueError)
    with pytest.raises(ValueError):
        pycrn.parse("nonsense")


# -- round trip property ---------------------------------------------------
_species = st.sampled_from(["A", "B", "C", "X1", "Y_2"])
_side = st.dictionaries(_species, st.integers(1, 3), max_size=3)
_rate = st.one_of(
    st.floats(1e-6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["k1", "k2 * A", "hill(B, k1, k2, 2)", "k1 / (1 + C^2)", "max(k1, k2) - 0", "exp(-k1) * k2"]),
)
_reaction = st.tuples(_rate, _side, _side, st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.lists(_reaction, min_size=1, max_size=6), st.dictionaries(_species, st.integers(0, 10**6)))
def test_print_parse_round_trip(reactions, counts):
    lines = ["@parameters k1=0.5 k2=3", "@species A=0 B=0 C=0 X1=0 Y_2=0"]
    for rate, lhs, rhs, mass_action in reactions:
        side = lambda d: " + ".join(f"{n}{s}" if n > 1 else s for s, n in d.items()) or "0"  # noqa: E731
        lines.append(f"{rate}, {side(lhs)} {'-->' if mass_action else '=>'} {side(rhs)}")
    net = pycrn.parse("\n".join(lines)).with_defaults(u0=counts)
    again = pycrn.parse(str(net))
    assert again == net
    assert str(again) == str(net)
    np.testing.assert_array_equal(again.stoichiometry, net.stoichiometry)
    assert again.dependency_graph == net.dependency_graph


def test_declared_bounds_in_the_language_and_in_python():
    text = """@parameters k=2 w=1
    k * (1 + sin(w * t)), 0 --> A @bound 2 * k   # the periodic rate's maximum
    (k * t, k), A <--> B @bound (10 * k, k)
    """
    net = pycrn.parse(text)
    assert [str(r.bound) if r.bound else None for r in net.reactions] == ["2 * k", "10 * k", "k"]
    assert pycrn.parse(net.to_text()) == net
    # The bound is part of the model: another bound is another network.
    assert net != pycrn.parse(text.replace("@bound 2 * k", "@bound 3 * k"))
    built = pycrn.ReactionNetwork(
        [pycrn.Species("A")], [pycrn.Parameter("k", 2.0), pycrn.Parameter("w", 1.0)],
        [pycrn.Reaction.make("k * (1 + sin(w * t))", {}, {"A": 1}, bound="2 * k")],
    )
    assert built.reactions[0] == net.reactions[0]


def test_volume_scales_declared_bounds_with_their_rates():
    from pycrn.problem import _volume_network, volume_folding

    net = pycrn.parse("@parameters k=1 c=3 d=1\n@species A=5\n"
                      "k * (1 + sin(t)), 2A --> A @bound 2 * k\nc * (1 + t), 0 --> A @bound 9 * c\nd, A --> 0 @bound d")
    scaled = _volume_network(net)
    assert [str(r.bound) for r in scaled.reactions] == [
        "2 * k * pycrn_volume ^ (-1)", "9 * c * pycrn_volume ^ 1", "d"]
    # A bound that reads a parameter the volume rescales keeps the volume out of the parameter values.
    assert volume_folding(pycrn.parse("@parameters k=1\n@species A=5\nk, 2A --> A\n1, 0 => A @bound 10")) == ((0, -1),)
    assert volume_folding(pycrn.parse("@parameters k=1\n@species A=5\nk, 2A --> A\n1, 0 => A @bound 10 * k")) is None
