"""Training data for SDnet: exact trajectories from a box of initial states, with the martingales of their reactions.

DeepSKA (Badolle et al. 2025), supplementary section D: each trajectory starts
from a state drawn uniformly from a box of counts and is recorded on a time
grid together with, per reaction ``k``, the compensated counting process
``R~_k(t) = R_k(t) - int_0^t lambda_k(X(s)) ds`` (Kurtz's random time change
representation), whose grid increments the training loss integrates against.
Both come from pycrn's compiled SSAs (``record="compensators"``), not from Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from .._version import __version__
from ..abstraction.data import sample_states
from ..methods import resolve
from ..network import ReactionNetwork
from ..problem import Problem
from ..runner import (
    Stop,
    check_count,
    check_method,
    default_threads,
    run,
    seed_attr,
    seed_sequence,
    split,
    thread_chunk,
    thread_map,
)
from ..simulate import simulate
from .outputs import Outputs

#: The ``kind`` attribute of a DeepSKA training Dataset.
DATA_KIND = "pycrn.deepska.trajectories"


def generate(
    net: ReactionNetwork,
    box: Mapping[str, tuple[int, int]],
    trajectories: int,
    *,
    T: float = 20.0,
    dt: float = 0.02,
    seed: int = 0,
    method: str = "direct",
    threads: int | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Simulate SDnet's training trajectories.

    Parameters
    ----------
    net
        The network.
    box
        ``{species: (low, high)}``, inclusive integer bounds of the uniform
        initial states; species left out start from the network's count.
        The seed uses ``[0, 3]`` per species for most networks.
    trajectories
        Number of trajectories, each from its own initial state (the seed:
        20,000 for training, 10,000 for validation).
    T, dt
        Horizon and grid step (the seed: ``T = 20`` on ``dt = 0.02``, 1,001 points).
    seed
        Seed of the initial states and the trajectories.
    method
        An exact SSA that records compensators (``"direct"``, ``"sorting_direct"`` or ``"direct_cr"``).
    threads, progress
        As for :func:`pycrn.simulate`.

    Returns
    -------
    xarray.Dataset
        ``state`` (trajectory, time, species), int64; ``martingale``
        (trajectory, time, reaction), float32, ``R~_k`` (zero at ``t = 0``);
        attributes: ``T``, ``dt``, ``seed``, ``method``, the model text
        (with its parameter values), the box and the pycrn version. Save it
        with ``to_netcdf`` or ``to_zarr``; :func:`~pycrn.deepska.fit` opens either.
    """
    if not isinstance(net, ReactionNetwork):
        raise TypeError(f"generate() expects a ReactionNetwork, got {type(net).__name__}")
    n = check_count(trajectories, "trajectories")
    T, dt = float(T), float(dt)
    if not (np.isfinite(T) and T > 0):
        raise ValueError(f"T must be a positive finite time, got {T}")
    if not (np.isfinite(dt) and 0 < dt <= T):
        raise ValueError(f"dt must be in (0, T], got {dt}")
    steps = int(round(T / dt))
    if not np.isclose(steps * dt, T, rtol=1e-9, atol=0):
        raise ValueError(f"T = {T} is not a whole number of steps dt = {dt}")
    times = dt * np.arange(steps + 1)
    times[-1] = T
    m = resolve(method, net=net)
    if not m.records_compensators:
        raise ValueError(f"generate() needs a method that records compensators (direct, sorting_direct, direct_cr); "
                         f"got {m.name!r}")
    problem = Problem.build(net, None, (0.0, T), None, times)
    check_method(problem, m)
    seq = seed_sequence(seed)
    state_seq, traj_seq = seq.spawn(2)
    if not isinstance(box, Mapping) or not box:
        raise ValueError("box must be a non-empty {species: (low, high)} mapping")
    table = sample_states(box, n, seed=state_seq, net=net)
    x0s = np.stack([table[s] for s in net.species_names], axis=1)
    nsp, nr, ns = len(net.species_names), len(net.reactions), times.size
    states = np.zeros((n, ns, nsp), dtype=np.int64)
    martingale = np.zeros((n, ns, nr), dtype=np.float32)
    stop = Stop()

    def work(bounds: tuple[int, int]) -> int:
        # Counters in float64 per chunk only: the stored martingale is float32, a quarter of the pair's size.
        lo, hi = bounds
        result = run(problem, m, lo, hi - lo, traj_seq, stop=stop, counters=True, x0s=x0s[lo:hi])
        result.check(problem, m)
        states[lo:hi] = result.states.transpose(1, 2, 0)
        martingale[lo:hi] = (result.fired - result.compensator).transpose(1, 2, 0)
        return hi - lo

    nthreads = check_count(threads, "threads") if threads is not None else default_threads()
    with tqdm(total=n, unit="traj", desc="deepska data", disable=None if progress is None else not progress,
              leave=False) as bar:
        thread_map(work, split(n, min(thread_chunk(n, nthreads), 1000)), nthreads, bar.update, stop)
    return xr.Dataset(
        {
            "state": (("trajectory", "time", "species"), states),
            "martingale": (("trajectory", "time", "reaction"), martingale),
        },
        coords={"time": times, "species": list(net.species_names), "reaction": np.arange(nr)},
        attrs={
            "kind": DATA_KIND, "T": T, "dt": dt, "seed": seed_attr(seq), "method": m.name,
            "model_name": net.name or "", "model": str(net),
            "box": repr({k: (int(lo), int(hi)) for k, (lo, hi) in box.items()}), "pycrn_version": __version__,
        },
    )


def ergodic_mean(
    net: ReactionNetwork,
    outputs: str | Sequence,
    *,
    burn_in: float = 100.0,
    horizon: float = 100_000.0,
    runs: int = 5,
    seed: int = 0,
    u0: Mapping[str, int] | None = None,
    std_error: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Steady-state means ``U(f)`` as time averages of exact trajectories (the seed's ergodic-mean estimator).

    Each of ``runs`` trajectories (Direct method) is averaged exactly over
    ``[burn_in, horizon]`` (its state is constant between jumps); the result
    is the mean of the runs' averages, one value per output. The seed uses
    five runs over ``[100, 100000]``.

    With ``std_error=True`` it returns ``(mean, std_error)``, the standard
    error from the spread of the independent runs' averages (``runs >= 2``).
    It matters wherever U(f) is compared with Monte Carlo bands: at late
    times SDnet tends to U(f), so an error in U(f) larger than a band's
    half-width puts SDnet outside the band whatever its training (on the
    toggle switch, five runs over [100, 100000] leave a standard error of
    0.05-0.07 in E[P1], half to 0.7 of a 50,000-sample band's half-width).
    """
    outs = Outputs(net, outputs)
    if not (0 <= burn_in < horizon):
        raise ValueError(f"need 0 <= burn_in < horizon, got {burn_in}, {horizon}")
    if std_error and int(runs) < 2:
        raise ValueError(f"std_error needs runs >= 2 (the spread of independent runs), got runs={runs}")
    seq = seed_sequence(seed)
    means = []
    for child in seq.spawn(check_count(runs, "runs")):
        ds = simulate(net, u0, (0.0, float(horizon)), method="direct", save="events", seed=child)
        t = ds["time"].values
        x = np.stack([ds[s].values[0] for s in net.species_names], axis=1)
        ends = np.append(t[1:], horizon)
        width = np.clip(ends, burn_in, horizon) - np.clip(t, burn_in, horizon)
        means.append((outs(x) * width[:, None]).sum(0) / (horizon - burn_in))
    if std_error:
        return np.mean(means, axis=0), np.std(means, axis=0, ddof=1) / np.sqrt(len(means))
    return np.mean(means, axis=0)
