"""``mask_former_semantic``: semantic label PNG -> one binary mask per present class."""

import numpy as np
import torch

from ..image_io import check_same_size, read_label_map
from .base import MaskFormerDatasetMapper
from .build import DATASET_MAPPER_REGISTRY

__all__ = ["MaskFormerSemanticDatasetMapper", "semantic_targets"]


def semantic_targets(sem_seg: np.ndarray, ignore_label: int):
    """(classes (N,) int64, masks (N, H, W) bool): one mask per class present in ``sem_seg``,
    ``ignore_label`` excluded, classes ascending."""
    sem_seg = torch.from_numpy(sem_seg)
    classes = torch.unique(sem_seg)
    classes = classes[classes != ignore_label]
    return classes.long(), sem_seg[None] == classes[:, None, None]


class MaskFormerSemanticDatasetMapper(MaskFormerDatasetMapper):
    """Reads ``sem_seg_file_name`` (class id per pixel, ``ignore_label`` = unlabeled)."""

    LABEL_FILE_KEY = "sem_seg_file_name"

    def load_label_maps(self, dataset_dict, image):
        path = dataset_dict.get("sem_seg_file_name")
        if path is None:
            raise KeyError(
                f"Record of {dataset_dict['file_name']} has no 'sem_seg_file_name'; the "
                "mask_former_semantic mapper needs a semantic segmentation dataset"
            )
        label = read_label_map(path)
        return {"sem_seg": check_same_size(label, path, image, dataset_dict["file_name"])}

    def targets(self, dataset_dict, label_maps, transforms, image_size):
        return semantic_targets(label_maps["sem_seg"], self.ignore_label)


@DATASET_MAPPER_REGISTRY.register()
def mask_former_semantic(cfg, is_train: bool) -> MaskFormerSemanticDatasetMapper:
    return MaskFormerSemanticDatasetMapper(cfg, is_train)
