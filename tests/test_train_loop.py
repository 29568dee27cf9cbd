"""The training loop: a NaN or infinite loss term stops training with its name and iteration
(AMP on CPU: tests/test_train_cpu_amp.py)."""

import pytest
import torch
from torch import nn

from mask2former.engine import MaskFormerSimpleTrainer


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
