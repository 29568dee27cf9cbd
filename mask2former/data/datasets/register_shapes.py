"""The generated "shapes" dataset (see :mod:`mask2former.data.shapes`), registered like the real
ones: ``shapes_sem_seg_*`` as ADE20K, ``shapes_panoptic_*`` as COCO panoptic with semantic
labels, ``shapes_instance_*`` as COCO instances."""

import os

from detectron2.data.datasets import load_coco_json, load_sem_seg

from .catalog import load_categories, panoptic_metadata, register_dataset, semantic_metadata
from .loaders import load_panoptic_with_semantic

__all__ = ["register_all_shapes"]

_HINT = "Generate it with `python datasets/generate_shapes.py` (takes seconds)"


def register_all_shapes(root: str):
    base = os.path.join(root, "shapes")
    categories = load_categories("shapes")
    sem_meta = semantic_metadata(categories)
    pan_meta = panoptic_metadata(categories)
    things = [c for c in categories if c["isthing"]]
    for split in ("train", "val"):
        image_dir = os.path.join(base, "images", split)
        semantic_dir = os.path.join(base, "annotations_detectron2", split)
        register_dataset(
            f"shapes_sem_seg_{split}",
            lambda x=image_dir, y=semantic_dir: load_sem_seg(y, x, gt_ext="png", image_ext="jpg"),
            required=[image_dir, semantic_dir],
            hint=_HINT,
            image_root=image_dir,
            sem_seg_root=semantic_dir,
            evaluator_type="sem_seg",
            ignore_label=255,
            **sem_meta,
        )
        panoptic_root = os.path.join(base, f"panoptic_{split}")
        panoptic_json = os.path.join(base, f"panoptic_{split}.json")
        panoptic_semseg = os.path.join(base, f"panoptic_semseg_{split}")
        instances_json = os.path.join(base, f"instances_{split}.json")
        register_dataset(
            f"shapes_panoptic_{split}",
            lambda j=panoptic_json, i=image_dir, p=panoptic_root, s=panoptic_semseg: (
                load_panoptic_with_semantic(j, i, p, s, pan_meta)
            ),
            required=[image_dir, panoptic_root, panoptic_json, panoptic_semseg],
            hint=_HINT,
            image_root=image_dir,
            panoptic_root=panoptic_root,
            panoptic_json=panoptic_json,
            sem_seg_root=panoptic_semseg,
            json_file=instances_json,
            evaluator_type="coco_panoptic_seg",
            ignore_label=255,
            label_divisor=1000,
            **pan_meta,
        )
        name = f"shapes_instance_{split}"
        register_dataset(
            name,
            lambda j=instances_json, i=image_dir, n=name: load_coco_json(j, i, n),
            required=[image_dir, instances_json],
            hint=_HINT,
            image_root=image_dir,
            json_file=instances_json,
            evaluator_type="coco",
            thing_classes=[c["name"] for c in things],
            thing_colors=[c["color"] for c in things],
            thing_dataset_id_to_contiguous_id={c["id"]: i for i, c in enumerate(things)},
        )
