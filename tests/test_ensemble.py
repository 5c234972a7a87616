"""pycrn.ensemble: identity with simulate(), Dask, Zarr stores, resume after faults, sweeps, moments.

Identity is bit for bit: the run contract gives trajectory i the i-th
stream of the seed wherever and in whatever chunk it runs. Fault tests kill
a run (SIGKILL, SIGINT) or a Dask worker mid-way, or damage chunks on disk,
and check that the store ends identical to an uninterrupted run while no
finished chunk is computed again.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pycrn
from pycrn.methods import Batched, Hybrid

distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

# Parameters as names: networks of this shape share compiled modules with test_batched.py.
DIMERISATION = "@parameters k1 k2\n@species P P2\nk1, 2P --> P2\nk2, P2 --> 2P"
NET = pycrn.parse(DIMERISATION)
KW = dict(u0={"P": 300, "P2": 0}, params={"k1": 0.002, "k2": 0.1}, tspan=(0, 5), saveat=1.0, seed=11)
N = 8000
# Batching forced, so that the identity covers the batched algorithm itself, not its Gillespie fallback.
METHODS = ["direct", "sorting_direct", "tau_leaping", Batched(min_reactions_per_batch=0)]
METHOD_IDS = ["direct", "sorting_direct", "tau_leaping", "batched"]


def assert_same_trajectories(a: xr.Dataset, b: xr.Dataset) -> None:
    """Equal species data bit for bit, equal coordinates and work counters."""
    assert list(a.data_vars) == list(b.data_vars)
    for name in a.data_vars:
        assert a[name].dims == b[name].dims
        assert np.array_equal(np.asarray(a[name].values), np.asarray(b[name].values)), name
    for name in a.coords:
        assert np.array_equal(a[name].values, b[name].values), name
    for key in ("steps", "reactions_fired", "batches"):
        assert a.attrs.get(key) == b.attrs.get(key), key


@pytest.fixture(scope="module")
def reference():
    """simulate() of each method, computed once."""
    return {mid: pycrn.simulate(NET, method=m, trajectories=N, **KW) for m, mid in zip(METHODS, METHOD_IDS)}


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes with one thread each."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as c, distributed.Client(c) as client:
        yield client


@pytest.mark.parametrize("chunk", [1000, 7777])
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_threads_equal_simulate(reference, method, chunk):
    mid = METHOD_IDS[METHODS.index(method)]
    ds = pycrn.ensemble(NET, method=method, trajectories=N, chunk=chunk, threads=2, **KW)
    assert ds.attrs["chunks_computed"] == -(-N // chunk)
    assert_same_trajectories(ds, reference[mid])


#: On the cluster the workers compile each method afresh (60 s for batched on CI's machine); the Dask path
#: is the same for every method, so CI runs it with the two exact SSAs and pytest -m slow with all four.
CLUSTER_SLOW = {"tau_leaping", "batched"}


@pytest.mark.parametrize("chunk", [1000, 7777])
@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) if mid in CLUSTER_SLOW else m
                                    for m, mid in zip(METHODS, METHOD_IDS)], ids=METHOD_IDS)
def test_local_cluster_equals_simulate(reference, cluster, method, chunk, tmp_path):
    mid = METHOD_IDS[METHODS.index(method)]
    in_memory = pycrn.ensemble(NET, method=method, trajectories=N, chunk=chunk, client=cluster, **KW)
    assert_same_trajectories(in_memory, reference[mid])
    stored = pycrn.ensemble(NET, method=method, trajectories=N, chunk=chunk, client=cluster,
                            store=tmp_path / "e.zarr", **KW)
    assert isinstance(stored["P"].data, __import__("dask.array").array.Array)  # opened lazily
    assert_same_trajectories(stored, reference[mid])


def test_scheduler_address_is_accepted(reference, cluster):
    address = cluster.scheduler.address
    ds = pycrn.ensemble(NET, trajectories=N, chunk=4000, client=address, **KW)
    assert_same_trajectories(ds, reference["direct"])


def test_store_is_identical_and_a_finished_run_is_not_recomputed(reference, tmp_path):
    path = tmp_path / "s.zarr"
    first = pycrn.ensemble(NET, trajectories=N, chunk=1000, store=path, **KW)
    assert first.attrs["chunks_computed"] == 8
    assert_same_trajectories(first, reference["direct"])
    again = pycrn.ensemble(NET, trajectories=N, chunk=1000, store=path, **KW)
    assert again.attrs["chunks_computed"] == 0 and again.attrs["chunks_repaired"] == 0
    assert_same_trajectories(again, reference["direct"])
    # chunk=None on resume adopts the store's chunk size.
    adopted = pycrn.ensemble(NET, trajectories=N, store=path, **KW)
    assert adopted.attrs["chunk"] == 1000 and adopted.attrs["chunks_computed"] == 0
    # The store round-trips through pycrn.open_results.
    assert_same_trajectories(pycrn.open_results(path), reference["direct"])


def test_other_arguments_on_an_existing_store_are_refused(tmp_path):
    path = tmp_path / "s.zarr"
    pycrn.ensemble(NET, trajectories=100, chunk=50, store=path, **KW)
    with pytest.raises(ValueError, match=r"other arguments: trajectories \(stored 100, given 200\)"):
        pycrn.ensemble(NET, trajectories=200, chunk=50, store=path, **KW)
    kw = {**KW, "params": {"k1": 0.003, "k2": 0.1}}
    with pytest.raises(ValueError, match=r"params \(stored 'k1=0.002 k2=0.1', given 'k1=0.003 k2=0.1'\)"):
        pycrn.ensemble(NET, trajectories=100, chunk=50, store=path, **kw)
    with pytest.raises(ValueError, match=r"method \(stored 'direct', given 'tau_leaping\(epsilon=0.03\)'\)"):
        pycrn.ensemble(NET, trajectories=100, chunk=50, store=path, method="tau_leaping", **KW)
    # A difference past the first 60 characters is shown, not cut off.
    long_path = tmp_path / "h.zarr"
    pycrn.ensemble(NET, trajectories=4, chunk=2, store=long_path, method=Hybrid(first_step=0.5), **KW)
    with pytest.raises(ValueError, match=r"method \(stored \.\.\..*first_step=0\.5, integrator='dopri5'\)\", "
                                         r"given \.\.\..*first_step=0\.25, integrator='dopri5'\)\"\)"):
        pycrn.ensemble(NET, trajectories=4, chunk=2, store=long_path, method=Hybrid(first_step=0.25), **KW)
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="is not a Zarr store"):
        pycrn.ensemble(NET, trajectories=100, store=tmp_path / "plain", **KW)


def test_damaged_chunks_are_detected_and_recomputed(reference, tmp_path):
    path = tmp_path / "s.zarr"
    pycrn.ensemble(NET, trajectories=N, chunk=1000, store=path, **KW)
    flipped = path / "P" / "c" / "1" / "0"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    truncated = path / "P2" / "c" / "3" / "0"
    truncated.write_bytes(truncated.read_bytes()[:40])
    (path / "P" / "c" / "5" / "0").unlink()  # a missing chunk would read back as zeros
    ds = pycrn.ensemble(NET, trajectories=N, chunk=1000, store=path, **KW)
    assert ds.attrs["chunks_repaired"] == 3 and ds.attrs["chunks_computed"] == 3
    assert_same_trajectories(ds, reference["direct"])


# Python's own SIGINT handler, which a runner started as a background job would pass down as "ignored".
KILL_SCRIPT = """
import signal; signal.signal(signal.SIGINT, signal.default_int_handler)
import sys, pycrn
net = pycrn.parse({model!r})
pycrn.ensemble(net, trajectories={n}, chunk={chunk}, threads=1, store=sys.argv[1], **{kw!r})
"""
KILL_KW = dict(u0={"P": 300, "P2": 0}, params={"k1": 0.002, "k2": 0.1}, tspan=(0, 200), saveat=5.0, seed=3)


def _committed(path: Path) -> int:
    try:
        rows = zarr.open_group(str(path), mode="r")["_pycrn"]["commit"][:]
    except Exception:  # noqa: BLE001 - not created yet, or a row being written
        return 0
    return int((rows[:, 0] == 1).sum())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_run_resumes_to_an_identical_store(tmp_path, sig):
    n, chunk = 20_000, 500
    total = n // chunk
    path = tmp_path / "k.zarr"
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(model=DIMERISATION, n=n, chunk=chunk, kw=KILL_KW))
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _committed(path) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted: make it longer"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    if sig == signal.SIGINT:
        assert b"KeyboardInterrupt" in err
    finished = _committed(path)
    assert 4 <= finished < total
    resumed = pycrn.ensemble(NET, trajectories=n, chunk=chunk, threads=1, store=path, **KILL_KW)
    assert resumed.attrs["chunks_computed"] == total - finished  # no finished chunk computed again
    assert resumed.attrs["chunks_repaired"] == 0
    assert_same_trajectories(resumed, pycrn.simulate(NET, trajectories=n, **KILL_KW))


def test_worker_killed_mid_run_completes_identical(tmp_path):
    n, chunk = 20_000, 500
    path = tmp_path / "w.zarr"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as c, distributed.Client(c) as client:
        before = client.run(os.getpid)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            job = pool.submit(pycrn.ensemble, NET, trajectories=n, chunk=chunk, client=client, store=path,
                              progress=False, **KILL_KW)
            deadline = time.monotonic() + 120
            while _committed(path) < 3 and not job.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not job.done(), "the run finished before a worker could be killed: make it longer"
            victim = next(iter(before.values()))
            os.kill(victim, signal.SIGKILL)
            ds = job.result(timeout=300)
        after = client.run(os.getpid)
    assert victim not in after.values()  # the worker did die (and its nanny started a new one)
    assert_same_trajectories(ds, pycrn.simulate(NET, trajectories=n, **KILL_KW))


def test_sweep_equals_separate_seeded_runs():
    net = pycrn.parse("@parameters Lambda Mu\n@species X\nLambda, X --> 2X\nMu, X --> 0")
    sweep = pycrn.grid(Lambda=np.linspace(0.1, 1.0, 20), Mu=np.linspace(0.2, 1.2, 20))
    kw = dict(u0={"X": 10}, tspan=(0, 2), saveat=0.5, seed=21)
    ds = pycrn.ensemble(net, trajectories=12, chunk=5, sweep=sweep, threads=2, **kw)
    assert ds["X"].dims == ("setting", "trajectory", "time") and ds.sizes["setting"] == 400
    streams = np.random.SeedSequence(21).spawn(400)
    for s in range(400):
        one = pycrn.simulate(net, params={"Lambda": sweep["Lambda"][s], "Mu": sweep["Mu"][s]}, trajectories=12,
                             seed=streams[s], **{k: v for k, v in kw.items() if k != "seed"})
        assert np.array_equal(ds["X"].values[s], one["X"].values), s
        assert ds["Lambda"].values[s] == sweep["Lambda"][s] and ds["Mu"].values[s] == sweep["Mu"][s]


def test_sweep_over_initial_counts_and_parameters_in_a_store(cluster, tmp_path):
    sweep = {"P": np.array([100, 200, 300]), "k2": np.array([0.1, 0.2, 0.3])}
    ds = pycrn.ensemble(NET, trajectories=500, chunk=200, sweep=sweep, client=cluster, store=tmp_path / "s.zarr",
                        **KW)
    streams = np.random.SeedSequence(KW["seed"]).spawn(3)
    for s in range(3):
        one = pycrn.simulate(NET, u0={"P": int(sweep["P"][s]), "P2": 0}, params={"k1": 0.002, "k2": sweep["k2"][s]},
                             trajectories=500, seed=streams[s], tspan=KW["tspan"], saveat=KW["saveat"])
        assert np.array_equal(ds["P"].values[s], one["P"].values)
    assert np.array_equal(ds.coords["u0_P"].values, sweep["P"])  # "P" itself is the species variable
    assert np.array_equal(ds.coords["k2"].values, sweep["k2"])


def test_bad_sweeps_are_refused():
    with pytest.raises(pycrn.ModelError, match="sweep: 'gamma' is neither a species nor a parameter"):
        pycrn.ensemble(NET, trajectories=10, sweep={"gamma": [1, 2]}, **KW)
    with pytest.raises(ValueError, match="equal lengths"):
        pycrn.ensemble(NET, trajectories=10, sweep={"k1": [1, 2], "k2": [1, 2, 3]}, **KW)
    with pytest.raises(pycrn.ModelError, match="count of 'P' must be an integer"):
        pycrn.ensemble(NET, trajectories=10, sweep={"P": [1.5, 2]}, **KW)
    with pytest.raises(ValueError, match="grid\\(\\): k1 must be a non-empty"):
        pycrn.grid(k1=[])
    with pytest.raises(ValueError, match="reduce must be one of 'moments'"):
        pycrn.ensemble(NET, trajectories=10, reduce="median", **KW)


def _exact_moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correctly rounded mean and sample variance over axis 0, by exact rational arithmetic."""
    n = values.shape[0]
    mean = np.empty(values.shape[1])
    var = np.empty(values.shape[1])
    for k in range(values.shape[1]):
        col = [int(v) for v in values[:, k]]
        s1, s2 = sum(col), sum(v * v for v in col)
        mean[k] = float(Fraction(s1, n))
        var[k] = float(Fraction(n * s2 - s1 * s1, n * (n - 1)))
    return mean, var


def test_moments_are_exact_and_independent_of_chunking(reference, tmp_path):
    full = reference["direct"]
    a = pycrn.ensemble(NET, trajectories=N, chunk=333, reduce="moments", threads=2, **KW)
    b = pycrn.ensemble(NET, trajectories=N, chunk=7777, reduce="moments", threads=1, **KW)
    c = pycrn.ensemble(NET, trajectories=N, chunk=1000, reduce="moments", store=tmp_path / "m.zarr", **KW)
    for name in ("P", "P2"):
        mean, var = _exact_moments(full[name].values)
        for ds in (a, b, c):
            assert np.array_equal(ds[f"{name}_mean"].values, mean)
            assert np.array_equal(ds[f"{name}_var"].values, var)
            assert np.array_equal(ds[f"{name}_sd"].values, np.sqrt(var))
    group = zarr.open_group(str(tmp_path / "m.zarr"), mode="r")
    assert "P" not in group and "trajectory" not in group  # no trajectories stored
    again = pycrn.ensemble(NET, trajectories=N, chunk=1000, reduce="moments", store=tmp_path / "m.zarr", **KW)
    assert again.attrs["chunks_computed"] == 0
    assert np.array_equal(again["P_mean"].values, c["P_mean"].values)


def test_moments_on_a_cluster_with_a_sweep(cluster):
    sweep = {"k2": np.array([0.1, 0.3])}
    ds = pycrn.ensemble(NET, trajectories=2000, chunk=300, reduce="moments", sweep=sweep, client=cluster, **KW)
    assert ds["P_mean"].dims == ("setting", "time")
    streams = np.random.SeedSequence(KW["seed"]).spawn(2)
    for s in range(2):
        one = pycrn.simulate(NET, u0=KW["u0"], params={"k1": 0.002, "k2": sweep["k2"][s]}, trajectories=2000,
                             seed=streams[s], tspan=KW["tspan"], saveat=KW["saveat"])
        mean, var = _exact_moments(one["P"].values)
        assert np.array_equal(ds["P_mean"].values[s], mean) and np.array_equal(ds["P_var"].values[s], var)


def test_a_cluster_reports_the_first_failing_chunk(cluster):
    """As on threads: the chunk reported is the run's first to fail, not the first worker to report."""
    net = pycrn.parse("@parameters kb=1 kd=0\nkb + kd*(B - 1), 0 --> B")  # setting 1: a negative rate at t = 0
    with pytest.raises(pycrn.SimulationError, match=r"setting 0 .*ran away \(trajectory 0\)"):
        pycrn.ensemble(net, tspan=(0, 100), method=pycrn.methods.Direct(max_steps=2 * 10**6),
                       sweep={"kb": [1e5, 0.0], "kd": [0.0, 1.0]}, trajectories=2, chunk=2, client=cluster, seed=1)


def test_exact_sums_beyond_int64():
    from pycrn import moments

    rng = np.random.default_rng(0)
    states = rng.integers(2**40, 2**41, size=(2, 5000, 3), dtype=np.int64)
    s1, s2 = moments.chunk_sums(states)
    for q in range(2):
        for k in range(3):
            col = [int(v) for v in states[q, :, k]]
            assert s1[q, k] == sum(col) and s2[q, k] == sum(v * v for v in col)
    hi, lo = moments.to_limbs(s2)
    assert (moments.from_limbs(hi, lo) == s2).all()


def test_failures_name_setting_and_trajectory():
    # Reaction 2's rate law turns negative once B exceeds c: never for c = 1e9, soon for c = 2.
    net = pycrn.parse("@parameters c\n@species A=0 B=0\n1, 0 --> B\n(c - B) / c, 0 => A")
    with pytest.raises(pycrn.SimulationError,
                       match=r"setting 1 \(c=2\.0\): propensity of reaction 2 .* is negative .*\(trajectory 0\)"):
        pycrn.ensemble(net, trajectories=20, tspan=(0, 10), sweep={"c": [1e9, 2.0]}, seed=1, chunk=5, threads=1)


def test_ode_sweep():
    net = pycrn.models.birth_death()
    name = net.parameter_names[0]
    ds = pycrn.ensemble(net, method="ode", sweep={name: [0.1, 0.2]}, tspan=(0, 5), saveat=1.0)
    for s, value in enumerate([0.1, 0.2]):
        one = pycrn.simulate(net, method="ode", params={name: value}, tspan=(0, 5), saveat=1.0)
        assert np.array_equal(ds["X"].values[s], one["X"].values)


def test_automatic_chunk_gives_the_same_result(reference):
    ds = pycrn.ensemble(NET, trajectories=N, threads=2, **KW)
    assert 1 <= ds.attrs["chunk"] <= N
    assert_same_trajectories(ds, reference["direct"])


def test_simulate_refuses_an_output_that_does_not_fit(monkeypatch):
    monkeypatch.setattr(pycrn.runner, "available_memory", lambda: 10 * 2**20)
    with pytest.raises(MemoryError, match=r"needs 57\.4 MiB in memory.*ensemble\(\.\.\., store="):
        pycrn.simulate(pycrn.models.sir(), trajectories=10_000, saveat=1.0, seed=1)
    with pytest.raises(MemoryError, match=r"ensemble\(trajectories=10,000\) .* needs"):
        pycrn.ensemble(pycrn.models.sir(), trajectories=10_000, saveat=1.0, seed=1)
    # Not refused: the same ensemble reduced to moments.
    pycrn.ensemble(pycrn.models.sir(), trajectories=200, saveat=1.0, seed=1, reduce="moments")


def test_cli_ensemble_sweep_resume_and_plot(tmp_path, capsys):
    from pycrn.cli import main

    store = tmp_path / "cli.zarr"
    args = ["ensemble", "sir", "-n", "300", "--store", str(store), "--chunk", "100", "--seed", "4", "--saveat", "5",
            "--sweep", "beta=1e-4:3e-4:3", "nu=0.01,0.02"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "300 trajectories x 6 setting(s)" in out and "18 chunk(s) of 100 computed" in out
    ds = pycrn.open_results(store)
    assert ds.sizes["setting"] == 6 and np.allclose(ds["beta"].values, [1e-4, 1e-4, 2e-4, 2e-4, 3e-4, 3e-4])
    assert main(args) == 0
    assert "0 chunk(s) of 100 computed" in capsys.readouterr().out
    assert main(["plot", str(store), "--setting", "5", "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert main(["plot", str(store), "-o", str(tmp_path / "q.png")]) == 2
    assert "choose one with setting=K" in capsys.readouterr().err
    moments_store = tmp_path / "m.zarr"
    assert main(["ensemble", "sir", "-n", "400", "--store", str(moments_store), "--reduce", "moments", "-q"]) == 0
    assert main(["plot", str(moments_store), "-o", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").stat().st_size > 10_000
    seed = json.loads(zarr.open_group(str(moments_store), mode="r").attrs["pycrn_ensemble"])["seed"]
    assert int(seed["entropy"]) > 0  # a fresh seed, recorded so that the run can be resumed
    assert main(["ensemble", "sir", "-n", "400", "--store", str(moments_store), "--reduce", "moments"]) == 0
    assert "0 chunk(s)" in capsys.readouterr().out


def test_cli_ensemble_errors(tmp_path, capsys):
    from pycrn.cli import main

    assert main(["ensemble", "sir", "--store", str(tmp_path / "x.zarr"), "--sweep", "beta=1:2"]) == 2
    assert "--sweep 'beta=1:2': expected START:STOP:NUM" in capsys.readouterr().err
    assert main(["ensemble", "sir", "--store", str(tmp_path / "x.zarr"), "--dt", "0.1"]) == 2
    assert "method 'auto' takes no options (got --dt)" in capsys.readouterr().err
    assert main(["ensemble", "sir", "--store", str(tmp_path / "x.zarr"), "--sweep", "S=1.5,2"]) == 2
    assert "must be whole numbers" in capsys.readouterr().err


def test_cli_names_its_flags_in_method_errors(capsys):
    from pycrn.cli import main

    assert main(["simulate", "sir", "--method", "simple_tau_leaping", "-n", "2"]) == 2
    assert "--method simple_tau_leaping needs its fixed step: --dt DT" in capsys.readouterr().err
    assert main(["simulate", "sir", "--method", "direct", "--tau-epsilon", "0.1", "-n", "2"]) == 2
    assert "method 'direct' does not take --tau-epsilon" in capsys.readouterr().err
