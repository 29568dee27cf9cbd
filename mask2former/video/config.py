"""Config keys of the video instance segmentation model.

``add_maskformer2_video_config(cfg)`` adds the keys of the published release's function of the
same name, with its defaults, to a config that already has ``add_maskformer2_config``'s keys,
plus this project's settings of clip-wise inference (``MODEL.MASK_FORMER.TEST.CLIP_LENGTH``,
``CLIP_OVERLAP``), whose defaults keep the published one-pass inference.
"""

from detectron2.config import CfgNode as CN

__all__ = ["add_maskformer2_video_config", "add_video_model_config"]


def add_maskformer2_video_config(cfg: CN) -> None:
    """Add the video keys, in place."""
    # training clips: SAMPLING_FRAME_NUM frames within SAMPLING_FRAME_RANGE of a random frame
    cfg.INPUT.SAMPLING_FRAME_NUM = 2
    cfg.INPUT.SAMPLING_FRAME_RANGE = 20
    cfg.INPUT.SAMPLING_FRAME_SHUFFLE = False
    # extra augmentations, any of "brightness", "contrast", "saturation", "rotation"
    cfg.INPUT.AUGMENTATIONS = []

    # inference on clips of CLIP_LENGTH frames overlapping by CLIP_OVERLAP frames, linked into
    # tracks; 0 runs the whole video in one pass (the published inference)
    cfg.MODEL.MASK_FORMER.TEST.CLIP_LENGTH = 0
    cfg.MODEL.MASK_FORMER.TEST.CLIP_OVERLAP = 0


def add_video_model_config(cfg: CN) -> None:
    """All keys a video config uses: the image model's (``add_maskformer2_config``) and the
    video ones, in place (what train_net_video.py and the video demo call)."""
    from ..config import add_maskformer2_config

    add_maskformer2_config(cfg)
    add_maskformer2_video_config(cfg)
