"""The COCOeval implementation behind this project's COCO-style instance evaluation.

``faster-coco-eval`` (a maintained C++ implementation of pycocotools' ``COCOeval``) is used when
it is installed: it gives the same numbers as pycocotools (tests/test_evaluation_coco_eval.py)
several times faster (``tools/benchmark_coco_eval.py``, figures in docs/analysis.md).
Detectron2's own fast evaluator lives in its compiled ``detectron2._C``, which this install
lacks. Without the package, pycocotools' official ``COCOeval`` is used.

:func:`cocoeval_fn` returns a callable ``(coco_gt, coco_dt, iou_type) -> evaluator`` that plugs
into Detectron2's ``_evaluate_predictions_on_coco(..., cocoeval_fn=...)``; the evaluator has
pycocotools' interface (``params``, ``evaluate()``, ``accumulate()``, ``summarize()``,
``stats``, ``eval["precision"]``).
"""
import functools
from typing import Callable, Optional

from pycocotools.cocoeval import COCOeval

from .boundary_iou import BoundaryCOCOeval

try:
    from faster_coco_eval import COCOeval_faster
except ImportError:  # optional
    COCOeval_faster = None

__all__ = ["cocoeval_fn", "fast_cocoeval_available"]


def fast_cocoeval_available() -> bool:
    """Whether faster-coco-eval is installed."""
    return COCOeval_faster is not None


def _faster(coco_gt, coco_dt, iou_type, boundary_dilation_ratio=None):
    if boundary_dilation_ratio is None:
        return COCOeval_faster(coco_gt, coco_dt, iou_type)
    if iou_type != "segm":
        raise ValueError(f"Boundary AP is defined for masks (iou_type 'segm'), got {iou_type!r}")
    return COCOeval_faster(
        coco_gt, coco_dt, "boundary", boundary_dilation_ratio=boundary_dilation_ratio
    )


def _pycocotools(coco_gt, coco_dt, iou_type, boundary_dilation_ratio=None):
    if boundary_dilation_ratio is None:
        return COCOeval(coco_gt, coco_dt, iou_type)
    return BoundaryCOCOeval(coco_gt, coco_dt, iou_type, dilation_ratio=boundary_dilation_ratio)


def cocoeval_fn(fast: bool = True, boundary_dilation_ratio: Optional[float] = None) -> Callable:
    """The COCOeval class to use, as a ``(coco_gt, coco_dt, iou_type)`` callable.

    Args:
        fast: use faster-coco-eval when installed (pycocotools otherwise, or when False).
        boundary_dilation_ratio: None for mask / box AP; a ratio (0.02 in the Boundary IoU
            paper) for Boundary AP of masks (faster-coco-eval's "boundary" iouType, or
            :class:`~mask2former.evaluation.boundary_iou.BoundaryCOCOeval`).
    """
    implementation = _faster if fast and fast_cocoeval_available() else _pycocotools
    return functools.partial(implementation, boundary_dilation_ratio=boundary_dilation_ratio)
