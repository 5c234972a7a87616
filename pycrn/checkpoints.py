"""Atomic checkpoint files for the trainers (abstraction, deepska)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch


def save_atomic(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary file, then rename: an interrupted save never leaves a half-written checkpoint."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def fingerprint(arrays, extra: object) -> str:
    """A hash of the training data (arrays) and everything else a resumed run must share (``repr(extra)``).

    A checkpoint records it; resuming with other data, options or seed is refused.
    """
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(extra).encode())
    return h.hexdigest()
