"""``mask_former_instance``: polygon / RLE annotations -> one mask per non-crowd object."""

import torch
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from .base import MaskFormerDatasetMapper
from .build import DATASET_MAPPER_REGISTRY

__all__ = ["MaskFormerInstanceDatasetMapper", "InstanceLabelsMixin"]


class InstanceLabelsMixin:
    """Annotation handling shared by the instance mappers: the record's ``annotations``
    (COCO polygons, RLE or binary arrays) are transformed with the image's transforms and
    rasterised; crowd annotations are not targets. There is no semantic label map."""

    def load_label_maps(self, dataset_dict, image):
        if "annotations" not in dataset_dict:
            raise KeyError(
                f"Record of {dataset_dict['file_name']} has no 'annotations'; instance mappers "
                "need an instance segmentation dataset"
            )
        return {}

    def targets(self, dataset_dict, label_maps, transforms, image_size):
        annos = [
            utils.transform_instance_annotations(obj, transforms, image_size)
            for obj in dataset_dict["annotations"]
            if not obj.get("iscrowd", 0)
        ]
        for obj in annos:
            if "segmentation" not in obj:
                raise KeyError(
                    f"An annotation of {dataset_dict['file_name']} has no 'segmentation'; "
                    "instance mappers need masks (polygons or RLE)"
                )
        if not annos:
            return torch.zeros(0, dtype=torch.int64), torch.zeros(
                (0, *image_size), dtype=torch.bool
            )
        instances = utils.annotations_to_instances(annos, image_size, mask_format="bitmask")
        return instances.gt_classes, instances.gt_masks.tensor.bool()


class MaskFormerInstanceDatasetMapper(InstanceLabelsMixin, MaskFormerDatasetMapper):
    """Resize / random crop (no category constraint: no semantic map) / colour / flip."""

    @classmethod
    def build_crop(cls, cfg, ignore_label):
        return T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE)


@DATASET_MAPPER_REGISTRY.register()
def mask_former_instance(cfg, is_train: bool) -> MaskFormerInstanceDatasetMapper:
    return MaskFormerInstanceDatasetMapper(cfg, is_train)
