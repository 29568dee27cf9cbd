"""The generated "shapes_video" dataset: short videos of the shapes things moving over a static
textured background, written in the YouTube-VIS format so that the video loaders, mapper and
evaluator run on it end to end.

Each video (8-12 frames of 96-128 px) has 1-4 things (circle, square, triangle, star) moving in
a straight line from a start to an end point drawn beyond the frame's borders, so that some
enter or leave the frame, while turning; things keep their colour and texture, later ones pass
in front of earlier ones (occlusion). An object is annotated in the frames where at least
``MIN_SEGMENT_AREA`` of its pixels are visible (uncompressed RLE, as in YouTube-VIS's JSON).

Layout under ``<root>/shapes_video``, as YouTube-VIS under ``<root>/ytvis_2019``::

    train/JPEGImages/<video>/<frame>.jpg, train.json
    valid/JPEGImages/<video>/<frame>.jpg, valid.json
"""

import json
import os
from typing import List

import numpy as np
from PIL import Image

from .preparation import segment_bbox
from .shapes import (
    MIN_SEGMENT_AREA,
    dataset_generator,
    draw_thing,
    stuff_bands,
    stuff_texture,
    uncompressed_rle,
)

__all__ = ["generate_videos", "VIDEO_SPLITS", "DEFAULT_NUM_TRAIN_VIDEOS", "DEFAULT_NUM_VAL_VIDEOS"]

# split -> folder (YouTube-VIS's names)
VIDEO_SPLITS = {"train": "train", "val": "valid"}
DEFAULT_NUM_TRAIN_VIDEOS = 60
DEFAULT_NUM_VAL_VIDEOS = 20
VIDEO_SIZES = (96, 112, 128)
VIDEO_LENGTHS = (8, 13)  # [low, high)


class _MovingThing:
    """A thing's class, appearance and straight-line motion over a video of ``length`` frames."""

    def __init__(self, rng, category: dict, h: int, w: int, length: int):
        self.category = category
        self.size = rng.uniform(0.15, 0.3) * min(h, w)
        # start and end beyond the borders now and then: the thing enters or leaves
        self.start = rng.uniform(-0.2, 1.2, 2) * (w, h)
        self.end = rng.uniform(-0.2, 1.2, 2) * (w, h)
        self.angle = rng.uniform(0, 2 * np.pi)
        self.spin = rng.uniform(-0.15, 0.15)
        self.color = np.clip(
            np.asarray(category["color"], np.float32) + rng.uniform(-25, 25, 3), 0, 255
        )
        self.pattern = int(rng.integers(3))
        self.period = int(rng.integers(5, 9))
        self.length = length

    def mask(self, frame: int, h: int, w: int) -> np.ndarray:
        progress = frame / max(self.length - 1, 1)
        cx, cy = self.start + (self.end - self.start) * progress
        return draw_thing(
            self.category["name"], h, w, cx, cy, self.size, self.angle + self.spin * frame
        )

    def texture(self, rng, frame: int, ys, xs) -> np.ndarray:
        """Colours of the pixels (ys, xs); the pattern moves with the thing."""
        progress = frame / max(self.length - 1, 1)
        cx, cy = self.start + (self.end - self.start) * progress
        tex = np.tile(self.color, (len(ys), 1))
        u, v = (xs - int(cx)), (ys - int(cy))
        if self.pattern == 1:  # stripes
            tex[((u + v) % self.period) < 2] *= 0.7
        elif self.pattern == 2:  # dots
            tex[(u % self.period < 2) & (v % self.period < 2)] *= 0.6
        return tex + rng.standard_normal((len(ys), 1), dtype=np.float32) * 5


def _render_video(rng, categories: List[dict]):
    """Returns the frames (T, h, w, 3) uint8 and, per thing, its class and per-frame visible
    masks (None where less than MIN_SEGMENT_AREA pixels show)."""
    h, w = int(rng.choice(VIDEO_SIZES)), int(rng.choice(VIDEO_SIZES))
    length = int(rng.integers(*VIDEO_LENGTHS))
    stuff = [c for c in categories if not c["isthing"]]
    things = [c for c in categories if c["isthing"]]
    background = np.zeros((h, w, 3), np.float32)
    for mask, category in stuff_bands(rng, stuff, h, w):
        ys, xs = np.nonzero(mask)
        background[ys, xs] = stuff_texture(rng, category["name"], category["color"], h, w, ys, xs)
    movers = [
        _MovingThing(rng, things[rng.integers(len(things))], h, w, length)
        for _ in range(rng.integers(1, 5))
    ]
    frames = np.empty((length, h, w, 3), np.uint8)
    visible = [[None] * length for _ in movers]
    for t in range(length):
        image = background + rng.standard_normal((h, w, 1), dtype=np.float32) * 3
        owner = np.zeros((h, w), np.int64)  # 1 + index of the thing in front, 0 = background
        for k, mover in enumerate(movers):
            ys, xs = np.nonzero(mover.mask(t, h, w))
            image[ys, xs] = mover.texture(rng, t, ys, xs)
            owner[ys, xs] = k + 1
        frames[t] = np.clip(image, 0, 255).astype(np.uint8)
        for k in range(len(movers)):
            mask = owner == k + 1
            if mask.sum() >= MIN_SEGMENT_AREA:
                visible[k][t] = mask
    return frames, [(m.category, masks) for m, masks in zip(movers, visible)]


def _write_split(out: str, split: str, num_videos: int, seed: int, categories: List[dict]):
    folder = VIDEO_SPLITS[split]
    rng = np.random.default_rng([seed, list(VIDEO_SPLITS).index(split), 1])
    videos, annotations = [], []
    for index in range(num_videos):
        frames, tracks = _render_video(rng, categories)
        length, h, w = frames.shape[:3]
        video_id, name = index + 1, f"{index + 1:05d}"
        os.makedirs(os.path.join(out, folder, "JPEGImages", name), exist_ok=True)
        file_names = [f"{name}/{t:05d}.jpg" for t in range(length)]
        for frame, file_name in zip(frames, file_names):
            Image.fromarray(frame).save(
                os.path.join(out, folder, "JPEGImages", file_name), quality=95
            )
        videos.append(
            {"id": video_id, "file_names": file_names, "height": h, "width": w, "length": length}
        )
        for category, masks in tracks:
            if all(m is None for m in masks):
                continue
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "video_id": video_id,
                    "category_id": category["id"],
                    "iscrowd": 0,
                    "segmentations": [None if m is None else uncompressed_rle(m) for m in masks],
                    "bboxes": [None if m is None else segment_bbox(m) for m in masks],
                    "areas": [None if m is None else int(m.sum()) for m in masks],
                    "height": h,
                    "width": w,
                    "length": length,
                }
            )
    things = [
        {"id": c["id"], "name": c["name"], "supercategory": "shape"}
        for c in categories
        if c["isthing"]
    ]
    with open(os.path.join(out, f"{folder}.json"), "w") as f:
        json.dump({"videos": videos, "annotations": annotations, "categories": things}, f)


generate_videos = dataset_generator(
    "shapes_video", VIDEO_SPLITS, _write_split, DEFAULT_NUM_TRAIN_VIDEOS, DEFAULT_NUM_VAL_VIDEOS
)
