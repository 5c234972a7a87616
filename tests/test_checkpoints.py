"""The trainers' checkpoint file: a save either replaces it whole or leaves it as it was."""

from __future__ import annotations

import pytest
import torch

from pycrn import checkpoints


def test_an_interrupted_save_keeps_the_previous_checkpoint_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "fold0.pt"
    checkpoints.save_atomic(path, {"epoch": 1})
    real_save = torch.save

    def interrupted(state, f):
        real_save({"epoch": "half"}, f)  # bytes reach the temporary file before the interrupt
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save_atomic(path, {"epoch": 2})
    monkeypatch.undo()
    assert torch.load(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold0.pt"]
    checkpoints.save_atomic(path, {"epoch": 3})
    assert torch.load(path)["epoch"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold0.pt"]


def test_saves_of_one_path_write_separate_temporaries(tmp_path, monkeypatch):
    # Two processes resuming the same run must not write into one temporary file and rename a mixture.
    seen = []
    real_save = torch.save

    def record(state, f):
        seen.append(str(f))
        real_save(state, f)

    monkeypatch.setattr(checkpoints.torch, "save", record)
    for epoch in range(3):
        checkpoints.save_atomic(tmp_path / "run.pt", {"epoch": epoch})
    assert len(set(seen)) == 3
    assert all(s.startswith(str(tmp_path / "run.pt.")) for s in seen)
