"""The README's examples work as written."""

from __future__ import annotations

import re
from pathlib import Path

import pycrn

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _block_after(heading: str, lang: str = "") -> str:
    section = README.split(heading, 1)[1]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def test_language_example_parses_and_simulates():
    net = pycrn.parse(_block_after("## The network language"))
    assert len(net.events) == 2 and net.observables[0][0] == "total"
    ds = pycrn.simulate(net, params={"k2": 0.1}, tspan=(0, 30), saveat=1.0, trajectories=20, seed=1)
    assert "total" in ds and (ds["A"].sel(time=25.0) == 50).all()


def test_quick_start_runs(tmp_path, monkeypatch):
    code = README.split("```python\n", 1)[1].split("```", 1)[0].replace("10_000", "200")
    monkeypatch.chdir(tmp_path)
    exec(code, {})  # noqa: S102
    assert (tmp_path / "sir.nc").exists()


def test_signaling_example_runs(tmp_path, monkeypatch):
    code = _block_after("## Signaling networks (LEMBAS)", "python")
    for big, small in (("iterations=1500", "iterations=3"), ("800,", "12,"), ("epochs=600", "epochs=2"),
                       ("x[:20]", "x[:2]")):
        assert big in code
        code = code.replace(big, small)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102
    assert namespace["effects"].dims == ("node", "condition", "tf")
    assert (tmp_path / "kegg.ckpt").exists() and (tmp_path / "kegg-parameters.txt").exists()


def test_ensemble_example_runs(tmp_path, monkeypatch):
    code = _block_after("## Large ensembles, sweeps and Dask", "python")
    for big, small in (("1_000_000", "3_000"), ("10_000_000", "2_000"), ("trajectories=1_000,", "trajectories=50,")):
        assert big in code
        code = code.replace(big, small)
    head, _, dask_part = code.partition("from dask.distributed import Client")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(head, namespace)  # noqa: S102
    assert namespace["scan"].sizes["setting"] == 6 and "I_sd" in namespace["stats"]
    assert (tmp_path / "sir.zarr" / "zarr.json").exists()
    assert 'Client("tcp://host:8786")' in dask_part  # needs a scheduler: covered by tests/test_ensemble.py


def test_julia_bridge_example_is_what_to_catalyst_prints():
    shown = _block_after("## Julia bridge (Catalyst.jl / JumpProcesses.jl)", "julia")
    printed = pycrn.julia.to_catalyst(pycrn.models.sir())
    assert shown.splitlines()[1:] == printed.splitlines()[1:]  # the first line names the pycrn version


def test_abstraction_example_runs(tmp_path, monkeypatch):
    code = _block_after("## Neural abstractions (StochNet MDN)", "python")
    for big, small in (("box, 1000,", "box, 20,"), ("trajectories_per_state=30", "trajectories_per_state=3"),
                       ("epochs=100", "epochs=2"), ("trajectories=100_000", "trajectories=50"),
                       ("box, 25,", "box, 2,"), ("samples=10_000", "samples=200")):
        assert big in code
        code = code.replace(big, small)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102
    assert (tmp_path / "sir_pairs.nc").exists() and (tmp_path / "sir_mdn.pt").exists()
    assert namespace["ds"].attrs["method"] == "mdn_abstraction"
    assert 0 <= namespace["report"].attrs["mean_distance_5"] <= 2


def test_deepska_example_runs(tmp_path, monkeypatch):
    code = _block_after("## DeepSKA: SDnet and unbiased DeepCV / DeepIS estimators", "python")
    for big, small in (("20_000, T=20.0, dt=0.02", "200, T=2.0, dt=0.1"), ("steps=10_000", "steps=5"),
                       ("segments=10_000", "segments=200"), ("[5.0, 20.0], 1000", "[1.0, 2.0], 20")):
        assert big in code
        code = code.replace(big, small)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102
    assert namespace["est"]["estimate"].dims == ("output", "time")
    assert (tmp_path / "cge.ckpt").exists()
