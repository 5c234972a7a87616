"""Atomic checkpoint files for the trainers (abstraction, deepska, signaling)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch


def save_atomic(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary file, then rename: an interrupted save never leaves a half-written checkpoint.

    The temporary file has a unique name in the checkpoint's folder (a rename is atomic only within one file
    system), so two processes saving the same path never write into one file; it is removed if the save fails.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fingerprint(arrays, extra: object) -> str:
    """A hash of the training data (arrays) and everything else a resumed run must share (``repr(extra)``).

    A checkpoint records it; resuming with other data, options or seed is refused.
    """
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(extra).encode())
    return h.hexdigest()
