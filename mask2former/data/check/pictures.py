"""Pictures of samples with their ground truth drawn by Detectron2's Visualizer: the image and
its drawing side by side, read from the user's own files as the checks read them."""

import os
from typing import List

import numpy as np
import pycocotools.mask as mask_util
import torch
from detectron2.data.catalog import Metadata
from detectron2.structures import BoxMode
from detectron2.utils.visualizer import ColorMode, Visualizer
from PIL import Image

from ..image_io import read_image_checked, read_panoptic_png

__all__ = ["draw_ground_truth"]


def _metadata(categories: List[dict]) -> Metadata:
    """Metadata for drawing labels that are indices over all the dataset's classes, things and
    stuff alike (as the model's are)."""
    names = [c["name"] for c in categories]
    colors = [c["color"] for c in categories]
    return Metadata(
        stuff_classes=names, stuff_colors=colors, thing_classes=names, thing_colors=colors
    )


def _semantic(visualizer: Visualizer, args, categories) -> None:
    _, label_path, label_format = args
    labels = label_format.decode(label_path).labels
    visualizer.draw_sem_seg(np.where(labels < 0, label_format.ignore_label, labels))


def _instance(visualizer: Visualizer, args, categories) -> None:
    _, image_info, annotations, id_map, _ = args
    height, width = visualizer.img.shape[:2]
    drawable = []
    for annotation in annotations:
        segmentation = annotation.get("segmentation")
        if annotation.get("category_id") not in id_map or not segmentation:
            continue
        if isinstance(segmentation, dict):
            if list(segmentation.get("size", [])) != [height, width]:
                continue
            if isinstance(segmentation["counts"], list):
                segmentation = mask_util.frPyObjects(segmentation, height, width)
        else:
            segmentation = [p for p in segmentation if len(p) >= 6 and len(p) % 2 == 0]
            if not segmentation:
                continue
        drawable.append(
            {
                "bbox": annotation.get("bbox", [0, 0, 0, 0]),
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": id_map[annotation["category_id"]],
                "segmentation": segmentation,
            }
        )
    visualizer.draw_dataset_dict({"annotations": drawable})


def _panoptic(visualizer: Visualizer, args, categories) -> None:
    _, png_path, annotation, id_map, _ = args
    segments = [
        {
            "id": s["id"],
            "category_id": id_map[s["category_id"]],
            "isthing": bool(categories[id_map[s["category_id"]]]["isthing"]),
        }
        for s in annotation.get("segments_info", [])
        if s.get("category_id") in id_map
    ]
    visualizer.draw_panoptic_seg(torch.from_numpy(read_panoptic_png(png_path)), segments)


_DRAW = {"semantic": _semantic, "instance": _instance, "panoptic": _panoptic}


def draw_ground_truth(task: str, args: tuple, categories: List[dict], path: str) -> str:
    """Save at ``path`` (a JPEG) the image of the check arguments ``args`` of ``task`` (see
    :mod:`.files`) next to its ground truth; ``categories``: the dataset's classes in
    contiguous order (names, colours, isthing)."""
    image = read_image_checked(args[0], "RGB")
    visualizer = Visualizer(image, _metadata(categories), instance_mode=ColorMode.SEGMENTATION)
    _DRAW[task](visualizer, args, categories)
    drawing = visualizer.output.get_image()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.concatenate([image, drawing], axis=1)).save(path, quality=90)
    return path
