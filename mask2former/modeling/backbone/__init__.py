"""Backbones. Importing this package registers them with Detectron2's BACKBONE_REGISTRY:

- ``D2SwinTransformer`` (Swin-T/S/B/L), defined here;
- ``build_resnet_backbone`` (Detectron2's ResNet, used by the R50 / R101 configs);
- ``build_resnet_deeplab_backbone`` (DeepLab-style ResNet with deep stem and multi-grid res5,
  used by the "R101c" configs), from ``detectron2.projects.deeplab``.
"""

from detectron2.modeling.backbone import build_resnet_backbone  # noqa: F401
from detectron2.projects.deeplab import build_resnet_deeplab_backbone  # noqa: F401

from .swin import D2SwinTransformer

__all__ = ["D2SwinTransformer", "build_resnet_backbone", "build_resnet_deeplab_backbone"]
