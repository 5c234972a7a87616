"""Exact SSA paths for the DeepSKA estimators, laid out as flat records for vectorised path integrals."""

from __future__ import annotations

import functools

import numpy as np

from ..engines.rng import seed_states
from ..errors import SimulationError
from ..methods import resolve
from ..network import ReactionNetwork
from ..problem import Problem
from ..runner import EVENT_CAPACITY, Stop, compiled, interruptible, records_that_fit
from ..status import Status, raise_for_status


def simulate_paths(net: ReactionNetwork, x0: np.ndarray, T: float, seq, first: int, count: int):
    """Trajectories ``first .. first + count - 1`` of ``seq`` on ``[0, T]`` (Direct method), every jump recorded.

    Trajectory ``i`` uses the same random stream as trajectory ``i`` of
    ``pycrn.simulate(..., seed=seq)``, so it is the same path. Returns a list
    of ``(times, states)``.
    """
    m = resolve("direct", net=net)
    problem = Problem.build(net, dict(zip(net.species_names, x0.tolist())), (0.0, T), None, None)
    module, arrays, p = compiled(problem, m)
    opts = m.kernel_options()
    stop = Stop()
    states = seed_states(seq, count, start=first)
    kernel = functools.partial(module.simulate_events, arrays, problem.x0, p, 0.0, T)

    budget, fits = opts[1], records_that_fit(problem.x0.size)  # the paths of a batch share the memory

    def batch() -> list:
        # All paths in one helper thread: a thread per path cost about 10x the Direct method's own time.
        done, kept = [], 0
        for i in range(count):
            opts[1] = min(budget, fits - kept)
            done.append(kernel(states[i], EVENT_CAPACITY, opts, stop.flag))
            kept += done[-1][2]
            if done[-1][3] != 0:
                break
        return done

    out = []
    for t, xs, c, code, x_end, t_end in interruptible(batch, stop):
        if code == Status.BUDGET and opts[1] < budget:
            raise SimulationError(
                f"the SSA paths recorded {sum(len(r[0]) for r in out) + int(c):,} jumps by t={float(t_end):.6g} "
                f"(of {T:.6g}), as many as fit in the memory available; use fewer samples or a shorter horizon"
            )
        if code != 0:
            raise_for_status(net, p, x_end, float(t_end), int(code), budget=m.max_steps, tf=T, method=m.name)
        out.append((t[:c], xs[:c]))
    return out


class Records:
    """Paths as one flat table: every jump, plus a pseudo-record at each of ``times`` (state unchanged).

    The pseudo-records split each holding interval at the ``times``, so that
    every interval ``[t[j], nxt[j])`` lies between two consecutive ``times``;
    the last record of each trajectory is its pseudo-record at ``times[-1]``.

    Attributes
    ----------
    traj, t, x
        Trajectory index, time and state (after the jump) of each record, sorted by trajectory then time.
    real, is_jump, last
        Whether a record is a jump or the start (not a pseudo-record); a jump
        (not a trajectory's start); its trajectory's last record.
    nxt
        The next record's time (``inf`` for a trajectory's last record).
    uniq, inv
        The distinct states and each record's index into them.
    """

    def __init__(self, paths: list[tuple[np.ndarray, np.ndarray]], times: np.ndarray) -> None:
        nt = times.size
        self.count, self.times = len(paths), times
        traj = np.concatenate([np.full(len(t) + nt, i) for i, (t, _) in enumerate(paths)])
        rec_t = np.concatenate([np.concatenate([t, times]) for t, _ in paths])
        real = np.concatenate([np.concatenate([np.ones(len(t), bool), np.zeros(nt, bool)]) for t, _ in paths])
        rec_x = np.concatenate([np.concatenate([x, np.zeros((nt, x.shape[1]), x.dtype)]) for _, x in paths])
        order = np.lexsort((~real, rec_t, traj))  # real records before pseudo ones at equal times
        self.traj, self.t, self.real = traj[order], rec_t[order], real[order]
        self.x = rec_x[order][np.maximum.accumulate(np.where(self.real, np.arange(self.real.size), 0))]
        first = np.r_[True, self.traj[1:] != self.traj[:-1]]
        self.is_jump = self.real & ~first
        self.last = np.r_[self.traj[1:] != self.traj[:-1], True]
        self.nxt = np.r_[self.t[1:], np.inf]
        self.nxt[self.last] = np.inf
        self.uniq, self.inv = unique_rows(self.x)

    def states_at_times(self) -> np.ndarray:
        """``X(times[i])`` of every trajectory: (count, times, species)."""
        return self.x[~self.real].reshape(self.count, self.times.size, -1)

    def holding(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the records that start a holding interval, and the intervals' lengths."""
        h = np.flatnonzero(~self.last)
        return h, self.nxt[h] - self.t[h]


def unique_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a count array and the inverse index; an integer key per row where it fits (fast)."""
    low = x.min(0)
    span = x.max(0) - low + 1
    if float(np.prod(span.astype(np.float64))) < 2.0**62:
        weights = np.cumprod(np.r_[1, span[:-1]]).astype(np.int64)
        _, first, inv = np.unique((x - low) @ weights, return_index=True, return_inverse=True)
        return x[first], inv.reshape(-1)
    uniq, inv = np.unique(x, axis=0, return_inverse=True)
    return uniq, inv.reshape(-1)


def exp_integral(sigma: np.ndarray, start: np.ndarray, width: np.ndarray) -> np.ndarray:
    """``int_start^{start + width} e^{-sigma tau} d tau`` for complex rates ``sigma`` (modes) and intervals (n): (n, modes).

    Written as ``e^{-sigma start} (1 - e^{-sigma width}) / sigma`` with ``expm1``,
    accurate for short intervals and small rates alike.
    """
    sigma = np.asarray(sigma, dtype=np.complex128)
    s, w = start[:, None], width[:, None]
    nonzero = np.abs(sigma) > 0
    safe = np.where(nonzero, sigma, 1.0)
    return np.exp(-sigma * s) * np.where(nonzero, -np.expm1(-sigma * w) / safe, w)
