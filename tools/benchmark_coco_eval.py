#!/usr/bin/env python
"""Times COCO instance evaluation with pycocotools' COCOeval against faster-coco-eval (what the
project's instance evaluation uses when it is installed) on generated instances, and checks
that both give the same 12 summary numbers.

    python tools/benchmark_coco_eval.py                     # 500 images, ~4000 instances
    python tools/benchmark_coco_eval.py --images 100 --iou-types segm

Ground truth: random discs and boxes on COCO-sized images (480x640), in 10 categories, a few
crowd regions. Detections: every instance found up to 3 times with shifted, grown or shrunk
masks and random scores, plus false positives. Each evaluation is timed end to end as
instance evaluation runs it (loading the results, evaluate, accumulate, summarize).
"""

import argparse
import contextlib
import copy
import io
import sys
from typing import Dict, List, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_util

NUM_CATEGORIES = 10


def _rle(mask: np.ndarray) -> dict:
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _random_mask(rng, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
    size = int(rng.integers(4, min(h, w) // 4))
    if rng.random() < 0.5:
        cv2.circle(mask, (cx, cy), size, 1, -1)
    else:
        cv2.rectangle(mask, (cx - size, cy - size // 2), (cx + size, cy + size // 2), 1, -1)
    return mask


def _detection_of(rng, mask: np.ndarray) -> np.ndarray:
    change = rng.integers(3)
    if change == 0:
        return np.roll(mask, tuple(rng.integers(-6, 7, 2)), axis=(0, 1))
    kernel = np.ones((3, 3), np.uint8)
    steps = int(rng.integers(1, 4))
    return (
        cv2.dilate(mask, kernel, iterations=steps)
        if change == 1
        else cv2.erode(mask, kernel, iterations=steps)
    )


def generate(
    num_images: int, objects: int, size: Tuple[int, int], seed: int
) -> Tuple[Dict, List[dict]]:
    """A COCO ground-truth dict and a results list (see the module docstring)."""
    rng = np.random.default_rng(seed)
    h, w = size
    images, annotations, results = [], [], []
    for image_id in range(1, num_images + 1):
        images.append({"id": image_id, "height": h, "width": w, "file_name": f"{image_id:06d}.jpg"})
        for _ in range(int(rng.poisson(objects))):
            mask = _random_mask(rng, h, w)
            if not mask.any():
                continue
            category = int(rng.integers(1, NUM_CATEGORIES + 1))
            rle = _rle(mask)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                "segmentation": rle, "area": int(mask.sum()),
                "bbox": [float(v) for v in mask_util.toBbox(rle)], "iscrowd": int(rng.random() < 0.02),
            })  # fmt: skip
            detections = [_detection_of(rng, mask) for _ in range(int(rng.integers(1, 4)))]
            if rng.random() < 0.3:
                detections.append(_random_mask(rng, h, w))  # a false positive
            for found in detections:
                if found.any():
                    rle = _rle(found)
                    results.append({
                        "image_id": image_id, "category_id": category, "segmentation": rle,
                        "bbox": [float(v) for v in mask_util.toBbox(rle)], "score": float(rng.random()),
                    })  # fmt: skip
    categories = [{"id": c, "name": f"class{c}"} for c in range(1, NUM_CATEGORIES + 1)]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def time_evaluation(
    dataset: Dict, results: List[dict], iou_type: str, fast: bool
) -> Tuple[float, np.ndarray]:
    """Seconds of one evaluation (as instance evaluation runs it) and its 12 summary numbers."""
    from pycocotools.coco import COCO

    from mask2former.evaluation.coco_eval import (
        cocoeval_fn,
        evaluate_predictions_on_coco,
    )
    from mask2former.utils.timing import clock

    coco_gt = COCO()
    coco_gt.dataset = copy.deepcopy(dataset)
    results = copy.deepcopy(results)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        start = clock()
        coco_eval = evaluate_predictions_on_coco(coco_gt, results, iou_type, cocoeval_fn(fast))
        seconds = clock() - start
    return seconds, np.asarray(coco_eval.stats)


def main(argv=None) -> int:
    from mask2former.evaluation.coco_eval import fast_cocoeval_available

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument(
        "--objects", type=float, default=8.0, help="mean ground-truth instances per image"
    )
    parser.add_argument("--size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    parser.add_argument(
        "--iou-types", nargs="+", default=["segm", "bbox"], choices=["segm", "bbox"]
    )
    parser.add_argument("--repeats", type=int, default=1, help="take the fastest of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not fast_cocoeval_available():
        parser.error("faster-coco-eval is not installed: nothing to compare pycocotools with")

    dataset, results = generate(args.images, args.objects, tuple(args.size), args.seed)
    print(f"{args.images} images {args.size[0]}x{args.size[1]}, {len(dataset['annotations'])} "
          f"ground-truth instances, {len(results)} detections")  # fmt: skip
    print(
        "| iou type | pycocotools (s) | faster-coco-eval (s) | speed-up | max abs. difference of the 12 numbers |"
    )
    print("|---|---|---|---|---|")
    for iou_type in args.iou_types:
        runs = {
            fast: [time_evaluation(dataset, results, iou_type, fast) for _ in range(args.repeats)]
            for fast in (False, True)
        }
        slow_s, fast_s = (min(seconds for seconds, _ in runs[fast]) for fast in (False, True))
        difference = float(np.abs(runs[False][0][1] - runs[True][0][1]).max())
        print(
            f"| {iou_type} | {slow_s:.2f} | {fast_s:.2f} | {slow_s / fast_s:.1f}x | {difference:.1e} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
