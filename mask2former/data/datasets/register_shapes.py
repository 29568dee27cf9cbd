"""The generated "shapes" dataset (see :mod:`mask2former.data.shapes`), registered like the real
ones: ``shapes_sem_seg_*`` as ADE20K, ``shapes_panoptic_*`` as COCO panoptic with semantic
labels, ``shapes_instance_*`` as COCO instances."""

import os

from .catalog import instance_metadata, load_categories, panoptic_metadata, semantic_metadata
from .layouts import register_coco_instances, register_panoptic_with_semantic, register_semantic

__all__ = ["register_all_shapes"]

_HINT = "Generate it with `python datasets/generate_shapes.py` (takes seconds)"


def register_all_shapes(root: str):
    base = os.path.join(root, "shapes")
    categories = load_categories("shapes")
    sem_meta = semantic_metadata(categories)
    pan_meta = panoptic_metadata(categories)
    ins_meta = instance_metadata([c for c in categories if c["isthing"]])
    for split in ("train", "val"):
        image_dir = os.path.join(base, "images", split)
        semantic_dir = os.path.join(base, "annotations_detectron2", split)
        register_semantic(
            f"shapes_sem_seg_{split}", image_dir, semantic_dir, hint=_HINT, metadata=sem_meta
        )
        instances_json = os.path.join(base, f"instances_{split}.json")
        register_panoptic_with_semantic(
            f"shapes_panoptic_{split}",
            image_dir,
            os.path.join(base, f"panoptic_{split}"),
            os.path.join(base, f"panoptic_{split}.json"),
            os.path.join(base, f"panoptic_semseg_{split}"),
            json_file=instances_json,
            evaluator_type="coco_panoptic_seg",
            hint=_HINT,
            metadata=pan_meta,
        )
        register_coco_instances(
            f"shapes_instance_{split}", image_dir, instances_json, hint=_HINT, metadata=ins_meta
        )
