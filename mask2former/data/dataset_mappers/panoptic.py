"""``mask_former_panoptic``: COCO-panoptic PNG + segments_info -> one mask per segment."""

import numpy as np
import torch

from ..image_io import check_same_size, read_label_map, read_panoptic_png
from .base import MaskFormerDatasetMapper
from .build import DATASET_MAPPER_REGISTRY

__all__ = ["MaskFormerPanopticDatasetMapper", "PanopticLabelsMixin"]


class PanopticLabelsMixin:
    """Label reading shared by the panoptic mappers.

    Label maps: "pan_seg" (segment ids, 0 = void) and "sem_seg" (read from
    ``sem_seg_file_name`` when the record has one, otherwise painted from the segments so
    that the crop constraint and the ``sem_seg`` output are always available).
    Targets: one mask per non-crowd segment; crowd regions are not targets.
    """

    LABEL_FILE_KEY = "pan_seg_file_name"  # the segments (and their classes) of this file

    def load_label_maps(self, dataset_dict, image):
        image_path = dataset_dict["file_name"]
        for key in ("pan_seg_file_name", "segments_info"):
            if key not in dataset_dict:
                raise KeyError(
                    f"Record of {image_path} has no {key!r}; panoptic mappers need a "
                    "panoptic segmentation dataset"
                )
        pan_path = dataset_dict["pan_seg_file_name"]
        pan_seg = check_same_size(read_panoptic_png(pan_path), pan_path, image, image_path)
        sem_path = dataset_dict.get("sem_seg_file_name")
        if sem_path is not None:
            sem_seg = check_same_size(read_label_map(sem_path), sem_path, image, image_path)
        else:
            sem_seg = np.full(pan_seg.shape, self.ignore_label, dtype=np.int64)
            for segment in dataset_dict["segments_info"]:
                sem_seg[pan_seg == segment["id"]] = segment["category_id"]
        return {"pan_seg": pan_seg, "sem_seg": sem_seg}

    def targets(self, dataset_dict, label_maps, transforms, image_size):
        pan_seg = torch.from_numpy(label_maps["pan_seg"])
        segments = [s for s in dataset_dict["segments_info"] if not s.get("iscrowd", 0)]
        classes = torch.tensor([s["category_id"] for s in segments], dtype=torch.int64)
        ids = torch.tensor([s["id"] for s in segments], dtype=torch.int64)
        return classes, pan_seg[None] == ids[:, None, None]


class MaskFormerPanopticDatasetMapper(PanopticLabelsMixin, MaskFormerDatasetMapper):
    """Resize / category-constrained crop / colour / flip, as the semantic mapper."""


@DATASET_MAPPER_REGISTRY.register()
def mask_former_panoptic(cfg, is_train: bool) -> MaskFormerPanopticDatasetMapper:
    return MaskFormerPanopticDatasetMapper(cfg, is_train)
