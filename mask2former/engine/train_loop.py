"""Detectron2's single-step trainers, stopping on a non-finite loss with the term's name, and
bfloat16 autocast training on CPU."""

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
        terms = ", ".join(
            f"{name}={value}" for name, value in values.items() if not math.isfinite(value)
        )
        raise LossDivergedError(
            f"The loss diverged at iteration {self.iter}: {terms}. Stopping training before "
            "the optimizer step; lower SOLVER.BASE_LR, enable SOLVER.CLIP_GRADIENTS or check "
            f"the data. All loss terms: {values}"
        )


class MaskFormerSimpleTrainer(_FiniteLossCheck, SimpleTrainer):
    """Detectron2's :class:`SimpleTrainer` with the per-term finite-loss check."""


class MaskFormerAMPTrainer(_FiniteLossCheck, AMPTrainer):
    """Detectron2's :class:`AMPTrainer` (CUDA mixed precision) with the per-term finite-loss check."""


class _CPUAutocast:
    """Mixin for :class:`SimpleTrainer` subclasses: every training-mode forward pass of the model
    (losses included) runs under ``torch.autocast("cpu", dtype=torch.bfloat16)``; the backward
    pass and the optimizer step run outside it, as in Detectron2's :class:`AMPTrainer`.

    bfloat16 has float32's exponent range, so no gradient scaling is needed. Autocast keeps
    what it lists as precision-sensitive in float32, which includes the point sampling
    (``grid_sample``) and the losses on the sampled points; the Hungarian matcher computes its
    costs in float32 with autocast off. Eval-mode forward passes (the evaluation hook) stay in
    float32. Like :class:`_FiniteLossCheck` it is a pair of forward hooks of the model, so it
    applies to every training forward pass, whatever calls it."""

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        self._autocast = None
        model.register_forward_pre_hook(self._enter_autocast)
        # always_call: a forward pass that raises leaves autocast too
        model.register_forward_hook(self._exit_autocast, always_call=True)

    def _enter_autocast(self, model: torch.nn.Module, inputs) -> None:
        if model.training:
            self._autocast = torch.autocast("cpu", dtype=torch.bfloat16)
            self._autocast.__enter__()

    def _exit_autocast(self, model: torch.nn.Module, inputs, outputs) -> None:
        if self._autocast is not None:
            autocast, self._autocast = self._autocast, None
            autocast.__exit__(None, None, None)


class MaskFormerCPUAMPTrainer(_FiniteLossCheck, _CPUAutocast, SimpleTrainer):
    """:class:`SimpleTrainer` whose training forward passes run under bfloat16 autocast on the
    CPU (``SOLVER.AMP.ENABLED`` with ``MODEL.DEVICE cpu``), with the per-term finite-loss check."""
