"""The COCOeval implementation behind this project's COCO-style instance evaluation.

``faster-coco-eval`` (a maintained C++ implementation of pycocotools' ``COCOeval``) is used when
it is installed: it gives the same numbers as pycocotools (tests/test_evaluation_coco_eval.py)
several times faster (``tools/benchmark_coco_eval.py``, figures in docs/analysis.md).
Detectron2's own fast evaluator lives in its compiled ``detectron2._C``, which this install
lacks. Without the package, pycocotools' official ``COCOeval`` is used.

:func:`cocoeval_fn` returns a callable ``(coco_gt, coco_dt, iou_type) -> evaluator`` that plugs
into :func:`evaluate_predictions_on_coco` (Detectron2's COCO evaluation of a list of
results); the evaluator has pycocotools' interface (``params``, ``evaluate()``,
``accumulate()``, ``summarize()``, ``stats``, ``eval["precision"]``). :func:`evaluate_coco_files` evaluates a results file against
a ground-truth file (``tools/evaluate_coco_boundary_ap.py``).
"""

import contextlib
import functools
import io
import json
from typing import Callable, Optional

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .._private_api import evaluate_predictions_on_coco
from ..errors import UserError
from .boundary_iou import DEFAULT_DILATION_RATIO, BoundaryCOCOeval

try:
    from faster_coco_eval import COCOeval_faster
except ImportError:  # optional
    COCOeval_faster = None

__all__ = [
    "COCO_STAT_NAMES",
    "CocoFileError",
    "cocoeval_fn",
    "evaluate_coco_files",
    "evaluate_predictions_on_coco",
    "fast_cocoeval_available",
]

# COCOeval.stats, in order
COCO_STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")  # fmt: skip


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


class CocoFileError(UserError, ValueError):
    """A COCO ground-truth or results file that cannot be evaluated."""


def _read_json(path: str, what: str):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise CocoFileError(f"{path}: {what} file not found") from None
    except json.JSONDecodeError as e:
        raise CocoFileError(f"{path}: {what} file is not valid JSON ({e})") from None


def evaluate_coco_files(
    gt_json: str,
    results_json: str,
    iou_type: str = "boundary",
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    fast: bool = True,
):
    """Evaluate a COCO results file (a list of ``{"image_id", "category_id", "segmentation"
    or "bbox", "score"}``, e.g. the ``coco_instances_results.json`` that instance evaluation
    writes) against a COCO ground-truth file.

    Args:
        iou_type: "boundary" (Boundary AP of masks), "segm" (mask AP) or "bbox" (box AP).
        dilation_ratio: boundary width for "boundary", as a fraction of the image diagonal.
        fast: use faster-coco-eval when installed.
    Returns:
        the evaluated COCOeval object (``stats``: the 12 numbers of COCO's summary, in [0, 1]).
    """
    if iou_type not in ("boundary", "segm", "bbox"):
        raise CocoFileError(f"iou_type must be 'boundary', 'segm' or 'bbox', got {iou_type!r}")
    results = _read_json(results_json, "results")
    if not isinstance(results, list) or not results:
        raise CocoFileError(f"{results_json}: expected a non-empty list of detections")
    key = "bbox" if iou_type == "bbox" else "segmentation"
    if any(not isinstance(r, dict) or key not in r or "score" not in r for r in results):
        raise CocoFileError(
            f"{results_json}: every detection needs {key!r} and 'score' for {iou_type} AP"
        )
    dataset = _read_json(gt_json, "ground-truth")
    if (
        not isinstance(dataset, dict)
        or not {"images", "annotations", "categories"} <= dataset.keys()
    ):
        raise CocoFileError(
            f"{gt_json}: expected a COCO dict with images, annotations and categories"
        )
    coco_gt = COCO()
    coco_gt.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
    unknown = {r.get("image_id") for r in results} - set(coco_gt.getImgIds())
    if unknown:
        raise CocoFileError(
            f"{results_json}: detections for image ids {sorted(unknown, key=str)[:5]} that "
            f"{gt_json} does not have"
        )
    ratio = dilation_ratio if iou_type == "boundary" else None
    task = "bbox" if iou_type == "bbox" else "segm"
    return evaluate_predictions_on_coco(coco_gt, results, task, cocoeval_fn(fast, ratio))
