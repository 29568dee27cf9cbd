"""Mapillary Vistas v1.2 semantic and panoptic (65 classes), under
$DETECTRON2_DATASETS/mapillary_vistas."""

import os

from .catalog import load_categories, panoptic_metadata, semantic_metadata
from .layouts import register_panoptic_with_semantic, register_semantic

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
        register_semantic(
            f"mapillary_vistas_sem_seg_{split}",
            image_dir,
            label_dir,
            hint=_HINT,
            metadata=sem_meta,
            ignore_label=IGNORE_LABEL,
        )
        panoptic_root = os.path.join(base, "panoptic")
        register_panoptic_with_semantic(
            f"mapillary_vistas_panoptic_{split}",
            image_dir,
            panoptic_root,
            os.path.join(panoptic_root, "panoptic_2018.json"),
            label_dir,
            json_file=None,
            evaluator_type="mapillary_vistas_panoptic_seg",
            hint=_HINT,
            metadata=pan_meta,
            ignore_label=IGNORE_LABEL,
        )
