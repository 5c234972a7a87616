"""Serial or multi-threaded kernels, chosen by measured speed while they run.

Every signaling kernel has a serial and a multi-threaded variant with
bit-identical results (:mod:`.kernels`), so the choice between them is only
about speed, and that depends on whether the threads get cores. On an idle
machine the threaded forward step is 1.3-1.6x faster from 10,000 edges on;
on a machine busy with other work each parallel step waits at its barrier
for a thread that is not running, and was measured up to 50x slower than the
serial step (numba's OpenMP threads spinning at the barriers made it worse:
see :data:`WAIT_POLICY`). A fixed rule cannot know the load, so
:class:`Chooser` times the calls: it runs the variant that was faster
lately and re-times the other one now and then, at intervals that double
while it stays slower (so a bad variant costs little) and shrink again when
it wins (so a machine that becomes idle gets its threads back).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

#: OpenMP runtimes read OMP_WAIT_POLICY once, when they start: numba's
#: threading layer at the first parallel kernel, torch's own runtime when torch
#: is imported (so this takes effect for torch only if ``pycrn.signaling`` is
#: imported first, or the variable is set in the environment). PASSIVE puts
#: waiting threads to sleep instead of spinning on the core that the thread
#: they wait for needs. On a loaded 2-core machine the 1,000-node forward took
#: 1,570 ms spinning and 16.6 ms passive. A value the user set is kept.
WAIT_POLICY = "PASSIVE"
os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)

#: Calls between re-timings of the slower variant: the first interval and the largest.
FIRST_RETRY, MAX_RETRY = 8, 256
#: Weight of a new timing in the running estimate of the variant in use.
SMOOTHING = 0.3
#: The threaded variant is preferred only when it is faster by this factor: timings on a shared
#: machine vary by tens of percent from call to call, and a marginal gain is not worth a flip.
MARGIN = 0.9


@dataclass
class _Timings:
    seconds: list  # [serial, parallel]: running estimates, None until timed
    ran: list = field(default_factory=lambda: [False, False])  # a variant's first call (compilation) is not timed
    calls: int = 0
    next_retry: int = FIRST_RETRY
    interval: int = FIRST_RETRY


class Chooser:
    """Per problem (a hashable key: kernel and size), the variant that ran faster lately."""

    def __init__(self) -> None:
        self._timings: dict[Hashable, _Timings] = {}

    def choose(self, key: Hashable) -> bool:
        """Whether the next call of problem ``key`` should run multi-threaded."""
        t = self._timings.setdefault(key, _Timings([None, None]))
        serial, parallel = t.seconds
        if parallel is None:
            return True
        if serial is None:
            return False
        preferred = parallel < MARGIN * serial
        t.calls += 1
        if t.calls >= t.next_retry:
            t.next_retry = t.calls + t.interval
            return not preferred  # re-time the other variant
        return preferred

    def record(self, key: Hashable, parallel: bool, seconds: float) -> None:
        """Account a call of problem ``key`` that took ``seconds``."""
        t = self._timings.setdefault(key, _Timings([None, None]))
        i = int(parallel)
        if not t.ran[i]:
            t.ran[i] = True  # its first call compiled or loaded it from the cache: not a timing of the kernel
            return
        if None in t.seconds:
            t.seconds[i] = seconds if t.seconds[i] is None else t.seconds[i]
            return
        retimed = parallel != (t.seconds[1] < MARGIN * t.seconds[0])
        if retimed:
            # A re-timing of the variant not in use: the fresh value replaces its old one.
            t.seconds[i] = seconds
            wins = parallel == (t.seconds[1] < MARGIN * t.seconds[0])
            t.interval = FIRST_RETRY if wins else min(2 * t.interval, MAX_RETRY)
            t.next_retry = t.calls + t.interval
        else:
            t.seconds[i] = (1.0 - SMOOTHING) * t.seconds[i] + SMOOTHING * seconds

    def run(self, key: Hashable, call: Callable[[bool], Any]) -> Any:
        """``call(parallel)`` with the chosen variant, timed."""
        parallel = self.choose(key)
        start = time.perf_counter()
        out = call(parallel)
        self.record(key, parallel, time.perf_counter() - start)
        return out

    def estimates(self, key: Hashable) -> tuple[float | None, float | None]:
        """The running (serial, parallel) seconds per call of problem ``key``."""
        t = self._timings.get(key)
        return (None, None) if t is None else (t.seconds[0], t.seconds[1])
