"""The meta-architecture (registered in Detectron2's META_ARCH_REGISTRY on import)."""

from .maskformer import MaskFormer

__all__ = ["MaskFormer"]
