"""Atomic checkpoints and the per-term finite-loss check of the training loop."""
import os

import pytest
import torch
from torch import nn

from mask2former.engine import AtomicCheckpointer, MaskFormerSimpleTrainer
from mask2former.engine import checkpointer as checkpointer_module


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

    monkeypatch.setattr(checkpointer_module.torch, "save", crash_midway)
    with torch.no_grad():
        model.weight.add_(1.0)
    for name in ("model_0000019", "model_0000009"):  # a new file, and overwriting the old one
        with pytest.raises(KeyboardInterrupt):
            ckpt.save(name, iteration=19)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    assert (tmp_path / "model_0000009.pth").read_bytes() == good_bytes


class _LossModel(nn.Module):
    """Returns a finite "loss_ce" and a "loss_dice" that becomes NaN at ``nan_at_call``."""

    def __init__(self, nan_at_call):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))
        self.nan_at_call = nan_at_call
        self.calls = 0

    def forward(self, batch):
        dice = self.weight * 2.0
        if self.calls == self.nan_at_call:
            dice = dice * float("nan")
        self.calls += 1
        return {"loss_ce": self.weight * 1.0, "loss_dice": dice}


def test_non_finite_loss_names_term_and_iteration():
    model = _LossModel(nan_at_call=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = MaskFormerSimpleTrainer(model, [[{}]] * 10, optimizer)
    with pytest.raises(FloatingPointError, match=r"iteration 2: loss_dice=nan") as info:
        trainer.train(0, 10)
    assert "loss_ce" not in str(info.value).split("Stopping")[0]  # only the bad term is named
    # two steps of lr 0.1 with gradient 3 were taken; the NaN step was not
    assert model.weight.item() == pytest.approx(1.0 - 2 * 0.3)


def test_finite_losses_train_normally():
    model = _LossModel(nan_at_call=-1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    MaskFormerSimpleTrainer(model, [[{}]] * 10, optimizer).train(0, 3)
    assert model.weight.item() == pytest.approx(1.0 - 3 * 0.3)
