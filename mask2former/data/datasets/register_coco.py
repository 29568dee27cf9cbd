"""COCO: instance (detectron2's ``coco_2017_{train,val}``), panoptic (detectron2's
``coco_2017_{train,val}_panoptic`` and Mask2Former's ``..._panoptic_with_sem_seg``) and
COCO-Stuff-10k semantic (171 classes), under $DETECTRON2_DATASETS/coco.

The detectron2 names keep detectron2's loaders and metadata; they are re-registered only to
move them to ``root`` and to fail early with a clear message when files are missing."""

import os

from detectron2.data.datasets import load_coco_json, load_sem_seg
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES
from detectron2.data.datasets.coco_panoptic import load_coco_panoptic_json

from .catalog import (
    detectron2_metadata,
    load_categories,
    panoptic_metadata,
    register_dataset,
    semantic_metadata,
)
from .loaders import load_panoptic_with_semantic

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
        register_dataset(
            name,
            lambda j=json_file, i=image_root, n=name: load_coco_json(j, i, n),
            required=[image_root, json_file],
            hint=_HINT_INS,
            **{**detectron2_metadata(name), "image_root": image_root, "json_file": json_file},
        )


def register_coco_panoptic(root: str):
    coco = os.path.join(root, "coco")
    meta = panoptic_metadata(COCO_CATEGORIES)
    for split in ("train", "val"):
        image_root = os.path.join(coco, f"{split}2017")
        panoptic_root = os.path.join(coco, f"panoptic_{split}2017")
        panoptic_json = os.path.join(coco, "annotations", f"panoptic_{split}2017.json")
        semantic_root = os.path.join(coco, f"panoptic_semseg_{split}2017")
        instances_json = os.path.join(coco, "annotations", f"instances_{split}2017.json")
        paths = dict(
            image_root=image_root,
            panoptic_root=panoptic_root,
            panoptic_json=panoptic_json,
            json_file=instances_json,
        )
        # detectron2's "standard" COCO panoptic, without semantic labels
        name = f"coco_2017_{split}_panoptic"
        d2_meta = detectron2_metadata(name)
        register_dataset(
            name,
            lambda j=panoptic_json, i=image_root, p=panoptic_root, m=d2_meta: (
                load_coco_panoptic_json(j, i, p, m)
            ),
            required=[image_root, panoptic_root, panoptic_json],
            hint=_HINT_PAN,
            **{**d2_meta, **paths},
        )
        register_dataset(
            f"coco_2017_{split}_panoptic_with_sem_seg",
            lambda j=panoptic_json, i=image_root, p=panoptic_root, s=semantic_root: (
                load_panoptic_with_semantic(j, i, p, s, meta)
            ),
            required=[image_root, panoptic_root, panoptic_json, semantic_root],
            hint=_HINT_PAN_SEM,
            sem_seg_root=semantic_root,
            evaluator_type="coco_panoptic_seg",
            ignore_label=255,
            label_divisor=1000,
            **paths,
            **meta,
        )


def register_coco_stuff_10k(root: str):
    stuff = os.path.join(root, "coco", "coco_stuff_10k")
    meta = semantic_metadata(load_categories("coco_stuff_171"))
    for split in ("train", "test"):
        image_dir = os.path.join(stuff, "images_detectron2", split)
        gt_dir = os.path.join(stuff, "annotations_detectron2", split)
        register_dataset(
            f"coco_2017_{split}_stuff_10k_sem_seg",
            lambda x=image_dir, y=gt_dir: load_sem_seg(y, x, gt_ext="png", image_ext="jpg"),
            required=[image_dir, gt_dir],
            hint=_HINT_STUFF,
            image_root=image_dir,
            sem_seg_root=gt_dir,
            evaluator_type="sem_seg",
            ignore_label=255,
            **meta,
        )


def register_all_coco(root: str):
    register_coco_instance(root)
    register_coco_panoptic(root)
    register_coco_stuff_10k(root)
