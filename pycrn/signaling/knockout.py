"""In-silico knock-outs (seed 001, Methods): a bias of -5 silences a node."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from .model import SignalingModel

#: The bias added to a knocked-out node.
KNOCKOUT_BIAS = -5.0


def knockout(
    model: SignalingModel,
    ligands,
    nodes: str | Sequence[str] | None = None,
    chunk: int = 64,
) -> xr.DataArray:
    """TF activity changes caused by knocking out each node, against the unperturbed model.

    Parameters
    ----------
    model
        A (trained) model.
    ligands
        Conditions, (conditions x ligands).
    nodes
        A node (identifier or name), a list of them, or ``None`` for every
        node that is neither a ligand nor a TF.
    chunk
        Knock-outs simulated together (each adds ``conditions`` samples).

    Returns
    -------
    xarray.DataArray
        ``delta[node, condition, tf]`` = TF activity with the knock-out minus
        without it.
    """
    net = model.network
    if nodes is None:
        skip = set(net.ligands) | set(net.tfs)
        idx = [i for i in range(net.n_nodes) if i not in skip]
    else:
        names = [nodes] if isinstance(nodes, str) else list(nodes)
        idx = [net.index(v) for v in names]
    x = model._check_input(ligands)
    s = x.shape[0]
    with torch.no_grad():
        control = model(x)
        out = np.empty((len(idx), s, len(net.tfs)))
        for lo in range(0, len(idx), chunk):
            part = idx[lo:lo + chunk]
            offset = torch.zeros(len(part) * s, net.n_nodes, dtype=x.dtype, device=x.device)
            for k, node in enumerate(part):
                offset[k * s:(k + 1) * s, node] = KNOCKOUT_BIAS
            y = model.output(model.states(x.repeat(len(part), 1), bias_offset=offset))
            out[lo:lo + len(part)] = (y.reshape(len(part), s, -1) - control).cpu().numpy()
    return xr.DataArray(
        out,
        dims=("node", "condition", "tf"),
        coords={
            "node": [net.nodes[i] for i in idx],
            "node_name": ("node", [net.names[i] for i in idx]),
            "tf": [net.nodes[i] for i in net.tfs],
            "tf_name": ("tf", [net.names[i] for i in net.tfs]),
        },
        name="knockout_effect",
    )
