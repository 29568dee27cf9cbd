"""ADE20K: semantic (150 classes), panoptic, instance (100 thing classes) and ADE20K-Full
(847 classes), under $DETECTRON2_DATASETS/ADEChallengeData2016 and ADE20K_2021_17_01."""

import os

from .catalog import (
    instance_metadata,
    load_categories,
    panoptic_metadata,
    semantic_metadata,
)
from .layouts import register_coco_instances, register_panoptic_with_semantic, register_semantic

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


def _register_semantic(root: str, folder: str, images: str, name: str, categories: str, **options):
    """Register ``name`` (a pattern of ``split``) for the splits of the semantic dataset in
    ``<root>/<folder>``: images in ``<images>/<split's folder>``, labels in
    ``annotations_detectron2/<split's folder>``, classes of ``metadata/<categories>.json``;
    ``options`` as :func:`~.layouts.register_semantic`'s."""
    base = os.path.join(root, folder)
    meta = semantic_metadata(load_categories(categories))
    for split, dirname in SPLITS:
        image_dir = os.path.join(base, images, dirname)
        gt_dir = os.path.join(base, "annotations_detectron2", dirname)
        register_semantic(name.format(split=split), image_dir, gt_dir, metadata=meta, **options)


def register_ade20k_semantic(root: str):
    _register_semantic(
        root,
        "ADEChallengeData2016",
        "images",
        "ade20k_sem_seg_{split}",
        "ade20k_150",
        hint=_HINT_SEM,
    )


def register_ade20k_panoptic(root: str):
    ade = os.path.join(root, "ADEChallengeData2016")
    meta = panoptic_metadata(load_categories("ade20k_150"))
    for split, dirname in SPLITS:
        register_panoptic_with_semantic(
            f"ade20k_panoptic_{split}",
            os.path.join(ade, "images", dirname),
            os.path.join(ade, f"ade20k_panoptic_{split}"),
            os.path.join(ade, f"ade20k_panoptic_{split}.json"),
            os.path.join(ade, "annotations_detectron2", dirname),
            json_file=os.path.join(ade, f"ade20k_instance_{split}.json"),
            evaluator_type="ade20k_panoptic_seg",
            hint=_HINT_PAN,
            metadata=meta,
        )


def register_ade20k_instance(root: str):
    ade = os.path.join(root, "ADEChallengeData2016")
    meta = instance_metadata(load_categories("ade20k_instance_100"))
    for split, dirname in SPLITS:
        image_dir = os.path.join(ade, "images", dirname)
        json_file = os.path.join(ade, f"ade20k_instance_{split}.json")
        register_coco_instances(
            f"ade20k_instance_{split}", image_dir, json_file, hint=_HINT_INS, metadata=meta
        )


def register_ade20k_full(root: str):
    _register_semantic(
        root,
        "ADE20K_2021_17_01",
        "images_detectron2",
        "ade20k_full_sem_seg_{split}",
        "ade20k_847",
        hint=_HINT_FULL,
        ignore_label=65535,  # labels are 16-bit TIFFs
        label_ext="tif",
    )


def register_all_ade20k(root: str):
    register_ade20k_semantic(root)
    register_ade20k_panoptic(root)
    register_ade20k_instance(root)
    register_ade20k_full(root)
