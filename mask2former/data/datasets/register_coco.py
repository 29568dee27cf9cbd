"""COCO: instance (detectron2's ``coco_2017_{train,val}``), panoptic (detectron2's
``coco_2017_{train,val}_panoptic`` and Mask2Former's ``..._panoptic_with_sem_seg``) and
COCO-Stuff-10k semantic (171 classes), under $DETECTRON2_DATASETS/coco.

The detectron2 names keep detectron2's loaders and metadata; they are re-registered only to
move them to ``root`` and to fail early with a clear message when files are missing."""

import os

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES
from detectron2.data.datasets.coco_panoptic import load_coco_panoptic_json

from .catalog import (
    detectron2_metadata,
    load_categories,
    panoptic_metadata,
    register_dataset,
    semantic_metadata,
)
from .layouts import register_coco_instances, register_panoptic_with_semantic, register_semantic

__all__ = [
    "register_all_coco",
    "register_coco_instance",
    "register_coco_panoptic",
    "register_coco_stuff_10k",
]

_HINT_INS = "Download COCO 2017 images and annotations/instances_*2017.json"
_HINT_PAN = (
    "Download COCO 2017 images and the panoptic annotations "
    "(annotations/panoptic_*2017.json and the panoptic_*2017 PNG folders)"
)
_HINT_PAN_SEM = (
    _HINT_PAN + ", then run `python datasets/prepare_coco_semantic_annos_from_panoptic_annos.py`"
)
_HINT_STUFF = "Download COCO-Stuff-10k v1.0 and run `python datasets/prepare_coco_stuff_10k.py`"


def register_coco_instance(root: str):
    for split in ("train", "val"):
        name = f"coco_2017_{split}"
        image_root = os.path.join(root, "coco", f"{split}2017")
        json_file = os.path.join(root, "coco", "annotations", f"instances_{split}2017.json")
        meta = detectron2_metadata(name)
        register_coco_instances(name, image_root, json_file, hint=_HINT_INS, metadata=meta)


def register_coco_panoptic(root: str):
    coco = os.path.join(root, "coco")
    meta = panoptic_metadata(COCO_CATEGORIES)
    for split in ("train", "val"):
        image_root = os.path.join(coco, f"{split}2017")
        panoptic_root = os.path.join(coco, f"panoptic_{split}2017")
        panoptic_json = os.path.join(coco, "annotations", f"panoptic_{split}2017.json")
        instances_json = os.path.join(coco, "annotations", f"instances_{split}2017.json")
        # detectron2's "standard" COCO panoptic, without semantic labels
        paths = dict(
            image_root=image_root, panoptic_root=panoptic_root, panoptic_json=panoptic_json
        )
        name = f"coco_2017_{split}_panoptic"
        d2_meta = detectron2_metadata(name)
        register_dataset(
            name,
            lambda j=panoptic_json, i=image_root, p=panoptic_root, m=d2_meta: (
                load_coco_panoptic_json(j, i, p, m)
            ),
            required=[image_root, panoptic_root, panoptic_json],
            hint=_HINT_PAN,
            **{**d2_meta, **paths, "json_file": instances_json},
        )
        register_panoptic_with_semantic(
            f"coco_2017_{split}_panoptic_with_sem_seg",
            image_root,
            panoptic_root,
            panoptic_json,
            os.path.join(coco, f"panoptic_semseg_{split}2017"),
            json_file=instances_json,
            evaluator_type="coco_panoptic_seg",
            hint=_HINT_PAN_SEM,
            metadata=meta,
        )


def register_coco_stuff_10k(root: str):
    stuff = os.path.join(root, "coco", "coco_stuff_10k")
    meta = semantic_metadata(load_categories("coco_stuff_171"))
    for split in ("train", "test"):
        name = f"coco_2017_{split}_stuff_10k_sem_seg"
        image_dir = os.path.join(stuff, "images_detectron2", split)
        gt_dir = os.path.join(stuff, "annotations_detectron2", split)
        register_semantic(name, image_dir, gt_dir, hint=_HINT_STUFF, metadata=meta)


def register_all_coco(root: str):
    register_coco_instance(root)
    register_coco_panoptic(root)
    register_coco_stuff_10k(root)
