"""Atomic checkpoints: an interrupted save never leaves a corrupt file or tag."""

import os

import pytest
import torch
from torch import nn

from mask2former.engine import AtomicCheckpointer


def _checkpointer(tmp_path, model):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return AtomicCheckpointer(model, str(tmp_path), optimizer=optimizer)


def test_save_tags_and_loads(tmp_path):
    model = nn.Linear(3, 2)
    ckpt = _checkpointer(tmp_path, model)
    ckpt.save("model_0000009", iteration=9)
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    assert ckpt.has_checkpoint()
    loaded = torch.load(ckpt.get_checkpoint_file(), weights_only=False)
    assert loaded["iteration"] == 9
    torch.testing.assert_close(loaded["model"]["weight"], model.weight.detach())
    assert "optimizer" in loaded
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]  # no temp files


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model = nn.Linear(3, 2)
    ckpt = _checkpointer(tmp_path, model)
    ckpt.save("model_0000009", iteration=9)
    good_bytes = (tmp_path / "model_0000009.pth").read_bytes()

    def crash_midway(data, f):
        f.write(b"half of a checkpoint")
        raise KeyboardInterrupt  # as if the job were stopped while writing

    monkeypatch.setattr(torch, "save", crash_midway)
    with torch.no_grad():
        model.weight.add_(1.0)
    for name in ("model_0000019", "model_0000009"):  # a new file, and overwriting the old one
        with pytest.raises(KeyboardInterrupt):
            ckpt.save(name, iteration=19)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    assert (tmp_path / "model_0000009.pth").read_bytes() == good_bytes
