"""Values at the boundary: SBML non-numbers, exact integer counts, limits, and errors that name the culprit.

Regression tests for the second bad-input sweep: each input used to become a
silently wrong model (NaN read as 1, counts rounded through float) or raise a
raw Python error; each must now give a pycrn error naming the file element,
line, species or argument.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pycrn
from pycrn import ModelError

pytest.importorskip("libsbml")
BIRTH_DEATH = (Path(__file__).parent / "data" / "dsmts" / "00001" / "00001-sbml-l3v2.xml").read_text()
INITIAL_ASSIGNMENT = (
    '<listOfInitialAssignments><initialAssignment symbol="X"><math xmlns="http://www.w3.org/1998/Math/MathML">'
    "{}</math></initialAssignment></listOfInitialAssignments>"
)


def _with(old: str, new: str) -> str:
    assert old in BIRTH_DEATH
    return BIRTH_DEATH.replace(old, new, 1)


def _with_assignment(mathml: str) -> str:
    return BIRTH_DEATH.replace("</listOfParameters>", "</listOfParameters>" + INITIAL_ASSIGNMENT.format(mathml))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_with('id="Cell"', 'id="Cell" size="NaN"'), r"compartment Cell: size nan is not a positive finite number"),
        (_with('id="Cell"', 'id="Cell" size="INF"'), r"compartment Cell: size inf is not a positive finite number"),
        (_with('species="X" stoichiometry="2"', 'species="X" stoichiometry="NaN"'),
         r"reaction Birth: stoichiometry nan of X is not a number"),
        (_with('species="X" stoichiometry="2"', 'species="X" stoichiometry="INF"'),
         r"reaction Birth: stoichiometry inf of X is not a number"),
        (_with('species="X" stoichiometry="2"', 'species="Y" stoichiometry="2"'),
         r"reaction Birth: species reference to 'Y', which is not a declared species"),
        (_with('initialAmount="100"', 'initialAmount="NaN"'), r"species X: initial amount nan is not a non-negative"),
        (_with('initialAmount="100"', 'initialAmount="INF"'), r"species X: initial amount inf is not a non-negative"),
        (_with('initialAmount="100"', 'initialAmount="1e30"'), r"species X: initial amount 1e\+30 is above 2\*\*53, where SBML's double-precision amounts"),
        (_with_assignment("<apply><divide/><cn>1</cn><cn>0</cn></apply>"), r"initial assignment to X .* cannot be evaluated"),
        (_with_assignment("<apply><exp/><cn>1000</cn></apply>"), r"initial assignment to X .* cannot be evaluated"),
        (_with_assignment("<apply><ln/><cn>-1</cn></apply>"), r"initial assignment to X .* cannot be evaluated"),
    ],
)
def test_sbml_values_that_are_not_numbers_are_errors(text, message):
    with pytest.raises(ModelError, match=message):
        pycrn.load_sbml(text)


def test_sbml_text_with_a_bom_or_as_bytes():
    for source in ("\ufeff" + BIRTH_DEATH, BIRTH_DEATH.encode(), b"\xef\xbb\xbf" + BIRTH_DEATH.encode()):
        net = pycrn.load_sbml(source)
        assert net.species_names == ["X"] and net.species[0].initial == 100
    with pytest.raises(ModelError, match="not UTF-8"):
        pycrn.load_sbml(b"\xff\xfe<sbml/>")


@pytest.mark.parametrize("count", [4611686018427387905, 9223372036854775807])
def test_counts_are_exact_up_to_int64(count):
    net = pycrn.parse(f"@species A={count}\n1e-30, A --> 0")
    assert net.species[0].initial == count
    assert pycrn.parse(str(net)).species[0].initial == count
    ds = pycrn.simulate(net, u0={"A": count}, tspan=(0, 1), saveat=[0.0], seed=1)
    assert int(ds["A"].values[0, 0]) == count


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@species A=1e19\n1, A --> 0", r"line 1: initial count of 'A' is 1e\+19, above the largest count"),
        ("@species A=9223372036854775808\n1, A --> 0", r"line 1: initial count of 'A' is 9223372036854775808, above"),
        ("@species A=2.5\n1, A --> 0", r"line 1: initial count of 'A' must be a non-negative integer, got '2.5'"),
        ("1, 99999999999999999999A --> 0", r"line 1: reactant stoichiometry 99999999999999999999 of 'A' is above"),
        ("1, 171A --> 0", r"line 1: reactant stoichiometry 171 of 'A' is above the limit of 100"),
        ("1, A --> 9223372036854775807B", r"line 1: product stoichiometry 9223372036854775807 of 'B' is above"),
        ("1e400, 0 --> A", r"line 1: rate expression '1e400': a number in it is not finite"),
        ("@observable x = 1\n@observable x = 2\n1, 0 --> A", r"line 2: observable 'x' is defined twice"),
        ("-" * 5000 + "1, 0 --> A", r"line 1: rate expression .* is nested too deeply"),
        ("2" + "^2" * 3000 + ", 0 --> A", r"line 1: rate expression .* is nested too deeply"),
    ],
)
def test_language_limits_name_the_line(text, message):
    with pytest.raises(ModelError, match=message):
        pycrn.parse(text)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**63, r"u0: count of 'A' is 9223372036854775808, above the largest count"),
        (1e20, r"u0: count of 'A' is 1e\+20, above the largest count"),
        (np.uint64(2**63), r"u0: count of 'A' is .*9223372036854775808.*, above"),
        ("5", r"u0: count of 'A' must be an integer, got '5' \(str\)"),
        ("abc", r"u0: count of 'A' must be an integer, got 'abc' \(str\)"),
        (None, r"u0: count of 'A' must be an integer, got None"),
        (1j, r"u0: count of 'A' must be an integer, got 1j \(complex\)"),
        ([1], r"u0: count of 'A' must be an integer, got \[1\] \(list\)"),
        (np.array([3]), r"u0: count of 'A' must be an integer, got array"),
        (float("nan"), r"u0: count of 'A' must be an integer, got nan"),
    ],
)
def test_bad_u0_values_name_the_species(value, message):
    net = pycrn.parse("@species A=5\n1, A --> 0")
    with pytest.raises(ModelError, match=message):
        pycrn.simulate(net, u0={"A": value}, tspan=(0, 1))


def test_u0_and_params_must_be_mappings():
    net = pycrn.parse("@parameters k=1\n@species A=5\nk, A --> 0")
    with pytest.raises(ModelError, match="params must be a mapping of parameter names to values, got list"):
        pycrn.simulate(net, params=[1.0], tspan=(0, 1))
    with pytest.raises(ModelError, match="u0 must be a mapping of species names to counts, got list"):
        pycrn.simulate(net, u0=[5], tspan=(0, 1))
    with pytest.raises(ModelError, match=r"params: value of 'k' must be a number, got '1'"):
        pycrn.simulate(net, params={"k": "1"}, tspan=(0, 1))


def test_cli_u0_must_be_whole(capsys):
    from pycrn.cli import main

    assert main(["simulate", "sir", "--u0", "S=2.5", "-n", "2"]) == 2
    assert "--u0 'S=2.5': initial counts must be whole numbers, got '2.5'" in capsys.readouterr().err


# -- signaling: values and files --------------------------------------------------------------------
def _toy():
    torch = pytest.importorskip("torch")
    from pycrn import signaling as sig
    from pycrn.signaling import datasets

    return torch, sig, datasets


def test_signaling_parameter_table_refuses_nan(tmp_path):
    _, sig, datasets = _toy()
    lines = datasets.toy_parameters().read_text().splitlines()
    fields = lines[1].split("\t")
    fields[3] = "nan"
    bad = tmp_path / "params.txt"
    bad.write_text("\n".join([lines[0], "\t".join(fields), *lines[2:]]) + "\n")
    model = sig.SignalingModel(datasets.toy())
    with pytest.raises(ValueError, match=r"params\.txt, line 2: value 'nan' is not a finite number"):
        model.load_parameters(bad)


def test_signaling_nan_parameters_do_not_give_finite_outputs():
    torch, sig, datasets = _toy()
    model = sig.SignalingModel(datasets.toy()).load_parameters(datasets.toy_parameters())
    with torch.no_grad():
        model.weights[2] = float("nan")
    with pytest.raises(ValueError, match=r"model parameter weights holds NaN or infinity \(at indices \[2\]\)"):
        model(torch.zeros(1, len(model.network.ligands), dtype=model.bias.dtype))


def test_signaling_files_that_are_not_utf8_or_not_checkpoints(tmp_path):
    torch, sig, datasets = _toy()
    model_file = tmp_path / "model.tsv"
    model_file.write_bytes(b"source\ttarget\tstimulation\tinhibition\n\xff\xfeA\tB\t1\t0\n")
    with pytest.raises(ModelError, match=r"model\.tsv is not UTF-8 text"):
        sig.SignalingNetwork.from_tsv(model_file, model_file)
    with pytest.raises(FileNotFoundError, match=r"no such file: .* \(it is a folder\)"):
        sig.SignalingNetwork.from_tsv(tmp_path, model_file)
    params = tmp_path / "p.txt"
    params.write_bytes(b"Source\tTarget\tType\tValue\n\xff\tB\tWeight\t1\n")
    with pytest.raises(ValueError, match=r"p\.txt is not UTF-8 text"):
        sig.SignalingModel(datasets.toy()).load_parameters(params)
    net = datasets.toy()
    model = sig.SignalingModel(net)
    x = sig.random_conditions(net, 4, ligands_per_condition=1, seed=1)
    y = np.zeros((4, len(net.tfs)))
    ckpt = tmp_path / "run.ckpt"
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"checkpoint .*run\.ckpt cannot be read .* delete it to start over"):
        sig.fit(model, x, y, epochs=1, checkpoint=ckpt, progress=False)
    with pytest.raises(ValueError, match="no conditions to train on"):
        sig.fit(model, x[:0], y[:0], epochs=1, progress=False)


def test_signaling_fit_that_diverges_is_an_error():
    torch, sig, datasets = _toy()
    net = datasets.toy()
    model = sig.SignalingModel(net)
    x = sig.random_conditions(net, 4, ligands_per_condition=1, seed=1)
    y = np.full((4, len(net.tfs)), 1e200)
    with pytest.raises(FloatingPointError, match=r"training diverged in epoch 1: the loss is inf .*1e\+200"):
        sig.fit(model, x, y, epochs=2, progress=False)


def test_event_counts_are_exact_up_to_two_to_the_53():
    exact = 2**53
    net = pycrn.parse(f"@species A=0\n1e-30, A --> 0\n@event t >= 1: A = {exact}")
    ds = pycrn.simulate(net, tspan=(0, 2), saveat=[2.0], seed=1)
    assert int(ds["A"].values[0, 0]) == exact
    net = pycrn.parse(f"@species A=0\n1e-30, A --> 0\n@event t >= 1: A = {exact} * 4")
    with pytest.raises(pycrn.SimulationError, match=r"event 1 .* whole numbers up to 2\*\*53"):
        pycrn.simulate(net, tspan=(0, 2), saveat=[2.0], seed=1)
