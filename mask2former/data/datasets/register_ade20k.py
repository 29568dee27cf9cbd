"""ADE20K: semantic (150 classes), panoptic, instance (100 thing classes) and ADE20K-Full
(847 classes), under $DETECTRON2_DATASETS/ADEChallengeData2016 and ADE20K_2021_17_01."""

import os

from detectron2.data.datasets import load_coco_json, load_sem_seg

from .catalog import (
    load_categories,
    panoptic_metadata,
    register_dataset,
    semantic_metadata,
)
from .loaders import load_panoptic_with_semantic

__all__ = [
    "register_all_ade20k",
    "register_ade20k_semantic",
    "register_ade20k_panoptic",
    "register_ade20k_instance",
    "register_ade20k_full",
]

SPLITS = (("train", "training"), ("val", "validation"))
_HINT_SEM = "Download ADEChallengeData2016 and run `python datasets/prepare_ade20k_sem_seg.py`"
_HINT_PAN = (
    "Download ADEChallengeData2016 and its instance annotations, then run "
    "`python datasets/prepare_ade20k_sem_seg.py` and `python datasets/prepare_ade20k_pan_seg.py`"
)
_HINT_INS = (
    "Download ADEChallengeData2016 and its instance annotations, then run "
    "`python datasets/prepare_ade20k_ins_seg.py`"
)
_HINT_FULL = "Download ADE20K_2021_17_01 and run `python datasets/prepare_ade20k_full_sem_seg.py`"


def register_ade20k_semantic(root: str):
    ade = os.path.join(root, "ADEChallengeData2016")
    meta = semantic_metadata(load_categories("ade20k_150"))
    for split, dirname in SPLITS:
        image_dir = os.path.join(ade, "images", dirname)
        gt_dir = os.path.join(ade, "annotations_detectron2", dirname)
        register_dataset(
            f"ade20k_sem_seg_{split}",
            lambda x=image_dir, y=gt_dir: load_sem_seg(y, x, gt_ext="png", image_ext="jpg"),
            required=[image_dir, gt_dir],
            hint=_HINT_SEM,
            image_root=image_dir,
            sem_seg_root=gt_dir,
            evaluator_type="sem_seg",
            ignore_label=255,
            **meta,
        )


def register_ade20k_panoptic(root: str):
    ade = os.path.join(root, "ADEChallengeData2016")
    meta = panoptic_metadata(load_categories("ade20k_150"))
    for split, dirname in SPLITS:
        image_dir = os.path.join(ade, "images", dirname)
        panoptic_root = os.path.join(ade, f"ade20k_panoptic_{split}")
        panoptic_json = os.path.join(ade, f"ade20k_panoptic_{split}.json")
        semantic_root = os.path.join(ade, "annotations_detectron2", dirname)
        register_dataset(
            f"ade20k_panoptic_{split}",
            lambda j=panoptic_json, i=image_dir, p=panoptic_root, s=semantic_root: (
                load_panoptic_with_semantic(j, i, p, s, meta)
            ),
            required=[image_dir, panoptic_root, panoptic_json, semantic_root],
            hint=_HINT_PAN,
            image_root=image_dir,
            panoptic_root=panoptic_root,
            panoptic_json=panoptic_json,
            sem_seg_root=semantic_root,
            json_file=os.path.join(ade, f"ade20k_instance_{split}.json"),
            evaluator_type="ade20k_panoptic_seg",
            ignore_label=255,
            label_divisor=1000,
            **meta,
        )


def register_ade20k_instance(root: str):
    ade = os.path.join(root, "ADEChallengeData2016")
    categories = load_categories("ade20k_instance_100")
    for split, dirname in SPLITS:
        name = f"ade20k_instance_{split}"
        image_dir = os.path.join(ade, "images", dirname)
        json_file = os.path.join(ade, f"ade20k_instance_{split}.json")
        register_dataset(
            name,
            lambda j=json_file, i=image_dir, n=name: load_coco_json(j, i, n),
            required=[image_dir, json_file],
            hint=_HINT_INS,
            image_root=image_dir,
            json_file=json_file,
            evaluator_type="coco",
            thing_classes=[c["name"] for c in categories],
            thing_dataset_id_to_contiguous_id={c["id"]: i for i, c in enumerate(categories)},
        )


def register_ade20k_full(root: str):
    ade = os.path.join(root, "ADE20K_2021_17_01")
    meta = semantic_metadata(load_categories("ade20k_847"))
    for split, dirname in SPLITS:
        image_dir = os.path.join(ade, "images_detectron2", dirname)
        gt_dir = os.path.join(ade, "annotations_detectron2", dirname)
        register_dataset(
            f"ade20k_full_sem_seg_{split}",
            lambda x=image_dir, y=gt_dir: load_sem_seg(y, x, gt_ext="tif", image_ext="jpg"),
            required=[image_dir, gt_dir],
            hint=_HINT_FULL,
            image_root=image_dir,
            sem_seg_root=gt_dir,
            evaluator_type="sem_seg",
            ignore_label=65535,  # labels are 16-bit TIFFs
            **meta,
        )


def register_all_ade20k(root: str):
    register_ade20k_semantic(root)
    register_ade20k_panoptic(root)
    register_ade20k_instance(root)
    register_ade20k_full(root)
