"""Learning-rate schedules for :func:`pycrn.signaling.fit` other than the default cosine with warm restarts.

:class:`OneCycle` is the schedule of the LEMBAS authors' ligand-screen
cross-validation script (Nilsson et al., "Artificial neural networks enable
genome-scale simulations of intracellular signaling", 2022; their
``oneCycle`` with 8,000 epochs, peak 1,000): a cosine rise from ``start``
times the peak rate to the peak, a cosine fall to ``end`` times the peak at
95 % of the run, then flat; Adam's moment estimates are discarded every
``reset_every`` epochs, as their script does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class OneCycle:
    """A one-cycle learning rate over a run of ``epochs`` epochs, set per epoch.

    Parameters
    ----------
    epochs
        Length of the whole schedule. ``fit(..., epochs=e)`` with ``e`` below
        it trains the first ``e`` epochs of this schedule, so a shorter run
        can be continued to the full one from its checkpoint.
    peak
        Epoch at which the rate reaches ``fit``'s ``lr``.
    start, end
        Rate at epoch 0 and from 95 % of ``epochs`` on, as fractions of ``lr``
        (the authors': 1e-4 and 1e-5 against a peak of 1e-3).
    reset_every
        Discard Adam's moment estimates after every ``reset_every``-th epoch
        (after epochs 200, 400, ... for 200, the epoch index counted from 0, as
        in the authors' script); ``None`` never.
    """

    epochs: int
    peak: int
    start: float = 0.1
    end: float = 0.01
    reset_every: int | None = None

    def __post_init__(self) -> None:
        if int(self.epochs) < 1:
            raise ValueError(f"OneCycle epochs must be a positive integer, got {self.epochs!r}")
        if not 0 < int(self.peak) < 0.95 * self.epochs:
            raise ValueError(f"OneCycle peak must lie in 1..{math.ceil(0.95 * self.epochs) - 1} "
                             f"(before the final 5 % of {self.epochs} epochs), got {self.peak!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"OneCycle {name} is a fraction of the peak rate in (0, 1], got {value!r}")
        if self.reset_every is not None and int(self.reset_every) < 1:
            raise ValueError(f"OneCycle reset_every must be a positive number of epochs or None, got {self.reset_every!r}")

    def rate(self, epoch: int, lr: float) -> float:
        """The learning rate during epoch ``epoch`` (counted from 0) for peak rate ``lr``."""
        fall_end = 0.95 * self.epochs
        if epoch <= self.peak:
            s = epoch / self.peak
            return lr * (self.start + (1 - self.start) * 0.5 * (1 - math.cos(math.pi * s)))
        if epoch <= fall_end:
            s = (epoch - self.peak) / (fall_end - self.peak)
            return lr * (self.end + (1 - self.end) * 0.5 * (1 + math.cos(math.pi * s)))
        return lr * self.end

    def resets_after(self, epoch: int) -> bool:
        """Whether Adam's state is discarded after epoch ``epoch`` (counted from 0)."""
        return self.reset_every is not None and epoch > 0 and epoch % self.reset_every == 0

    def as_dict(self) -> dict:
        return asdict(self)
