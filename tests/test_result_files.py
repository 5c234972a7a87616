"""Result files: written whole or not at all, and refused when they are not complete pycrn results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

import pycrn
from pycrn.cli import main


def test_an_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    ds = pycrn.simulate(pycrn.models.sir(), trajectories=20, seed=1)
    target = tmp_path / "sir.nc"

    def broken(self, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"\x89HDF\r\n\x1a\n partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(KeyboardInterrupt):
        pycrn.save_results(ds, target)
    assert list(tmp_path.iterdir()) == []  # neither sir.nc nor the temporary file


def test_save_and_open_round_trip(tmp_path):
    ds = pycrn.simulate(pycrn.models.sir(), trajectories=20, seed=1, saveat=5.0)
    pycrn.save_results(ds, tmp_path / "sir.nc")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "sir.nc").stat().st_mode & 0o777 == 0o666 & ~umask  # not the temporary file's 0600
    back = pycrn.open_results(tmp_path / "sir.nc")
    assert np.array_equal(back["I"].values, ds["I"].values) and back.attrs["seed"] == 1


def test_truncated_and_foreign_files_are_refused(tmp_path, capsys):
    ds = pycrn.simulate(pycrn.models.sir(), trajectories=200, seed=1, saveat=1.0)
    good = tmp_path / "good.nc"
    pycrn.save_results(ds, good)
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(ValueError, match=r"truncated\.nc is not a readable netCDF file"):
        pycrn.open_results(truncated)
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"v": ("x", np.arange(3))}).to_netcdf(foreign)
    with pytest.raises(ValueError, match=r"foreign\.nc is not a pycrn result: it has no 'pycrn_version' attribute"):
        pycrn.open_results(foreign)
    with pytest.raises(FileNotFoundError, match="no results at"):
        pycrn.open_results(tmp_path / "missing.nc")
    assert main(["plot", str(foreign), "-o", str(tmp_path / "p.png")]) == 2
    assert "is not a pycrn result" in capsys.readouterr().err


def test_sigint_during_the_cli_write_finishes_the_file(tmp_path):
    """SIGINT while the netCDF is being written: no deadlock, and the file is complete or absent."""
    out = tmp_path / "x.nc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pycrn.cli", "simulate", "dimerisation", "-n", "4000", "--saveat", "0.1", "--seed", "1",
         "-q", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".part") for p in tmp_path.iterdir()) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before its write could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # a deadlock fails here
    assert proc.returncode == 130, err
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())
    if out.exists():
        assert pycrn.open_results(out).sizes["trajectory"] == 4000


def test_bad_output_paths_and_foreign_datasets_get_named_errors(tmp_path):
    ds = pycrn.simulate(pycrn.models.birth_death(), tspan=(0, 2), saveat=1.0, trajectories=3, seed=1)
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        pycrn.save_results(ds, tmp_path)
    with pytest.raises(FileNotFoundError, match=f"the folder {tmp_path / 'no'} does not exist"):
        pycrn.save_results(ds, tmp_path / "no" / "x.nc")
    for level in (10, -1, 2.5, True, "4"):
        with pytest.raises(ValueError, match="complevel must be an integer from 0"):
            ds.crn.to_netcdf(tmp_path / "x.nc", complevel=level)
    with pytest.raises(ValueError, match=r"suffix must name an image format"):
        ds.crn.plot(tmp_path / "figure")
    assert list(tmp_path.iterdir()) == []
    pycrn.save_results(ds, tmp_path / "x.nc", complevel=0)
    assert pycrn.open_results(tmp_path / "x.nc")["X"].equals(ds["X"])
    foreign = xr.Dataset({"v": ("x", np.arange(3))})
    for call in (pycrn.summary, lambda d: d.crn.plot()):
        with pytest.raises(ValueError, match="needs pycrn results: .* this Dataset has dimensions x and variables v"):
            call(foreign)


def test_the_summary_of_a_reduced_ensemble_is_its_mean_and_sd(tmp_path):
    net = pycrn.models.birth_death()
    reduced = pycrn.ensemble(net, tspan=(0, 2), saveat=1.0, trajectories=20, seed=1, reduce="moments",
                             progress=False)
    full = pycrn.ensemble(net, tspan=(0, 2), saveat=1.0, trajectories=20, seed=1, progress=False)
    s = pycrn.summary(reduced)
    assert sorted(s.data_vars) == ["X_mean", "X_sd"]
    np.testing.assert_allclose(s["X_mean"], pycrn.summary(full)["X_mean"], rtol=1e-12)
    np.testing.assert_allclose(s["X_sd"], pycrn.summary(full)["X_sd"], rtol=1e-9)
