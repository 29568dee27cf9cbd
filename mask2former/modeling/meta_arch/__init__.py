"""Heads (registered in Detectron2's SEM_SEG_HEADS_REGISTRY on import) and, through
``mask2former.maskformer_model``, the MaskFormer meta-architecture (META_ARCH_REGISTRY)."""
from ...maskformer_model import MaskFormer
from .mask_former_head import MaskFormerHead
from .per_pixel_baseline import PerPixelBaselineHead, PerPixelBaselinePlusHead
