"""SDnet: the spectral-decomposition network for expected outputs ``U(x, f, t) = E_x[f(X(t))]``.

Badolle, Theuer, Fang, Gupta & Khammash, "Interpretable neural approximation
of stochastic reaction dynamics with guaranteed reliability" (DeepSKA, 2025),
supplementary section C: the generator's spectral decomposition
``U(x, f, t) = U(f) + sum_l exp(-sigma_l t) gamma_l(f) phi_l(x)`` truncated
to ``r`` modes, with decay modes ``sigma_l = a_l + i b_l`` (``a_l`` the
softplus of a trainable variable, so ``a_l >= 0``), per-output coordinates
``gamma_l(f) = g_l(f) + i h_l(f)``, eigenfunctions ``phi_l = c_l + i d_l``
from one small ReLU network of the state, and the steady-state mean
``U(f)`` fixed (an ergodic mean, or known exactly). The output is the real
part (the seed's CSDnet, as used in its experiments).

With ``delta_network=True`` the differences ``Delta_{zeta_k} U`` come from a
second ReLU network of the state, ``Delta_k U = Re sum_l exp(-sigma_l t)
gamma_l(f) psi_lk(x)``, sharing the decay modes and coordinates (supplementary
section D: "two separate approximations", one network evaluation per state
instead of ``M + 1``). The estimators built on ``Delta U`` (DeepCV, EM with
DeepCV, DeepIPA) then use it; DeepIS, which needs ``U`` itself at the
neighbouring states, uses the first network.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numba
import numpy as np
import torch
import xarray as xr

from ..checkpoints import read
from ..network import MAX_EXACT_DOUBLE, ReactionNetwork
from ..status import COUNT_LIMIT
from .outputs import Outputs
from .paths import unique_rows


def unique_rows_torch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct rows of a tensor of counts, on its device: the index of one row per distinct state, and the inverse.

    The torch counterpart of :func:`pycrn.deepska.paths.unique_rows`: an
    integer key per row where it fits in int64, ``torch.unique(dim=0)``
    otherwise. ``x[first][inverse]`` equals ``x``; the distinct rows come in
    the order of their keys.
    """
    counts = x.to(torch.int64)
    low = counts.min(0).values
    span = counts.max(0).values - low + 1
    if float(torch.prod(span.to(torch.float64))) < 2.0**62:
        weights = torch.cumprod(torch.cat([span.new_ones(1), span[:-1]]), 0)
        keys, inverse = torch.unique(((counts - low) * weights).sum(1), sorted=True, return_inverse=True)
    else:
        keys, inverse = torch.unique(counts, dim=0, sorted=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    # Rows sharing a key are equal, so whichever of them the scatter keeps is the same state.
    first = torch.zeros(keys.shape[0], dtype=torch.int64, device=x.device)
    first.scatter_(0, inverse, torch.arange(inverse.numel(), device=x.device))
    return first, inverse


def network_signature(net: ReactionNetwork | str) -> str:
    """A hash of the network's text (species, reactions, rate laws, parameter values), or of a model text."""
    return hashlib.sha256(str(net).encode()).hexdigest()[:16]


def stoichiometry(net: ReactionNetwork) -> np.ndarray:
    """The net change vectors ``zeta_k`` as an int64 array (reactions, species)."""
    index = {name: i for i, name in enumerate(net.species_names)}
    zeta = np.zeros((len(net.reactions), len(index)), dtype=np.int64)
    for k, r in enumerate(net.reactions):
        for name, nu in r.reactants:
            zeta[k, index[name]] -= nu
        for name, nu in r.products:
            zeta[k, index[name]] += nu
    return zeta


@numba.njit(cache=True)
def _dense(x: np.ndarray, w: np.ndarray, b: np.ndarray, relu: bool) -> np.ndarray:
    """``x w^T + b`` (then ReLU), each entry summed in the same order whatever the number of rows."""
    out = np.empty((x.shape[0], w.shape[0]))
    for i in range(x.shape[0]):
        for o in range(w.shape[0]):
            v = b[o]
            for k in range(w.shape[1]):
                v += x[i, k] * w[o, k]
            out[i, o] = max(v, 0.0) if relu else v
    return out


def state_vector(species: list[str], x0: Mapping[str, int] | Sequence[int],
                 defaults: Sequence[int] | None = None) -> np.ndarray:
    """``x0`` as int64 counts in the order of ``species``, checked; a mapping may leave out species with ``defaults``."""
    if isinstance(x0, Mapping):
        unknown = [s for s in x0 if s not in species]
        if unknown:
            raise ValueError(f"x0 names {unknown}, not species of the network (species: {', '.join(species)})")
        base = dict(zip(species, defaults)) if defaults is not None else {}
        base.update(x0)
        missing = [s for s in species if s not in base]
        if missing:
            raise ValueError(f"x0 must give every species; missing {missing}")
        x0 = [base[s] for s in species]
    bad = ValueError(f"x0 must be {len(species)} non-negative integer counts ({', '.join(species)}), got {x0!r}")
    try:
        v = np.asarray(x0).reshape(-1)
    except (OverflowError, ValueError):
        raise bad from None
    if v.size != len(species):
        raise bad
    # Never through float64: a count above 2**53 would round, and 2**63 - 1 would wrap to -2**63.
    if v.dtype.kind in "iu":
        if np.any(v < 0) or np.any(v > COUNT_LIMIT):
            raise bad
        return v.astype(np.int64)
    if v.dtype.kind == "f" and np.all(np.isfinite(v)) and np.all(v >= 0) and np.all(v == np.round(v)):
        if np.any(v > MAX_EXACT_DOUBLE):
            raise ValueError(f"x0 has a count above 2**53 that is not held as an integer ({x0!r}): pass int64 "
                             "counts (at most 2**63 - 1)")
        return v.astype(np.int64)
    raise bad


def _relu_network(width: int, hidden: Sequence[int], out: int, gen: torch.Generator,
                  dtype: torch.dtype) -> torch.nn.Sequential:
    """Linear layers with ReLU between them, Glorot-uniform weights (as the seed) and zero biases."""
    layers: list[torch.nn.Module] = []
    for h in (*hidden, out):
        lin = torch.nn.Linear(width, h, dtype=dtype)
        bound = float(np.sqrt(6.0 / (width + h)))
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=gen)
            lin.bias.zero_()
        layers += [lin, torch.nn.ReLU()]
        width = h
    return torch.nn.Sequential(*layers[:-1])


class SDnet(torch.nn.Module):
    """The Spectral Decomposition-based network of DeepSKA for one network and a set of outputs.

    Parameters
    ----------
    net
        The reaction network (its species order is the input order).
    outputs
        Species names, polynomial strings (``"P**2"``) or callables of states
        (see :class:`~pycrn.deepska.outputs.Outputs`).
    modes
        The truncation order ``r`` (number of complex decay modes).
    hidden
        Hidden layer widths of the eigenfunction network (the seed: two
        layers of 24 ReLU units, Glorot-uniform initialised; the authors'
        published code, with ``n_hidden_layers: 2``, builds three).
    steady
        The steady-state means ``U(f)``, one per output (exact values where
        known, e.g. from :func:`ergodic_mean`). Kept fixed in training, as in
        the seed.
    scale
        Per-species divisors of the input counts, so that the eigenfunction
        network sees values of order one. Not given: 1 until
        :func:`~pycrn.deepska.fit` sets them from the training box. Given (or
        an SDnet loaded with its weights), ``fit`` keeps them.
    init_seed
        Seed of the initial weights, modes and coordinates.
    dtype
        ``torch.float32`` (default: training is about 3x faster than in
        float64) or ``torch.float64`` (or their names). The estimators'
        unbiasedness does not depend on it.
    delta_network
        Learn ``Delta_{zeta_k} U`` with a second network of the same widths
        (``2 r M`` outputs: ``psi_lk``) instead of differencing ``U`` (the
        authors' published configurations do this; see the module notes).
    frequency_init
        How the imaginary parts ``b_l`` of the decay modes start: ``"uniform"``
        (default), uniformly in [0, 1] as the seed's Methods say; ``"zero"``,
        at 0 as the authors' published code does (every mode starts real and
        non-oscillating). The other parameters start the same either way.
    decay_init
        Starting values of the first decay modes (complex, real parts > 0),
        e.g. the generator's slowest modes from
        :func:`~pycrn.deepska.generator_spectrum`: the seed suggests taking
        them from a spectral method and fixing them or training on from there
        (supplementary section C). The remaining modes start as without it
        (the other parameters start the same either way).
    train_decay
        Whether training moves the decay modes (default). ``False`` keeps
        every mode where it started: the seed's other option, with
        ``decay_init`` giving all ``modes`` of them.
    fixed_decay
        Keep only the first ``fixed_decay`` modes (given by ``decay_init``)
        where they start and train the others: the slowest modes, which set
        how SDnet extrapolates beyond the training horizon, exact, and the
        faster ones free to fit the short horizons the estimators use.
        ``None`` (default): as ``train_decay`` says.
    """

    def __init__(
        self,
        net: ReactionNetwork,
        outputs: str | Callable | Sequence[str | Callable],
        modes: int = 8,
        hidden: Sequence[int] = (24, 24),
        *,
        steady: Sequence[float],
        scale: Sequence[float] | None = None,
        init_seed: int = 0,
        dtype: torch.dtype | str = torch.float32,
        delta_network: bool = False,
        frequency_init: str = "uniform",
        decay_init: Sequence[complex] | None = None,
        train_decay: bool = True,
        fixed_decay: int | None = None,
    ) -> None:
        super().__init__()
        if frequency_init not in ("uniform", "zero"):
            raise ValueError(f"frequency_init must be 'uniform' or 'zero', got {frequency_init!r}")
        if not isinstance(modes, (int, np.integer)) or modes < 1:
            raise ValueError(f"modes must be a positive integer, got {modes!r}")
        if isinstance(dtype, str):
            if dtype not in ("float32", "float64"):
                raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
            dtype = getattr(torch, dtype)
        hidden = tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1:
            raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden!r}")
        self.outputs = Outputs(net, outputs)
        self.species = list(net.species_names)
        self.reactions = [str(r) for r in net.reactions]
        self.signature = network_signature(net)
        self.model_name = net.name or ""
        self.config = {"modes": int(modes), "hidden": hidden, "init_seed": int(init_seed)}
        if delta_network:  # only when set, so that the configurations (and fingerprints) of earlier SDnets stay
            self.config["delta_network"] = True
        if frequency_init != "uniform":  # likewise
            self.config["frequency_init"] = frequency_init
        if decay_init is not None:
            start = np.asarray(decay_init, dtype=np.complex128).reshape(-1)
            if start.size > modes or not np.all(np.isfinite(start)) or np.any(start.real <= 0):
                raise ValueError(f"decay_init must give at most {modes} finite modes with positive real parts, "
                                 f"got {start.tolist()}")
            self.config["decay_init"] = [[float(z.real), float(z.imag)] for z in start]
        if not train_decay:
            self.config["train_decay"] = False
        #: How many leading decay modes training leaves where they start.
        self.n_fixed_decay = 0 if train_decay else int(modes)
        if fixed_decay is not None:
            if decay_init is None:
                raise ValueError("fixed_decay needs decay_init: the modes to hold")
            given = start.size
            if (isinstance(fixed_decay, bool) or not isinstance(fixed_decay, (int, np.integer))
                    or not 1 <= fixed_decay <= given or not train_decay):
                raise ValueError(f"fixed_decay must be an integer from 1 to the {given} modes given by decay_init, "
                                 f"with train_decay=True (False fixes them all); got {fixed_decay!r}")
            self.n_fixed_decay = int(fixed_decay)
            self.config["fixed_decay"] = int(fixed_decay)
        steady = np.asarray(steady, dtype=np.float64).reshape(-1)
        if steady.size != len(self.outputs) or not np.all(np.isfinite(steady)):
            raise ValueError(f"steady must give {len(self.outputs)} finite values (one per output), got {steady.tolist()}")
        nspecies = len(self.species)
        #: Whether :func:`~pycrn.deepska.fit` keeps ``scale`` as it is (given here, or weights loaded for it).
        self.scale_fixed = scale is not None
        if scale is None:
            scale = np.ones(nspecies)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        if scale.size != nspecies or not np.all(scale > 0):
            raise ValueError(f"scale must give {nspecies} positive values (one per species), got {scale.tolist()}")
        #: The training horizon and grid step (set by :func:`~pycrn.deepska.fit`); beyond ``horizon`` a warning.
        self.horizon: float | None = None
        self.dt: float | None = None

        gen = torch.Generator().manual_seed(int(init_seed))
        self.eigenfunctions = _relu_network(nspecies, hidden, 2 * modes, gen, dtype)
        # The seed: softplus(a) with a ~ U[0, 1], b ~ U[0, 1], coordinates initialised to 1.
        self.decay_raw = torch.nn.Parameter(torch.rand(modes, generator=gen, dtype=dtype))
        self.frequency = torch.nn.Parameter(torch.rand(modes, generator=gen, dtype=dtype))
        if frequency_init == "zero":  # drawn all the same, so that every other parameter starts as with "uniform"
            with torch.no_grad():
                self.frequency.zero_()
        if decay_init is not None:
            with torch.no_grad():  # softplus(raw) = a: raw = log(expm1(a))
                k = start.size
                self.decay_raw[:k] = torch.as_tensor(np.log(np.expm1(start.real)), dtype=dtype)
                self.frequency[:k] = torch.as_tensor(start.imag, dtype=dtype)
        if not train_decay:
            self.decay_raw.requires_grad_(False)
            self.frequency.requires_grad_(False)
        nreactions = len(self.reactions)
        # Drawn after everything else, so that an SDnet without it keeps its initial weights for a given seed.
        self.delta_eigenfunctions = (_relu_network(nspecies, hidden, 2 * modes * nreactions, gen, dtype)
                                     if delta_network else None)
        # Reactions with equal change vectors have equal Delta U: the first of them gives it for all, so that
        # DeepCV, which sees only the jump, adds the same value the compensator integrates (a martingale).
        zeta = stoichiometry(net)
        rep = [next(j for j in range(k + 1) if np.array_equal(zeta[j], zeta[k])) for k in range(nreactions)]
        #: For each reaction, the reaction whose Delta U network outputs it uses (``None``: all distinct).
        self.delta_rep = rep if rep != list(range(nreactions)) else None
        #: Reactions that change nothing: their Delta U is exactly 0, so the delta network is not asked for it.
        self.delta_null = [k for k in range(nreactions) if not zeta[k].any()]
        self.coord_real = torch.nn.Parameter(torch.ones(len(self.outputs), modes, dtype=dtype))
        self.coord_imag = torch.nn.Parameter(torch.ones(len(self.outputs), modes, dtype=dtype))
        self.register_buffer("steady", torch.as_tensor(steady, dtype=dtype))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=dtype))
        self.register_buffer("zeta", torch.as_tensor(stoichiometry(net), dtype=dtype))

    # -- the parts --------------------------------------------------------------------------------
    @property
    def output_names(self) -> list[str]:
        return list(self.outputs.names)

    def decay_modes(self) -> torch.Tensor:
        """The complex decay modes ``sigma_l = a_l + i b_l`` (``a_l >= 0``)."""
        raw, freq = self.decay_raw, self.frequency
        k = self.n_fixed_decay
        if k and raw.requires_grad:  # detached, so their gradient is 0 and Adam leaves them exactly where they are
            raw = torch.cat([raw[:k].detach(), raw[k:]])
            freq = torch.cat([freq[:k].detach(), freq[k:]])
        a = torch.nn.functional.softplus(raw)
        return torch.complex(a, freq)

    def coordinates(self) -> torch.Tensor:
        """The complex coordinates ``gamma_l(f)``, shape (outputs, modes)."""
        return torch.complex(self.coord_real, self.coord_imag)

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        """The eigenfunctions ``phi_l(x)`` of states (..., species), complex (..., modes)."""
        z = self._features(x)
        r = self.config["modes"]
        return torch.complex(z[..., :r], z[..., r:])

    def amplitudes(self, x: torch.Tensor) -> torch.Tensor:
        """``gamma_l(f) phi_l(x)``, complex (..., outputs, modes): ``U = steady + Re sum_l amplitude e^{-sigma_l t}``."""
        return self.phi(x).unsqueeze(-2) * self.coordinates()

    # -- evaluation --------------------------------------------------------------------------------
    def _tensor(self, x) -> torch.Tensor:
        dev, dtype = self.steady.device, self.steady.dtype
        return torch.as_tensor(np.asarray(x, dtype=np.float64) if not torch.is_tensor(x) else x, device=dev).to(dtype)

    def _times(self, x, t) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._tensor(x)
        t = self._tensor(t)
        return x, (t.expand(x.shape[0]) if t.ndim == 0 else t)

    def _project(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``Re sum_l gamma_l(f) phi_l e^{-sigma_l t}`` from the network's features ``z = [phi_r, phi_i]``.

        ``z`` is (n, 2 modes) or (n, k, 2 modes) with ``t`` (n,): (n, outputs) or (n, k, outputs). With
        ``e^{-sigma t} = e^{-a t} (cos bt - i sin bt) = c - i s``, ``phi e^{-sigma t} = p - i q`` where
        ``p = phi_r c + phi_i s`` and ``q = phi_r s - phi_i c``, so the real part is ``g p + h q``
        (``gamma = g + i h``): real arithmetic and one matrix product with the coordinates, where complex
        tensors per reaction and output made the loss's backward pass most of training.
        """
        r = self.config["modes"]
        sigma = self.decay_modes()
        t = t.unsqueeze(-1)
        damp = torch.exp(-sigma.real * t)
        c, s = damp * torch.cos(sigma.imag * t), damp * torch.sin(sigma.imag * t)  # (n, modes)
        if z.ndim == 3:
            c, s = c.unsqueeze(1), s.unsqueeze(1)
        zr, zi = z[..., :r], z[..., r:]
        pq = torch.cat([zr * c + zi * s, zr * s - zi * c], -1)
        return pq @ torch.cat([self.coord_real, self.coord_imag], -1).T

    def _neighbour_features(self, x: torch.Tensor, distinct: bool = False) -> torch.Tensor:
        """The network's ``[phi_r, phi_i]`` at ``x`` and ``x + zeta_k`` for every reaction: (n, reactions + 1, 2 modes).

        ``distinct``: run the network once per distinct state (:meth:`_rows`).
        """
        both = torch.cat([x.unsqueeze(1), x.unsqueeze(1) + self.zeta], dim=1)  # (n, M + 1, species)
        if distinct:
            return self._rows(both.reshape(-1, both.shape[-1]), self._features, True).reshape(*both.shape[:2], -1)
        return self._features(both)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """The eigenfunction network's ``[phi_r, phi_i]`` at states ``x`` (..., species)."""
        return self.eigenfunctions(x / self.scale)

    def _delta_features(self, x: torch.Tensor) -> torch.Tensor:
        """The delta network's ``[psi_r, psi_i]`` per reaction at states ``x`` (n, species): (n, reactions, 2 modes).

        The network's outputs are laid out as the authors' code lays them out
        (real parts, then imaginary parts, each mode-major: ``l M + k``), so
        that their trained weights load unchanged (:func:`load_reference`).
        """
        r, m = self.config["modes"], self.zeta.shape[0]
        z = self.delta_eigenfunctions(x / self.scale)
        re, im = z[..., :r * m].unflatten(-1, (r, m)), z[..., r * m:].unflatten(-1, (r, m))
        out = torch.cat([re, im], -2).transpose(-1, -2)
        if self.delta_rep is not None:
            out = out[..., self.delta_rep, :]
        if self.delta_null:
            keep = torch.ones(m, 1, dtype=out.dtype, device=out.device)
            keep[self.delta_null] = 0.0
            out = out * keep
        return out

    def _rows(self, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], distinct: bool) -> torch.Tensor:
        """``fn(x)`` row by row, computed once per distinct state when ``distinct`` (and ``x`` holds counts).

        In training the rows repeat a few thousand states (a trajectory keeps
        its state between jumps, many share small counts, neighbours overlap):
        several times fewer rows. On small batches the bookkeeping costs more
        than it saves.
        """
        if distinct and x.device.type != "cpu":
            # On a GPU the rows stay there: a round trip through numpy's sort cost more than the network.
            states = x.detach()
            if torch.equal(states, torch.round(states)):
                first, inverse = unique_rows_torch(states)
                return fn(states[first])[inverse]
        elif distinct:
            counts = x.detach().cpu().numpy()
            if np.array_equal(counts, np.round(counts)):  # states, not arbitrary points
                uniq, inverse = unique_rows(counts.astype(np.int64))
                return fn(self._tensor(uniq))[torch.as_tensor(inverse, device=x.device)]
        return fn(x)

    def forward(self, x, t) -> torch.Tensor:
        """``U(x, f, t)`` for states ``x`` (n, species) and times ``t`` (n,) or a scalar: (n, outputs)."""
        x, t = self._times(x, t)
        return self.steady + self._project(self._features(x), t)

    def delta(self, x, t) -> torch.Tensor:
        """``Delta_{zeta_k} U(x, f, t) = U(x + zeta_k, f, t) - U(x, f, t)`` for every reaction: (n, reactions, outputs).

        One call of the eigenfunction network on all ``n (reactions + 1)`` states.
        """
        return self.value_and_delta(x, t)[1]

    def value_and_delta(self, x, t, distinct: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``U(x, f, t)`` (n, outputs) and ``Delta_{zeta_k} U`` (n, reactions, outputs) from one network call.

        ``distinct=True`` evaluates the network once per distinct state among
        ``x`` and its neighbours (for large batches with repeated states).
        """
        x, t = self._times(x, t)
        z, dz = self._value_and_delta_features(x, distinct)
        return self.steady + self._project(z, t), self._project(dz, t)

    def _value_and_delta_features(self, x: torch.Tensor, distinct: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The features of ``U`` (n, 2 modes) and of each ``Delta_k U`` (n, reactions, 2 modes) at states ``x``.

        From the Delta U network when there is one (both networks on the same distinct rows), else the
        differences of the eigenfunction network's features at the neighbours: taken before the projection,
        because Delta U is small next to U and float32 would lose its digits to cancellation the other way round.
        """
        if self.delta_eigenfunctions is not None:
            both = self._rows(x, lambda v: torch.cat([self._features(v).unsqueeze(1), self._delta_features(v)], 1),
                              distinct)
            return both[:, 0], both[:, 1:]
        both = self._neighbour_features(x, distinct)
        return both[:, 0], both[:, 1:] - both[:, :1]

    def value_and_increment(self, x, t, weights, distinct: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``U(x, f, t)`` and ``sum_k w_k Delta_{zeta_k} U(x, f, t)``, both (n, outputs), for weights ``w`` (n, reactions).

        The same values as weighting :meth:`value_and_delta`'s differences,
        but the features are weighted and summed over reactions before the
        projection onto the decay modes, which is linear: one projection per
        state instead of one per reaction. The training loss, whose
        integrand is such a sum (the martingale increments as weights),
        takes about a third less time this way.
        """
        x, t = self._times(x, t)
        weights = self._tensor(weights)
        if weights.shape != (x.shape[0], self.zeta.shape[0]):
            raise ValueError(f"weights must be (states, reactions) = ({x.shape[0]}, {self.zeta.shape[0]}), "
                             f"got {tuple(weights.shape)}")
        z, dz = self._value_and_delta_features(x, distinct)
        dz = (dz * weights.unsqueeze(-1)).sum(1)
        out = self._project(torch.stack([z, dz], 1), t)
        return self.steady + out[:, 0], out[:, 1]

    def neighbours(self, x, t) -> torch.Tensor:
        """``U(x, f, t)`` and ``U(x + zeta_k, f, t)`` for every reaction, in one network call: (n, reactions + 1, outputs)."""
        x, t = self._times(x, t)
        return self.steady + self._project(self._neighbour_features(x), t)

    @torch.no_grad()
    def features(self, x) -> np.ndarray:
        """The eigenfunction network's ``[phi_r, phi_i]`` at states ``x`` (n, species), float64 (n, 2 modes).

        Computed on the CPU in float64, one row at a time in a fixed order
        (:func:`_dense`), so that a state's features do not depend on which
        other states are evaluated with it: a batched matrix product may
        round a row differently with the batch's size, and DeepIS's samples
        would then depend on how their trajectories were grouped.
        """
        z = np.asarray(x, dtype=np.float64) / self.scale.detach().to(torch.float64).cpu().numpy()
        layers = list(self.eigenfunctions)
        for i, layer in enumerate(layers):
            if isinstance(layer, torch.nn.Linear):
                relu = i + 1 < len(layers) and isinstance(layers[i + 1], torch.nn.ReLU)
                z = _dense(np.ascontiguousarray(z), layer.weight.detach().to(torch.float64).cpu().numpy(),
                           layer.bias.detach().to(torch.float64).cpu().numpy(), relu)
        return z

    @torch.no_grad()
    def time_weights(self, output: int, tau) -> np.ndarray:
        """``W(tau)`` (len(tau), 2 modes), float64, with ``U(x, f, tau) = steady + features(x) . W(tau)`` for output ``output``.

        With ``gamma = g + i h`` and ``e^{-sigma tau} = c - i s``:
        ``W = [g c + h s, g s - h c]`` (the real form of :meth:`_project`).
        """
        sigma = self.decay_modes().detach().to(torch.complex128).cpu().numpy()
        tau = np.asarray(tau, dtype=np.float64)[:, None]
        damp = np.exp(-sigma.real * tau)
        c, s = damp * np.cos(sigma.imag * tau), damp * np.sin(sigma.imag * tau)
        g = self.coord_real[output].detach().to(torch.float64).cpu().numpy()
        h = self.coord_imag[output].detach().to(torch.float64).cpu().numpy()
        return np.concatenate([g * c + h * s, g * s - h * c], axis=1)

    @torch.no_grad()
    def predict(self, x0: Mapping[str, int] | Sequence[int], times) -> xr.DataArray:
        """SDnet's ``U(x0, f, t)`` at ``times``: a DataArray (output, time).

        Warns beyond the training horizon (the seed reports good temporal
        generalisation, but nothing in the training checks it there).
        """
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        if np.any(~np.isfinite(times)) or np.any(times < 0):
            raise ValueError("times must be finite and non-negative")
        self.warn_beyond_horizon(times)
        x = np.tile(self.state_vector(x0), (times.size, 1))
        values = self(x, times).cpu().numpy().T
        return xr.DataArray(values, dims=("output", "time"), coords={"output": self.output_names, "time": times},
                            name="sdnet")

    def state_vector(self, x0: Mapping[str, int] | Sequence[int]) -> np.ndarray:
        """A state as an int64 vector in the species order, from ``{species: count}`` (every species) or a sequence."""
        return state_vector(self.species, x0)

    def warn_beyond_horizon(self, times: np.ndarray) -> None:
        if self.horizon is not None and float(np.max(times)) > self.horizon * (1 + 1e-12):
            warnings.warn(
                f"times up to {float(np.max(times)):g} go beyond the horizon T = {self.horizon:g} this SDnet was "
                "trained on: its values there are an extrapolation (the estimators stay unbiased)",
                stacklevel=3,
            )

    def delta_amplitudes(self, x: torch.Tensor, separate: bool = True) -> torch.Tensor:
        """``gamma_l(f) (phi_l(x + zeta_k) - phi_l(x))``, complex (n, reactions, outputs, modes).

        With a separate Delta U network (and ``separate``), ``gamma_l(f) psi_lk(x)`` instead.
        """
        if self.delta_eigenfunctions is not None and separate:
            z = self._delta_features(x)
            r = self.config["modes"]
            return torch.complex(z[..., :r], z[..., r:]).unsqueeze(-2) * self.coordinates()
        both = torch.cat([x.unsqueeze(1), x.unsqueeze(1) + self.zeta], dim=1)  # (n, M + 1, species)
        phi = self.phi(both)
        return (phi[:, 1:] - phi[:, :1]).unsqueeze(-2) * self.coordinates()

    # -- checks and persistence ----------------------------------------------------------------------
    def check_network(self, net: ReactionNetwork) -> None:
        """Raise ``ValueError`` unless ``net`` is the network this SDnet was built for."""
        if list(net.species_names) != self.species:
            raise ValueError(
                f"this SDnet was built for species {', '.join(self.species)} (network {self.model_name!r}); "
                f"the network given has {', '.join(net.species_names)}"
            )
        zeta = stoichiometry(net)
        if zeta.shape != tuple(self.zeta.shape) or not np.array_equal(zeta, self.zeta.cpu().numpy().astype(np.int64)):
            raise ValueError(
                f"this SDnet was built for network {self.model_name!r}, whose reactions differ from the network given "
                f"({zeta.shape[0]} reactions vs {self.zeta.shape[0]})"
            )
        if network_signature(net) != self.signature:
            raise ValueError(
                f"this SDnet was built for network {self.model_name!r} with other rate laws or parameter values "
                "than the network given; train one for this network"
            )

    def save(self, path: str | Path) -> None:
        """Write the weights and everything needed to rebuild the SDnet with :func:`load` (outputs given as strings)."""
        torch.save({"state": self.state_dict(), "config": self.config, "outputs": self.outputs.names,
                    "horizon": self.horizon, "dt": self.dt, "signature": self.signature}, Path(path))


def load(path: str | Path, net: ReactionNetwork, outputs=None) -> SDnet:
    """An SDnet saved with :meth:`SDnet.save`, for ``net`` (checked); callable outputs must be passed again."""
    state = read(Path(path), "SDnet file", map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "signature" not in state or "config" not in state:
        raise ValueError(f"{path} is not an SDnet written by SDnet.save")
    if state["signature"] != network_signature(net):
        raise ValueError(f"{path} holds an SDnet for another network (or other parameter values) than {net.name!r}")
    sd = state["state"]
    model = SDnet(net, outputs if outputs is not None else state["outputs"], state["config"]["modes"],
                  state["config"]["hidden"], steady=sd["steady"].numpy(), init_seed=state["config"]["init_seed"],
                  dtype=sd["steady"].dtype, delta_network=state["config"].get("delta_network", False),
                  frequency_init=state["config"].get("frequency_init", "uniform"),
                  decay_init=[complex(*z) for z in state["config"]["decay_init"]] if "decay_init" in state["config"] else None,
                  train_decay=state["config"].get("train_decay", True),
                  fixed_decay=state["config"].get("fixed_decay"))
    model.load_state_dict(sd)
    model.horizon, model.dt = state["horizon"], state["dt"]
    model.scale_fixed = True  # its weights were trained for this scale
    return model
