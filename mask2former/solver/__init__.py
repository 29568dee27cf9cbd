"""Optimizer and learning-rate schedule of MaskFormer / Mask2Former training."""
from detectron2.projects.deeplab import build_lr_scheduler  # WarmupPolyLR, or Detectron2's

from .optimizer import build_optimizer, get_param_groups

__all__ = ["build_optimizer", "build_lr_scheduler", "get_param_groups"]
