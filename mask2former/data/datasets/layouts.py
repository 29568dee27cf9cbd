"""The on-disk layouts that several built-in datasets share, each registered by one function
with the loader and the metadata its evaluator reads: semantic label images (ADE20K style),
COCO panoptic with semantic labels, and COCO instances."""

from typing import Optional

from detectron2.data.datasets import load_coco_json, load_sem_seg

from .catalog import register_dataset
from .loaders import load_panoptic_with_semantic

__all__ = ["register_semantic", "register_panoptic_with_semantic", "register_coco_instances"]


def register_semantic(
    name: str,
    image_root: str,
    sem_seg_root: str,
    *,
    hint: str,
    metadata: dict,
    ignore_label: int = 255,
    label_ext: str = "png",
):
    """Register ``name``: JPEG images in ``image_root``, each labelled by the image of the same
    name (``label_ext``) in ``sem_seg_root`` holding contiguous class indices;
    ``metadata`` as from :func:`~.catalog.semantic_metadata`."""
    register_dataset(
        name,
        lambda: load_sem_seg(sem_seg_root, image_root, gt_ext=label_ext, image_ext="jpg"),
        required=[image_root, sem_seg_root],
        hint=hint,
        image_root=image_root,
        sem_seg_root=sem_seg_root,
        evaluator_type="sem_seg",
        ignore_label=ignore_label,
        **metadata,
    )


def register_panoptic_with_semantic(
    name: str,
    image_root: str,
    panoptic_root: str,
    panoptic_json: str,
    sem_seg_root: str,
    *,
    json_file: Optional[str],
    evaluator_type: str,
    hint: str,
    metadata: dict,
    ignore_label: int = 255,
):
    """Register ``name``: COCO panoptic annotations (``panoptic_json``, PNGs in
    ``panoptic_root``) of the JPEG images in ``image_root``, with semantic labels of the same
    names in ``sem_seg_root`` (records of :func:`~.loaders.load_panoptic_with_semantic`);
    ``json_file`` holds the COCO instances the instance evaluator reads (None: no instance
    evaluation); ``metadata`` as from :func:`~.catalog.panoptic_metadata`."""
    paths = {
        "image_root": image_root,
        "panoptic_root": panoptic_root,
        "panoptic_json": panoptic_json,
        "sem_seg_root": sem_seg_root,
    }
    register_dataset(
        name,
        lambda: load_panoptic_with_semantic(
            panoptic_json, image_root, panoptic_root, sem_seg_root, metadata
        ),
        required=list(paths.values()),
        hint=hint,
        **paths,
        json_file=json_file,
        evaluator_type=evaluator_type,
        ignore_label=ignore_label,
        label_divisor=1000,
        **metadata,
    )


def register_coco_instances(
    name: str, image_root: str, json_file: str, *, hint: str, metadata: dict
):
    """Register ``name``: COCO instance annotations ``json_file`` of the images in
    ``image_root``, evaluated by the COCO evaluator unless ``metadata`` (class names and id
    map) names another ``evaluator_type``."""
    paths = {"image_root": image_root, "json_file": json_file}
    register_dataset(
        name,
        lambda: load_coco_json(json_file, image_root, name),
        required=[image_root, json_file],
        hint=hint,
        # the paths come first, and win over those of detectron2's metadata (under its root)
        **{**paths, "evaluator_type": "coco", **metadata, **paths},
    )
