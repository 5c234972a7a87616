"""``SignalingModel``: LEMBAS's prior-knowledge recurrent network as a torch module."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .activation import LEAK
from .network import INHIBITION, SignalingNetwork
from .recurrent import ADJOINTS, CLIP_LIMIT, Structure, steady_state
from .spectral import scale_to_radius

#: Initial input and output projection scales (seed 001, Methods).
INPUT_SCALE = 3.0
OUTPUT_SCALE = 1.2
#: Spectral radius of A after initialisation.
INITIAL_RADIUS = 0.8


class SignalingModel(nn.Module):
    """Ligand concentrations in, steady-state TF activities out.

    ``forward(ligands)`` takes a (samples x ligands) tensor, projects it onto
    the ligand nodes (scale 3, fixed), iterates x <- MML(A x + b + b_in) from
    zero for ``steps`` steps (:func:`pycrn.signaling.recurrent.steady_state`,
    whose backward pass is the adjoint fixed point), and returns the TF
    nodes' states times a trainable scale (initialised 1.2), as (samples x TFs).

    Initialisation (seed 001, Methods): weights u(0, 0.1) + 0.1, negative for
    inhibitory edges, all scaled so that rho(A) = ``initial_radius`` (0.8); biases 0.001, and 1
    for nodes whose inputs are all inhibitory.

    Parameters
    ----------
    network
        The prior-knowledge network.
    steps
        Recurrence steps (150 in the paper).
    leak
        Slope of the MML activation for negative input.
    seed
        Seed of the weight initialisation.
    tol
        The recurrence (and its adjoint) stops before ``steps`` once a step
        changes the states by at most ``tol`` relative, as LEMBAS's code does
        (absolutely); 0 always runs ``steps`` (see :func:`.recurrent.steady_state`).
    initial_radius
        rho(A) after initialisation (0.8, the paper's; the authors' ligand-screen
        script pre-scales to 0.7).
    adjoint, clip
        How the backward pass iterates its adjoint fixed point on CPU
        (``"gauss-seidel"``, default, or ``"jacobi"``, the authors' code's) and
        its clipping limit (1; the authors' ligand-screen script uses 5); see
        :func:`.recurrent.steady_state` for where the two iterations differ.
    dtype, device
        Of the parameters (float64 by default; any torch device).
    """

    def __init__(
        self,
        network: SignalingNetwork,
        steps: int = 150,
        leak: float = LEAK,
        seed: int | None = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        tol: float = 1e-12,
        initial_radius: float = INITIAL_RADIUS,
        adjoint: str = "gauss-seidel",
        clip: float = CLIP_LIMIT,
    ) -> None:
        super().__init__()
        if not isinstance(network, SignalingNetwork):
            raise TypeError(f"SignalingModel needs a SignalingNetwork, got {type(network).__name__}")
        if int(steps) < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        self.network = network
        self.steps = int(steps)
        self.leak = float(leak)
        self.tol = float(tol)
        if adjoint not in ADJOINTS:
            raise ValueError(f"adjoint must be one of {ADJOINTS}, got {adjoint!r}")
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0:
            raise ValueError(f"clip must be a positive number, got {clip!r}")
        self.adjoint = adjoint
        self.clip = float(clip)
        rng = np.random.default_rng(seed)
        w = rng.uniform(0.0, 0.1, network.n_edges) + 0.1
        w[network.mode == INHIBITION] *= -1
        if not 0 < initial_radius < 1:
            raise ValueError(f"initial_radius must lie in (0, 1) for the recurrence to converge, got {initial_radius!r}")
        w = scale_to_radius(network, w, float(initial_radius))
        b = np.full(network.n_nodes, 0.001)
        b[network.only_inhibited()] = 1.0
        kw = dict(dtype=dtype, device=device)
        self.weights = nn.Parameter(torch.tensor(w, **kw))
        self.bias = nn.Parameter(torch.tensor(b, **kw))
        self.output_scale = nn.Parameter(torch.full((len(network.tfs),), OUTPUT_SCALE, **kw))
        self.register_buffer("input_scale", torch.full((len(network.ligands),), INPUT_SCALE, **kw))
        self.register_buffer("ligand_index", torch.tensor(network.ligands, dtype=torch.long, device=device))
        self.register_buffer("tf_index", torch.tensor(network.tfs, dtype=torch.long, device=device))
        self._structure = Structure(network)

    # -- the model ----------------------------------------------------------
    def input_projection(self, ligands: torch.Tensor) -> torch.Tensor:
        """b_in: the ligand concentrations, scaled, at the ligand nodes; zeros elsewhere."""
        ligands = self._check_input(ligands)
        b_in = torch.zeros(ligands.shape[0], self.network.n_nodes, dtype=self.bias.dtype, device=self.bias.device)
        b_in[:, self.ligand_index] = ligands * self.input_scale
        return b_in

    def states(
        self, ligands: torch.Tensor, bias_noise: float = 0.0, bias_offset: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Steady states (samples x nodes); optional Gaussian noise (sd) and offsets added to the bias."""
        self._check_parameters()
        c = self.input_projection(ligands) + self.bias
        if bias_noise > 0:
            c = c + bias_noise * torch.randn_like(c)
        if bias_offset is not None:
            c = c + bias_offset
        return steady_state(self.weights, c, self._structure, self.steps, self.leak, self.tol, self.adjoint,
                            self.clip)

    def output(self, states: torch.Tensor) -> torch.Tensor:
        """TF activities from states: the TF nodes times the output scale."""
        return states[:, self.tf_index] * self.output_scale

    def forward(self, ligands: torch.Tensor, bias_noise: float = 0.0) -> torch.Tensor:
        return self.output(self.states(ligands, bias_noise))

    def _check_parameters(self) -> None:
        """NaN or infinite parameters would pass the activation's clamps as finite outputs: refuse them."""
        for name, tensor in (("weights", self.weights), ("bias", self.bias), ("input_scale", self.input_scale),
                             ("output_scale", self.output_scale)):
            bad = ~torch.isfinite(tensor.detach())
            if bad.any():
                where = torch.nonzero(bad).flatten()[:5].tolist()
                raise ValueError(f"model parameter {name} holds NaN or infinity (at indices {where}); "
                                 "reload or retrain the parameters")

    def _check_input(self, ligands) -> torch.Tensor:
        x = torch.as_tensor(ligands, dtype=self.bias.dtype, device=self.bias.device)
        if x.ndim != 2 or x.shape[1] != len(self.network.ligands):
            raise ValueError(
                f"ligands must be (samples, {len(self.network.ligands)}) in the network's ligand order, "
                f"got shape {tuple(x.shape)}"
            )
        if not torch.isfinite(x).all():
            raise ValueError("ligand concentrations contain NaN or infinity")
        return x

    # -- parameters as a table ------------------------------------------------
    def parameter_table(self) -> list[tuple[str, str, str, float]]:
        """Rows ``(source, target, type, value)`` in LEMBAS's human-readable format."""
        net = self.network
        w = self.weights.detach().cpu().numpy()
        b = self.bias.detach().cpu().numpy()
        rows = [(net.nodes[s], net.nodes[t], "Weight", float(v)) for s, t, v in zip(net.sources, net.targets, w)]
        rows += [(net.nodes[i], "", "Bias", float(b[i])) for i in range(net.n_nodes)]
        scale = self.output_scale.detach().cpu().numpy()
        rows += [(net.nodes[i], "", "Projection", float(v)) for i, v in zip(net.tfs, scale)]
        inp = self.input_scale.detach().cpu().numpy()
        rows += [(net.nodes[i], "", "Input", float(v)) for i, v in zip(net.ligands, inp)]
        return rows

    def save_parameters(self, path: str | Path) -> None:
        """Write the parameter table (tab-separated ``Source Target Type Value``)."""
        with Path(path).open("w") as fh:
            fh.write("Source\tTarget\tType\tValue\n")
            for s, t, kind, v in self.parameter_table():
                fh.write(f"{s}\t{t}\t{kind}\t{v!r}\n")

    def load_parameters(self, path: str | Path) -> SignalingModel:
        """Set weights, biases and scales from a parameter table; returns self.

        Weights name an edge by source and target; every edge of the table
        must exist in the network, and edges the table omits keep their
        values. Errors name the line.
        """
        net = self.network
        edge = {(int(s), int(t)): k for k, (s, t) in enumerate(zip(net.sources, net.targets))}
        w = self.weights.detach().clone()
        b = self.bias.detach().clone()
        out = self.output_scale.detach().clone()
        inp = self.input_scale.detach().clone()
        tf_pos = {i: k for k, i in enumerate(net.tfs)}
        lig_pos = {i: k for k, i in enumerate(net.ligands)}
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        header = [h.strip() for h in lines[0].split("\t")[:4]] if lines else []
        if header != ["Source", "Target", "Type", "Value"]:
            raise ValueError(f"{path}: header must be 'Source Target Type Value', got {lines[0] if lines else 'an empty file'!r}")
        for line_no, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 4:
                raise ValueError(f"{path}, line {line_no}: expected 4 tab-separated fields")
            src, tgt, kind, value = (p.strip() for p in parts[:4])
            try:
                v = float(value)
                if not math.isfinite(v):
                    raise ValueError(f"value {value!r} is not a finite number")
                i = net.index(src)
                if kind == "Weight":
                    k = edge.get((i, net.index(tgt)))
                    if k is None:
                        raise KeyError(f"no edge {src} -> {tgt} in the network")
                    w[k] = v
                elif kind == "Bias":
                    b[i] = v
                elif kind == "Projection":
                    out[tf_pos[i]] = v
                elif kind == "Input":
                    inp[lig_pos[i]] = v
                else:
                    raise KeyError(f"unknown parameter type {kind!r}")
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}, line {line_no}: {exc}") from None
        with torch.no_grad():
            self.weights.copy_(w)
            self.bias.copy_(b)
            self.output_scale.copy_(out)
            self.input_scale.copy_(inp)
        return self

    def extra_repr(self) -> str:
        return f"{self.network!r}, steps={self.steps}, leak={self.leak}, adjoint={self.adjoint!r}, clip={self.clip}"
