"""Backbone configs: the ResNet variants and Swin sizes of the published configs, and a tiny
Swin that runs in milliseconds."""

from detectron2.config import get_cfg
from detectron2.modeling import build_backbone

from mask2former import add_maskformer2_config


def resnet_cfg(depth: int, norm: str = "FrozenBN", deeplab: bool = False):
    """MODEL.RESNETS / BACKBONE values of the published R50, R101 and R101c configs."""
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.RESNETS.NORM = norm
    if deeplab:  # "R101c": deep 3x3 stem, multi-grid res5
        cfg.MODEL.BACKBONE.NAME = "build_resnet_deeplab_backbone"
        cfg.MODEL.RESNETS.STEM_TYPE = "deeplab"
        cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 128
        cfg.MODEL.RESNETS.RES5_MULTI_GRID = [1, 2, 4]
    else:
        cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
        cfg.MODEL.RESNETS.STEM_TYPE = "basic"
        cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 64
    return cfg


def swin_cfg(embed_dim, depths, num_heads, window_size, pretrain_img_size=224, **overrides):
    """A D2SwinTransformer backbone config of these MODEL.SWIN values; ``overrides`` sets
    further MODEL.SWIN keys (``DROP_PATH_RATE=0.3``)."""
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    cfg.MODEL.SWIN.EMBED_DIM = embed_dim
    cfg.MODEL.SWIN.DEPTHS = depths
    cfg.MODEL.SWIN.NUM_HEADS = num_heads
    cfg.MODEL.SWIN.WINDOW_SIZE = window_size
    cfg.MODEL.SWIN.PRETRAIN_IMG_SIZE = pretrain_img_size
    for key, value in overrides.items():
        setattr(cfg.MODEL.SWIN, key, value)
    return cfg


def tiny_swin(**overrides):
    """4 stages, 8..64 channels, window 3: runs in milliseconds."""
    return build_backbone(swin_cfg(8, [2, 2, 2, 2], [1, 2, 2, 4], 3, **overrides)).eval()
