"""Mapillary Vistas v1.2 semantic and panoptic (65 classes), under
$DETECTRON2_DATASETS/mapillary_vistas."""

import os

from detectron2.data.datasets import load_sem_seg

from .catalog import load_categories, panoptic_metadata, register_dataset, semantic_metadata
from .loaders import load_panoptic_with_semantic

__all__ = ["register_all_mapillary_vistas"]

SPLITS = (("train", "training"), ("val", "validation"))
_HINT = "Download Mapillary Vistas v1.2 and unpack it as mapillary_vistas/{training,validation}"
IGNORE_LABEL = 65  # label PNGs use 65 for unlabeled pixels


def register_all_mapillary_vistas(root: str):
    categories = load_categories("mapillary_vistas_65")
    sem_meta = semantic_metadata(categories)
    pan_meta = panoptic_metadata(categories)
    for split, dirname in SPLITS:
        base = os.path.join(root, "mapillary_vistas", dirname)
        image_dir = os.path.join(base, "images")
        label_dir = os.path.join(base, "labels")
        register_dataset(
            f"mapillary_vistas_sem_seg_{split}",
            lambda x=image_dir, y=label_dir: load_sem_seg(y, x, gt_ext="png", image_ext="jpg"),
            required=[image_dir, label_dir],
            hint=_HINT,
            image_root=image_dir,
            sem_seg_root=label_dir,
            evaluator_type="sem_seg",
            ignore_label=IGNORE_LABEL,
            **sem_meta,
        )
        panoptic_root = os.path.join(base, "panoptic")
        panoptic_json = os.path.join(panoptic_root, "panoptic_2018.json")
        register_dataset(
            f"mapillary_vistas_panoptic_{split}",
            lambda j=panoptic_json, i=image_dir, p=panoptic_root, s=label_dir: (
                load_panoptic_with_semantic(j, i, p, s, pan_meta)
            ),
            required=[image_dir, panoptic_root, panoptic_json, label_dir],
            hint=_HINT,
            image_root=image_dir,
            panoptic_root=panoptic_root,
            panoptic_json=panoptic_json,
            sem_seg_root=label_dir,
            json_file=None,
            evaluator_type="mapillary_vistas_panoptic_seg",
            ignore_label=IGNORE_LABEL,
            label_divisor=1000,
            **pan_meta,
        )
