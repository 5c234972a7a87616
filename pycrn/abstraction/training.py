"""Maximum-likelihood training of an MDN kernel, with early stopping and exact resume.

The loss is the mixture's negative log-likelihood (log-sum-exp over
components, standard deviations floored). Defaults follow Bortolussi &
Palmieri (CMSB 2018): Adam with its default settings, early stopping with a
patience of 6 epochs on a held-out validation set, the best weights kept.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..checkpoints import fingerprint, read, save_atomic
from .data import open_pairs, with_scaling
from .mdn import MDN


@dataclass
class FitHistory:
    """What :func:`fit` did: losses per epoch (mean NLL in standardised units), the best epoch, why it stopped."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)


def _check_species(model: MDN, data: xr.Dataset) -> None:
    names = [str(s) for s in data["species"].values]
    if model.species is None:
        if len(names) != model.n_species:
            raise ValueError(f"the data have {len(names)} species ({', '.join(names)}), the model {model.n_species}")
        model.species = names
    elif names != model.species:
        if sorted(names) == sorted(model.species):
            raise ValueError(
                f"the data's species order ({', '.join(names)}) differs from the model's ({', '.join(model.species)})"
            )
        raise ValueError(f"the data's species ({', '.join(names)}) are not the model's ({', '.join(model.species)})")


def _split(data: xr.Dataset, validation, seed: int) -> tuple[xr.Dataset, xr.Dataset]:
    """Training and validation pairs; a fraction is split by initial setting, so no setting is in both."""
    if isinstance(validation, (xr.Dataset, str, Path)):
        return data, open_pairs(validation)
    frac = float(validation)
    if not 0 < frac < 1:
        raise ValueError(f"validation must be a fraction in (0, 1) or a pair Dataset, got {validation!r}")
    rng = np.random.default_rng(seed)
    key = data["setting_id"].values if "setting_id" in data else np.arange(data.sizes["pair"])
    groups = np.unique(key)
    if groups.size < 2:
        key, groups = np.arange(data.sizes["pair"]), np.arange(data.sizes["pair"])
    held = rng.choice(groups, size=max(1, int(round(frac * groups.size))), replace=False)
    mask = np.isin(key, held)
    return data.isel(pair=np.flatnonzero(~mask)), data.isel(pair=np.flatnonzero(mask))


def _fingerprint(model: MDN, x, y, batch_size: int, lr: float, seed: int, lr_decay, dequantize: bool) -> str:
    return fingerprint((x, y), (sorted(model.config.items()), model.init_seed, batch_size, lr, seed, lr_decay, dequantize))


def fit(
    model: MDN,
    data: xr.Dataset | str | Path,
    *,
    epochs: int = 100,
    batch_size: int = 32,
    lr: float = 1e-3,
    patience: int | None = 6,
    validation: float | xr.Dataset | str | Path = 0.1,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    lr_decay: tuple[int, float] | None = None,
    dequantize: bool = True,
    progress: bool | None = None,
    callback: Callable[[int, FitHistory], None] | None = None,
) -> FitHistory:
    """Train ``model`` on transition pairs by maximum likelihood.

    Parameters
    ----------
    model
        An :class:`MDN`. Its species and ``dt`` are taken from the data (or
        checked against them), its scaling statistics too.
    data
        Pairs from :func:`~pycrn.abstraction.generate`, or a netCDF/Zarr path to them.
    epochs
        Largest number of epochs (passes over the training pairs).
    batch_size, lr
        Minibatch size (the paper's 32) and Adam's learning rate (Adam's default, as the paper).
    patience
        Stop after this many epochs without a better validation loss and
        keep the best weights; ``None`` trains all ``epochs``.
    validation
        A fraction of the initial settings held out (default 0.1), or a
        separate pair Dataset (as the paper's separately simulated
        validation set).
    checkpoint
        A file written after every epoch (atomically). If it exists, training
        resumes from it and ends with exactly the parameters an uninterrupted
        run would have (same data, options, seed and the model's
        ``init_seed``; ``epochs`` and ``patience`` may change); other
        arguments are refused. Ctrl-C leaves the last finished epoch there.
    device
        Where to train (default: where the model is).
    seed
        Seeds the shuffling, input noise and dropout (the caller's global
        torch RNG state is left as it was).
    lr_decay
        ``(every, factor)``: multiply the learning rate by ``factor`` every
        ``every`` epochs (StochNetV2's step decay); ``None`` keeps it.
    dequantize
        Add uniform noise on (-1/2, 1/2) to the target counts (fresh every
        epoch; one fixed draw for validation). The paper's kernel gives a
        count ``s`` the mixture's mass on the box ``|y - s| < 1/2`` (its
        eq. 8), and the dequantised likelihood is a lower bound on exactly
        that discrete likelihood (Theis, van den Oord & Bethge, "A note on
        the evaluation of generative models", 2016). Without it a continuous
        density can grow without bound on an integer-valued species (a
        component collapsing onto one count, as the gene network's mRNA
        invites) and the other species are fitted badly.
    progress
        A tqdm bar over epochs (default: on a terminal).
    callback
        Called as ``callback(epoch, history)`` after each epoch's checkpoint.

    Returns
    -------
    FitHistory
    """
    data = open_pairs(data)
    _check_species(model, data)
    if model.dt is None:
        model.dt = float(data.attrs["dt"])
    elif not np.isclose(model.dt, float(data.attrs["dt"]), rtol=1e-12, atol=0):
        raise ValueError(f"the data were recorded every dt = {data.attrs['dt']}, the model steps dt = {model.dt}")
    model.t0 = float(data.attrs.get("t0", 0.0))
    for key in ("model_name", "model", "method", "seed", "params"):
        if key in data.attrs:
            model.source[key] = data.attrs[key]
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (lr > 0 and np.isfinite(lr)):
        raise ValueError(f"lr must be positive, got {lr}")

    train, val = _split(data, validation, seed)
    if isinstance(validation, (xr.Dataset, str, Path)):  # a fraction is a subset of the checked data
        _check_species(model, val)
        if not np.isclose(float(val.attrs["dt"]), model.dt, rtol=1e-12, atol=0):
            raise ValueError(f"the validation data were recorded every dt = {val.attrs['dt']}, the model steps dt = {model.dt}")
    if not bool(model.scaled):
        model.set_scaling(with_scaling(train))
    dev = torch.device(device) if device is not None else model.x_mean.device
    model.to(dev)
    dtype = model.x_mean.dtype
    xt = torch.as_tensor(np.asarray(train["x"].values, dtype=np.float64), dtype=dtype, device=dev)
    yt = torch.as_tensor(np.asarray(train["y"].values, dtype=np.float64), dtype=dtype, device=dev)
    xv = torch.as_tensor(np.asarray(val["x"].values, dtype=np.float64), dtype=dtype, device=dev)
    yv = torch.as_tensor(np.asarray(val["y"].values, dtype=np.float64), dtype=dtype, device=dev)
    if model.config["kind"] == "lognormal" and (bool((yt < 0).any()) or bool((yv < 0).any())):
        raise ValueError("a log-normal kernel needs non-negative targets")
    zt = None if dequantize else model.to_target(yt)

    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimiser, *lr_decay) if lr_decay else None
    history = FitHistory()
    best = float("inf")
    best_state = copy.deepcopy(model.state_dict())
    bad = 0
    start = 0
    path = Path(checkpoint) if checkpoint is not None else None
    fp = _fingerprint(model, train["x"].values, train["y"].values, batch_size, lr, seed, lr_decay, dequantize)

    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        shuffle = torch.Generator().manual_seed(seed)
        if dequantize:  # one fixed draw for validation, so that epochs compare on the same targets
            jitter = torch.Generator().manual_seed(seed + 1)
            yv = yv + (torch.rand(yv.shape, generator=jitter, dtype=yv.dtype) - 0.5).to(dev)
        zv = model.to_target(yv)
        if path is not None and path.exists():
            state = read(path, "checkpoint", "; delete it to start over", map_location=dev, weights_only=True)
            if state.get("fingerprint") != fp:
                raise ValueError(
                    f"checkpoint {path} was written for other data, options, model or seed; "
                    "remove it or give another checkpoint path"
                )
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            history = FitHistory(**state["history"])
            best, best_state, bad, start = state["best"], state["best_state"], state["bad"], state["epoch"]
            shuffle.set_state(state["shuffle"])
            torch.set_rng_state(state["rng"])
            if dev.type == "cuda" and state.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(state["cuda_rng"], dev)
        if history.stopped_early:
            model.load_state_dict(best_state)
            return history
        n = xt.shape[0]
        bar = tqdm(
            total=epochs, initial=min(start, epochs), desc="fit", unit="epoch", disable=None if progress is None else not progress
        )
        try:
            for epoch in range(start, epochs):
                t = time.perf_counter()
                model.train()
                order = torch.randperm(n, generator=shuffle).to(dev)
                total = torch.zeros((), dtype=torch.float64, device=dev)
                for lo in range(0, n, batch_size):
                    idx = order[lo : lo + batch_size]
                    if dequantize:
                        yb = yt[idx]
                        zb = model.to_target(yb + torch.rand(yb.shape, device=dev, dtype=yb.dtype) - 0.5)
                    else:
                        zb = zt[idx]
                    loss = model.nll(xt[idx], zb).mean()
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    model.apply_max_norm()
                    total += loss.detach().double() * idx.numel()
                if scheduler is not None:
                    scheduler.step()
                train_loss = float(total) / n
                val_loss = evaluate(model, xv, zv)
                if not np.isfinite(train_loss):
                    raise FloatingPointError(
                        f"the training loss became {train_loss} in epoch {epoch}: lower lr or raise min_scale"
                    )
                history.train_loss.append(train_loss)
                history.val_loss.append(val_loss)
                history.seconds.append(time.perf_counter() - t)
                if val_loss < best:
                    best, bad, history.best_epoch = val_loss, 0, epoch
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad += 1
                history.stopped_early = patience is not None and bad >= patience
                if path is not None:
                    save_atomic(
                        path,
                        {
                            "fingerprint": fp,
                            "epoch": epoch + 1,
                            "model": model.state_dict(),
                            "optimiser": optimiser.state_dict(),
                            "scheduler": scheduler.state_dict() if scheduler is not None else None,
                            "history": copy.deepcopy(vars(history)),
                            "best": best,
                            "best_state": best_state,
                            "bad": bad,
                            "shuffle": shuffle.get_state(),
                            "rng": torch.get_rng_state(),
                            "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
                        },
                    )
                bar.update(1)
                bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
                if callback is not None:
                    callback(epoch, history)
                if history.stopped_early:
                    break
        except KeyboardInterrupt:
            if path is not None:
                print(f"pycrn: training interrupted; {path} resumes it from epoch {len(history.train_loss)}", file=sys.stderr)
            raise
        finally:
            bar.close()
    model.load_state_dict(best_state)
    model.eval()
    return history


@torch.no_grad()
def evaluate(model: MDN, x: torch.Tensor, z: torch.Tensor, batch: int = 1 << 16) -> float:
    """Mean NLL of standardised targets ``z`` given ``x``, without noise or dropout."""
    was = model.training
    model.eval()
    total = 0.0
    for lo in range(0, x.shape[0], batch):
        total += float(model.nll(x[lo : lo + batch], z[lo : lo + batch]).double().sum())
    model.train(was)
    return total / max(1, x.shape[0])
