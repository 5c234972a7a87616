"""How close an abstraction is to the exact process, next to how close two exact samples are."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..ensemble import ensemble
from ..network import ReactionNetwork
from .data import _states_table
from .distance import histogram_distance, self_distance_bound


def assess(
    model,
    net: ReactionNetwork,
    initial_states: Mapping[str, Sequence[int]] | np.ndarray,
    *,
    species: str,
    steps: Sequence[int] = (1,),
    samples: int = 10_000,
    bins: int = 200,
    range: tuple[float, float] | None = None,  # noqa: A002 - numpy's name for it
    seed: int = 0,
    method="direct",
    params: Mapping[str, float] | None = None,
    device=None,
    threads: int | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Histogram distances between an abstraction and exact simulation, from held-out initial states.

    For each initial state and each step ``k`` in ``steps``, ``samples``
    abstract trajectories and ``2 * samples`` exact ones are run; the
    distance of the abstraction to the first exact half is reported next to
    the *self-distance*, that of the first half to the second, at the same
    sample size (the paper's eq. 7 estimated as in Cao & Petzold 2006). A
    distance close to the self-distance means the abstraction cannot be told
    from the exact process with this many samples.

    Parameters
    ----------
    model
        A trained :class:`~pycrn.abstraction.MDN`.
    net, params, method, threads, progress
        The exact process and how to simulate it (see :func:`pycrn.ensemble`).
    initial_states
        Held-out initial states (as for :func:`~pycrn.abstraction.generate`).
    species
        The species whose distribution is compared.
    steps
        Steps (multiples of the model's ``dt``) at which to compare.
    samples, bins, range
        Sample size per state and side, and the histogram (see :func:`histogram_distance`).
    seed
        Seeds both simulations.
    device
        Where the abstraction runs.

    Returns
    -------
    xarray.Dataset
        ``distance`` and ``self_distance`` (setting, step), the samples
        ``abstract`` and ``exact`` (setting, step, sample), ``initial_state``;
        ``attrs``: ``bound`` (Cao & Petzold's bound on the mean
        self-distance), ``exact_seconds``, ``abstraction_seconds`` and the
        mean distances per step as ``mean_distance_<k>`` /
        ``mean_self_distance_<k>``.
    """
    if model.species is None or species not in model.species:
        raise ValueError(f"{species!r} is not a species of the abstraction ({', '.join(model.species or [])})")
    steps = sorted({int(k) for k in steps})
    if steps[0] < 1:
        raise ValueError(f"steps must be positive step counts, got {steps}")
    table = _states_table(net, initial_states)
    if list(table) != model.species:
        raise ValueError(f"the network's species ({', '.join(table)}) are not the abstraction's ({', '.join(model.species)})")
    x0 = np.stack([table[s] for s in model.species], axis=-1)
    times = model.t0 + model.dt * np.asarray(steps, dtype=float)

    t = time.perf_counter()
    exact = ensemble(
        net,
        tspan=(model.t0, float(times[-1])),
        params=params,
        method=method,
        saveat=np.concatenate([[model.t0], times]),
        trajectories=2 * samples,
        seed=seed,
        sweep=table,
        threads=threads,
        progress=progress,
    )
    exact_seconds = time.perf_counter() - t
    e = exact[species].transpose("setting", "time", "trajectory").values[:, 1:, :]

    t = time.perf_counter()
    sim = model.simulate(x0, steps=steps[-1], trajectories=samples, seed=seed + 1, device=device)
    abstraction_seconds = time.perf_counter() - t
    a = sim[species].sel(time=times, method="nearest").transpose("setting", "time", "trajectory").values

    d = histogram_distance(a, e[..., :samples], bins=bins, range=range)
    d_self = histogram_distance(e[..., samples:], e[..., :samples], bins=bins, range=range)
    out = xr.Dataset(
        {
            "distance": (("setting", "step"), np.atleast_2d(d)),
            "self_distance": (("setting", "step"), np.atleast_2d(d_self)),
            "abstract": (("setting", "step", "sample"), a),
            "exact": (("setting", "step", "sample"), e[..., :samples]),
            "initial_state": (("setting", "species"), x0),
        },
        coords={"step": steps, "species": model.species},
        attrs={
            "compared": species,
            "samples": int(samples),
            "bins": int(bins),
            "bound": self_distance_bound(samples, bins),
            "exact_method": exact.attrs.get("method", str(method)),
            "exact_seconds": exact_seconds,
            "abstraction_seconds": abstraction_seconds,
        },
    )
    if range is not None:
        out.attrs["range"] = [float(v) for v in range]
    for k in steps:
        out.attrs[f"mean_distance_{k}"] = float(out["distance"].sel(step=k).mean())
        out.attrs[f"mean_self_distance_{k}"] = float(out["self_distance"].sel(step=k).mean())
    return out
