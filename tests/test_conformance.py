"""The DSMTS conformance suite through SBML import, as `pycrn conformance` runs it."""

from __future__ import annotations

import pytest
from exact import DSMTS

from pycrn import conformance
from pycrn.cli import main

CASES = sorted(p.name for p in DSMTS.iterdir() if p.is_dir())


# CI runs the suite with direct; the other exact SSAs that take SBML's kinetic laws (checked against
# FSP and closed forms in test_exactness) pass it too: pytest -m slow runs them. (The rejection-based
# SSAs need mass action, which SBML's kinetic laws are not: test_exactness runs the mass-action
# cases through the language with them.)
METHODS = ("direct", "sorting_direct", "nrm", "direct_cr", "extrande")
#: The cases CI runs with direct: one per imported network shape (species, boundary species, events) and
#: 00003, whose sd test is exempt. Each case is a compilation of its own (5-30 s on CI's machine); the
#: other thirteen variants (parameter values, amounts, units) run with pytest -m slow.
CI_CASES = {"00001", "00003", "00006", "00020", "00024", "00028", "00030", "00032"}
SLOW = {(m, c) for m in METHODS for c in CASES if m != "direct" or c not in CI_CASES}


@pytest.mark.parametrize(
    ("case", "method"),
    [
        pytest.param(c, m, marks=pytest.mark.slow) if (m, c) in SLOW else (c, m)
        for c in CASES
        for m in METHODS
    ],
)
def test_case_passes_with_10000_trajectories(case, method):
    result = conformance.run_case(DSMTS / case, n=10_000, method=method, seed=1000 + int(case))
    assert result.passed, result.row()
    assert result.sd_exempt == (case == "00003")


def test_statistics_detect_a_biased_simulator():
    """The checks have power: shifting every sample by 2% of a sd fails the mean test."""
    import numpy as np

    rng = np.random.default_rng(0)
    mu, sigma = np.full(50, 100.0), np.full(50, 10.0)
    good = rng.normal(100, 10, size=(10_000, 50))
    z, _ = conformance.dsmts_statistics(good, mu, sigma)
    assert np.abs(z).max() < conformance.familywise_bound(50, 3.0)
    z, _ = conformance.dsmts_statistics(good + 0.5, mu, sigma)
    assert np.abs(z).max() > conformance.familywise_bound(50, 3.0)
    _, y = conformance.dsmts_statistics(good * 1.1 - 10, mu, sigma)
    assert np.abs(y).max() > conformance.familywise_bound(50, 5.0)


def test_cli_prints_table(capsys):
    assert main(["conformance", str(DSMTS), "-n", "2000", "--cases", "00001", "00028",
                 "--method", "direct", "sorting_direct"]) == 0
    out = capsys.readouterr().out
    assert out.count("| 000") == 4 and "4/4 passed" in out


def test_cli_reports_missing_folder(tmp_path, capsys):
    assert main(["conformance", str(tmp_path)]) == 2
    assert "no DSMTS case folders" in capsys.readouterr().err
