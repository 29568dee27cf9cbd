"""``detr_panoptic``: the COCO panoptic geometry of the MaskFormer release (DETR's recipe).

Flip, then with probability 1/2 either resize the shortest edge to a size from
INPUT.MIN_SIZE_TRAIN, or first resize to one of 400/500/600, take a random crop of
INPUT.CROP.SIZE (INPUT.CROP.TYPE) and then resize as in the first branch.
"""

from typing import List

import numpy as np
from detectron2.data import transforms as T

from ..augmentations import ResizeShortestEdge
from .base import MaskFormerDatasetMapper, flip_augmentations
from .build import DATASET_MAPPER_REGISTRY
from .panoptic import PanopticLabelsMixin

__all__ = ["RandomChoiceOfAugmentations", "DETRPanopticDatasetMapper"]

# Shortest-edge sizes before DETR's random crop.
DETR_PRE_CROP_SIZES = (400, 500, 600)


class RandomChoiceOfAugmentations(T.Augmentation):
    """Applies one of several augmentation sequences, chosen uniformly at random."""

    def __init__(self, choices: List[List[T.Augmentation]]):
        super().__init__()
        self.choices = [T.AugmentationList(augs) for augs in choices]

    def __call__(self, aug_input) -> T.Transform:
        return self.choices[np.random.randint(len(self.choices))](aug_input)

    def __repr__(self):
        return f"RandomChoiceOfAugmentations({self.choices})"


class DETRPanopticDatasetMapper(PanopticLabelsMixin, MaskFormerDatasetMapper):
    """Panoptic targets (as ``mask_former_panoptic``) with DETR's resize / crop geometry."""

    @classmethod
    def build_augmentations(cls, cfg, is_train, ignore_label):
        if not is_train:
            return super().build_augmentations(cfg, is_train, ignore_label)
        resize = ResizeShortestEdge(
            cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING
        )
        if not cfg.INPUT.CROP.ENABLED:
            return flip_augmentations(cfg) + [resize]
        crop_then_resize = [
            ResizeShortestEdge(DETR_PRE_CROP_SIZES, sample_style="choice"),
            T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE),
            resize,
        ]
        return flip_augmentations(cfg) + [RandomChoiceOfAugmentations([[resize], crop_then_resize])]


@DATASET_MAPPER_REGISTRY.register()
def detr_panoptic(cfg, is_train: bool) -> DETRPanopticDatasetMapper:
    return DETRPanopticDatasetMapper(cfg, is_train)
