"""``fit``: train a SignalingModel on ligand -> TF data, with checkpoints and resume.

The objective is LEMBAS's (seed 001, Methods; :mod:`.losses`): data MSE
plus the sign, ligand-bias, L2, weight-not-zero, state-uniformity and
spectral-radius terms, with Gaussian noise on the bias of sd ``noise * lr``
at every forward pass, Adam, and a cosine learning-rate schedule with warm
restarts (``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``); or,
with ``schedule=OneCycle(...)`` and ``LossWeights.ligand_screen()``, the
recipe of the authors' ligand-screen script.

Training is reproducible from ``seed``: the mini-batches, the noise and the
state chosen for the spectral term come from one ``torch.Generator``, whose
state is saved in each checkpoint together with the model, the optimiser
and the scheduler; an interrupted run resumed from its checkpoint ends with
the same parameters as an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..checkpoints import save_atomic
from . import losses
from .losses import LossWeights
from .model import SignalingModel
from .recurrent import training_threads
from .schedules import OneCycle


def _describe(plan: dict | None, lr) -> str:
    if plan is None:
        return "cosine with warm restarts"
    reset = f", Adam reset every {plan['reset_every']} epochs" if plan.get("reset_every") else ""
    return (f"one-cycle over {plan['epochs']} epochs peaking at epoch {plan['peak']} with lr {lr} (start x{plan['start']}, "
            f"end x{plan['end']}{reset})")


#: The weighted loss terms recorded per epoch in :attr:`FitHistory.terms`.
TERMS = ("sign", "ligand_bias", "l2", "nonzero", "uniformity", "spectral", "output_scale")


@dataclass
class FitHistory:
    """Per-epoch means: data MSE, total loss, spectral radius, learning rate, and each weighted loss term.

    ``terms[name]`` (names in ``TERMS``) is the epoch mean of that term
    times its coefficient, so that ``mse + sum of terms = loss``; the
    spectral term is the barrier at the state picked in each mini-batch.
    ``spectral_radius_max`` is the largest spectral radius of those picks.
    """

    mse: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    spectral_radius: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    spectral_radius_max: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in TERMS})


def _upgrade(history: FitHistory) -> FitHistory:
    """A history from a checkpoint written before the loss terms were recorded, with NaN for its epochs."""
    epochs = len(history.mse)
    missing = [float("nan")] * epochs
    if not hasattr(history, "spectral_radius_max"):
        history.spectral_radius_max = list(missing)
    if not hasattr(history, "terms"):
        history.terms = {name: list(missing) for name in TERMS}
    return history


def _as_tensor(data, model: SignalingModel, what: str, columns: int) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(data), dtype=model.bias.dtype, device=model.bias.device)
    if x.ndim != 2 or x.shape[1] != columns:
        raise ValueError(f"{what} must be (conditions, {columns}), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinity")
    return x


def batch_objective(
    model: SignalingModel,
    ligands: torch.Tensor,
    tfs: torch.Tensor,
    index: torch.Tensor,
    cache: torch.Tensor,
    pick: int,
    weights: LossWeights,
    bias_offset: torch.Tensor | None = None,
    mse: torch.nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], float]:
    """The objective of one mini-batch, as :func:`fit` computes it; updates ``cache`` in place.

    Parameters
    ----------
    model
        The model being trained.
    ligands, tfs
        The mini-batch's conditions (rows ``index`` of the training set).
    index
        Their rows in the training set, where ``cache`` keeps every
        condition's latest steady state (the uniformity term is taken over
        the cache with this batch's states in place).
    pick
        Which of the batch's states enters the spectral term.
    weights
        The loss coefficients.
    bias_offset
        Noise added to the bias (``fit`` draws it with sd ``noise * lr`` or
        ``noise_fixed``); ``None``: none.
    mse
        The data loss (default ``torch.nn.MSELoss()``).

    Returns
    -------
    loss, mse, terms, rho
        The total, its data part, the weighted terms (names in ``TERMS``)
        and the spectral radius at the picked state.
    """
    w = weights
    states = model.states(ligands, bias_noise=0.0, bias_offset=bias_offset)
    fit_loss = (mse or torch.nn.MSELoss())(model.output(states), tfs)
    uniform = losses.uniformity_with_cache(states, cache, index, w.uniform_low, w.uniform_high, w.uniform_negative_max)
    cache[index] = states.detach()
    barrier, rho = losses.spectral_barrier(model, states[pick], w.spectral_k, w.spectral_precision,
                                           w.spectral_target, w.spectral_normalize_above)
    terms = dict(sign=w.sign * losses.sign_violation(model),
                 ligand_bias=w.ligand_bias * losses.ligand_bias(model), l2=w.l2 * losses.l2(model),
                 nonzero=w.nonzero * losses.nonzero(model), uniformity=w.uniformity * uniform,
                 spectral=w.spectral * barrier)
    if w.output_scale:
        terms["output_scale"] = w.output_scale * losses.output_scale(model)
    loss = fit_loss
    for term in terms.values():  # in this order, as before the terms were recorded
        loss = loss + term
    return loss, fit_loss, terms, rho


def fit(
    model: SignalingModel,
    ligands,
    tfs,
    epochs: int = 1000,
    batch_size: int = 5,
    lr: float = 2e-3,
    restart_epochs: int = 200,
    weights: LossWeights | None = None,
    schedule: OneCycle | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 50,
    resume: bool = True,
    progress: bool | None = None,
    threads: int | None = None,
) -> FitHistory:
    """Train ``model`` in place on conditions ``ligands`` (n x ligands) -> ``tfs`` (n x TFs).

    Parameters
    ----------
    epochs, batch_size
        Passes over the data and conditions per mini-batch.
    lr, restart_epochs
        Peak learning rate of the cosine schedule and the epochs between warm restarts.
    weights
        Loss coefficients (default :class:`LossWeights`, the paper's;
        :meth:`LossWeights.ligand_screen` for the authors' ligand-screen script's).
    schedule
        ``None``: the cosine schedule with warm restarts every ``restart_epochs``.
        A :class:`~pycrn.signaling.schedules.OneCycle`: that schedule for peak
        rate ``lr`` instead (``restart_epochs`` is then unused), with its Adam
        resets.
    seed
        Seed of mini-batch order, bias noise and spectral-state choice.
    checkpoint
        File for checkpoints (every ``checkpoint_every`` epochs, at the end and
        on interruption); with ``resume`` an existing checkpoint is continued
        (one written with another schedule, lr, loss weights, seed or adjoint iteration is refused).
    progress
        Show a progress bar (default: on a terminal).
    threads
        torch threads during training (default: 1 for small problems, where
        a thread pool costs more than it saves; see
        :func:`.recurrent.training_threads`).

    Returns
    -------
    FitHistory
        The per-epoch statistics (of the whole run, also across resumes).
    """
    w = weights or LossWeights()
    x = _as_tensor(ligands, model, "ligands", len(model.network.ligands))
    y = _as_tensor(tfs, model, "tfs", len(model.network.tfs))
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"ligands has {x.shape[0]} conditions but tfs has {y.shape[0]}")
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError("epochs and batch_size must be positive integers")
    n = x.shape[0]
    if n == 0:
        raise ValueError("no conditions to train on: ligands and tfs have 0 rows")
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-n // batch_size)
    sched = None
    if schedule is None:
        sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=restart_epochs * steps_per_epoch, eta_min=lr * 1e-4)
    elif not isinstance(schedule, OneCycle):
        raise TypeError(f"schedule must be None (cosine with warm restarts) or a OneCycle, got {schedule!r}")
    elif int(epochs) > schedule.epochs:
        raise ValueError(f"epochs={epochs} runs past the end of the schedule ({schedule.epochs} epochs)")
    plan = schedule.as_dict() if schedule is not None else None
    objective = dataclasses.asdict(w)
    recurrence = dict(adjoint=model.adjoint, clip=model.clip)
    history = FitHistory()
    cache = torch.zeros(n, model.network.n_nodes, dtype=model.bias.dtype, device=model.bias.device)
    start = 0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and resume and path.exists():
        try:
            state = torch.load(path, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged file
            raise ValueError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
                             "delete it to start over, or pass resume=False") from None
        saved = state["scheduler"]
        saved_plan = state.get("schedule")
        if saved_plan != plan or (plan is not None and state.get("lr") != lr):
            raise ValueError(
                f"checkpoint {path} was trained with schedule {_describe(saved_plan, state.get('lr'))}; this call "
                f"asks for {_describe(plan, lr)}. Pass the original schedule and lr to resume, or resume=False to "
                "start over")
        if sched is not None and (saved.get("T_0") != sched.T_0 or saved.get("base_lrs") != sched.base_lrs):
            # Loading would silently replace this call's schedule with the checkpoint's.
            raise ValueError(
                f"checkpoint {path} was trained with lr {saved.get('base_lrs', ['?'])[0]} and warm restarts every "
                f"{saved.get('T_0')} mini-batches; this call asks for lr {lr} and {sched.T_0} "
                f"(restart_epochs={restart_epochs} x {steps_per_epoch} batches of {batch_size}). Pass the original "
                "lr, restart_epochs and batch_size to resume, or resume=False to start over")
        saved_objective = state.get("objective")
        if saved_objective is None:
            warnings.warn(f"checkpoint {path} does not record its loss weights (written before they were saved); "
                          "resuming with this call's", stacklevel=2)
        elif saved_objective != objective:
            changed = ", ".join(f"{k} {saved_objective.get(k)!r} -> {v!r}" for k, v in objective.items()
                                if saved_objective.get(k) != v)
            raise ValueError(f"checkpoint {path} was trained with other loss weights ({changed}); pass the original "
                             "weights to resume, or resume=False to start over")
        # Checkpoints written before the adjoint could be chosen were all Gauss-Seidel with clip 1.
        saved_recurrence = state.get("recurrence", dict(adjoint="gauss-seidel", clip=1.0))
        if saved_recurrence != recurrence:
            raise ValueError(
                f"checkpoint {path} was trained with the adjoint {saved_recurrence['adjoint']!r}, clip "
                f"{saved_recurrence['clip']}; this model has {recurrence['adjoint']!r}, clip {recurrence['clip']}. "
                "Build the model with the original adjoint and clip to resume, or pass resume=False to start over")
        saved_seed = state.get("seed")  # absent from checkpoints written before it was saved
        if saved_seed is not None and saved_seed != int(seed):
            raise ValueError(f"checkpoint {path} continues a run with seed {saved_seed}; this call asks for seed "
                             f"{int(seed)}. Pass the original seed to resume, or resume=False to start over")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        cache = state["cache"].to(cache.device)
        history = _upgrade(state["history"])
        start = state["epoch"]

    def snapshot(epoch: int) -> dict:
        return copy.deepcopy(dict(model=model.state_dict(), optimizer=opt.state_dict(),
                                  scheduler=sched.state_dict() if sched is not None else {}, schedule=plan, lr=lr,
                                  objective=objective, seed=int(seed), recurrence=recurrence,
                                  generator=gen.get_state(), cache=cache, history=history, epoch=epoch))

    def save(state: dict | None) -> None:
        if path is None or state is None:
            return
        save_atomic(path, state)

    mse = torch.nn.MSELoss()
    disable = None if progress is None else not progress
    bar = tqdm(range(start, epochs), initial=start, total=epochs, unit="epoch", disable=disable, leave=False)
    threads_ctx = training_threads(model.network.n_edges, batch_size, threads)
    with threads_ctx:
        last = snapshot(start) if path is not None else None
        try:
            for epoch in bar:
                model.train()
                if schedule is not None:
                    for group in opt.param_groups:
                        group["lr"] = schedule.rate(epoch, lr)
                order = torch.randperm(n, generator=gen)
                sums = np.zeros(3)
                term_sums = dict.fromkeys(TERMS, 0.0)
                rho_max = 0.0
                for lo in range(0, n, batch_size):
                    idx = order[lo:lo + batch_size].to(x.device)
                    cur_lr = opt.param_groups[0]["lr"]
                    opt.zero_grad()
                    noise = torch.randn((len(idx), model.network.n_nodes), generator=gen, dtype=x.dtype).to(x.device)
                    sd = w.noise_fixed if w.noise_fixed is not None else w.noise * cur_lr
                    pick = int(torch.randint(len(idx), (1,), generator=gen))
                    loss, fit_loss, terms, rho = batch_objective(model, x[idx], y[idx], idx, cache, pick, w,
                                                                 sd * noise, mse)
                    loss.backward()
                    opt.step()
                    if sched is not None:
                        sched.step()
                    sums += (fit_loss.item() * len(idx), loss.item() * len(idx), rho * len(idx))
                    for name, term in terms.items():
                        term_sums[name] += term.item() * len(idx)
                    rho_max = max(rho_max, rho)
                if not math.isfinite(sums[1]):
                    raise FloatingPointError(
                        f"training diverged in epoch {epoch + 1}: the loss is {float(sums[1] / n)!r} (largest |tf| target "
                        f"{float(y.abs().max()):.3g}); scale the targets or lower lr. The checkpoint keeps the "
                        "last finished epoch"
                    )
                history.mse.append(sums[0] / n)
                history.loss.append(sums[1] / n)
                history.spectral_radius.append(sums[2] / n)
                history.lr.append(opt.param_groups[0]["lr"])
                history.spectral_radius_max.append(rho_max)
                for name in TERMS:
                    history.terms[name].append(term_sums[name] / n)
                if schedule is not None and schedule.resets_after(epoch):
                    opt.state.clear()  # Adam's moments start afresh, as in the authors' script
                bar.set_postfix(mse=f"{history.mse[-1]:.2e}", rho=f"{history.spectral_radius[-1]:.3f}")
                if path is not None:
                    last = snapshot(epoch + 1)
                    if (epoch + 1) % checkpoint_every == 0:
                        save(last)
        except BaseException:
            # An interruption keeps every finished epoch: save the state at the end of the last one.
            save(last)
            raise
        finally:
            bar.close()
    save(last)
    model.eval()
    return history
