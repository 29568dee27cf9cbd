"""COCO instance annotations (a JSON file of images, annotations with polygons or RLE masks, and
categories whose ids need not be contiguous), read by Detectron2's ``load_coco_json``, their
category ids mapped to the dataset's contiguous class indices; and the categories of a COCO
file, cached so that registering a dataset does not read a large file each time."""

import hashlib
import json
import logging
import os
from typing import Dict, List

from detectron2.data.datasets import load_coco_json

from .cache import DerivedFiles

__all__ = ["CocoFileError", "load_instance_records", "read_coco_categories", "read_coco_json"]

logger = logging.getLogger(__name__)


class CocoFileError(ValueError):
    """A COCO JSON file that cannot be read or lacks what its task needs."""


def read_coco_json(path: str) -> dict:
    """The content of a COCO JSON file (a dict). Raises FileNotFoundError, CocoFileError."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise CocoFileError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CocoFileError(f"{path}: expected a COCO JSON object with 'images' and 'annotations'")
    return data


def _write_categories(json_file: str, out: str) -> None:
    categories = read_coco_json(json_file).get("categories")
    if not isinstance(categories, list) or not all(
        isinstance(c, dict) and "id" in c and "name" in c for c in categories
    ):
        raise CocoFileError(f"{json_file}: 'categories' must be a list of {{'id', 'name', ...}}")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(categories, f)


def read_coco_categories(json_file: str, cache_folder: str) -> List[dict]:
    """The ``categories`` of a COCO (instance or panoptic) JSON file, read once and kept in
    ``cache_folder`` until the file changes."""
    name = "categories/" + hashlib.sha1(os.path.abspath(json_file).encode()).hexdigest() + ".json"
    with DerivedFiles(cache_folder) as cache:
        path = cache.get(
            name, [json_file], "coco-categories-1", lambda out: _write_categories(json_file, out)
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_instance_records(
    json_file: str, image_root: str, id_map: Dict[int, int], source: str
) -> List[dict]:
    """Records of a COCO instance file (Detectron2's ``load_coco_json``) with each
    annotation's ``category_id`` mapped by ``id_map`` (the file's category id -> contiguous
    class index). Annotations of other categories are left out with a warning naming them."""
    records = load_coco_json(json_file, image_root)
    dropped: Dict[int, int] = {}
    for record in records:
        kept = []
        for annotation in record["annotations"]:
            category = annotation["category_id"]
            if category in id_map:
                kept.append(dict(annotation, category_id=id_map[category]))
            else:
                dropped[category] = dropped.get(category, 0) + 1
        record["annotations"] = kept
    if dropped:
        logger.warning(
            f"{source}: left out {sum(dropped.values())} annotations of {json_file} whose "
            f"category_id is no class's: {', '.join(f'{c} ({n})' for c, n in sorted(dropped.items()))}"
        )
    return records
