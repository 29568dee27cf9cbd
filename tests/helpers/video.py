"""Pieces of the video tests: the quickstart video config, the tiny video model's config and
synthetic clips."""

from typing import Sequence

import torch
from detectron2.config import CfgNode, get_cfg
from detectron2.structures import BitMasks, Instances

from helpers.configs import make_tiny_cfg
from helpers.paths import QUICKSTART_CONFIGS
from mask2former.video import add_maskformer2_video_config, add_video_model_config

QUICKSTART_VIDEO = str(QUICKSTART_CONFIGS / "video.yaml")


def load_video_cfg(path: str = QUICKSTART_VIDEO, opts: Sequence[str] = ()) -> CfgNode:
    """The video config of the YAML file ``path``, then ``opts`` (KEY VALUE pairs)."""
    cfg = get_cfg()
    add_video_model_config(cfg)
    cfg.merge_from_file(path)
    cfg.merge_from_list(list(opts))
    return cfg


def make_tiny_video_cfg(num_frames: int = 2, num_classes: int = 5):
    """make_tiny_cfg's Mask2Former (ResNet-18, 32 channels, 8 queries, 3 decoder layers) as
    the video model, trained on clips of ``num_frames`` frames, predicting instances."""
    cfg = make_tiny_cfg(num_classes=num_classes)
    add_maskformer2_video_config(cfg)
    cfg.MODEL.META_ARCHITECTURE = "VideoMaskFormer"
    cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME = "VideoMultiScaleMaskedTransformerDecoder"
    cfg.MODEL.MASK_FORMER.TEST.SEMANTIC_ON = False
    cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = True
    cfg.INPUT.SAMPLING_FRAME_NUM = num_frames
    return cfg


def clip_instances(ids, classes, masks) -> list:
    """Per-frame Instances as the video mapper makes them: ``ids`` (T, N) with -1 where an
    object is absent, ``classes`` (N,), ``masks`` (T, N, H, W) bool."""
    frames = []
    for frame_ids, frame_masks in zip(ids, masks):
        inst = Instances(tuple(frame_masks.shape[-2:]))
        inst.gt_ids = torch.as_tensor(frame_ids, dtype=torch.int64)
        inst.gt_classes = torch.as_tensor(classes, dtype=torch.int64)
        inst.gt_masks = BitMasks(frame_masks)
        inst.gt_boxes = inst.gt_masks.get_bounding_boxes()
        frames.append(inst)
    return frames


def random_frames(num_frames: int, h: int = 64, w: int = 64, seed: int = 0) -> list:
    """``num_frames`` random uint8 (3, h, w) images."""
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g) for _ in range(num_frames)
    ]
