"""SBML import: the conformance models, features, and clear refusals."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from exact import DSMTS

import pycrn
from pycrn import ModelError

CASES = sorted(p.name for p in DSMTS.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES)
def test_dsmts_models_import_and_print_back(case):
    net = pycrn.load_sbml(DSMTS / case / f"{case}-sbml-l3v2.xml")
    again = pycrn.parse(str(net))
    assert again == net
    assert all(not r.mass_action for r in net.reactions)  # kinetic laws are whole propensities


def test_local_parameter_shadows_global():
    net = pycrn.load_sbml(DSMTS / "00022" / "00022-sbml-l3v2.xml")
    values = dict(zip(net.parameter_names, net.parameter_values()))
    assert values["Immigration_Alpha"] == 5.0 and values["Alpha"] == 10.0
    assert str(net.reactions[0].rate) == "Immigration_Alpha"


def test_boundary_species_and_compartment_size():
    net = pycrn.load_sbml(DSMTS / "00024" / "00024-sbml-l3v2.xml")
    assert [s.boundary for s in net.species] == [False, True, True]
    net9 = pycrn.load_sbml(DSMTS / "00009" / "00009-sbml-l3v2.xml")
    assert dict(zip(net9.parameter_names, net9.parameter_values()))["Cell"] == 2.0


def test_event_import():
    net = pycrn.load_sbml(DSMTS / "00032" / "00032-sbml-l3v2.xml")
    (ev,) = net.events
    assert str(ev.trigger) == "t >= 25"
    assert {k: str(v) for k, v in ev.assignments} == {"P": "100", "P2": "0"}
    assert ev.initial_value is False


def _sbml(body: str, species: str = "", extra: str = "") -> str:
    """A minimal SBML L3V2 document."""
    return textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
          <model id="m">
            {extra}
            <listOfCompartments>
              <compartment id="C" spatialDimensions="3" size="2" constant="true"/>
            </listOfCompartments>
            <listOfSpecies>
              <species id="A" compartment="C" initialAmount="10" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/>
              {species}
            </listOfSpecies>
            <listOfParameters>
              <parameter id="k" value="0.5" constant="true"/>
            </listOfParameters>
            {body}
          </model>
        </sbml>""").lstrip()


_DECAY = """
<listOfReactions>
  <reaction id="decay" reversible="false">
    <listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
    <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
      <apply><times/><ci> k </ci><apply><ci> f </ci><ci> A </ci></apply></apply>
    </math></kineticLaw>
  </reaction>
</listOfReactions>"""

_FUNC = """
<listOfFunctionDefinitions>
  <functionDefinition id="f"><math xmlns="http://www.w3.org/1998/Math/MathML">
    <lambda><bvar><ci> x </ci></bvar><apply><power/><ci> x </ci><cn type="integer"> 2 </cn></apply></lambda>
  </math></functionDefinition>
</listOfFunctionDefinitions>"""


def test_function_definitions_are_inlined_and_xml_strings_accepted():
    net = pycrn.load_sbml(_sbml(_DECAY, extra=_FUNC))
    from pycrn.propensity import evaluate_propensity as _propensity

    assert _propensity(net, 0, np.array([3]), net.parameter_values(), 0.0) == pytest.approx(0.5 * 9)


def test_concentration_species_enter_rates_divided_by_volume():
    species = ('<species id="B" compartment="C" initialConcentration="3" hasOnlySubstanceUnits="false" '
               'boundaryCondition="false" constant="false"/>')
    body = _DECAY.replace('species="A"', 'species="B"').replace("<ci> A </ci>", "<ci> B </ci>")
    net = pycrn.load_sbml(_sbml(body, species=species, extra=_FUNC))
    assert net.initial_state().tolist() == [10, 6]  # 3 per volume x size 2
    from pycrn.propensity import evaluate_propensity as _propensity

    # k * (B / C)^2 with B = 6 molecules in C = 2
    assert _propensity(net, 0, np.array([10, 6]), net.parameter_values(), 0.0) == pytest.approx(0.5 * 9)
    assert net.species_compartment["B"] == "C"


def test_initial_assignment_and_assignment_rule_as_observable():
    extra = _FUNC + """
    <listOfInitialAssignments>
      <initialAssignment symbol="A"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><cn type="integer"> 4 </cn><ci> k </ci></apply></math></initialAssignment>
    </listOfInitialAssignments>"""
    rules = """
    <listOfRules>
      <assignmentRule variable="twiceA"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><cn type="integer"> 2 </cn><ci> A </ci></apply></math></assignmentRule>
    </listOfRules>"""
    doc = _sbml(_DECAY + rules, extra=extra).replace(
        '<parameter id="k" value="0.5" constant="true"/>',
        '<parameter id="k" value="0.5" constant="true"/><parameter id="twiceA" constant="false"/>',
    )
    net = pycrn.load_sbml(doc)
    assert net.initial_state().tolist() == [2]
    ds = pycrn.simulate(net, tspan=(0, 5), saveat=1.0, trajectories=20, seed=1)
    np.testing.assert_array_equal(ds["twiceA"].values, 2 * ds["A"].values)


def test_state_triggered_event():
    events = """
    <listOfEvents>
      <event id="refill" useValuesFromTriggerTime="true">
        <trigger initialValue="true" persistent="true"><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><lt/><ci> A </ci><cn type="integer"> 3 </cn></apply></math></trigger>
        <listOfEventAssignments>
          <eventAssignment variable="A"><math xmlns="http://www.w3.org/1998/Math/MathML">
            <cn type="integer"> 10 </cn></math></eventAssignment>
        </listOfEventAssignments>
      </event>
    </listOfEvents>"""
    net = pycrn.load_sbml(_sbml(_DECAY + events, extra=_FUNC))
    assert net.events[0].initial_value is True
    ds = pycrn.simulate(net, tspan=(0, 50), saveat=0.5, trajectories=50, seed=2)
    # A is refilled to 10 whenever it drops below 3, so it never stays below 3.
    assert ds["A"].values.min() >= 3
    assert ds["A"].values.max() == 10


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.replace("</listOfReactions>", "</listOfReactions><listOfRules><rateRule variable=\"k\"><math xmlns=\"http://www.w3.org/1998/Math/MathML\"><cn> 1 </cn></math></rateRule></listOfRules>").replace('id="k" value="0.5" constant="true"', 'id="k" value="0.5" constant="false"'),
         r"rate rule for 'k'.*not supported"),
        (lambda d: d.replace("</listOfReactions>", "</listOfReactions><listOfRules><algebraicRule><math xmlns=\"http://www.w3.org/1998/Math/MathML\"><apply><minus/><ci> k </ci><cn> 1 </cn></apply></math></algebraicRule></listOfRules>").replace('id="k" value="0.5" constant="true"', 'id="k" value="0.5" constant="false"'),
         r"algebraic rule"),
        (lambda d: d.replace('reversible="false"', 'reversible="true"'), r"reaction decay is reversible"),
        (lambda d: d.replace("</listOfReactions>", "</listOfReactions><listOfEvents><event useValuesFromTriggerTime=\"true\"><trigger initialValue=\"false\" persistent=\"true\"><math xmlns=\"http://www.w3.org/1998/Math/MathML\"><apply><geq/><csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/time\"> t </csymbol><cn> 1 </cn></apply></math></trigger><delay><math xmlns=\"http://www.w3.org/1998/Math/MathML\"><cn> 1 </cn></math></delay><listOfEventAssignments><eventAssignment variable=\"A\"><math xmlns=\"http://www.w3.org/1998/Math/MathML\"><cn> 1 </cn></math></eventAssignment></listOfEventAssignments></event></listOfEvents>"),
         r"delayed events are not supported"),
        (lambda d: d.replace('stoichiometry="1"', 'stoichiometry="1.5"'), r"stoichiometry 1.5 of A is not a positive integer"),
        (lambda d: d.replace('initialAmount="10"', 'initialAmount="2.5"'), r"species A: initial amount 2.5 is not a non-negative whole number"),
        (lambda d: d.replace("<ci> f </ci>", "<ci> g </ci>"), r"call to unknown function 'g'"),
        (lambda d: d.replace("<apply><times/><ci> k </ci>", "<apply><times/><apply><csymbol encoding=\"text\" definitionURL=\"http://www.sbml.org/sbml/symbols/delay\"> delay </csymbol><ci> k </ci><cn> 1 </cn></apply>"), r"delay\(\) cannot be simulated"),
        (lambda d: d.replace("<apply><times/><ci> k </ci>", "<apply><times/><piecewise><piece><ci> k </ci><apply><gt/><ci> A </ci><cn> 1 </cn></apply></piece><otherwise><cn> 0 </cn></otherwise></piecewise>"), r"piecewise\(\) is not supported"),
    ],
)
def test_unsupported_features_are_refused_by_name(edit, message):
    with pytest.raises(ModelError, match=message):
        pycrn.load_sbml(edit(_sbml(_DECAY, extra=_FUNC)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<sbml><model", r"invalid SBML: line \d+"),
        ("<notsbml/>", r"invalid SBML"),
    ],
)
def test_malformed_xml_is_a_clear_error(text, message):
    with pytest.raises(ModelError, match=message):
        pycrn.load_sbml(text)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        pycrn.load_sbml(tmp_path / "nope.xml")
