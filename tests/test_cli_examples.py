"""The command line and the examples, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pycrn
from pycrn.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_cli_simulate_and_plot(tmp_path, capsys):
    out = tmp_path / "sir.nc"
    assert main(["simulate", "sir", "--tspan", "0", "50", "--saveat", "1", "-n", "200",
                 "--seed", "1", "-o", str(out), "-q"]) == 0
    ds = pycrn.open_results(out)
    assert dict(ds.sizes) == {"trajectory": 200, "time": 51}
    assert ds.attrs["seed"] == 1
    png = tmp_path / "sir.png"
    assert main(["plot", str(out), "-o", str(png)]) == 0
    assert png.stat().st_size > 10_000


def test_cli_model_file_params_and_u0(tmp_path):
    model = tmp_path / "decay.crn"
    model.write_text("@parameters k=1\n@species A=10\nk, A --> 0\n")
    out = tmp_path / "d.nc"
    assert main(["simulate", str(model), "--tspan", "0", "5", "-n", "10", "--u0", "A=3",
                 "--param", "k=0.5", "-o", str(out), "-q", "--method", "sorting_direct"]) == 0
    ds = pycrn.open_results(out)
    assert int(ds["A"].isel(time=0).max()) == 3
    assert ds.attrs["params"] == "k=0.5"
    assert ds.attrs["method"] == "sorting_direct"


def test_cli_volume_and_batched(tmp_path):
    model = tmp_path / "dimer.crn"
    model.write_text("@parameters k=1\n@species A=100 B=0\nk, 2A --> B\n")
    out = tmp_path / "v.nc"
    assert main(["simulate", str(model), "--tspan", "0", "1", "-n", "5", "--volume", "50", "--seed", "3",
                 "--method", "batched", "-o", str(out), "-q"]) == 0
    ds = pycrn.open_results(out)
    assert ds.attrs["volume"] == 50.0 and ds.attrs["method"] == "batched"
    # The CLI run is the API's run with the same volume (test_batched checks the volume's law).
    ref = pycrn.simulate(pycrn.load(model), tspan=(0, 1), trajectories=5, seed=3, volume=50.0, method="batched")
    assert (ds["A"].values == ref["A"].values).all()


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    bad = tmp_path / "bad.crn"
    bad.write_text("@parameters k=1\nk, A -> B\n")
    assert main(["simulate", str(bad), "--tspan", "0", "1"]) == 2
    assert "line 2: no reaction arrow" in capsys.readouterr().err
    assert main(["simulate", "sir", "--tspan", "5", "1"]) == 2
    assert "tf > t0" in capsys.readouterr().err
    assert main(["simulate", "sir", "--param", "beta"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_cli_models_lists_library(capsys):
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in pycrn.models.names())


def test_console_script_entry_point():
    result = subprocess.run([sys.executable, "-m", "pycrn.cli", "models"], capture_output=True, text=True, check=True)
    assert "sir" in result.stdout


def test_example_sir_ensemble(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sir_ensemble.py"), "500", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )
    assert "mean infected peaks" in result.stdout
    assert (tmp_path / "sir.nc").exists() and (tmp_path / "sir.png").exists()


def test_example_toggle_switch_methods():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "toggle_switch_methods.py"), "500"],
        capture_output=True, text=True, check=True,
    )
    assert "sorting_direct" in result.stdout


def test_example_large_populations():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "large_populations.py"), "1e5"],
        capture_output=True, text=True, check=True,
    )
    for method in ("batched", "direct", "tau_leaping", "ode"):
        assert method in result.stdout
    # Every method lands near the deterministic state R/n = 0.90, F/n = 0.36 at this size.
    rows = [line.split() for line in result.stdout.splitlines() if "R/n =" in line]
    assert len(rows) == 4
    for row in rows:
        r = float(row[row.index("R/n") + 2])
        assert abs(r - 0.8997) < 0.02, row


def _run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True, check=True
    )
    return result.stdout


def test_example_signaling_toy():
    out = _run_example("signaling_toy.py", "5")
    assert "test: Pearson r" in out and "S1 -> R1" in out


def test_example_signaling_kegg_synthetic():
    out = _run_example("signaling_kegg_synthetic.py", "20", "2", "2")
    assert "held-out conditions: Pearson r" in out and "knock-outs (253 internal nodes" in out


def test_example_signaling_macrophage_cv():
    out = _run_example("signaling_macrophage_cv.py", "1", "1")
    assert "leave-one-out, trained on data" in out and "scrambled" in out


def test_example_signaling_ligand_screen_cv(tmp_path):
    out = _run_example("signaling_ligand_screen_cv.py", "2", "1", "20", "--out", str(tmp_path), "--eval", "1")
    assert "ATRA, IL1A, DLL1_LPS" in out  # the authors' first fold
    pooled = [line for line in out.splitlines() if line.startswith("held-out conditions (3, 1 folds)")]
    assert len(pooled) == 4 and sum("trained on scrambled" in line for line in pooled) == 2
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == [
        f"fold0_{label}_epochs{e}.npz" for label in ("data", "scrambled") for e in (1, 2)]
    # The files keep the fit to the training conditions too: the training r printed is theirs.
    saved = np.load(tmp_path / "fold0_data_epochs2.npz")
    assert saved["train_prediction"].shape == saved["train_truth"].shape == (100, 74)
    fit = np.corrcoef(saved["train_prediction"].ravel(), saved["train_truth"].ravel())[0, 1]
    assert f"training r = {fit:.3f}" in out and f"training r, mean over 1 folds: {fit:.3f}" in out
    control = np.load(tmp_path / "fold0_scrambled_epochs2.npz")["train_truth"]
    assert not np.array_equal(control, saved["train_truth"])
    assert np.array_equal(np.sort(control, axis=0), np.sort(saved["train_truth"], axis=0))  # profiles permuted
    # A second run finds the finished fold: nothing is trained again, the same r is reported.
    again = _run_example("signaling_ligand_screen_cv.py", "2", "1", "20", "--out", str(tmp_path), "--eval", "1")
    assert [line for line in again.splitlines() if line.startswith("held-out conditions")] == pooled
    # A longer run with the same restart period trains on from the checkpoints (epochs 1 and 2 are kept)...
    longer = _run_example("signaling_ligand_screen_cv.py", "3", "1", "20", "--out", str(tmp_path), "--eval", "1,2",
                          "--restart", "1", "--no-control")
    data_lines = [line for line in pooled if "trained on data" in line]
    assert [line for line in longer.splitlines() if line.startswith("held-out conditions")][:2] == data_lines
    assert (tmp_path / "fold0_data_epochs3.npz").exists()
    # ...and one with another period is refused, not silently run on the checkpoint's schedule.
    refused = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "signaling_ligand_screen_cv.py"), "4", "1", "20", "--out",
         str(tmp_path), "--no-control"], capture_output=True, text=True)
    assert refused.returncode != 0 and "warm restarts every" in refused.stderr
    # The authors' recipe, compressed to 40 epochs (peak at 5, Adam reset every epoch): its own folder.
    authors = _run_example("signaling_ligand_screen_cv.py", "40", "1", "20", "--out", str(tmp_path / "authors"),
                           "--eval", "20", "--no-control", "--recipe", "authors")
    assert sum(line.startswith("held-out conditions (3, 1 folds), trained on data") for line in authors.splitlines()) == 2
    torch = pytest.importorskip("torch")
    state = torch.load(tmp_path / "authors" / "fold0_data.pt", weights_only=False)
    assert state["schedule"] == dict(epochs=40, peak=5, start=0.1, end=0.01, reset_every=1) and state["lr"] == 1e-3
    assert state["recurrence"] == dict(adjoint="jacobi", clip=5.0)  # the authors' adjoint comes with their recipe


def test_example_signaling_ligand_screen_cv_jobs(tmp_path):
    """--jobs 2 trains the folds in two processes, pools them, and gives what one process gives, bit for bit."""
    args = ("2", "3", "20", "--eval", "1", "--no-control")
    out = _run_example("signaling_ligand_screen_cv.py", *args, "--out", str(tmp_path / "jobs"), "--jobs", "2")
    pooled = [line for line in out.splitlines() if line.startswith("held-out conditions")]
    assert len(pooled) == 2 and all(line.startswith("held-out conditions (9, 3 folds)") for line in pooled)
    assert "wall time" in out and "in 2 processes" in out
    serial = _run_example("signaling_ligand_screen_cv.py", *args, "--out", str(tmp_path / "serial"))
    assert [line for line in serial.splitlines() if line.startswith("held-out conditions")] == pooled
    files = sorted(p.name for p in (tmp_path / "serial").glob("*.npz"))
    assert files == sorted(p.name for p in (tmp_path / "jobs").glob("*.npz")) and len(files) == 6
    for name in files:
        a, b = np.load(tmp_path / "jobs" / name), np.load(tmp_path / "serial" / name)
        assert all(np.array_equal(a[key], b[key]) for key in a.files)
    refused = subprocess.run([sys.executable, str(ROOT / "examples" / "signaling_ligand_screen_cv.py"), *args,
                              "--jobs", "2"], capture_output=True, text=True)
    assert refused.returncode != 0 and "--jobs needs --out" in refused.stderr


def test_example_abstraction_sir(tmp_path):
    out = _run_example("abstraction_sir.py", "--small", "--out", str(tmp_path))
    assert "after 5 step(s): mean histogram distance" in out
    summary = json.loads((tmp_path / "sir_summary.json").read_text())
    assert 0 <= summary["step_1"]["mean_distance"] <= 2 and summary["samples"] == 2000
    assert (tmp_path / "sir_histograms.png").exists() and (tmp_path / "sir_mdn.pt").exists()


def test_example_abstraction_grn(tmp_path):
    out = _run_example("abstraction_grn.py", "--small", "--out", str(tmp_path))
    assert "after 3 steps: mean histogram distance" in out
    summary = json.loads((tmp_path / "grn_summary.json").read_text())
    assert summary["training_pairs"] == 8 * 4 * 2
    assert 0 <= summary["step_3"]["mean_distance_rounded"] <= 2  # the chain rounded to counts, reported too
    assert (tmp_path / "grn_histograms.png").exists()


def test_example_hybrid_sir(tmp_path):
    out = _run_example("hybrid_sir.py", "20", str(tmp_path))
    lines = [line for line in out.splitlines() if "integration steps" in line]
    assert len(lines) == 3 and all("(hybrid)" in line for line in lines[:2]) and "(hybrid_sde)" in lines[2]
    assert (tmp_path / "hybrid_sir.png").stat().st_size > 10_000


def test_example_seasonal_sir(tmp_path):
    out = _run_example("seasonal_sir.py", "200", str(tmp_path))
    assert "trajectories with extrande" in out and "thinned candidates" in out
    peaks = [float(line.split("peaks at t = ")[1].split()[0]) for line in out.splitlines() if "peaks at" in line]
    assert len(peaks) == 2
    assert (tmp_path / "seasonal_sir.png").stat().st_size > 10_000


def test_example_deepska_study(tmp_path):
    out = _run_example("deepska_study.py", str(ROOT / "examples" / "deepska_cge.json"), "--small", "--out", str(tmp_path),
                       "--set", "steps=20", "sizes=[10, 20]")
    assert "variance of SSA / DeepCV for P:" in out and "deep_is  at t=5" in out
    summary = json.loads((tmp_path / "constitutive_gene_expression_summary.json").read_text())
    assert set(summary["variance"]) == {"ssa", "deep_cv", "deep_is"} and summary["sizes"] == [10, 20]
    assert summary["config"]["steps"] == 20 and summary["config"]["modes"] == 6
    assert set(summary["variance_ratio"]) == {"P", "P**2"} and len(summary["inside_ci"]) == 4
    assert len(summary["within_5pct"]) == 4 and all(0 <= v <= 1 for v in summary["within_5pct"].values())
    assert (tmp_path / "constitutive_gene_expression_sdnet.png").stat().st_size > 10_000
    assert (tmp_path / "constitutive_gene_expression_mse.png").stat().st_size > 10_000


@pytest.mark.parametrize("config", sorted((ROOT / "examples").glob("deepska_*.json")), ids=lambda p: p.stem)
def test_deepska_configs_name_their_network_species_and_outputs(config):
    cfg = json.loads(config.read_text())
    net = pycrn.models.get(cfg["network"])
    species = set(net.species_names)
    assert set(cfg["box"]) == species
    assert all(set(state) == species for state in cfg["test_states"])
    for out in cfg["outputs"]:
        assert out.split("**")[0] in species
    if "steady" in cfg:
        assert len(cfg["steady"]) == len(cfg["outputs"])
    assert cfg["T"] > 0 and 0 < cfg["dt"] < cfg["T"] and cfg["eval_time"] <= cfg["T"]
