"""The generated "shapes" dataset: small synthetic scenes written in the on-disk formats of the
real datasets, so that the real loaders, mappers and evaluators run on it end to end.

Each scene has 2-3 textured "stuff" bands (sky, grass, wall) with wavy borders, 1-5
overlapping "thing" instances (circle, square, triangle, star) with per-instance colour and
texture variation, sometimes a void ("other") blob; a few things are marked crowd.

Layout under ``<root>/shapes`` (``<split>`` is train or val)::

    images/<split>/<id>.jpg
    annotations/<split>/<id>.png              ADE20K raw style: 0 = other, k + 1 = class k
    annotations_detectron2/<split>/<id>.png   ADE20K prepared style: 255 = ignore, k = class k
    panoptic_<split>/<id>.png, panoptic_<split>.json      COCO panoptic
    panoptic_semseg_<split>/<id>.png          semantic labels made from the panoptic ones
    instances_<split>.json                    COCO instances (polygons, RLE, crowd RLE)

The two semantic folders are written by the same functions as ``datasets/prepare_*.py``.
The same drawing makes the shapes videos (:mod:`mask2former.data.shapes_video`).
"""

import argparse
import json
import os
import shutil
from typing import Callable, List

import cv2
import numpy as np
import pycocotools.mask as mask_util
from panopticapi.utils import id2rgb
from PIL import Image

from .datasets.catalog import load_categories
from .preparation import segment_bbox, semantic_from_panoptic, shift_ade20k_semantic

__all__ = ["generate", "SPLITS", "DEFAULT_NUM_TRAIN", "DEFAULT_NUM_VAL"]

SPLITS = ("train", "val")
DEFAULT_NUM_TRAIN = 60
DEFAULT_NUM_VAL = 20
SIZES = (128, 144, 160, 176, 192)
MIN_SEGMENT_AREA = 24  # smaller visible remnants of occluded things become void
CROWD_PROBABILITY = 0.08
_MARKER = "GENERATED.json"


# ---- drawing ----
# Textures are computed for the painted pixels only: ``ys``, ``xs`` are their coordinates and
# the result is an (n, 3) float array of RGB values.
def _jitter(rng, color, amount=25):
    return np.clip(np.asarray(color, np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def _noise(rng, n, sigma):
    return rng.standard_normal((n, 1), dtype=np.float32) * sigma


def stuff_texture(rng, name, color, h, w, ys, xs):
    tex = np.tile(_jitter(rng, color, 20), (len(ys), 1))
    if name == "sky":  # lighter towards the horizon
        tex += (ys / h)[:, None] * rng.uniform(20, 50) + _noise(rng, len(ys), 3)
    elif name == "grass":  # vertical blades
        tex += (rng.standard_normal(w, dtype=np.float32) * 18)[xs, None] + _noise(rng, len(ys), 10)
    else:  # wall: bricks with mortar lines
        brick_h, brick_w = rng.integers(8, 14), rng.integers(16, 26)
        row = ys // brick_h
        mortar = (ys % brick_h < 2) | ((xs + (row % 2) * (brick_w // 2)) % brick_w < 2)
        tex[mortar] *= 0.55
        tex += _noise(rng, len(ys), 6)
    return tex


def _thing_texture(rng, color, ys, xs):
    tex = np.tile(_jitter(rng, color), (len(ys), 1))
    pattern = rng.integers(3)
    if pattern == 1:  # stripes
        tex[((xs + ys) % rng.integers(5, 9)) < 2] *= 0.7
    elif pattern == 2:  # dots
        period = rng.integers(5, 8)
        tex[(xs % period < 2) & (ys % period < 2)] *= 0.6
    return tex + _noise(rng, len(ys), 5)


def _thing_mask(rng, name, h, w):
    size = rng.uniform(0.12, 0.32) * min(h, w)
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    angle = rng.uniform(0, 2 * np.pi)
    return draw_thing(name, h, w, cx, cy, size, angle)


def draw_thing(name, h, w, cx, cy, size, angle) -> np.ndarray:
    """(h, w) bool mask of a thing of class ``name`` centred at (cx, cy) (may lie outside the
    image), of radius about ``size``, rotated by ``angle``."""
    mask = np.zeros((h, w), np.uint8)
    if name == "circle":
        cv2.circle(mask, (int(cx), int(cy)), int(size), 1, -1)
        return mask.astype(bool)
    if name == "square":
        radii, corners = np.full(4, size * 1.1), 4
    elif name == "triangle":
        radii, corners = np.full(3, size * 1.25), 3
    else:  # star
        radii, corners = np.tile([size * 1.2, size * 0.5], 5), 10
    angles = angle + np.arange(corners) * 2 * np.pi / corners
    points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def stuff_bands(rng, stuff, h, w):
    """Yields (mask, category) of 2 to len(stuff) stuff bands of an (h, w) image, top to
    bottom, separated by wavy borders; each is drawn from ``rng`` when its turn comes."""
    bands = rng.permutation(len(stuff))[: rng.integers(2, len(stuff) + 1)]
    cuts = np.sort(rng.uniform(0.25, 0.75, len(bands) - 1)) * h
    xx = np.arange(w)
    yy = np.arange(h)[:, None]
    lower = np.zeros((1, w))
    for i, band in enumerate(bands):
        if i + 1 < len(bands):
            amp, freq, phase = rng.uniform(2, 10), rng.uniform(0.02, 0.08), rng.uniform(0, 6.3)
            upper = (cuts[i] + amp * np.sin(freq * xx + phase))[None, :]
        else:
            upper = np.full((1, w), np.inf)
        yield (yy >= lower) & (yy < upper), stuff[band]
        lower = upper


def _render_scene(rng, categories):
    """Returns the RGB image, the segment id map (0 = void) and the segments."""
    h, w = int(rng.choice(SIZES)), int(rng.choice(SIZES))
    stuff = [c for c in categories if not c["isthing"]]
    things = [c for c in categories if c["isthing"]]
    image = np.zeros((h, w, 3), np.float32)
    seg_map = np.zeros((h, w), np.int64)
    segments = []

    def paint(mask, texture_fn, category=None, iscrowd=0):
        ys, xs = np.nonzero(mask)
        image[ys, xs] = texture_fn(ys, xs)
        if category is None:
            seg_map[ys, xs] = 0
            return
        segment_id = category["id"] * 1000 + len(segments) + 1
        seg_map[ys, xs] = segment_id
        segments.append({"id": segment_id, "category_id": category["id"], "iscrowd": iscrowd})

    for mask, category in stuff_bands(rng, stuff, h, w):
        paint(
            mask,
            lambda ys, xs, c=category: stuff_texture(rng, c["name"], c["color"], h, w, ys, xs),
            category,
        )
    if rng.random() < 0.3:  # an unlabeled ("other") blob
        blob = np.zeros((h, w), np.uint8)
        center = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (int(rng.uniform(6, w / 5)), int(rng.uniform(6, h / 5)))
        cv2.ellipse(blob, center, axes, rng.uniform(0, 180), 0, 360, 1, -1)
        gray = rng.uniform(60, 200)
        paint(blob.astype(bool), lambda ys, xs: gray + _noise(rng, len(ys), 25).repeat(3, axis=1))
    for _ in range(rng.integers(1, 6)):
        category = things[rng.integers(len(things))]
        mask = _thing_mask(rng, category["name"], h, w)
        iscrowd = int(rng.random() < CROWD_PROBABILITY)
        paint(
            mask,
            lambda ys, xs, c=category: _thing_texture(rng, c["color"], ys, xs),
            category,
            iscrowd,
        )

    kept = []
    for segment in segments:
        mask = seg_map == segment["id"]
        area = int(mask.sum())
        if area < MIN_SEGMENT_AREA:
            seg_map[mask] = 0
            continue
        segment.update(area=area, bbox=segment_bbox(mask))
        kept.append(segment)
    return np.clip(image, 0, 255).astype(np.uint8), seg_map, kept


# ---- annotation formats ----
def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE (as used for crowd annotations): run lengths over the
    column-major flattened mask, starting with a run of zeros."""
    flat = np.asfortranarray(mask).ravel(order="F").astype(np.uint8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    return {"size": list(mask.shape), "counts": counts}


def _instance_segmentation(mask: np.ndarray):
    """Polygons when they reproduce the mask well (IoU >= 0.85), compressed RLE otherwise
    (holes, several parts)."""
    h, w = mask.shape
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    polygons = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    if polygons:
        raster = mask_util.decode(mask_util.merge(mask_util.frPyObjects(polygons, h, w))).astype(
            bool
        )
        iou = (raster & mask).sum() / max((raster | mask).sum(), 1)
        if iou >= 0.85:
            return polygons
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _write_split(out: str, split: str, num_images: int, seed: int, categories: List[dict]):
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    contiguous = {c["id"]: i for i, c in enumerate(categories)}
    dirs = {
        "images": os.path.join(out, "images", split),
        "raw": os.path.join(out, "annotations", split),
        "semantic": os.path.join(out, "annotations_detectron2", split),
        "panoptic": os.path.join(out, f"panoptic_{split}"),
        "panoptic_semseg": os.path.join(out, f"panoptic_semseg_{split}"),
    }
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    images, panoptic_annotations, instance_annotations = [], [], []
    for index in range(num_images):
        image, seg_map, segments = _render_scene(rng, categories)
        h, w = seg_map.shape
        image_id = index + 1
        stem = f"{image_id:06d}"
        Image.fromarray(image).save(os.path.join(dirs["images"], stem + ".jpg"), quality=95)
        raw = np.zeros((h, w), np.uint8)
        for segment in segments:
            mask = seg_map == segment["id"]
            raw[mask] = contiguous[segment["category_id"]] + 1
            if categories[contiguous[segment["category_id"]]]["isthing"]:
                crowd = segment["iscrowd"]
                instance_annotations.append(
                    {
                        "id": len(instance_annotations) + 1,
                        "image_id": image_id,
                        "category_id": segment["category_id"],
                        "segmentation": uncompressed_rle(mask)
                        if crowd
                        else _instance_segmentation(mask),
                        "area": segment["area"],
                        "bbox": segment["bbox"],
                        "iscrowd": crowd,
                    }
                )
        raw_path = os.path.join(dirs["raw"], stem + ".png")
        Image.fromarray(raw).save(raw_path)
        shift_ade20k_semantic(raw_path, os.path.join(dirs["semantic"], stem + ".png"))
        Image.fromarray(id2rgb(seg_map)).save(os.path.join(dirs["panoptic"], stem + ".png"))
        images.append({"id": image_id, "file_name": stem + ".jpg", "height": h, "width": w})
        panoptic_annotations.append(
            {"image_id": image_id, "file_name": stem + ".png", "segments_info": segments}
        )

    json_categories = [
        {
            "id": c["id"],
            "name": c["name"],
            "isthing": c["isthing"],
            "color": c["color"],
            "supercategory": "shape" if c["isthing"] else "background",
        }
        for c in categories
    ]
    panoptic_json = os.path.join(out, f"panoptic_{split}.json")
    with open(panoptic_json, "w") as f:
        json.dump(
            {"images": images, "annotations": panoptic_annotations, "categories": json_categories},
            f,
        )
    with open(os.path.join(out, f"instances_{split}.json"), "w") as f:
        things = [c for c in json_categories if c["isthing"]]
        json.dump({"images": images, "annotations": instance_annotations, "categories": things}, f)
    semantic_from_panoptic(panoptic_json, dirs["panoptic"], dirs["panoptic_semseg"], categories)


def dataset_generator(
    folder: str, splits, write_split: Callable, default_num_train: int, default_num_val: int
) -> Callable[..., str]:
    """The function that writes a generated dataset under ``<root>/<folder>``, one split of
    ``splits`` (train, then val) at a time with ``write_split(out, split, count, seed,
    categories)``."""

    def generate(
        root: str,
        num_train: int = default_num_train,
        num_val: int = default_num_val,
        seed: int = 0,
        overwrite: bool = False,
    ) -> str:
        """Write the dataset under ``<root>/{folder}`` (``root`` is a datasets root such as
        $DETECTRON2_DATASETS) and return that folder. Deterministic for given arguments; when a
        complete dataset with the same arguments is already there (a marker file written last
        records them), nothing is rewritten unless ``overwrite``."""
        out = os.path.join(root, folder)
        params = {"num_train": num_train, "num_val": num_val, "seed": seed, "version": 1}
        marker = os.path.join(out, _MARKER)
        if not overwrite and os.path.isfile(marker):
            with open(marker) as f:
                if json.load(f) == params:
                    return out
        if os.path.isdir(out):
            shutil.rmtree(out)
        categories = load_categories("shapes")
        for split, count in zip(splits, (num_train, num_val)):
            write_split(out, split, count, seed, categories)
        with open(marker, "w") as f:
            json.dump(params, f)
        return out

    generate.__doc__ = generate.__doc__.format(folder=folder)
    return generate


generate = dataset_generator("shapes", SPLITS, _write_split, DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL)


def main(argv=None):
    from .datasets.catalog import datasets_root
    from .shapes_video import DEFAULT_NUM_TRAIN_VIDEOS, DEFAULT_NUM_VAL_VIDEOS, generate_videos

    parser = argparse.ArgumentParser(description="Generate the synthetic 'shapes' dataset.")
    parser.add_argument(
        "--root",
        default=datasets_root(),
        help="datasets root (default: $DETECTRON2_DATASETS or ./datasets)",
    )
    parser.add_argument(
        "--videos",
        action="store_true",
        help="generate the shapes videos (shapes_video, YouTube-VIS format) instead of the images",
    )
    parser.add_argument(
        "--num-train",
        type=int,
        help=f"images ({DEFAULT_NUM_TRAIN}) or videos ({DEFAULT_NUM_TRAIN_VIDEOS})",
    )
    parser.add_argument(
        "--num-val",
        type=int,
        help=f"images ({DEFAULT_NUM_VAL}) or videos ({DEFAULT_NUM_VAL_VIDEOS})",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if args.videos:
        num_train = DEFAULT_NUM_TRAIN_VIDEOS if args.num_train is None else args.num_train
        num_val = DEFAULT_NUM_VAL_VIDEOS if args.num_val is None else args.num_val
        out = generate_videos(args.root, num_train, num_val, args.seed, args.overwrite)
        print(f"shapes videos ({num_train} train / {num_val} val) in {out}")
        return
    num_train = DEFAULT_NUM_TRAIN if args.num_train is None else args.num_train
    num_val = DEFAULT_NUM_VAL if args.num_val is None else args.num_val
    out = generate(args.root, num_train, num_val, args.seed, args.overwrite)
    print(f"shapes dataset ({num_train} train / {num_val} val images) in {out}")
