"""Detectron2's single-step trainers, stopping on a non-finite loss with the term's name."""
import math
from typing import Mapping

import torch
from detectron2.engine import AMPTrainer, SimpleTrainer

from ..errors import UserError


class LossDivergedError(UserError, FloatingPointError):
    """A loss term became NaN or infinite during training."""


class _FiniteLossCheck:
    """Mixin for :class:`SimpleTrainer` subclasses: when the model returns its loss dict,
    raise :class:`LossDivergedError` (a ``FloatingPointError``) naming every NaN or infinite
    loss term and the iteration, before the backward pass and the optimizer step.

    Detectron2 checks only the sum of the losses, on the main process, and reports the whole
    loss dict; this check runs on every process, so any rank stops (and the launcher ends the
    others) instead of taking a step with a broken gradient. It is a forward hook of the
    model, so it sees the loss dict of every training forward pass, whatever calls it."""

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        model.register_forward_hook(self._check_losses)

    def _check_losses(self, model: torch.nn.Module, inputs, outputs) -> None:
        if not model.training or not isinstance(outputs, Mapping) or not outputs:
            return  # inference outputs
        losses = torch.stack([loss.detach().float().reshape(()) for loss in outputs.values()])
        if bool(torch.isfinite(losses).all()):  # one device sync for all terms
            return
        values = {name: float(loss.detach()) for name, loss in outputs.items()}
        terms = ", ".join(f"{name}={value}" for name, value in values.items() if not math.isfinite(value))
        raise LossDivergedError(
            f"The loss diverged at iteration {self.iter}: {terms}. Stopping training before "
            "the optimizer step; lower SOLVER.BASE_LR, enable SOLVER.CLIP_GRADIENTS or check "
            f"the data. All loss terms: {values}"
        )


class MaskFormerSimpleTrainer(_FiniteLossCheck, SimpleTrainer):
    """Detectron2's :class:`SimpleTrainer` with the per-term finite-loss check."""


class MaskFormerAMPTrainer(_FiniteLossCheck, AMPTrainer):
    """Detectron2's :class:`AMPTrainer` (CUDA mixed precision) with the per-term finite-loss check."""
