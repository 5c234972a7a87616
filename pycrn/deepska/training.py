"""Training SDnet with DeepSKA's trajectory-wise (reinforcement-learning) loss, with exact resume.

Badolle et al. (DeepSKA, 2025), supplementary section D. For every
trajectory and grid times ``t_a <= t_abar < t_b``, the exact ``U`` satisfies
almost surely ``f(X(t_b)) = U(X(t_abar), t_b - t_abar) + int_{t_abar}^{t_b}
sum_k Delta_k U(X(s), t_b - s) dR~_k(s)``. The loss penalises the difference
with SDnet in place of ``U``, the integral taken on the grid (their eq. S65),
scaled by ``delta = 1 + |mean f(X(t_b))| + 2 sd`` over the batch and passed
through the Huber-like ``L(x) = x^2`` for ``|x| < 1`` and ``2|x| - 1``
otherwise. Each draw picks a segment length ``omega`` and a start ``alpha``
uniformly, and ``segments // omega`` trajectories, so that every draw holds
about ``segments`` (trajectory, step) pairs; ``accumulate`` draws add their
gradients before each Adam step. The learning rate follows a cosine
schedule from ``lr`` (the seed's code: 0.01) to zero over ``steps``.
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..checkpoints import fingerprint, read, save_atomic
from .data import DATA_KIND
from .sdnet import SDnet, network_signature
from .threads import uses_torch_threads


@dataclass
class FitHistory:
    """What :func:`fit` did: the training loss per step and the validation loss every ``validate_every`` steps."""

    train_loss: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    best_step: int = -1

    @property
    def steps(self) -> int:
        return len(self.train_loss)


def open_data(data: xr.Dataset | str | Path) -> xr.Dataset:
    """A DeepSKA trajectory Dataset, opened from netCDF/Zarr if a path."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        data = xr.open_zarr(path) if path.is_dir() else xr.open_dataset(path)
    if not isinstance(data, xr.Dataset) or data.attrs.get("kind") != DATA_KIND:
        raise ValueError("data must be trajectories from pycrn.deepska.generate (or a file of them)")
    return data


def _huber(x: torch.Tensor) -> torch.Tensor:
    a = x.abs()
    return torch.where(a < 1, x * x, 2 * a - 1)


class _Segments:
    """The trajectories on the device and the loss of one random draw of segments.

    States and martingales stay as the data set holds them (int64 and
    float32), shared with it on the CPU rather than copied, and a draw
    converts only its own segments: float64 copies of the whole set, as
    kept before, doubled the memory of training at the seed's sizes
    (20,000 + 10,000 trajectories of 1,001 points). The conversions are the
    same as on whole arrays, so the loss is the same to the last bit.
    """

    #: States per call of the output functions while tabulating them (bounds the float64 temporaries).
    CHUNK = 1 << 20

    def __init__(self, model: SDnet, data: xr.Dataset, device: torch.device) -> None:
        dtype = self.dtype = model.steady.dtype
        states = np.asarray(data["state"].values)
        self.times = torch.as_tensor(np.array(data["time"].values, dtype=np.float64), dtype=dtype, device=device)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")  # it is only ever read
            self.x = torch.as_tensor(states, device=device)  # (n, J + 1, species), int64
            self.m = torch.as_tensor(np.asarray(data["martingale"].values), device=device)  # (n, J + 1, reactions)
        flat = states.reshape(-1, states.shape[-1])
        f = np.concatenate([model.outputs(flat[i:i + self.CHUNK]) for i in range(0, len(flat), self.CHUNK)])
        self.f = torch.as_tensor(f.reshape(*states.shape[:2], -1), dtype=dtype, device=device)
        self.n, self.J = states.shape[0], states.shape[1] - 1

    def draw(self, rng: np.random.Generator, segments: int, from_start: float = 0.0) -> tuple[np.ndarray, int, int]:
        omega = int(rng.integers(1, self.J + 1))
        alpha = int(rng.integers(0, self.J - omega + 1))
        count = max(1, min(self.n, segments // omega))
        rows = rng.choice(self.n, size=count, replace=False)
        if from_start > 0 and rng.random() < from_start:  # no extra draw at 0: the seed's scheme, streams unchanged
            alpha = 0
        return np.sort(rows), alpha, omega

    def loss(self, model: SDnet, rows: np.ndarray, alpha: int, omega: int, scaling: str = "batch",
             reduction: str = "mean") -> torch.Tensor:
        beta = alpha + omega
        idx = torch.as_tensor(rows, device=self.x.device)
        x = self.x[idx, alpha:beta].to(self.dtype)  # (b, omega, species): X(t_q), q = alpha .. beta - 1
        tau = (self.times[beta] - self.times[alpha:beta]).expand(x.shape[0], omega)  # t_b - t_q
        b = x.shape[0]
        flat_x, flat_t = x.reshape(b * omega, -1), tau.reshape(-1)
        m = self.m[idx, alpha:beta + 1].to(torch.float64)  # the increments in float64, then rounded once
        dm = (m[:, 1:] - m[:, :-1]).to(self.dtype).reshape(b * omega, -1)
        # U(X(t_q), t_b - t_q) and sum_k Delta_k U(X(t_q), t_b - t_q) dR~_k(t_q)
        u, d = model.value_and_increment(flat_x, flat_t, dm, distinct=True)
        u, d = u.reshape(b, omega, -1), d.reshape(b, omega, -1)  # (b, omega, outputs)
        tail = torch.flip(torch.cumsum(torch.flip(d, [1]), 1), [1])  # sum over q >= abar
        pred = u + tail  # F_{abar, beta}, abar = alpha .. beta - 1
        target = self.f[idx, beta]  # (b, outputs)
        with torch.no_grad():
            if scaling == "steady":
                delta = 1 + model.steady.abs()
            else:
                sd = target.std(0, unbiased=True) if b > 1 else torch.zeros_like(target[0])
                delta = 1 + target.mean(0).abs() + 2 * sd
        penalty = _huber((target.unsqueeze(1) - pred) / delta)  # (b, omega, outputs)
        if reduction == "sum":  # the seed's eq. S63: summed over abar (and outputs), averaged over trajectories
            return penalty.mean(0).sum()
        return penalty.mean()


def _fingerprint(model: SDnet, data: xr.Dataset, options: tuple) -> str:
    return fingerprint((data["state"].values, data["martingale"].values),
                       (model.signature, sorted(model.config.items()), model.output_names, options))


@uses_torch_threads
def fit(
    model: SDnet,
    data: xr.Dataset | str | Path,
    *,
    steps: int = 10_000,
    lr: float = 0.01,
    segments: int = 10_000,
    accumulate: int = 10,
    scaling: str = "batch",
    from_start: float = 0.0,
    reduction: str = "sum",
    validation: xr.Dataset | str | Path | None = None,
    validate_every: int = 100,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 100,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool | None = None,
    callback: Callable[[int, FitHistory], None] | None = None,
    threads: int = 1,
) -> FitHistory:
    """Train ``model`` on trajectories from :func:`~pycrn.deepska.generate`.

    Parameters
    ----------
    model
        The :class:`SDnet`, built for the data's network (checked).
    data
        Training trajectories (or a netCDF/Zarr path to them).
    steps
        Adam steps (the seed: 10,000).
    lr
        The initial learning rate of the cosine schedule (the seed's code: 0.01).
    segments
        (trajectory, grid step) pairs per draw (the seed: 10,000).
    accumulate
        Draws whose gradients are averaged before each step (the authors'
        code: 10, its ``backward_frequency``).
    scaling
        The loss's scale ``delta`` per output: ``"batch"`` (default),
        ``1 + |mean| + 2 sd`` of ``f(X(t_b))`` over the draw's trajectories;
        ``"steady"``, ``1 + |U(f)|`` from SDnet's steady-state means (the
        seed's choice for the toggle switch and the repressilator).
    from_start
        The probability that a draw's segments start at ``t = 0`` instead of
        a uniform grid point (default 0: the seed's scheme). Paths leave the
        initial box's low-count states quickly, so under the seed's scheme
        these states are almost never paired with short remaining times; on
        the toggle switch SDnet then missed ``U(x, 0) = f(x)`` there by up to
        1.6. A short probe (1,500 steps, one draw each) halved the mean
        error of SDnet against SSA over five states and four times with
        0.5, but 10,000-step runs with and without it showed no clear
        difference (README): an option for experiments.
    reduction
        How a draw's penalties are combined: ``"sum"`` (default), the seed's
        eq. S63 and the authors' code: summed over the start points ``abar``
        of the segment and over the outputs, averaged over trajectories, so a
        draw weighs in proportion to its segment's length (every (start, end)
        pair of grid points then weighs the same); ``"mean"`` over
        trajectories, start points and outputs, so every draw weighs the same
        (pycrn's default before; at the seed's full settings on constitutive
        gene expression it learned decay modes slower than the generator's
        and curves 4x farther from the exact ones, see the README).
    validation
        Held-out trajectories (the seed: 10,000); their loss on a fixed set
        of draws is computed every ``validate_every`` steps and the best
        weights are kept. ``None``: no validation, the last weights are kept.
    checkpoint
        A file written every ``checkpoint_every`` steps (atomically). If it
        exists, training resumes from it and ends with exactly the
        parameters of an uninterrupted run; other data or options are refused.
    device
        Where to train (default: where the model is).
    seed
        Seeds the draws of segments.
    progress
        A tqdm bar over steps (default: on a terminal).
    callback
        Called as ``callback(step, history)`` after each step (and its checkpoint), ``step`` counting from 1.
    threads
        torch's threads for the training (restored afterwards). The result
        depends on it (see :mod:`pycrn.deepska.threads`), so a resumed run
        ends exactly as an uninterrupted one only with the same ``threads``.

    Returns
    -------
    FitHistory
    """
    data = open_data(data)
    for name, value in (("steps", steps), ("segments", segments), ("accumulate", accumulate),
                        ("validate_every", validate_every), ("checkpoint_every", checkpoint_every)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not (0.0 <= from_start <= 1.0):
        raise ValueError(f"from_start must be a probability in [0, 1], got {from_start!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if scaling not in ("batch", "steady"):
        raise ValueError(f"scaling must be 'batch' or 'steady', got {scaling!r}")
    if not (lr > 0 and np.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    _check_data(model, data, "data")
    if validation is not None:
        validation = open_data(validation)
        _check_data(model, validation, "validation")
    if not model.scale_fixed and torch.all(model.scale == 1):
        top = np.asarray(data["state"].isel(time=0).max("trajectory").values, dtype=np.float64)
        model.scale.copy_(torch.as_tensor(np.maximum(top, 1.0), dtype=model.scale.dtype))
    model.horizon = float(data.attrs["T"])
    model.dt = float(data.attrs["dt"])
    dev = torch.device(device) if device is not None else model.steady.device
    model.to(dev)
    train = _Segments(model, data, dev)
    val = _Segments(model, validation, dev) if validation is not None else None
    val_draws = [val.draw(np.random.default_rng([seed, 1, i]), segments) for i in range(8)] if val else []

    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
    rng = np.random.default_rng(seed)
    history = FitHistory()
    best, best_state, start = float("inf"), copy.deepcopy(model.state_dict()), 0
    path = Path(checkpoint) if checkpoint is not None else None
    fp = _fingerprint(model, data, (steps, lr, segments, accumulate, scaling, seed, validate_every,
                                    None if validation is None else _fingerprint(model, validation, ()))
                      + ((float(from_start),) if from_start else ())  # older checkpoints keep their fingerprint
                      + ((reduction,) if reduction != "mean" else ()))
    if path is not None and path.exists():
        state = read(path, "checkpoint", "; delete it to start over", map_location=dev, weights_only=False)
        if state.get("fingerprint") != fp:
            raise ValueError(f"checkpoint {path} was written for other data, options, model or seed; "
                             "remove it or give another checkpoint path")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        history = FitHistory(**state["history"])
        best, best_state, start = state["best"], state["best_state"], state["step"]
        rng.bit_generator.state = state["rng"]

    def save(step: int) -> None:
        save_atomic(path, {"fingerprint": fp, "step": step, "model": model.state_dict(),
                           "optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(),
                           "history": copy.deepcopy(vars(history)), "best": best, "best_state": best_state,
                           "rng": rng.bit_generator.state})

    bar = tqdm(total=steps, initial=start, desc="deepska fit", unit="step",
               disable=None if progress is None else not progress)
    clock = time.perf_counter()
    try:
        for step in range(start, steps):
            model.train()
            optimiser.zero_grad(set_to_none=True)
            parts = []
            for _ in range(accumulate):
                loss = train.loss(model, *train.draw(rng, segments, from_start), scaling, reduction) / accumulate
                loss.backward()
                parts.append(loss.detach())
            # One read of the losses per step: float() of each draw's loss made a GPU wait for every draw.
            total = sum(float(v) for v in torch.stack(parts).cpu())
            if not np.isfinite(total):
                raise FloatingPointError(f"the training loss became {total} at step {step}: lower lr")
            optimiser.step()
            scheduler.step()
            history.train_loss.append(total)
            done = step + 1
            if val is not None and (done % validate_every == 0 or done == steps):
                with torch.no_grad():
                    v = float(np.mean([float(val.loss(model, *d, scaling, reduction)) for d in val_draws]))
                history.val_step.append(done)
                history.val_loss.append(v)
                if v < best:
                    best, history.best_step, best_state = v, done, copy.deepcopy(model.state_dict())
            if path is not None and (done % checkpoint_every == 0 or done == steps):
                history.seconds += time.perf_counter() - clock
                clock = time.perf_counter()
                save(done)
            bar.update(1)
            if done % 10 == 0:
                bar.set_postfix(loss=f"{total:.4g}")
            if callback is not None:
                callback(done, history)
    except KeyboardInterrupt:
        if path is not None:
            print(f"pycrn: training interrupted; {path} resumes it", file=sys.stderr)
        raise
    finally:
        bar.close()
    history.seconds += time.perf_counter() - clock
    if val is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _check_data(model: SDnet, data: xr.Dataset, what: str) -> None:
    species = [str(s) for s in data["species"].values]
    if species != model.species:
        raise ValueError(f"the {what}'s species ({', '.join(species)}) are not the SDnet's ({', '.join(model.species)})")
    if data.sizes["reaction"] != model.zeta.shape[0]:
        raise ValueError(f"the {what} have {data.sizes['reaction']} reactions, the SDnet's network {model.zeta.shape[0]}")
    text = data.attrs.get("model")
    if text is not None and network_signature(str(text)) != model.signature:
        raise ValueError(f"the {what} were simulated from another network ({data.attrs.get('model_name', '?')!r}) "
                         f"than the SDnet's ({model.model_name!r}), or with other rate laws")
