"""The trainer of ``train_net_video.py``: ``train_net.py``'s trainer with the video data
loaders."""

import torch

from ..engine import Trainer
from ..errors import UserError
from .data import build_video_test_loader, build_video_train_loader

__all__ = ["VideoTrainer"]


class VideoTTAError(UserError, NotImplementedError):
    """TEST.AUG.ENABLED with a video model."""


class VideoTrainer(Trainer):
    """:class:`~mask2former.engine.Trainer` (optimizer, schedule, atomic checkpoints,
    finite-loss checks, evaluators by the dataset's evaluator_type) for the video model:
    training clips from :class:`~mask2former.video.data.YTVISDatasetMapper`, evaluation one
    whole video at a time, on GPUs under autocast as published."""

    @classmethod
    def build_train_loader(cls, cfg):
        return build_video_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_video_test_loader(cfg, dataset_name)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        if cfg.MODEL.DEVICE.startswith("cuda"):
            with torch.autocast("cuda"):
                return super().test(cfg, model, evaluators)
        return super().test(cfg, model, evaluators)

    @classmethod
    def test_with_TTA(cls, cfg, model):
        raise VideoTTAError(
            "TEST.AUG.ENABLED: test-time augmentation is not available for video models; "
            "set TEST.AUG.ENABLED False"
        )
