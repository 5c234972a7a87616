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
  With ``coefficient="pilot"`` the control variate is scaled by the
  variance-minimising ``rho* = Cov(f, Z) / Var(Z)`` (supplementary eq. S86),
  estimated from ``pilot`` further trajectories on their own random streams:
  independent of the estimate's samples, so the estimate stays unbiased
  and its confidence interval valid (estimating rho* from the same samples
  would make them dependent, as the seed notes after eq. S86).
* ``"deep_is"``: the process simulated with tilted propensities
  ``lambda_k(x) U(x + zeta_k, T - t_j) / U(x, T - t_j)`` (SDnet of the tilt
  output, plus ``tilt_shift`` for positivity), time frozen at the left end
  ``t_j`` of each step of a grid of width ``dt`` (the seed's piecewise-constant
  surrogate), and the likelihood ratio ``Z`` of the original to the tilted
  law accumulated along the path. The tilted process is simulated exactly
  (its propensities are constant in time between grid points), so
  ``f(X^IS(t)) Z(t)`` is unbiased for every ``t`` up to the terminal time
  whatever SDnet and ``dt``; ``dt`` only affects the variance.

SDnet is evaluated in batches over all trajectories, once per distinct
visited state: for DeepCV in torch; for DeepIS its eigenfunction network's
features, in rounds, by :meth:`SDnet.features` (float64, batch-independent),
and the tilted SSA itself is compiled (:mod:`pycrn.deepska.is_engine`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from .. import codegen
from .._version import __version__
from ..engines.rng import seed_states
from ..methods import DEFAULT_MAX_STEPS
from ..network import ReactionNetwork
from ..propensity import propensity_function
from ..runner import _NO_ARRAYS, Stop, check_count, interruptible, seed_attr, seed_sequence
from ..simulate import simulate
from ..status import raise_for_status
from . import is_engine
from .cv_integral import path_integral
from .outputs import Outputs
from .paths import Records, simulate_paths, unique_rows
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
    coefficient: float | Literal["pilot"] = 1.0,
    pilot: int = 200,
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
        Root seed (the result is a function of it alone: trajectory ``i`` runs on stream ``i``, whatever ``batch``).
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
    coefficient
        ``deep_cv``: the estimator is ``f(X(T)) - c Z(T)``, unbiased for any
        fixed ``c`` because ``Z`` has mean zero. ``1.0`` (default) is the
        seed's estimator (zero variance with the exact U); a number fixes
        ``c``; ``"pilot"`` takes for each output and time the
        variance-minimising ``c = Cov(f, Z) / Var(Z)`` (the seed's eq. S86)
        estimated from ``pilot`` extra trajectories on random streams of
        their own. The estimate's samples are the same trajectories whatever
        ``coefficient``.
    pilot
        ``deep_cv`` with ``coefficient="pilot"``: the number of pilot
        trajectories (default 200).
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
        trajectories, and ``coefficient`` (the ``c`` used). Attributes:
        ``method``, ``samples``, ``seed``, the model text and pycrn version
        (and for ``deep_cv`` the coefficient and the pilot's size).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}, got {method!r}")
    n = check_count(samples, "samples")
    fixed = _coefficient(coefficient, method)
    if fixed is None:
        n_pilot = check_count(pilot, "pilot")
        if n_pilot < 2:
            raise ValueError(f"pilot must be at least 2 trajectories (a covariance needs two), got {pilot!r}")
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
    times = check_times(times)
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
        if fixed is None:
            # The pilot's streams are children of a key no trajectory index can take (indices are < 2**32).
            pilot_seq = np.random.SeedSequence(seq.entropy, spawn_key=tuple(seq.spawn_key) + (_PILOT_KEY,))
            pilot_values, pilot_plain = _deep_cv(net, sdnet, outs, x0v, times, n_pilot, pilot_seq, batch, progress)
            c = _optimal_coefficient(pilot_plain, pilot_plain - pilot_values)
            attrs.update(coefficient="pilot", pilot=n_pilot)
        else:
            c = np.full(values.shape[1:], fixed)
            attrs.update(coefficient=fixed)
        if fixed != 1.0:  # (with c = 1 the samples stay f - Z as computed, to the last bit)
            values = plain - c * (plain - values)
        out = _summary(values, names, times, attrs)
        out["coefficient"] = (("output", "time"), c.T)
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


#: Spawn key of the pilot trajectories' parent stream: above every trajectory index.
_PILOT_KEY = 2**32


def _coefficient(coefficient, method: str) -> float | None:
    """The fixed control-variate coefficient, or ``None`` for the pilot estimate; checked."""
    if isinstance(coefficient, str):
        if coefficient != "pilot":
            raise ValueError(f"coefficient must be a number or 'pilot', got {coefficient!r}")
        if method != "deep_cv":
            raise ValueError(f"coefficient applies to method 'deep_cv', not {method!r}")
        return None
    try:
        value = float(coefficient)
    except (TypeError, ValueError):
        raise ValueError(f"coefficient must be a number or 'pilot', got {coefficient!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"coefficient must be finite, got {coefficient!r}")
    if method != "deep_cv" and value != 1.0:
        raise ValueError(f"coefficient applies to method 'deep_cv', not {method!r}")
    return value


def _optimal_coefficient(f: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``Cov(f, Z) / Var(Z)`` per time and output from samples (samples, times, outputs); 1 where Z is constant."""
    fc, zc = f - f.mean(0), z - z.mean(0)
    var = (zc * zc).sum(0)
    cov = (fc * zc).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, cov / var, 1.0)


def check_times(times) -> np.ndarray:
    """The estimation times as a 1-D float array: one or more, positive, finite and increasing."""
    given = times
    try:
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    except (TypeError, ValueError):
        times = None
    if times is None or times.ndim != 1 or times.size == 0 or np.any(~np.isfinite(times)) or np.any(times <= 0) \
            or np.any(np.diff(times) <= 0):
        raise ValueError(f"times must be one or more positive, finite, increasing times, got {given!r}")
    return times


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
    index = index.astype(np.int64)
    if sdnet.delta_eigenfunctions is not None:
        jump, jump_amp = _jump_amplitudes(sdnet, uniq, index, offsets)
    else:
        jump, jump_amp = np.zeros(0, dtype=np.int64), np.zeros((0, *amp.shape[1:]), dtype=np.complex128)
    z = np.empty((len(paths), times.size, amp.shape[1]))
    at = np.empty((len(paths), times.size), dtype=np.int64)
    path_integral(t, offsets, index, amp, gen, sigma, np.asarray(times, dtype=np.float64), z, at, jump, jump_amp)
    f_end = outs(uniq[at.reshape(-1)]).reshape(len(paths), times.size, -1)
    return f_end, z


@torch.no_grad()
def _jump_amplitudes(sdnet: SDnet, uniq: np.ndarray, index: np.ndarray, offsets: np.ndarray,
                     chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per record, an index into ``Delta A_k(x_old)`` of the reaction that fired (complex (pairs, outputs, modes)).

    The reaction is read off the jump ``x_new - x_old``: reactions with equal change vectors share SDnet's
    ``Delta A`` (:attr:`SDnet.delta_rep`), so the first of them stands for all. Only the (state, reaction)
    pairs that occur are evaluated.
    """
    zeta = sdnet.zeta.cpu().numpy().astype(np.int64)
    jump = np.full(index.size, -1, dtype=np.int64)
    first = np.zeros(index.size, dtype=bool)
    first[offsets[:-1]] = True  # a path's first record is its initial state, not a jump
    j = np.flatnonzero(~first)
    # The few distinct jumps, matched to reactions (memory: jumps x species, not jumps x reactions x species).
    changes, which = unique_rows(uniq[index[j]] - uniq[index[j - 1]])  # keyed rows, not np.unique(axis=0): that sort was most of the time
    hits = np.all(changes[:, None, :] == zeta[None, :, :], axis=2)  # (changes, reactions)
    if not np.all(hits.any(1)):
        raise RuntimeError(f"a recorded jump {changes[~hits.any(1)][0].tolist()} matches no reaction's change vector")
    k = hits.argmax(1)[which.reshape(-1)]  # the first reaction with that change
    pairs, inverse = np.unique(index[j - 1] * zeta.shape[0] + k, return_inverse=True)
    jump[j] = inverse
    state, react = pairs // zeta.shape[0], pairs % zeta.shape[0]
    out = []
    for lo in range(0, pairs.size, chunk):
        da = sdnet.delta_amplitudes(sdnet._tensor(uniq[state[lo:lo + chunk]]))  # (n, M, outputs, modes)
        out.append(da[torch.arange(da.shape[0]), torch.as_tensor(react[lo:lo + chunk])].cpu().numpy())
    size = (0, len(sdnet.outputs), sdnet.config["modes"])
    return jump, (np.concatenate(out) if out else np.zeros(size)).astype(np.complex128)


@torch.no_grad()
def amplitudes(sdnet: SDnet, states: np.ndarray, lam_fn, chunk: int = 1 << 15, separate: bool = True):
    """SDnet's ``A(x) = gamma phi(x)`` and ``G(x) = sum_k lambda_k(x) Delta A_k(x)``, complex (n, outputs, modes).

    ``Delta A_k(x) = A(x + zeta_k) - A(x)``, or the separate Delta U network's when SDnet has one and
    ``separate`` (``False``: differences of ``A`` always, for uses that need ``G`` to be a generator applied
    to a function, as EM with DeepCV does).
    """
    amp, gen = [], []
    for lo in range(0, states.shape[0], chunk):
        x = states[lo:lo + chunk]
        xt = sdnet._tensor(x)
        amp.append(sdnet.amplitudes(xt).cpu().numpy())
        lam = torch.as_tensor(lam_fn(x), dtype=xt.dtype, device=xt.device)
        da = sdnet.delta_amplitudes(xt, separate)  # (n, M, outputs, modes)
        gen.append(torch.einsum("nk,nkom->nom", lam.to(da.dtype), da).cpu().numpy())
    return np.concatenate(amp).astype(np.complex128), np.concatenate(gen).astype(np.complex128)


# -- DeepIS ----------------------------------------------------------------------------------------

class _FeatureTable:
    """SDnet's features of the states met so far, in the open-addressing table the DeepIS kernel reads.

    A state that a path lacks comes with its neighbours: the path will need them at its next jump, and
    asking for them now halves the rounds of stopping and resuming.
    """

    def __init__(self, sdnet: SDnet, module, zeta: np.ndarray) -> None:
        self.sdnet, self.module, self.zeta = sdnet, module, zeta
        nspecies = zeta.shape[1]
        self.size = 0
        self.states = np.empty((1024, nspecies), dtype=np.int64)
        self.feat = np.empty((1024, 2 * sdnet.config["modes"]))
        self.keys = np.full((4096, 1 + nspecies), is_engine.EMPTY, dtype=np.int64)

    def add(self, states: np.ndarray) -> None:
        """Evaluate SDnet in one call on ``states`` and their neighbours that the table lacks, and insert them."""
        near = (states[:, None, :] + self.zeta).reshape(-1, states.shape[1])
        cand = unique_rows(np.concatenate([states, near[(near >= 0).all(1)]]))[0]
        rows = np.empty(len(cand), dtype=np.int64)
        self.module.table_rows(self.keys, cand, rows)
        new = cand[rows == is_engine.EMPTY]
        lo, hi = self.size, self.size + len(new)
        if hi > len(self.states):  # capacity doubles: appending stays linear overall
            cap = max(hi, 2 * len(self.states))
            self.states = np.concatenate([self.states[:lo], np.empty((cap - lo, self.states.shape[1]), np.int64)])
            self.feat = np.concatenate([self.feat[:lo], np.empty((cap - lo, self.feat.shape[1]))])
        self.states[lo:hi] = new
        self.feat[lo:hi] = self.sdnet.features(new)
        self.size = hi
        rows = np.arange(lo, hi)
        if 2 * hi > self.keys.shape[0]:  # load factor <= 1/2: short probe sequences
            size = self.keys.shape[0]
            while 2 * hi > size:
                size *= 2
            self.keys = np.full((size, self.keys.shape[1]), is_engine.EMPTY, dtype=np.int64)
            new, rows = self.states[:hi], np.arange(hi)
        self.module.table_insert(self.keys, new, rows)


def _deep_is(net, sdnet: SDnet, outs: Outputs, x0, times, n, seq, batch, tilt_index, shift, dt, bounds, progress):
    T = float(times[-1])
    grid = np.union1d(np.arange(0.0, T, dt), times)
    grid = grid[grid <= T]
    if grid[0] > 0:
        grid = np.r_[0.0, grid]
    record = np.full(grid.size, -1, dtype=np.int64)
    record[np.searchsorted(grid, times)] = np.arange(times.size)
    p = net.parameter_values(None)
    zeta = np.ascontiguousarray(stoichiometry(net))
    nspecies = zeta.shape[1]
    module = codegen.load_module(net, is_engine)
    weights = np.ascontiguousarray(sdnet.time_weights(tilt_index, T - grid[:-1]))
    base = float(sdnet.steady[tilt_index]) + shift
    floor = 1e-6 * (1.0 + abs(base))
    table = _FeatureTable(sdnet, module, zeta)
    # The features of the states plain SSA visits, with their neighbours, in one call: the tilted paths go mostly
    # there, so few of them stop to wait for features. (Which states are in the table changes when paths stop,
    # never where they go: the pilot's streams, n and on, do not enter the estimate.)
    pilot = Records(simulate_paths(net, x0, T, seq, n, min(n, 256)), times).uniq
    table.add(pilot)
    values = np.empty((n, times.size, len(outs)))
    blocks = [(lo, min(n, lo + batch)) for lo in range(0, n, batch)]
    stop = Stop()
    for lo, hi in tqdm(blocks, desc="deep_is", unit="batch", disable=None if progress is None else not progress,
                       leave=False):
        m = hi - lo
        xs = np.tile(x0, (m, 1)).astype(np.int64)
        ts, js, logz = np.zeros(m), np.zeros(m, dtype=np.int64), np.zeros(m)
        seeds = seed_states(seq, m, start=lo)
        steps, status, done = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64), np.zeros(m, dtype=bool)
        out_x = np.zeros((m, times.size, nspecies), dtype=np.int64)
        out_logz = np.zeros((m, times.size))
        missing = np.empty((m * (zeta.shape[0] + 1), nspecies), dtype=np.int64)
        while True:
            lacking = interruptible(functools.partial(
                module.deep_is_advance, _NO_ARRAYS, p, zeta, grid, record, weights, base, floor, bounds[0], bounds[1], table.keys, table.feat,
                xs, ts, js, logz, seeds, steps, status, done, out_x, out_logz, missing, DEFAULT_MAX_STEPS, stop.flag),
                stop)
            failed = np.flatnonzero(status)
            if failed.size:
                i = int(failed[0])
                raise_for_status(net, p, xs[i], float(ts[i]), int(status[i]), trajectory=lo + i,
                                 budget=DEFAULT_MAX_STEPS, tf=T, method="deep_is")
            if done.all():
                break
            if lacking == 0:  # cannot happen: an unfinished path stops only for missing features
                raise RuntimeError("pycrn: DeepIS's kernel stopped without finishing or asking for features")
            table.add(missing[:lacking])
        values[lo:hi] = outs(out_x.reshape(-1, nspecies)).reshape(m, times.size, -1) * np.exp(out_logz)[:, :, None]
    return values
