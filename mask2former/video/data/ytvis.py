"""YouTube-VIS format video datasets: the published YouTube-VIS 2019 / 2021 splits and the
generated "shapes_video" dataset, under $DETECTRON2_DATASETS (default ./datasets).

A YouTube-VIS JSON file holds "videos" (id, file_names, height, width, length), "categories"
and, for annotated splits, "annotations": one per object track with its video_id,
category_id, iscrowd and per-frame lists "segmentations" (RLE or polygons, null where the object
is absent) and "bboxes" (XYWH, null where absent).

A record (one per video) has "file_names" (T frame paths), "height", "width", "length",
"video_id" and, for annotated splits, "annotations": T lists (one per frame) of the objects
visible in that frame, each with "id" (the track's annotation id, linking an object through
the video), "category_id" (contiguous), "iscrowd", "bbox", "bbox_mode", "segmentation".
"""

import json
import logging
import os
from collections import defaultdict
from typing import Dict, List, Optional

import pycocotools.mask as mask_util
from detectron2.data import MetadataCatalog
from detectron2.structures import BoxMode
from detectron2.utils.file_io import PathManager

from ...data.datasets.catalog import load_categories, register_dataset

__all__ = [
    "load_ytvis_json",
    "register_ytvis_instances",
    "register_all_ytvis",
    "register_shapes_video",
    "ytvis_metadata",
    "YTVIS_SPLITS",
]

logger = logging.getLogger(__name__)

# name -> (image root, JSON file), relative to the datasets root, as published
YTVIS_SPLITS = {
    f"ytvis_{year}_{split}": (f"ytvis_{year}/{folder}/JPEGImages", f"ytvis_{year}/{folder}.json")
    for year in (2019, 2021)
    for split, folder in (("train", "train"), ("val", "valid"), ("test", "test"))
}
SHAPES_VIDEO_SPLITS = {
    "shapes_video_train": ("shapes_video/train/JPEGImages", "shapes_video/train.json"),
    "shapes_video_val": ("shapes_video/valid/JPEGImages", "shapes_video/valid.json"),
}
_HINT_YTVIS = (
    "Download YouTube-VIS {year} (train, valid, test: JPEGImages/ and the JSON file of each) "
    "from the challenge's site and unpack it as ytvis_{year}/{{train,valid,test}}"
)
_HINT_SHAPES = "Generate it with `python datasets/generate_shapes.py --videos` (takes seconds)"


def ytvis_metadata(categories: List[dict]) -> Dict:
    """Metadata of a video instance dataset whose classes are ``categories`` (all things)."""
    return {
        "thing_classes": [c["name"] for c in categories],
        "thing_colors": [list(c["color"]) for c in categories],
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(categories)},
    }


def _frame_segmentation(segmentation, height: int, width: int, where: str):
    """A frame's segmentation as detectron2's annotation transforms take it: compressed RLE
    or valid polygons; None when empty."""
    if isinstance(segmentation, dict):
        if isinstance(segmentation["counts"], list):  # uncompressed RLE
            return mask_util.frPyObjects(segmentation, height, width)
        return segmentation
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if len(p) % 2 == 0 and len(p) >= 6]
        return polygons or None
    raise ValueError(f"{where}: a segmentation must be an RLE dict or a list of polygons")


def _frame_bbox(segmentation, height: int, width: int) -> List[float]:
    if isinstance(segmentation, dict):
        rle = segmentation
    else:
        rle = mask_util.merge(mask_util.frPyObjects(segmentation, height, width))
    return mask_util.toBbox(rle).tolist()


def load_ytvis_json(
    json_file: str, image_root: str, dataset_name: Optional[str] = None
) -> List[dict]:
    """Records of a YouTube-VIS format JSON file (see the module docstring), videos sorted by id.

    Category ids are mapped to contiguous ids by the ``thing_dataset_id_to_contiguous_id`` of
    ``dataset_name``'s metadata; without one, by the JSON's categories sorted by id, which are
    then set as that metadata (thing_classes and the mapping), as for detectron2's COCO JSON
    loader.
    """
    with PathManager.open(json_file) as f:
        data = json.load(f)
    for key in ("videos", "categories"):
        if key not in data:
            raise KeyError(f"{json_file}: no {key!r}; is this a YouTube-VIS format file?")
    meta = MetadataCatalog.get(dataset_name) if dataset_name else None
    id_map = meta.get("thing_dataset_id_to_contiguous_id") if meta is not None else None
    if id_map is None:
        categories = sorted(data["categories"], key=lambda c: c["id"])
        id_map = {c["id"]: i for i, c in enumerate(categories)}
        if meta is not None:
            meta.set(
                thing_classes=[c["name"] for c in categories],
                thing_dataset_id_to_contiguous_id=id_map,
            )
    annotated = "annotations" in data
    tracks_of = defaultdict(list)
    for ann in data.get("annotations", ()):
        tracks_of[ann["video_id"]].append(ann)

    records = []
    for video in sorted(data["videos"], key=lambda v: v["id"]):
        length, height, width = video["length"], video["height"], video["width"]
        if len(video["file_names"]) != length:
            raise ValueError(
                f"{json_file}: video {video['id']} has length {length} but "
                f"{len(video['file_names'])} file_names"
            )
        record = {
            "file_names": [os.path.join(image_root, name) for name in video["file_names"]],
            "height": height,
            "width": width,
            "length": length,
            "video_id": video["id"],
        }
        if annotated:
            record["annotations"] = _frame_objects(
                tracks_of[video["id"]], length, height, width, id_map, json_file
            )
        records.append(record)
    if not records:
        raise ValueError(f"{json_file} holds no videos")
    logger.info(f"Loaded {len(records)} videos in YouTube-VIS format from {json_file}")
    return records


def _frame_objects(tracks, length, height, width, id_map, json_file) -> List[List[dict]]:
    """Per frame, the visible objects of a video's annotation tracks."""
    frames = [[] for _ in range(length)]
    for ann in tracks:
        where = f"{json_file}: annotation {ann['id']}"
        if ann["category_id"] not in id_map:
            raise KeyError(
                f"{where} has category_id {ann['category_id']}, not one of the dataset's "
                f"categories {sorted(id_map)}"
            )
        segmentations = ann.get("segmentations") or [None] * length
        bboxes = ann.get("bboxes") or [None] * length
        if len(segmentations) != length or len(bboxes) != length:
            raise ValueError(f"{where}: needs one segmentation and bbox per frame ({length})")
        for frame, (segmentation, bbox) in enumerate(zip(segmentations, bboxes)):
            if not segmentation:
                continue
            segmentation = _frame_segmentation(segmentation, height, width, where)
            if segmentation is None:
                continue
            frames[frame].append(
                {
                    "id": ann["id"],
                    "category_id": id_map[ann["category_id"]],
                    "iscrowd": ann.get("iscrowd", 0),
                    "bbox": bbox or _frame_bbox(segmentation, height, width),
                    "bbox_mode": BoxMode.XYWH_ABS,
                    "segmentation": segmentation,
                }
            )
    return frames


def register_ytvis_instances(
    name: str, metadata: dict, json_file: str, image_root: str, hint: str = ""
) -> None:
    """(Re-)register a YouTube-VIS format dataset (the published function of the same name, plus
    a ``hint`` on how to get missing files). ``metadata`` may be empty: the classes are then
    read from the JSON file when it is loaded."""
    register_dataset(
        name,
        lambda: load_ytvis_json(json_file, image_root, name),
        required=[json_file, image_root],
        hint=hint or f"Put {json_file} and {image_root} in place",
        json_file=json_file,
        image_root=image_root,
        evaluator_type="ytvis",
        **metadata,
    )


def register_all_ytvis(root: str) -> None:
    """The published YouTube-VIS 2019 and 2021 splits under ``root``."""
    for name, (image_root, json_file) in YTVIS_SPLITS.items():
        year = name.split("_")[1]
        register_ytvis_instances(
            name,
            ytvis_metadata(load_categories(f"ytvis_{year}")),
            os.path.join(root, json_file),
            os.path.join(root, image_root),
            hint=_HINT_YTVIS.format(year=year),
        )


def register_shapes_video(root: str) -> None:
    """The generated shapes videos (:mod:`mask2former.data.shapes`) under ``root``."""
    things = [c for c in load_categories("shapes") if c["isthing"]]
    for name, (image_root, json_file) in SHAPES_VIDEO_SPLITS.items():
        register_ytvis_instances(
            name,
            ytvis_metadata(things),
            os.path.join(root, json_file),
            os.path.join(root, image_root),
            hint=_HINT_SHAPES,
        )
