"""Variances by the Deep Integral Path Algorithm (DeepIPA).

Badolle et al. (DeepSKA, 2025), main text eq. (30) and supplementary E.2:

    Var_x(f(X(t))) = E_x[ sum_k int_0^t lambda_k(X(s)) (Delta_k U(X(s), f, t - s))^2 ds ],

estimated with SDnet in place of U. Unlike DeepCV and DeepIS the estimator
is biased wherever SDnet's differences are wrong, but it can be far less
variable than the sample variance. The integral is exact along each path:
between jumps the integrand is a sum of complex exponentials of time whose
rates are sums of two decay modes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import xarray as xr

from .._version import __version__
from ..network import ReactionNetwork
from ..propensity import propensity_function
from ..runner import check_count, seed_attr, seed_sequence
from .estimators import _state, check_times
from .paths import Records, exp_integral, simulate_paths
from .sdnet import SDnet
from .threads import uses_torch_threads

_CV_CHUNK = 256  # paths per vectorised block: bounds the per-record complex arrays

_Z95 = 1.959963984540054


@uses_torch_threads
def variance(
    net: ReactionNetwork,
    sdnet: SDnet,
    x0: Mapping[str, int] | Sequence[int],
    times: float | Sequence[float],
    samples: int,
    *,
    seed: int = 0,
    batch: int = 2048,
    threads: int = 1,
) -> xr.Dataset:
    """Estimate ``Var_x0(f(X(t)))`` for SDnet's outputs with DeepIPA, beside the sample variance.

    Parameters
    ----------
    net, sdnet
        The network and an SDnet built for it (checked).
    x0
        The initial state, ``{species: count}`` (every species) or counts in species order.
    times
        Positive, increasing times.
    samples
        Number of independent trajectories.
    seed
        Root seed.
    batch
        Trajectories simulated together.
    threads
        torch's threads for SDnet's evaluations (restored afterwards; see
        :mod:`pycrn.deepska.threads`).

    Returns
    -------
    xarray.Dataset
        Dims (output, time): ``deep_ipa`` with ``deep_ipa_std_error``,
        ``ci_low``, ``ci_high``; ``sample_variance`` of ``f(X(t))`` from the
        same trajectories with its large-sample standard error
        ``sample_variance_std_error`` (from the fourth central moment).
    """
    sdnet.check_network(net)
    n = check_count(samples, "samples")
    times = check_times(times)
    sdnet.warn_beyond_horizon(times)
    x0v = _state(net, x0)
    seq = seed_sequence(seed)
    lam_fn = propensity_function(net, net.parameter_values(None))
    sigma = sdnet.decay_modes().detach().cpu().numpy().astype(np.complex128)
    rates_sq = (sigma[:, None] + sigma[None, :]).reshape(-1)  # e^{-(s_l + s_m) tau}
    rates_abs = (sigma[:, None] + sigma.conj()[None, :]).reshape(-1)  # e^{-(s_l + conj s_m) tau}
    ipa = np.empty((n, times.size, len(sdnet.outputs)))
    f_end = np.empty_like(ipa)
    for lo in range(0, n, check_count(batch, "batch")):
        hi = min(n, lo + batch)
        paths = simulate_paths(net, x0v, float(times[-1]), seq, lo, hi - lo)
        for a in range(0, hi - lo, _CV_CHUNK):
            rec = Records(paths[a:a + _CV_CHUNK], times)
            sq, ab = _pair_coefficients(sdnet, rec.uniq, lam_fn)  # (states, outputs, r * r)
            h, width = rec.holding()
            block = np.zeros((rec.count, times.size, len(sdnet.outputs)))
            for i, T in enumerate(times):
                sel = h[rec.nxt[h] <= T + 1e-12 * T]
                start = T - rec.nxt[sel]
                w = rec.nxt[sel] - rec.t[sel]
                e_sq = exp_integral(rates_sq, start, w)  # (segments, r * r)
                e_ab = exp_integral(rates_abs, start, w)
                idx = rec.inv[sel]
                val = 0.5 * (np.einsum("sop,sp->so", sq[idx], e_sq).real + np.einsum("sop,sp->so", ab[idx], e_ab).real)
                for o in range(val.shape[1]):
                    block[:, i, o] = np.bincount(rec.traj[sel], val[:, o], rec.count)
            ipa[lo + a:lo + a + rec.count] = block
            x_end = rec.states_at_times()
            f_end[lo + a:lo + a + rec.count] = sdnet.outputs(x_end.reshape(-1, x_end.shape[-1])).reshape(
                rec.count, times.size, -1)
    mean = ipa.mean(0).T
    se = (ipa.std(0, ddof=1) / np.sqrt(n)).T if n > 1 else np.full_like(mean, np.nan)
    centred = f_end - f_end.mean(0)
    var = (centred**2).sum(0) / max(n - 1, 1)
    m4 = (centred**4).mean(0)
    var_se = np.sqrt(np.maximum(m4 - var**2, 0.0) / n)
    return xr.Dataset(
        {
            "deep_ipa": (("output", "time"), mean),
            "deep_ipa_std_error": (("output", "time"), se),
            "ci_low": (("output", "time"), mean - _Z95 * se),
            "ci_high": (("output", "time"), mean + _Z95 * se),
            "sample_variance": (("output", "time"), var.T),
            "sample_variance_std_error": (("output", "time"), var_se.T),
        },
        coords={"output": sdnet.output_names, "time": times},
        attrs={"method": "deep_ipa", "samples": n, "seed": seed_attr(seq), "model_name": net.name or "",
               "model": str(net), "x0": repr(dict(zip(net.species_names, x0v.tolist()))),
               "pycrn_version": __version__},
    )


@torch.no_grad()
def _pair_coefficients(sdnet: SDnet, states: np.ndarray, lam_fn) -> tuple[np.ndarray, np.ndarray]:
    """``sum_k lambda_k dA_kl dA_km`` and ``sum_k lambda_k dA_kl conj(dA_km)`` per state: (states, outputs, r * r)."""
    xt = sdnet._tensor(states)
    da = sdnet.delta_amplitudes(xt).cpu().numpy().astype(np.complex128)  # (n, M, outputs, r)
    lam = lam_fn(states)
    sq = np.einsum("nk,nkol,nkom->nolm", lam, da, da)
    ab = np.einsum("nk,nkol,nkom->nolm", lam, da, da.conj())
    return sq.reshape(*sq.shape[:2], -1), ab.reshape(*ab.shape[:2], -1)
