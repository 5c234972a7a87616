"""Atomic checkpoint files for the trainers (abstraction, deepska)."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_atomic(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary file, then rename: an interrupted save never leaves a half-written checkpoint."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
