"""Boundary IoU (Cheng et al., "Boundary IoU: Improving Object-Centric Image Segmentation
Evaluation", CVPR 2021) and the Boundary AP variant of COCO mask AP.

The boundary of a mask is the set of its pixels that lie within ``d`` pixels (chessboard
distance) of its contour, where ``d = max(1, round(dilation_ratio * image_diagonal))``; the
image border counts as contour, so a mask cut by the border has a boundary there. Boundary IoU
of two masks is the IoU of their boundaries.

Boundary AP is COCO mask AP in which a detection and a (non-crowd) ground truth are matched by
``min(mask IoU, boundary IoU)``; crowd regions keep pycocotools' mask IoU. Everything else (the
matching, the accumulation over recall points, areas from the mask) is pycocotools' ``COCOeval``.
"""

import math
from typing import Dict, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_util
from pycocotools.cocoeval import COCOeval

from .._private_api import compared_annotations

__all__ = [
    "DEFAULT_DILATION_RATIO",
    "BoundaryCOCOeval",
    "boundary_iou",
    "class_boundary_overlaps",
    "dilation_pixels",
    "mask_boundary",
]

DEFAULT_DILATION_RATIO = 0.02


def dilation_pixels(height: int, width: int, dilation_ratio: float = DEFAULT_DILATION_RATIO) -> int:
    """The boundary width ``d`` in pixels of an image of this size: ``max(1, round(ratio *
    diagonal))``."""
    if dilation_ratio <= 0:
        raise ValueError(f"dilation_ratio must be positive, got {dilation_ratio}")
    return max(1, int(round(dilation_ratio * math.hypot(height, width))))


def mask_boundary(mask: np.ndarray, dilation_ratio: float = DEFAULT_DILATION_RATIO) -> np.ndarray:
    """The boundary of a binary mask.

    Args:
        mask: (H, W) bool or 0/1 array.
        dilation_ratio: boundary width as a fraction of the image diagonal.
    Returns:
        (H, W) bool: the mask pixels within ``dilation_pixels(H, W, ratio)`` pixels (chessboard
        distance) of a pixel outside the mask, pixels beyond the image border included.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask_boundary: expected an (H, W) mask, got shape {mask.shape}")
    h, w = mask.shape
    d = dilation_pixels(h, w, dilation_ratio)
    # A zero frame makes the image border part of the contour; eroding with a (2d+1)^2 square
    # removes exactly the pixels within distance d of a zero.
    framed = np.pad(mask.astype(np.uint8), 1)
    interior = cv2.erode(framed, np.ones((2 * d + 1, 2 * d + 1), np.uint8))[1:-1, 1:-1]
    return mask.astype(bool) & ~interior.astype(bool)


def boundary_iou(
    mask_a: np.ndarray, mask_b: np.ndarray, dilation_ratio: float = DEFAULT_DILATION_RATIO
) -> float:
    """Boundary IoU of two (H, W) binary masks of the same image; 0 when both are empty."""
    if mask_a.shape != mask_b.shape:
        raise ValueError(f"boundary_iou: masks differ in shape, {mask_a.shape} vs {mask_b.shape}")
    a = mask_boundary(mask_a, dilation_ratio)
    b = mask_boundary(mask_b, dilation_ratio)
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def class_boundary_overlaps(
    pred: np.ndarray,
    gt: np.ndarray,
    num_classes: int,
    valid: np.ndarray,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
) -> Tuple[np.ndarray, np.ndarray]:
    """Per-class intersections and unions of the boundaries of two label maps of one image.

    The boundary of class ``c`` in a map is :func:`mask_boundary` of ``map == c``. Pixels
    outside ``valid`` (ignored ground truth) belong to no class in either map, so that a
    prediction equal to the ground truth on the valid pixels has the same boundaries, and count
    in neither the intersection nor the union, as for IoU. Summed over a dataset,
    ``intersection / union`` is each class's Boundary IoU.

    Args:
        pred, gt: (H, W) integer label maps; values outside ``[0, num_classes)`` are no class.
        valid: (H, W) bool, the pixels that are evaluated.
    Returns:
        (intersection, union), each (num_classes,) int64 pixel counts.
    """
    intersection = np.zeros(num_classes, np.int64)
    union = np.zeros(num_classes, np.int64)
    pred, gt = np.where(valid, pred, -1), np.where(valid, gt, -1)
    present = np.union1d(np.unique(pred), np.unique(gt))
    for c in present[(present >= 0) & (present < num_classes)]:
        pred_boundary = mask_boundary(pred == c, dilation_ratio) & valid
        gt_boundary = mask_boundary(gt == c, dilation_ratio) & valid
        intersection[c] = np.count_nonzero(pred_boundary & gt_boundary)
        union[c] = np.count_nonzero(pred_boundary | gt_boundary)
    return intersection, union


class BoundaryCOCOeval(COCOeval):
    """pycocotools' ``COCOeval`` for iouType "segm" whose IoU of a detection and a non-crowd
    ground truth is ``min(mask IoU, boundary IoU)``: its precision, recall and ``stats`` are
    Boundary AP / AR. Used like ``COCOeval(coco_gt, coco_dt, "segm")``."""

    def __init__(
        self, cocoGt=None, cocoDt=None, iouType="segm", dilation_ratio=DEFAULT_DILATION_RATIO
    ):
        if iouType != "segm":
            raise ValueError(f"BoundaryCOCOeval evaluates masks (iouType 'segm'), got {iouType!r}")
        super().__init__(cocoGt, cocoDt, iouType)
        self.dilation_ratio = dilation_ratio
        self._boundaries: Dict[Tuple[str, int], dict] = {}

    def _boundary_rle(self, source: str, ann: dict) -> dict:
        # after _prepare, ann["segmentation"] is an RLE of the full image
        key = (source, ann["id"])
        if key not in self._boundaries:
            boundary = mask_boundary(mask_util.decode(ann["segmentation"]), self.dilation_ratio)
            self._boundaries[key] = mask_util.encode(np.asfortranarray(boundary.astype(np.uint8)))
        return self._boundaries[key]

    def computeIoU(self, imgId, catId):
        gts, dts = compared_annotations(self, imgId, catId)
        if not gts or not dts:
            return []
        iscrowd = [int(g["iscrowd"]) for g in gts]
        ious = np.asarray(
            mask_util.iou(
                [d["segmentation"] for d in dts], [g["segmentation"] for g in gts], iscrowd
            )
        )
        boundary = np.asarray(
            mask_util.iou(
                [self._boundary_rle("dt", d) for d in dts],
                [self._boundary_rle("gt", g) for g in gts],
                iscrowd,
            )
        )
        non_crowd = ~np.asarray(iscrowd, dtype=bool)
        ious[:, non_crowd] = np.minimum(ious[:, non_crowd], boundary[:, non_crowd])
        return ious
