"""Unbiased estimators of ``E_x[f(X(t))]`` built on SDnet: plain SSA, SSA with DeepCV, SSA with DeepIS.

Badolle et al. (DeepSKA, 2025), Methods and supplementary section E.

* ``"ssa"``: the crude Monte Carlo mean of ``f(X(t))``.
* ``"deep_cv"``: ``f(X(T)) - Z(T)`` with the control variate
  ``Z(T) = sum_k int_0^T Delta_k U(X(s-), T - s) dR~_k(s)``, a zero-mean
  martingale for *any* SDnet, so the estimator is unbiased whatever SDnet's
  quality, and has zero variance when SDnet is exact. The integral is
  taken exactly along each path, not on a grid: between jumps the state is
  constant and ``Delta_k U`` is a sum of complex exponentials of time, so
  the compensator part integrates in closed form (the seed integrates on a
  grid in training and uses exact pathwise integration for its panels e).
* ``"deep_is"``: the process simulated with tilted propensities
  ``lambda_k(x) U(x + zeta_k, T - t_j) / U(x, T - t_j)`` (SDnet of the tilt
  output, plus ``tilt_shift`` for positivity), time frozen at the left end
  ``t_j`` of each step of a grid of width ``dt`` (the seed's piecewise-constant
  surrogate), and the likelihood ratio ``Z`` of the original to the tilted
  law accumulated along the path. The tilted process is simulated exactly
  (its propensities are constant in time between grid points), so
  ``f(X^IS(t)) Z(t)`` is unbiased for every ``t`` up to the terminal time
  whatever SDnet and ``dt``; ``dt`` only affects the variance.

SDnet is evaluated in torch in batches over all trajectories (DeepCV: once per
distinct visited state; DeepIS: once per simulation round for all active
trajectories).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from .._version import __version__
from ..network import ReactionNetwork
from ..propensity import propensity_function
from ..runner import check_count, seed_attr, seed_sequence
from ..simulate import simulate
from .cv_integral import path_integral
from .outputs import Outputs
from .paths import simulate_paths, unique_rows
from .sdnet import SDnet, state_vector, stoichiometry
from .threads import uses_torch_threads

METHODS = ("ssa", "deep_cv", "deep_is")
_Z95 = 1.959963984540054


@uses_torch_threads
def estimate(
    net: ReactionNetwork,
    sdnet: SDnet | None,
    x0: Mapping[str, int] | Sequence[int],
    times: float | Sequence[float],
    samples: int,
    method: Literal["ssa", "deep_cv", "deep_is"] = "deep_cv",
    *,
    seed: int = 0,
    outputs: Sequence | None = None,
    tilt: str | None = None,
    tilt_shift: float = 1.0,
    dt: float | None = None,
    batch: int = 2048,
    tilt_bounds: tuple[float, float] = (1e-3, 1e3),
    progress: bool | None = None,
    threads: int = 1,
) -> xr.Dataset:
    """Estimate ``E_x0[f(X(t))]`` for SDnet's outputs at ``times`` from ``samples`` exact samples.

    Parameters
    ----------
    net
        The network (checked against ``sdnet``'s).
    sdnet
        A (trained or not) :class:`SDnet`; ``None`` for ``method="ssa"``,
        which then needs ``outputs``.
    x0
        The initial state, ``{species: count}`` (every species) or counts in species order.
    times
        Positive times; the last is the terminal time ``T`` of the control
        variate or of the tilt.
    samples
        Number of independent samples.
    method
        ``"ssa"``, ``"deep_cv"`` (default) or ``"deep_is"`` (see the module docstring).
    seed
        Root seed (the result is a function of it, and for ``deep_is`` of ``batch``).
    outputs
        Other outputs than SDnet's (as :class:`SDnet` takes them): for
        ``"ssa"`` (required without an SDnet) and for ``"deep_is"`` with
        ``tilt`` (the tilted samples weighted by the likelihood ratio
        estimate any output).
    tilt
        ``deep_is``: the output whose SDnet drives the tilt of one simulation
        for all outputs. Default: one simulation per output, each tilted by
        its own SDnet (the seed's sample-optimal choice; costs one simulation
        per output). The tilt output's values plus ``tilt_shift`` must be
        positive where the process goes (the seed's ``f + epsilon`` for
        non-negative outputs).
    tilt_shift
        ``deep_is``: added to the tilt output's SDnet values (default 1).
    dt
        ``deep_is``: the width of the steps over which the tilt is frozen in
        time (default: SDnet's training grid step, else ``T / 1000``).
    batch
        Trajectories simulated and evaluated together.
    tilt_bounds
        ``deep_is``: the tilt factors ``U(x + zeta_k) / U(x)`` are clipped to
        this range, which keeps the tilted process well defined where SDnet is
        poor; the likelihood ratio uses the clipped factors, so the estimator
        stays unbiased.
    progress
        A tqdm bar over batches (default: on a terminal).
    threads
        torch's threads for SDnet's evaluations (restored afterwards; see
        :mod:`pycrn.deepska.threads`).

    Returns
    -------
    xarray.Dataset
        Dims (output, time): ``estimate``, ``std_error``, ``ci_low``,
        ``ci_high`` (95%, normal), ``variance`` (of one sample); for
        ``deep_cv`` also ``ssa_estimate`` and ``ssa_variance`` from the same
        trajectories. Attributes: ``method``, ``samples``, ``seed``, the
        model text and pycrn version.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}, got {method!r}")
    n = check_count(samples, "samples")
    if sdnet is None:
        if method != "ssa":
            raise ValueError(f"method {method!r} needs an SDnet")
        if outputs is None:
            raise ValueError("method 'ssa' without an SDnet needs outputs=")
        outs = Outputs(net, outputs)
    else:
        if not isinstance(sdnet, SDnet):
            raise TypeError(f"sdnet must be an SDnet, got {type(sdnet).__name__}")
        sdnet.check_network(net)
        if outputs is not None and method == "deep_cv":
            raise ValueError("deep_cv estimates the SDnet's own outputs; outputs= applies to 'ssa' and to "
                             "'deep_is' with tilt=")
        outs = sdnet.outputs if outputs is None else Outputs(net, outputs)
    if net.events:
        raise ValueError("the DeepSKA estimators need a network without events (they change the generator)")
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if times.ndim != 1 or np.any(~np.isfinite(times)) or np.any(times <= 0) or np.any(np.diff(times) <= 0):
        raise ValueError("times must be positive, finite and increasing")
    if sdnet is not None and method != "ssa":
        sdnet.warn_beyond_horizon(times)
    x0v = _state(net, x0)
    batch = check_count(batch, "batch")
    seq = seed_sequence(seed)
    attrs = {"method": method, "samples": n, "seed": seed_attr(seq), "model_name": net.name or "",
             "model": str(net), "x0": repr(dict(zip(net.species_names, x0v.tolist()))), "pycrn_version": __version__}
    names = outs.names
    if method == "ssa":
        ds = simulate(net, dict(zip(net.species_names, x0v.tolist())), (0.0, float(times[-1])), method="direct",
                      saveat=np.concatenate([[0.0], times]), trajectories=n, seed=seq)
        x = np.stack([ds[s].values[:, 1:] for s in net.species_names], axis=-1)  # (n, times, species)
        values = outs(x.reshape(-1, x.shape[-1])).reshape(n, times.size, -1)
        return _summary(values, names, times, attrs)
    if method == "deep_cv":
        values, plain = _deep_cv(net, sdnet, outs, x0v, times, n, seq, batch, progress)
        out = _summary(values, names, times, attrs)
        out["ssa_estimate"] = (("output", "time"), plain.mean(0).T)
        out["ssa_variance"] = (("output", "time"), plain.var(0, ddof=1).T if n > 1 else np.full_like(plain[0].T, np.nan))
        return out
    if dt is None:
        dt = sdnet.dt if sdnet.dt is not None else float(times[-1]) / 1000
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    lo, hi = (float(b) for b in tilt_bounds)
    if not (0 < lo <= 1 <= hi < math.inf):
        raise ValueError(f"tilt_bounds must satisfy 0 < low <= 1 <= high < inf, got {tilt_bounds!r}")
    if tilt is not None:
        i = _output_index(sdnet, tilt)
        values = _deep_is(net, sdnet, outs, x0v, times, n, seq, batch, i, float(tilt_shift), float(dt), (lo, hi),
                          progress)
    else:
        # One tilted simulation per output, each tilted towards its own output (sample-optimal with the exact U).
        if outputs is not None:
            raise ValueError("deep_is with outputs= needs tilt= (which SDnet output drives the tilt)")
        values = np.empty((n, times.size, len(outs)))
        for i, child in enumerate(seq.spawn(len(outs))):
            values[:, :, i] = _deep_is(net, sdnet, outs, x0v, times, n, child, batch, i, float(tilt_shift),
                                       float(dt), (lo, hi), progress)[:, :, i]
    attrs.update(tilt=tilt if tilt is not None else "each output", tilt_shift=float(tilt_shift), dt=float(dt))
    return _summary(values, names, times, attrs)


def _state(net: ReactionNetwork, x0) -> np.ndarray:
    """``x0`` as counts; species a mapping leaves out start from the network's count."""
    return state_vector(list(net.species_names), x0, np.asarray(net.initial_state(None)).tolist())


def _output_index(sdnet: SDnet, name: str) -> int:
    if name not in sdnet.output_names:
        raise ValueError(f"tilt {name!r} is not one of the SDnet's outputs ({', '.join(sdnet.output_names)})")
    return sdnet.output_names.index(name)


def _summary(values: np.ndarray, names: list[str], times: np.ndarray, attrs: dict) -> xr.Dataset:
    """Mean, standard error and 95% interval per output and time of per-sample values (samples, times, outputs)."""
    n = values.shape[0]
    mean = values.mean(0).T
    var = values.var(0, ddof=1).T if n > 1 else np.full_like(mean, np.nan)
    se = np.sqrt(var / n)
    return xr.Dataset(
        {
            "estimate": (("output", "time"), mean),
            "std_error": (("output", "time"), se),
            "ci_low": (("output", "time"), mean - _Z95 * se),
            "ci_high": (("output", "time"), mean + _Z95 * se),
            "variance": (("output", "time"), var),
        },
        coords={"output": list(names), "time": times},
        attrs=attrs,
    )


# -- DeepCV ----------------------------------------------------------------------------------------

def _deep_cv(net, sdnet: SDnet, outs: Outputs, x0, times, n, seq, batch, progress):
    T = float(times[-1])
    lam_fn = propensity_function(net, net.parameter_values(None))
    sigma = sdnet.decay_modes().detach().cpu().numpy().astype(np.complex128)  # (modes,)
    values = np.empty((n, times.size, len(outs)))
    plain = np.empty_like(values)
    blocks = [(lo, min(n, lo + batch)) for lo in range(0, n, batch)]
    for lo, hi in tqdm(blocks, desc="deep_cv", unit="batch", disable=None if progress is None else not progress,
                       leave=False):
        paths = simulate_paths(net, x0, T, seq, lo, hi - lo)
        f_end, z = _control_variates(sdnet, outs, lam_fn, sigma, paths, times)
        values[lo:hi] = f_end - z
        plain[lo:hi] = f_end
    return values, plain


def _control_variates(sdnet, outs, lam_fn, sigma, paths, times):
    """``f(X(T_i))`` and ``Z(T_i)`` of each path, the integral taken exactly along the path (compiled kernel)."""
    offsets = np.r_[0, np.cumsum([len(t) for t, _ in paths])].astype(np.int64)
    t = np.concatenate([t for t, _ in paths]).astype(np.float64)
    # SDnet once per distinct state, for all paths of the batch in one call.
    uniq, index = unique_rows(np.concatenate([x for _, x in paths]))
    amp, gen = amplitudes(sdnet, uniq, lam_fn)
    z = np.empty((len(paths), times.size, amp.shape[1]))
    at = np.empty((len(paths), times.size), dtype=np.int64)
    path_integral(t, offsets, index.astype(np.int64), amp, gen, sigma, np.asarray(times, dtype=np.float64), z, at)
    f_end = outs(uniq[at.reshape(-1)]).reshape(len(paths), times.size, -1)
    return f_end, z


@torch.no_grad()
def amplitudes(sdnet: SDnet, states: np.ndarray, lam_fn, chunk: int = 1 << 15):
    """SDnet's ``A(x) = gamma phi(x)`` and ``G(x) = sum_k lambda_k(x) (A(x + zeta_k) - A(x))``, complex (n, outputs, modes)."""
    amp, gen = [], []
    for lo in range(0, states.shape[0], chunk):
        x = states[lo:lo + chunk]
        xt = sdnet._tensor(x)
        amp.append(sdnet.amplitudes(xt).cpu().numpy())
        lam = torch.as_tensor(lam_fn(x), dtype=xt.dtype, device=xt.device)
        da = sdnet.delta_amplitudes(xt)  # (n, M, outputs, modes)
        gen.append(torch.einsum("nk,nkom->nom", lam.to(da.dtype), da).cpu().numpy())
    return np.concatenate(amp).astype(np.complex128), np.concatenate(gen).astype(np.complex128)


# -- DeepIS ----------------------------------------------------------------------------------------

def _deep_is(net, sdnet: SDnet, outs: Outputs, x0, times, n, seq, batch, tilt_index, shift, dt, bounds, progress):
    T = float(times[-1])
    grid = np.union1d(np.arange(0.0, T, dt), times)
    grid = grid[grid <= T]
    if grid[0] > 0:
        grid = np.r_[0.0, grid]
    record = {float(t): i for i, t in enumerate(times)}
    lam_fn = propensity_function(net, net.parameter_values(None))
    zeta = stoichiometry(net)
    floor = 1e-6 * (1.0 + abs(float(sdnet.steady[tilt_index]) + shift))
    values = np.empty((n, times.size, len(outs)))
    blocks = [(lo, min(n, lo + batch)) for lo in range(0, n, batch)]
    children = seq.spawn(len(blocks))

    @torch.no_grad()
    def tilt_factors(x: np.ndarray, tau: float) -> np.ndarray:
        u = sdnet.neighbours(x, np.full(x.shape[0], tau))[..., tilt_index].cpu().numpy() + shift
        u = np.maximum(u, floor)
        return np.clip(u[:, 1:] / u[:, :1], *bounds)

    for (lo, hi), child in tqdm(list(zip(blocks, children, strict=True)), desc="deep_is", unit="batch",
                                disable=None if progress is None else not progress, leave=False):
        rng = np.random.default_rng(child)
        m = hi - lo
        x = np.tile(x0, (m, 1))
        logz = np.zeros(m)
        for j in range(grid.size - 1):
            t_lo, t_hi = grid[j], grid[j + 1]
            tau = T - t_lo
            t = np.full(m, t_lo)
            active = np.arange(m)
            while active.size:
                xa = x[active]
                lam = lam_fn(xa)
                lam_is = lam * tilt_factors(xa, tau)
                a0, a0is = lam.sum(1), lam_is.sum(1)
                with np.errstate(divide="ignore"):
                    wait = rng.standard_exponential(active.size) / a0is
                jump = t[active] + wait < t_hi
                stay = active[~jump]
                logz[stay] -= (a0 - a0is)[~jump] * (t_hi - t[stay])
                go = active[jump]
                if go.size:
                    cum = np.cumsum(lam_is[jump], axis=1)
                    u = rng.random(go.size) * cum[:, -1]
                    k = np.minimum((cum < u[:, None]).sum(1), zeta.shape[0] - 1)
                    rows = np.flatnonzero(jump)
                    logz[go] += np.log(lam[rows, k] / lam_is[rows, k]) - (a0 - a0is)[rows] * wait[rows]
                    x[go] += zeta[k]
                    t[go] += wait[jump]
                active = go
            i = record.get(float(t_hi))
            if i is not None:
                values[lo:hi, i] = outs(x) * np.exp(logz)[:, None]
    return values
