"""Record loaders that detectron2 does not provide."""

import json
import os

from detectron2.utils.file_io import PathManager

__all__ = ["load_panoptic_with_semantic"]


def load_panoptic_with_semantic(panoptic_json, image_root, panoptic_root, semantic_root, meta):
    """Records of a COCO-format panoptic dataset with semantic labels (ADE20K, COCO, Mapillary
    Vistas and shapes layouts): ``file_name`` (the panoptic PNG's name with ".jpg" under
    ``image_root``), ``image_id`` (as in the JSON: int for COCO, str for ADE20K / Mapillary),
    ``pan_seg_file_name``, ``sem_seg_file_name`` (same name under ``semantic_root``) and
    ``segments_info`` with contiguous ``category_id`` and ``isthing``."""
    things = meta["thing_dataset_id_to_contiguous_id"]
    stuff = meta["stuff_dataset_id_to_contiguous_id"]
    with PathManager.open(panoptic_json) as f:
        annotations = json.load(f)["annotations"]
    records = []
    for ann in annotations:
        segments = []
        for segment in ann["segments_info"]:
            category = segment["category_id"]
            if category not in things and category not in stuff:
                raise KeyError(
                    f"{panoptic_json}: unknown category_id {category} in {ann['file_name']}"
                )
            isthing = category in things
            segments.append(
                dict(segment, category_id=(things if isthing else stuff)[category], isthing=isthing)
            )
        stem = os.path.splitext(ann["file_name"])[0]
        records.append(
            {
                "file_name": os.path.join(image_root, stem + ".jpg"),
                "image_id": ann["image_id"],
                "pan_seg_file_name": os.path.join(panoptic_root, ann["file_name"]),
                "sem_seg_file_name": os.path.join(semantic_root, ann["file_name"]),
                "segments_info": segments,
            }
        )
    if not records:
        raise ValueError(f"{panoptic_json} holds no annotations")
    return records
