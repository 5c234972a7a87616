"""The pycrn command as a new user meets it: defaults, help, messages, seeds, progress, listings."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from exact import DSMTS

import pycrn
from pycrn.cli import build_parser, main


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The console script in a subprocess: stdout and stderr are pipes, not a terminal."""
    return subprocess.run([sys.executable, "-m", "pycrn.cli", *args], capture_output=True, text=True, timeout=300)


def test_ode_runs_one_trajectory_without_n(tmp_path, capsys):
    assert main(["simulate", "toggle_switch", "--method", "ode", "-o", str(tmp_path / "t.nc")]) == 0
    assert "1 trajectory of toggle_switch with ode" in capsys.readouterr().out
    assert pycrn.open_results(tmp_path / "t.nc").sizes["trajectory"] == 1


def test_messages_name_the_flags(tmp_path, capsys):
    out = str(tmp_path / "x.nc")
    assert main(["simulate", "sir", "--method", "simple_tau_leaping", "-o", out]) == 2
    assert "--dt DT" in capsys.readouterr().err
    assert main(["simulate", "sir", "--method", "direct", "--tau-epsilon", "0.1", "-o", out]) == 2
    assert "does not take --tau-epsilon" in capsys.readouterr().err
    assert main(["ensemble", "sir", "--method", "ode", "--store", str(tmp_path / "s.zarr")]) == 2
    assert "deterministic" in capsys.readouterr().err


def test_initial_counts_as_typed(tmp_path, capsys):
    """--u0 takes a whole count in any notation (1e6 as 1000000, exactly), and names what it refuses."""
    first, again = str(tmp_path / "a.nc"), str(tmp_path / "b.nc")
    assert main(["simulate", "sir", "-n", "2", "--seed", "3", "--u0", "S=1e4", "-o", first]) == 0
    assert main(["simulate", "sir", "-n", "2", "--seed", "3", "--u0", "S=10000", "-o", again]) == 0
    a, b = pycrn.open_results(first), pycrn.open_results(again)
    assert a.attrs["u0"] == b.attrs["u0"] and "S=10000 " in a.attrs["u0"] and a.S.equals(b.S)
    capsys.readouterr()
    for typed, message in (("S=1.5", "initial counts must be whole numbers, got '1.5'"),
                           ("S=abc", "'abc' is not a number"),
                           ("S=-1e3", "count of 'S' must be non-negative"),
                           ("S=1e30", "count of 'S' is 1e+30, above the largest count the engines hold")):
        assert main(["simulate", "sir", "--u0", typed, "-o", first]) == 2
        assert message in capsys.readouterr().err


def test_hybrid_integrator_option(tmp_path, capsys):
    model = tmp_path / "stiff.crn"
    model.write_text("@species A=100 [continuous] B=1099511627776 [continuous]\n1e6, B --> 0\n1e-3, A --> B\n")
    out = str(tmp_path / "s.nc")
    assert main(["simulate", str(model), "--tspan", "0", "1", "-n", "2", "--seed", "1", "--method", "hybrid",
                 "--integrator", "rosenbrock23", "-o", out]) == 0
    assert "0 jumps, " in capsys.readouterr().out
    ds = pycrn.open_results(out)
    assert "integrator='rosenbrock23'" in ds.attrs["method_options"] and ds.attrs["integration_steps"] < 5000
    assert main(["simulate", str(model), "--tspan", "0", "1", "--method", "direct", "--integrator", "rosenbrock23",
                 "-o", out]) == 2
    assert "method 'direct' does not take --integrator" in capsys.readouterr().err


def test_an_output_that_cannot_be_written_is_named_before_the_run(tmp_path, capsys, monkeypatch):
    def no_run(*args, **kwargs):
        raise AssertionError("simulated before checking the output path")

    monkeypatch.setattr(sys.modules["pycrn.simulate"], "simulate", no_run)
    missing = tmp_path / "no" / "such"
    assert main(["simulate", "sir", "-n", "2", "-o", str(missing / "x.nc")]) == 2
    assert f"cannot write {missing / 'x.nc'}: the folder {missing} does not exist" in capsys.readouterr().err
    assert main(["simulate", "sir", "-n", "2", "-o", str(tmp_path)]) == 2
    assert f"cannot write {tmp_path}: it is a folder (give a file name, e.g. {tmp_path / 'results.nc'})" in \
        capsys.readouterr().err
    # The plot's path is checked before the results are read (x.nc does not exist).
    assert main(["plot", str(tmp_path / "x.nc"), "-o", str(missing / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "x.nc"), "-o", str(tmp_path)]) == 2
    assert "it is a folder" in capsys.readouterr().err
    # matplotlib would write figure.png for "figure": the figure would not be where it was asked for.
    for name in ("figure", "figure.xyz"):
        assert main(["plot", str(tmp_path / "x.nc"), "-o", str(tmp_path / name)]) == 2
        assert "its suffix must name an image format (.avif, .eps" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_max_steps_ends_a_runaway_with_a_message_naming_it(tmp_path, capsys):
    model = tmp_path / "runaway.crn"
    model.write_text("1e17, 0 --> B\n")
    out = str(tmp_path / "r.nc")
    assert main(["simulate", str(model), "--tspan", "0", "100", "-n", "2", "--seed", "1", "--max-steps", "1000",
                 "--method", "direct", "-o", out]) == 2
    err = capsys.readouterr().err
    assert "used up its budget of 1,000 steps" in err and "1e+17, 0 --> B" in err
    assert main(["simulate", str(model), "--tspan", "0", "100", "--max-steps", "0", "-o", out]) == 2
    assert "--max-steps must be a positive integer" in capsys.readouterr().err


def test_every_option_has_help_with_its_default():
    sub = build_parser()._subparsers._group_actions[0].choices
    for command in ("simulate", "ensemble", "plot", "conformance"):
        for action in sub[command]._actions:
            if action.dest != "help" and action.option_strings:
                assert action.help, f"{command} {action.option_strings} has no help text"
    text = sub["simulate"].format_help()
    for shown in ("default 1000; 1 for the deterministic method ode", "default: a fresh one, recorded",
                  "default: all cores", "default auto", "default out.nc", "only on a terminal"):
        assert shown in " ".join(text.split()), shown


def test_a_run_without_seed_prints_and_records_one_that_repeats_it(tmp_path, capsys):
    first, again = tmp_path / "a.nc", tmp_path / "b.nc"
    assert main(["simulate", "sir", "-n", "20", "-o", str(first)]) == 0
    out = capsys.readouterr().out
    seed = int(out.split("repeat with --seed ")[1].split(")")[0])
    ds = pycrn.open_results(first)
    assert ds.attrs["seed"] == seed
    assert main(["simulate", "sir", "-n", "20", "--seed", str(seed), "-o", str(again)]) == 0
    assert "repeat with" not in capsys.readouterr().out
    assert (pycrn.open_results(again)["I"].values == ds["I"].values).all()


def test_progress_bar_only_on_a_terminal_or_with_verbose(tmp_path):
    args = ["simulate", "birth_death", "-n", "20000", "--saveat", "1", "--seed", "1"]
    quiet = _cli(*args, "-o", str(tmp_path / "a.nc"))
    assert quiet.returncode == 0, quiet.stderr
    assert "traj/s" not in quiet.stderr and "%|" not in quiet.stderr  # a log file stays clean
    verbose = _cli(*args, "-v", "-o", str(tmp_path / "b.nc"))
    assert verbose.returncode == 0 and "traj" in verbose.stderr


def test_models_listing_is_plain_text(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and "sir" in out


def test_conformance_names_a_missing_case(capsys):
    assert main(["conformance", str(DSMTS), "--cases", "99999", "-n", "10"]) == 2
    err = capsys.readouterr().err
    assert "case(s) 99999 not under" in err and "it has 21 cases" in err


def test_plot_options(tmp_path):
    out = tmp_path / "sir.nc"
    assert main(["simulate", "sir", "-n", "50", "--seed", "3", "-q", "-o", str(out)]) == 0
    for extra in ([], ["--band", "sd"], ["--log"], ["--layout", "panels", "--histogram"]):
        png = tmp_path / f"p{len(extra)}.png"
        assert main(["plot", str(out), "-q", "-o", str(png), *extra]) == 0 and png.stat().st_size > 5000


def test_undeclared_species_with_an_explicit_species_line_is_warned_with_its_line():
    text = "@parameters k=1\n@species P=10\nk, P --> Q\nk, Q --> 0\n"
    with pytest.warns(UserWarning, match=r"line 3: species 'Q' is not declared in @species \(P\)"):
        net = pycrn.parse(text)
    assert net.species_names == ["P", "Q"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pycrn.parse("@parameters k=1\nk, P --> Q\n")  # no @species: inferred, as in Catalyst
        for name in pycrn.models.names():
            pycrn.models.get(name)  # the built-in models declare what they use


def test_first_compilation_is_announced_once(tmp_path):
    """A model never compiled on this machine: the run says it is compiling, where the cache is, and how long."""
    model = tmp_path / "fresh.crn"
    model.write_text("@parameters k=1.5 d=0.25\n@species A=3 B=0\nk, A --> 2A + B\nd, A --> 0\nd, B --> 0\n")
    env = {**os.environ, "PYCRN_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "pycrn.cli", "simulate", str(model), "--tspan", "0", "1",
                          "-n", "10", "--seed", "1", "--threads", "2", "-o", str(tmp_path / "f.nc")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("pycrn: compiling the direct engine for fresh (one-time, cached in") == 1
    assert "pycrn: compiled the direct engine for fresh in" in run.stderr
    again = subprocess.run([sys.executable, "-m", "pycrn.cli", "simulate", str(model), "--tspan", "0", "1",
                            "-n", "10", "--seed", "1", "-o", str(tmp_path / "g.nc")],
                           capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0 and "compiling" not in again.stderr  # loaded from the cache


def test_example_plot_gallery(tmp_path):
    gallery = Path(__file__).parents[1] / "examples" / "plot_gallery.py"
    run = subprocess.run([sys.executable, str(gallery), "60", str(tmp_path)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    for name in ("sir", "lotka_volterra", "schlogl", "toggle_switch", "immigration_death"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_warmup_compiles_the_shared_kernels(capsys):
    from pycrn import models, runner
    from pycrn.methods import RSSA, SortingDirect
    from pycrn.problem import Problem

    assert main(["warmup", "--models", "sir", "--methods", "sorting_direct"]) == 0
    out = capsys.readouterr().out
    for label in ("direct (shared kernels)", "sorting_direct (shared kernels)", "nrm (shared kernels)",
                  "rssa (shared kernels)", "sorting_direct for sir"):
        assert f"  {label}: " in out
    # A large network's first run now finds its kernels compiled.
    problem = Problem.build(models.multisite2())
    assert runner.compiled(problem, RSSA())[0].simulate_grid.signatures
    assert runner.compiled(Problem.build(models.sir()), SortingDirect())[0].simulate_grid.signatures
