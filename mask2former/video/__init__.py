"""Mask2Former for video instance segmentation (the published ``mask2former_video``): config
keys, the ``VideoMaskFormer`` meta-architecture and its transformer decoder, inference on
videos of any length, YouTube-VIS data and evaluation.

Importing this package registers the meta-architecture, the decoder, the YouTube-VIS and
generated video datasets and their evaluator with Detectron2's and this project's registries.
"""

from . import data, evaluation, modeling
from .config import add_maskformer2_video_config, add_video_model_config
from .modeling.video_maskformer import VideoMaskFormer

__all__ = ["add_maskformer2_video_config", "add_video_model_config", "VideoMaskFormer"]
