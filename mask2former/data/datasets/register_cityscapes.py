"""Cityscapes fine semantic / instance / panoptic (detectron2's registrations, re-rooted and
guarded), under $DETECTRON2_DATASETS/cityscapes."""

import os

from detectron2.data.datasets.cityscapes import load_cityscapes_instances, load_cityscapes_semantic
from detectron2.data.datasets.cityscapes_panoptic import load_cityscapes_panoptic

from .catalog import detectron2_metadata, register_dataset

__all__ = ["register_all_cityscapes"]

_HINT = (
    "Download leftImg8bit_trainvaltest and gtFine_trainvaltest from cityscapes-dataset.com and "
    "run cityscapesscripts' createTrainIdLabelImgs (semantic) / createPanopticImgs (panoptic)"
)


def register_all_cityscapes(root: str):
    for split in ("train", "val"):
        image_dir = os.path.join(root, "cityscapes", "leftImg8bit", split)
        gt_dir = os.path.join(root, "cityscapes", "gtFine", split)
        name = f"cityscapes_fine_sem_seg_{split}"
        register_dataset(
            name,
            lambda x=image_dir, y=gt_dir: load_cityscapes_semantic(x, y),
            required=[image_dir, gt_dir],
            hint=_HINT,
            **{**detectron2_metadata(name), "image_dir": image_dir, "gt_dir": gt_dir},
        )
        name = f"cityscapes_fine_instance_seg_{split}"
        register_dataset(
            name,
            lambda x=image_dir, y=gt_dir: load_cityscapes_instances(
                x, y, from_json=True, to_polygons=True
            ),
            required=[image_dir, gt_dir],
            hint=_HINT,
            **{**detectron2_metadata(name), "image_dir": image_dir, "gt_dir": gt_dir},
        )
        name = f"cityscapes_fine_panoptic_{split}"
        panoptic_root = os.path.join(root, "cityscapes", "gtFine", f"cityscapes_panoptic_{split}")
        panoptic_json = os.path.join(
            root, "cityscapes", "gtFine", f"cityscapes_panoptic_{split}.json"
        )
        meta = detectron2_metadata(name)
        register_dataset(
            name,
            lambda x=image_dir, p=panoptic_root, j=panoptic_json, m=meta: load_cityscapes_panoptic(
                x, p, j, m
            ),
            required=[image_dir, panoptic_root, panoptic_json],
            hint=_HINT,
            **{
                **meta,
                "image_root": image_dir,
                "panoptic_root": panoptic_root,
                "panoptic_json": panoptic_json,
                "gt_dir": gt_dir,
            },
        )
