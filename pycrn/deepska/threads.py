"""The number of threads torch runs DeepSKA's work with.

Training sums the loss's gradient over tens of thousands of rows, and torch
splits such sums between its threads; another split rounds differently, and
training amplifies the difference. After 20 Adam steps on the antithetic
controller, SDnets trained with one and with two threads differed by 0.04 in
their parameters, so a result would depend on the machine's core count.
DeepSKA's public functions therefore run torch with a fixed number of
threads (default 1), whatever the process's setting, and restore that
setting afterwards.

One thread is also the faster choice at these sizes on the 2-core
development machine: ``benchmarks/bench_deepska.py --threads`` times a
training step and DeepIS with one and with two threads, paired, idle and
with the other core busy (README, DeepSKA section).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

from ..runner import check_count

F = TypeVar("F", bound=Callable)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``; the previous number is restored after it."""
    threads = check_count(threads, "threads")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def uses_torch_threads(fn: F) -> F:
    """Run ``fn`` under :func:`torch_threads` with the value of its ``threads`` parameter."""
    signature = inspect.signature(fn)
    default = signature.parameters["threads"].default

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        threads = signature.bind(*args, **kwargs).arguments.get("threads", default)
        with torch_threads(threads):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
