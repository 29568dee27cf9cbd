"""COCO large-scale-jittering mappers ``coco_instance_lsj`` and ``coco_panoptic_lsj``:
flip, resize by a random factor in [INPUT.MIN_SCALE, INPUT.MAX_SCALE] of INPUT.IMAGE_SIZE,
then crop / pad to a fixed INPUT.IMAGE_SIZE square."""

from detectron2.data import transforms as T

from ..augmentations import ResizeScale
from .base import MaskFormerDatasetMapper, flip_augmentations
from .build import DATASET_MAPPER_REGISTRY
from .instance import InstanceLabelsMixin
from .panoptic import PanopticLabelsMixin

__all__ = ["LSJDatasetMapper", "COCOInstanceLSJDatasetMapper", "COCOPanopticLSJDatasetMapper"]


class LSJDatasetMapper(MaskFormerDatasetMapper):
    """Large-scale jittering geometry; inference resizes as the other mappers."""

    @classmethod
    def build_augmentations(cls, cfg, is_train, ignore_label):
        if not is_train:
            return super().build_augmentations(cfg, is_train, ignore_label)
        size = cfg.INPUT.IMAGE_SIZE
        return flip_augmentations(cfg) + [
            ResizeScale(cfg.INPUT.MIN_SCALE, cfg.INPUT.MAX_SCALE, size, size),
            T.FixedSizeCrop(crop_size=(size, size)),  # padded labels: set to ignore by the base
        ]


class COCOInstanceLSJDatasetMapper(InstanceLabelsMixin, LSJDatasetMapper):
    pass


class COCOPanopticLSJDatasetMapper(PanopticLabelsMixin, LSJDatasetMapper):
    pass


@DATASET_MAPPER_REGISTRY.register()
def coco_instance_lsj(cfg, is_train: bool) -> COCOInstanceLSJDatasetMapper:
    return COCOInstanceLSJDatasetMapper(cfg, is_train)


@DATASET_MAPPER_REGISTRY.register()
def coco_panoptic_lsj(cfg, is_train: bool) -> COCOPanopticLSJDatasetMapper:
    return COCOPanopticLSJDatasetMapper(cfg, is_train)
