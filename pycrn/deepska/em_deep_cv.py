"""Steady-state means by the ergodic mean with deep control variates (EM with DeepCV).

Badolle et al. (DeepSKA, 2025), supplementary sections C.2 and E.2: SDnet's
parts give P-SDnet, ``F(x) = sum_l gamma_l(f) / sigma_l phi_l(x)``, an
approximate solution of the Poisson equation ``A F = U(f) - f``, and

    E_CV(f, t) = (1/t) int_0^t [f + A F](X(s)) ds,

with ``A F(x) = sum_k lambda_k(x) (F(x + zeta_k) - F(x))`` (the shadow
function, Henderson 1997). ``A F`` averages to zero under the stationary
law whatever F, so ``E_CV`` converges to ``U(f)`` like the plain ergodic mean,
and with the exact F it equals ``U(f)`` at every finite ``t``. The time
integral is taken exactly along each path (the state is constant between jumps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from .._version import __version__
from ..network import ReactionNetwork
from ..propensity import propensity_function
from ..runner import check_count, seed_attr, seed_sequence
from .estimators import _state, amplitudes
from .paths import Records, simulate_paths
from .sdnet import SDnet
from .threads import uses_torch_threads


@uses_torch_threads
def steady_state(
    net: ReactionNetwork,
    sdnet: SDnet,
    x0: Mapping[str, int] | Sequence[int],
    horizon: float,
    *,
    runs: int = 5,
    burn_in: float = 0.0,
    seed: int = 0,
    threads: int = 1,
) -> xr.Dataset:
    """Estimate the steady-state means ``U(f)`` of SDnet's outputs with EM and EM with DeepCV.

    Parameters
    ----------
    net, sdnet
        The network and an SDnet built for it (checked).
    x0
        The initial state of every run.
    horizon
        The length of each run.
    runs
        Independent runs; the standard errors are across runs.
    burn_in
        The start of the averaging window (``0 <= burn_in < horizon``).
    seed
        Root seed; run ``i`` is trajectory ``i`` of ``pycrn.simulate(..., seed=seed)``.
    threads
        torch's threads for SDnet's evaluations (restored afterwards; see
        :mod:`pycrn.deepska.threads`).

    Returns
    -------
    xarray.Dataset
        Dim ``output``: ``em_deep_cv`` and ``em`` (the plain ergodic mean of
        the same runs), each with ``*_std_error``; per-run values as
        ``em_deep_cv_runs`` and ``em_runs`` (run, output).
    """
    sdnet.check_network(net)
    n = check_count(runs, "runs")
    horizon, burn_in = float(horizon), float(burn_in)
    if not (0 <= burn_in < horizon < np.inf):
        raise ValueError(f"need 0 <= burn_in < horizon < inf, got burn_in={burn_in}, horizon={horizon}")
    x0v = _state(net, x0)
    seq = seed_sequence(seed)
    lam_fn = propensity_function(net, net.parameter_values(None))
    sigma = sdnet.decay_modes().detach().cpu().numpy().astype(np.complex128)
    em = np.empty((n, len(sdnet.outputs)))
    cv = np.empty_like(em)
    for r in range(n):
        rec = Records(simulate_paths(net, x0v, horizon, seq, r, 1), np.array([horizon]))
        # Differences of U even with a separate Delta U network: E_pi[A F] = 0 needs A applied to a function.
        _, gen = amplitudes(sdnet, rec.uniq, lam_fn, separate=False)
        shadow = (gen / sigma).real.sum(-1)  # A F(x) for the distinct states (states, outputs)
        f = sdnet.outputs(rec.uniq)
        h, _ = rec.holding()
        width = np.clip(rec.nxt[h], burn_in, horizon) - np.clip(rec.t[h], burn_in, horizon)
        idx = rec.inv[h]
        em[r] = (f[idx] * width[:, None]).sum(0) / (horizon - burn_in)
        cv[r] = em[r] + (shadow[idx] * width[:, None]).sum(0) / (horizon - burn_in)
    out = {}
    for name, v in (("em_deep_cv", cv), ("em", em)):
        out[name] = ("output", v.mean(0))
        out[f"{name}_std_error"] = ("output", v.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.full(v.shape[1], np.nan))
        out[f"{name}_runs"] = (("run", "output"), v)
    return xr.Dataset(out, coords={"output": sdnet.output_names},
                      attrs={"method": "em_deep_cv", "runs": n, "horizon": horizon, "burn_in": burn_in,
                             "seed": seed_attr(seq), "model_name": net.name or "", "model": str(net),
                             "x0": repr(dict(zip(net.species_names, x0v.tolist()))), "pycrn_version": __version__})
