"""Segmentation heads (registered in Detectron2's SEM_SEG_HEADS_REGISTRY on import): the
mask-classification head (a pixel decoder plus a transformer decoder) and MaskFormer's
per-pixel classification baselines."""

from .mask_former_head import MaskFormerHead
from .per_pixel_baseline import PerPixelBaselineHead, PerPixelBaselinePlusHead

__all__ = ["MaskFormerHead", "PerPixelBaselineHead", "PerPixelBaselinePlusHead"]
