"""COCO large-scale-jittering mappers ``coco_instance_lsj`` and ``coco_panoptic_lsj``:
flip, resize by a random factor in [INPUT.MIN_SCALE, INPUT.MAX_SCALE] of INPUT.IMAGE_SIZE,
then crop / pad to a fixed INPUT.IMAGE_SIZE square."""
from detectron2.data import transforms as T

from ..augmentations import ResizeScale
from .base import MaskFormerDatasetMapper, flip_augmentations
from .build import register_mapper
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


@register_mapper("coco_instance_lsj")
class COCOInstanceLSJDatasetMapper(InstanceLabelsMixin, LSJDatasetMapper):
    pass


@register_mapper("coco_panoptic_lsj")
class COCOPanopticLSJDatasetMapper(PanopticLabelsMixin, LSJDatasetMapper):
    pass
