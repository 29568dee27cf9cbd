"""Detectron2's single-step trainers, stopping on a non-finite loss with the term's name."""
import math
from typing import Mapping, Optional

import torch
from detectron2.engine import AMPTrainer, SimpleTrainer

from ..errors import UserError


class LossDivergedError(UserError, FloatingPointError):
    """A loss term became NaN or infinite during training."""


class _FiniteLossCheck:
    """Mixin for :class:`SimpleTrainer` subclasses: before the optimizer step, raise
    :class:`LossDivergedError` (a ``FloatingPointError``) naming every NaN or infinite loss
    term and the iteration.

    Detectron2 checks only the sum of the losses, on the main process, and reports the whole
    loss dict; this check runs on every process, so any rank stops (and the launcher ends the
    others) instead of taking a step with a broken gradient."""

    def _write_metrics(
        self,
        loss_dict: Mapping[str, torch.Tensor],
        data_time: float,
        prefix: str = "",
        iter: Optional[int] = None,  # noqa: A002 (Detectron2's argument name)
    ) -> None:
        iteration = self.iter if iter is None else iter
        values = {name: float(loss.detach()) for name, loss in loss_dict.items()}
        bad = {name: value for name, value in values.items() if not math.isfinite(value)}
        if bad:
            terms = ", ".join(f"{name}={value}" for name, value in bad.items())
            raise LossDivergedError(
                f"The loss diverged at iteration {iteration}: {terms}. Stopping training "
                "before the optimizer step; lower SOLVER.BASE_LR, enable "
                f"SOLVER.CLIP_GRADIENTS or check the data. All loss terms: {values}"
            )
        super()._write_metrics(loss_dict, data_time, prefix, iter)


class MaskFormerSimpleTrainer(_FiniteLossCheck, SimpleTrainer):
    """Detectron2's :class:`SimpleTrainer` with the per-term finite-loss check."""


class MaskFormerAMPTrainer(_FiniteLossCheck, AMPTrainer):
    """Detectron2's :class:`AMPTrainer` (CUDA mixed precision) with the per-term finite-loss check."""
