"""SDnets trained with the DeepSKA authors' code, loaded as :class:`~pycrn.deepska.SDnet`.

The authors' implementation (Badolle, Theuer, Fang, Gupta & Khammash, DeepSKA,
2025; repository arthur-theuer/deep-ska) saves a model as a PyTorch
``state_dict``. Its ``spectral_complex`` architecture is SDnet:
``U = U(f) + sum_l exp(-(a_l + i b_l) t) (g_l + i h_l)(c_l(x) + i d_l(x))``
with ``a_l = softplus(decay_real_l)``, ``b_l = decay_imag_l``, coordinates
``func_coord_real/imag`` and ``[c, d]`` from ``main_net.feedforward``; with
``forward_subnets: distinct`` a second network ``diff_net`` gives ``Delta_k U``
(outputs laid out real then imaginary, mode-major ``l M + k``). The steady-state
mean is not in the file (the authors recompute it), so it is an argument, and
the reaction order is the authors' network's, which need not be pycrn's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import read
from ..network import ReactionNetwork
from .sdnet import SDnet, stoichiometry

_NEEDED = ("decay_real", "decay_imag", "func_coord_real", "func_coord_imag")


def _layers(state: dict, prefix: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    index = sorted({int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)})
    return [(state[f"{prefix}{i}.weight"], state[f"{prefix}{i}.bias"]) for i in index]


def _reaction_order(reference: np.ndarray, ours: np.ndarray) -> np.ndarray:
    """``order[k]``: pycrn's index of the reference's reaction ``k``, matched by change vector."""
    if reference.shape != ours.shape:
        raise ValueError(f"the reference network has stoichiometry of shape {reference.shape} (reactions, species); "
                         f"this network's is {ours.shape}")
    order, free = np.empty(len(reference), dtype=np.int64), list(range(len(ours)))
    for k, zeta in enumerate(reference):
        match = [j for j in free if np.array_equal(ours[j], zeta)]
        if not match:
            raise ValueError(f"the reference's reaction {k} (change {zeta.tolist()}) has no counterpart in this network")
        order[k] = match[0]  # reactions with equal change vectors have equal Delta U, so any pairing is exact
        free.remove(match[0])
    return order


def load_reference(
    path: str | Path,
    net: ReactionNetwork,
    outputs: str | Callable | Sequence[str | Callable],
    *,
    steady: Sequence[float],
    stoichiometry_order: np.ndarray | Sequence[Sequence[int]] | None = None,
    horizon: float | None = None,
    dt: float | None = None,
) -> SDnet:
    """Load an SDnet trained with the DeepSKA authors' code (``*_pretrained_weights.pth``).

    Parameters
    ----------
    path
        The authors' saved ``state_dict`` (architecture ``spectral_complex``).
    net
        The same reaction network in pycrn (species in the authors' order).
    outputs
        The outputs in the authors' order (their ``monomials`` output with
        orders ``[1, 2]`` on species ``S`` is ``["S", "S**2"]``).
    steady
        The steady-state means ``U(f)``, one per output (not stored in the
        file: :func:`~pycrn.deepska.ergodic_mean`).
    stoichiometry_order
        The authors' change vectors ``zeta_k``, one row per reaction in their
        order (their ``network.stoichiometry_matrix``); default pycrn's order.
        Needed for their ``diff_net``, whose outputs are per reaction.
    horizon, dt
        The training horizon and grid step, for the beyond-horizon warning.

    Returns
    -------
    SDnet
        In float64 (the authors' weights are float64), inputs unscaled (their
        network reads raw counts), with ``delta_network=True`` when the file
        holds a ``diff_net``. Where several reactions share a change vector,
        pycrn uses the first one's ``Delta U`` for all (see
        :attr:`SDnet.delta_rep`); none of the authors' nine networks has such
        reactions.
    """
    state = read(Path(path), "state_dict file", map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state_dict")
    missing = [k for k in _NEEDED if k not in state] + ([] if any(k.startswith("main_net.feedforward.") for k in state)
                                                        else ["main_net.feedforward.*"])
    if missing:
        raise ValueError(f"{path} is not a spectral SDnet of the DeepSKA authors' code: missing {', '.join(missing)}")
    main = _layers(state, "main_net.feedforward.")
    modes = int(state["decay_real"].numel())
    nspecies, nreactions = len(net.species_names), len(net.reactions)
    if main[0][0].shape[1] != nspecies or main[-1][0].shape[0] != 2 * modes:
        raise ValueError(f"{path}: its network reads {main[0][0].shape[1]} species and gives {main[-1][0].shape[0]} "
                         f"features; this network has {nspecies} species and the file {modes} modes")
    nout = state["func_coord_real"].shape[-1]
    model = SDnet(net, outputs, modes, tuple(w.shape[0] for w, _ in main[:-1]), steady=steady,
                  dtype=torch.float64, delta_network="diff_net.feedforward.0.weight" in state)
    if len(model.outputs) != nout:
        raise ValueError(f"{path} holds coordinates for {nout} outputs; {len(model.outputs)} were given")
    ours = stoichiometry(net)
    ref = ours if stoichiometry_order is None else np.asarray(stoichiometry_order, dtype=np.int64)
    order = _reaction_order(ref, ours)
    with torch.no_grad():
        for (w, b), lin in zip(main, (m for m in model.eigenfunctions if isinstance(m, torch.nn.Linear))):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        model.decay_raw.copy_(state["decay_real"].reshape(-1))
        model.frequency.copy_(state["decay_imag"].reshape(-1))
        model.coord_real.copy_(state["func_coord_real"].reshape(modes, nout).T)
        model.coord_imag.copy_(state["func_coord_imag"].reshape(modes, nout).T)
        if model.delta_eigenfunctions is not None:
            diff = _layers(state, "diff_net.feedforward.")
            if diff[-1][0].shape[0] != 2 * modes * nreactions:
                raise ValueError(f"{path}: diff_net gives {diff[-1][0].shape[0]} values, expected 2 x {modes} modes "
                                 f"x {nreactions} reactions")
            # Row l M + k of theirs (their reaction k) goes to row l M + order[k] of ours, in each half.
            rows = np.arange(2 * modes * nreactions).reshape(2, modes, nreactions)
            perm = np.empty_like(rows)
            perm[:, :, order] = rows
            perm = torch.as_tensor(perm.reshape(-1))
            lins = [m for m in model.delta_eigenfunctions if isinstance(m, torch.nn.Linear)]
            if [tuple(w.shape) for w, _ in diff] != [tuple(lin.weight.shape) for lin in lins]:
                raise ValueError(f"{path}: diff_net's layers {[tuple(w.shape) for w, _ in diff]} differ from main_net's "
                                 "widths; only equal widths are supported")
            for i, ((w, b), lin) in enumerate(zip(diff, lins)):
                last = i == len(lins) - 1
                lin.weight.copy_(w[perm] if last else w)
                lin.bias.copy_(b[perm] if last else b)
    model.horizon, model.dt = horizon, dt
    model.scale_fixed = True  # their network reads raw counts: fine-tuning must not rescale its inputs
    return model
