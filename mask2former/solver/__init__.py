"""Optimizer and learning-rate schedule of MaskFormer / Mask2Former training."""

from .lr_scheduler import WarmupPolyLR, apply_schedule, build_lr_scheduler
from .optimizer import OPTIMIZER_REGISTRY, build_optimizer, get_param_groups

__all__ = [
    "OPTIMIZER_REGISTRY",
    "build_optimizer",
    "build_lr_scheduler",
    "get_param_groups",
    "apply_schedule",
    "WarmupPolyLR",
]
