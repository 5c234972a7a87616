"""Atomic checkpoint files for the trainers (abstraction, deepska, signaling)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

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


def read(path: Path, what: str, advice: str = "", **options: Any) -> Any:
    """``torch.load(path, **options)``; a file torch cannot read is a ValueError naming ``what`` and the path.

    torch raises pickle, zip, struct, EOF and runtime errors for a damaged, truncated or foreign file;
    ``advice`` (e.g. "; delete it to start over") ends the message.
    """
    try:
        return torch.load(path, **options)
    except Exception as exc:  # noqa: BLE001 - see above
        raise ValueError(f"{what} {path} cannot be read ({type(exc).__name__}: {exc}){advice}") from None
