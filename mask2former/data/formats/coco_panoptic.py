"""COCO panoptic annotations (a JSON file of images, annotations with ``segments_info`` and
categories, and a folder of PNGs holding segment ids), with what the published panoptic
configs need besides, derived automatically into a cache folder and rebuilt when the
annotations change: the semantic label map of each annotation (``sem_seg/``, for the crop and
the mIoU evaluation) and a COCO instance file of the thing segments (``instances.json``, for
the mask AP evaluation)."""

import json
import logging
import os
from typing import Dict, List

from PIL import Image

from ..broken_samples import check_broken_fraction
from ..datasets.catalog import DatasetNotFoundError
from ..image_io import read_panoptic_png
from ..preparation import instance_annotation, semantic_of_segments
from .cache import CacheNotWritableError, DerivedFiles
from .coco import CocoFileError, read_coco_json

__all__ = ["derived_instances_json", "derived_semantic_root", "load_panoptic_records"]

logger = logging.getLogger(__name__)


def derived_semantic_root(cache_folder: str) -> str:
    """Where :func:`load_panoptic_records` writes the semantic label maps."""
    return os.path.join(cache_folder, "sem_seg")


def derived_instances_json(cache_folder: str) -> str:
    """Where :func:`load_panoptic_records` writes the COCO instance file of the things."""
    return os.path.join(cache_folder, "instances.json")


def _write_instances(records: List[dict], data: dict, categories: List[dict], out: str) -> None:
    """COCO instance file of the thing segments of ``records`` (category ids as in the
    panoptic file, RLE masks)."""
    annotations = []
    for record in records:
        pan_seg = read_panoptic_png(record["pan_seg_file_name"])
        for segment in record["segments_info"]:
            mask = pan_seg == segment["id"]
            if segment["isthing"] and mask.any():
                annotations.append(
                    instance_annotation(
                        mask,
                        len(annotations) + 1,
                        record["image_id"],
                        categories[segment["category_id"]]["id"],
                        int(segment.get("iscrowd", 0)),
                    )
                )
    image_ids = {r["image_id"] for r in records}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(
            {
                "images": [i for i in data["images"] if i["id"] in image_ids],
                "annotations": annotations,
                "categories": [
                    {"id": c["id"], "name": c["name"]} for c in categories if c["isthing"]
                ],
            },
            f,
        )


def _segments(annotation: dict, contiguous: Dict[int, int], things: set, dropped: Dict[int, int]):
    """The annotation's segments of known categories, with the contiguous ``category_id`` and
    ``isthing``; counts the others in ``dropped`` (category id -> segments)."""
    segments = []
    for segment in annotation.get("segments_info", []):
        category = segment.get("category_id")
        if category not in contiguous:
            dropped[category] = dropped.get(category, 0) + 1
            continue
        segments.append(dict(segment, category_id=contiguous[category], isthing=category in things))
    return segments


def load_panoptic_records(
    panoptic_json: str,
    image_root: str,
    panoptic_root: str,
    categories: List[dict],
    cache_folder: str,
    source: str,
) -> List[dict]:
    """Records of a COCO panoptic split in the layout of the built-in panoptic datasets
    (``file_name`` from the file's ``images``, ``image_id``, ``pan_seg_file_name``,
    ``sem_seg_file_name``, ``segments_info`` with contiguous ``category_id`` and ``isthing``).

    Args:
        categories: the dataset's classes in contiguous order, each with the file's ``id``
            and ``isthing``; segments of other categories are left out (with a warning).
        cache_folder: where the derived files go (see the module doc).
        source: names the split in messages.
    """
    data = read_coco_json(panoptic_json)
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise CocoFileError(f"{panoptic_json}: a COCO panoptic file needs a list of {key!r}")
    images = {image["id"]: image for image in data["images"]}
    contiguous = {c["id"]: i for i, c in enumerate(categories)}
    things = {c["id"] for c in categories if c["isthing"]}
    identity = {i: i for i in range(len(categories))}  # the segments' ids are contiguous already
    records, broken, dropped = [], {}, {}
    with DerivedFiles(cache_folder) as cache:
        for annotation in data["annotations"]:
            pan_path = os.path.join(panoptic_root, annotation["file_name"])
            image = images.get(annotation["image_id"])
            segments = _segments(annotation, contiguous, things, dropped)
            name = "sem_seg/" + os.path.splitext(annotation["file_name"])[0] + ".png"
            recipe = ["panoptic-semantic-1", [[s["id"], s["category_id"]] for s in segments]]

            def build(out, pan_path=pan_path, segments=segments):
                semantic = semantic_of_segments(
                    read_panoptic_png(pan_path), segments, identity, pan_path
                )
                Image.fromarray(semantic).save(out, format="PNG")

            try:
                if image is None:
                    raise KeyError(
                        f"its image_id {annotation['image_id']!r} is not among the images"
                    )
                semantic = cache.get(name, [pan_path], recipe, build)
            except CacheNotWritableError:
                raise
            except (OSError, ValueError, KeyError) as e:
                broken[pan_path] = str(e)
                logger.warning(f"{source}: left out {pan_path}: {e}")
                continue
            records.append(
                {
                    "file_name": os.path.join(image_root, image["file_name"]),
                    "image_id": annotation["image_id"],
                    "pan_seg_file_name": pan_path,
                    "sem_seg_file_name": semantic,
                    "segments_info": segments,
                }
            )
        if not records:
            raise DatasetNotFoundError(f"{source}: {panoptic_json} has no usable annotation")
        check_broken_fraction(broken, len(data["annotations"]), f"panoptic annotations of {source}")
        if dropped:
            logger.warning(
                f"{source}: left out segments of {panoptic_json} whose category_id is no "
                f"class's: {', '.join(f'{c} ({n})' for c, n in sorted(dropped.items(), key=str))}"
            )
        inputs = [panoptic_json] + [r["pan_seg_file_name"] for r in records]
        things_recipe = ["panoptic-instances-1", sorted(things), [c["name"] for c in categories]]
        cache.get(
            "instances.json",
            inputs,
            things_recipe,
            lambda out: _write_instances(records, data, categories, out),
        )
        if cache.built:
            logger.info(
                f"{source}: derived {cache.built} files from the panoptic annotations into {cache_folder}"
            )
    return records
