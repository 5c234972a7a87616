"""BioNetGen import: the .net format, BioNetGen's propensity convention, bad files, .bngl through BNG2.pl."""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from exact import FSPModel, check_against_fsp, fsp_distribution
from scipy import stats

import pycrn
from pycrn.bionetgen import parse_net, read_net
from pycrn.network_arrays import network_arrays, rate_constants
from pycrn.propensity import evaluate_propensity

DATA = Path(__file__).parent / "data" / "bionetgen"
PACKAGED = Path(pycrn.__file__).parent / "data" / "bionetgen"
HAS_BIONETGEN = importlib.util.find_spec("bionetgen") is not None and shutil.which("perl") is not None


def _net(body: str) -> str:
    return "begin parameters\n    1 k 0.5\nend parameters\n" + body


SPECIES = "begin species\n    1 A() 10\n    2 B() 0\nend species\n"


def test_reads_multistate_with_groups_as_observables():
    path = PACKAGED / "multistate.net"
    read = read_net(path)
    net = read.network
    assert (len(net.species), len(net.reactions)) == (9, 18)
    assert read.species_strings[3] == "L(r!1).R(a,l!1)"
    assert net.species_names[:3] == ["S1", "S2", "S3"]
    assert net.initial_state().tolist() == [5360, 1160, 5360, 0, 0, 0, 0, 0, 0]
    assert dict(net.observables)["A_P"].names == {"S7", "S8", "S9"}
    # Reaction 3 (2,5 -> 6 at kon) is bimolecular between different species: no symmetry factor.
    r = net.reactions[2]
    assert (r.reactants, r.products, str(r.rate)) == ((("S2", 1), ("S5", 1)), (("S6", 1),), "kon")


def test_identical_reactants_get_bionetgen_propensity():
    """BioNetGen writes the symmetry factor into the rate (0.5*k) and uses k x (x-1): pycrn must agree."""
    text = _net(SPECIES + "begin reactions\n    1 1,1 2 0.5*k\n    2 1,1,1 2 k\nend reactions\n")
    net = parse_net(text).network
    x = np.array([10, 0])
    p = net.parameter_values()
    # BioNetGen: a = k_written * x (x-1) [* (x-2)], the written rate already holding 1/nu!.
    assert evaluate_propensity(net, 0, x, p, 0.0) == pytest.approx(0.5 * 0.5 * 10 * 9)
    assert evaluate_propensity(net, 1, x, p, 0.0) == pytest.approx(0.5 * 10 * 9 * 8)
    # The shared kernels' per-reaction constants agree.
    k = rate_constants(net, p)
    assert k[0] * 10 * 9 == pytest.approx(0.5 * 0.5 * 10 * 9)
    assert k[1] * 10 * 9 * 8 == pytest.approx(0.5 * 10 * 9 * 8)


def test_derived_parameters_follow_their_base_parameters():
    text = (
        "begin parameters\n    1 k 0.5\n    2 _rateLaw1 2*k # ConstantExpression\n    3 N0 10*4\nend parameters\n"
        "begin species\n    1 A() N0\nend species\nbegin reactions\n    1 1 0 _rateLaw1\nend reactions\n"
    )
    net = parse_net(text).network
    assert net.parameter_names == ["k"]
    assert net.initial_state().tolist() == [40]
    x = np.array([3])
    assert evaluate_propensity(net, 0, x, net.parameter_values({"k": 2.0}), 0.0) == pytest.approx(12.0)


def test_fractional_amounts_round_to_nearest_ties_to_even():
    text = _net("begin species\n 1 A() 2.5\n 2 B() 3.5\n 3 C() 0.49\n 4 D() 1.2e+2\nend species\n"
                "begin reactions\n 1 1 2 k\nend reactions\n")
    assert parse_net(text).network.initial_state().tolist() == [2, 4, 0, 120]


def test_groups_with_coefficients_and_long_groups():
    members = ",".join(str(i) for i in range(1, 1001))
    species = "begin species\n" + "".join(f" {i} X{i}() 1\n" for i in range(1, 1001)) + "end species\n"
    text = _net(species + "begin reactions\n 1 1 2 k\nend reactions\n"
                f"begin groups\n 1 All {members}\n 2 Twice 2*1,3\nend groups\n")
    net = parse_net(text).network
    ds = pycrn.simulate(net, tspan=(0, 1), saveat=[0, 1], method="ode")
    assert ds["All"].values.ravel()[0] == 1000.0
    assert ds["Twice"].values.ravel()[0] == 3.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (SPECIES + "begin reactions\n    1 1,3 2 k\nend reactions\n", r"line 9: reactant index 3 is not a species"),
        (SPECIES + "begin reactions\n    1 1 2 kk\nend reactions\n", r"line 9: rate kk uses undefined parameter\(s\) kk"),
        (SPECIES + "begin reactions\n    1 1 2\nend reactions\n", r"line 9: a reaction line is 'index reactants products rate'"),
        (SPECIES + "begin functions\n    1 f() k*2\nend functions\n", r"line 8: functions .* are not supported"),
        (SPECIES + "begin widgets\nend widgets\n", r"line 8: unknown block 'widgets'"),
        ("begin species\n    1 A() k0\nend species\nbegin reactions\nend reactions\n",
         r"line 5: .*undefined parameter\(s\) k0"),
        (SPECIES + "begin reactions\n    1 1 2 k\n", r"ends inside block 'reactions'"),
        (SPECIES + "begin reactions\n    1 1 2 k*(\nend reactions\n", r"line 9: rate expression .* is not valid"),
        (SPECIES.replace("2 B()", "3 B()") + "begin reactions\nend reactions\n", r"line 6: species index 3 out of order"),
    ],
)
def test_bad_files_name_the_line(body, message):
    with pytest.raises(pycrn.ModelError, match=message):
        parse_net(_net(body), source="bad.net")


def test_load_dispatches_on_suffix(tmp_path):
    net = pycrn.load(DATA / "dimer.net")
    assert net.name == "dimer" and len(net.reactions) == 2
    crn = tmp_path / "m.crn"
    crn.write_text("k, A --> B\n@parameters k=1\n@species A=3")
    assert pycrn.load(crn).species_names == ["A", "B"]
    with pytest.raises(pycrn.ModelError, match="does not exist"):
        pycrn.load(tmp_path / "missing.net")


def _dimer_fsp(times):
    """The dimer's master equation written from BioNetGen's convention: a = (0.5 kf) A (A-1), kr B."""
    kf, kr = 0.01, 0.5
    fsp = FSPModel(
        changes=[(-2, 1), (2, -1)],
        propensities=[lambda x: 0.5 * kf * x[0] * (x[0] - 1), lambda x: kr * x[1]],
        bounds=(300, 150),
    )
    return fsp_distribution(fsp, (300, 0), times)


@pytest.mark.parametrize("kernels", ["generated", "shared"])
def test_dimer_matches_the_master_equation_in_bionetgen_convention(kernels):
    times = np.linspace(0.0, 2.0, 5)
    P, lost = _dimer_fsp(times)
    assert lost.max() < 1e-10
    net = pycrn.load(DATA / "dimer.net")
    method = pycrn.methods.Direct(kernels=kernels)
    ds = pycrn.simulate(net, tspan=(0, 2), saveat=times, trajectories=10_000, seed=31, method=method)
    check_against_fsp(ds, P, {"S1": 1, "S2": 2}, times, f"bionetgen dimer/{kernels}")


def test_large_network_imports_and_runs_on_shared_kernels():
    path = PACKAGED / "egfr_net.net"
    net = pycrn.load(path)
    assert (len(net.species), len(net.reactions)) == (356, 3749)
    arrays = network_arrays(net)
    assert arrays[0] == 3749
    ds = pycrn.simulate(net, tspan=(0, 0.01), saveat=[0, 0.01], seed=1)
    assert ds.attrs["reactions_fired"] > 0
    # Conservation: total EGF (free and bound) is constant; check it through the stoichiometry's left null space.
    x0, x1 = (np.array([ds[s].values[0, k] for s in net.species_names]) for k in (0, 1))
    S = net.stoichiometry.astype(float)
    y = np.linalg.svd(S.T)[2][-1]  # a conservation law (a vector with y @ S = 0)
    assert abs(y @ S).max() < 1e-8
    assert y @ x1 == pytest.approx(y @ x0, rel=1e-9, abs=1e-6)


def test_cli_simulates_a_net_file(tmp_path):
    from pycrn.cli import main

    out = tmp_path / "d.nc"
    assert main(["simulate", str(DATA / "dimer.net"), "-n", "5", "--seed", "1", "--tspan", "0", "1", "-o", str(out),
                 "-q"]) == 0
    ds = pycrn.open_results(out)
    assert set(ds.data_vars) >= {"S1", "S2", "Free", "Bound", "Dimers"}
    assert (ds["Bound"] == 2 * ds["S2"]).all()


@pytest.mark.skipif(not HAS_BIONETGEN, reason="needs the bionetgen package and Perl")
def test_bngl_goes_through_bng2(tmp_path):
    model = tmp_path / "dimer.bngl"
    model.write_text((DATA / "dimer.bngl").read_text())
    net = pycrn.load(model)
    assert net.to_text() == pycrn.load(DATA / "dimer.net").to_text()


def test_bngl_without_bionetgen_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_bionetgen(name, *args, **kwargs):
        if name == "bionetgen" and (len(args) < 4 or args[3] == 0):
            raise ImportError("no bionetgen")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bionetgen)
    with pytest.raises(pycrn.ModelError, match="pip install bionetgen"):
        pycrn.load(DATA / "dimer.bngl")


@pytest.mark.skipif(not HAS_BIONETGEN, reason="needs the bionetgen package (run_network)")
def test_agrees_with_run_network_on_the_dimer(tmp_path):
    """BioNetGen's own SSA and pycrn, two-sample tests on the final counts (n = 1,000 each)."""
    import bionetgen

    run_network = Path(bionetgen.__file__).parent / "bng-linux" / "bin" / "run_network"
    finals = []
    for seed in range(1, 1001):
        prefix = tmp_path / f"r{seed}"
        subprocess.run([str(run_network), "-o", str(prefix), "-p", "ssa", "-h", str(seed), str(DATA / "dimer.net"),
                        "1", "1"], capture_output=True, check=True)
        finals.append(float(prefix.with_suffix(".cdat").read_text().split("\n")[-2].split()[1]))
        for f in tmp_path.glob(f"r{seed}.*"):
            f.unlink()
    bng = np.array(finals)
    net = pycrn.load(DATA / "dimer.net")
    ours = pycrn.simulate(net, tspan=(0, 1), saveat=[0, 1], trajectories=1000, seed=5)["S1"].values[:, -1]
    z = (ours.mean() - bng.mean()) / np.sqrt(ours.var(ddof=1) / ours.size + bng.var(ddof=1) / bng.size)
    assert abs(z) < 3.5, z
    assert stats.ks_2samp(ours, bng).pvalue > 1e-3


HORIZONS = {"multistate": 1.0, "multisite2": 0.05}


@functools.cache
def _reference(name: str, n: int):
    """The direct method's ensemble on a BioNetGen network (computed once for both methods compared)."""
    tf = HORIZONS[name]
    return pycrn.simulate(getattr(pycrn.models, name)(), tspan=(0, tf), saveat=np.linspace(0.0, tf, 4),
                          trajectories=n, seed=42, method="direct")


@pytest.mark.parametrize(
    ("name", "method"),
    # direct_cr and rssa_cr on multisite2 (60 s on CI's machine) in the slow suite: CI runs their
    # composition-rejection tables in test_composition_rejection and their loops on smaller networks.
    [("multistate", "nrm"), ("multistate", "rssa"), ("multisite2", "rssa"),
     pytest.param("multisite2", "direct_cr", marks=pytest.mark.slow),
     pytest.param("multisite2", "rssa_cr", marks=pytest.mark.slow), pytest.param("multisite2", "nrm", marks=pytest.mark.slow),
     pytest.param("multistate", "direct_cr", marks=pytest.mark.slow),
     pytest.param("multistate", "rssa_cr", marks=pytest.mark.slow)],
)
def test_large_network_methods_agree_with_direct_on_bionetgen_networks(name, method, n=2000):
    """Two-sample z and KS tests on every group observable at three times (Bonferroni over all of them)."""
    net = getattr(pycrn.models, name)()
    tf = HORIZONS[name]
    times = np.linspace(0.0, tf, 4)
    a = pycrn.simulate(net, tspan=(0, tf), saveat=times, trajectories=n, method=method, seed=41)
    b = _reference(name, n)
    groups = [g for g, _ in net.observables]
    tests = len(groups) * 3
    for g in groups:
        for k in (1, 2, 3):
            x, y = a[g].values[:, k], b[g].values[:, k]
            se = np.sqrt(x.var(ddof=1) / n + y.var(ddof=1) / n)
            if se == 0:
                assert x.mean() == y.mean()
                continue
            z = (x.mean() - y.mean()) / se
            assert abs(z) < stats.norm.isf(1e-3 / (2 * tests)), (g, times[k], z)
            assert stats.ks_2samp(x, y).pvalue > 1e-3 / tests, (g, times[k])
