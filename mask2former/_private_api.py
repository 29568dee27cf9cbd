"""Everything this package uses of PyTorch, Detectron2, fvcore and pycocotools that they do not
publish.

Each function wraps one private attribute or function, has one caller, and is pinned by
``tests/test_framework_guards.py``, which fails when an upgrade of the framework renames it or
changes what it does. Code elsewhere in the package uses only the frameworks' public API.
"""

from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.evaluation import SemSegEvaluator, coco_evaluation
from pycocotools.cocoeval import COCOeval

__all__ = [
    "clear_checkpoint_url",
    "compared_annotations",
    "evaluate_predictions_on_coco",
    "let_grad_scaler_unscale_first",
    "skip_sem_seg_boundary_iou",
]


def let_grad_scaler_unscale_first(optimizer: torch.optim.Optimizer) -> None:
    """Make ``torch.amp.GradScaler.step`` unscale the gradients before ``optimizer.step``.

    A fused optimizer sets ``_step_supports_amp_scaling``, so GradScaler leaves its gradients
    scaled and the fused kernel unscales them inside the step. An optimizer whose ``step``
    first clips the gradients must see them unscaled: clearing the flag restores GradScaler's
    unscale-then-step order, as for unfused optimizers.
    """
    optimizer._step_supports_amp_scaling = False


def skip_sem_seg_boundary_iou(evaluator: SemSegEvaluator) -> None:
    """Make ``SemSegEvaluator.process`` skip its boundary confusion matrix (computed on the
    boundary of the whole class-id map) and ``evaluate`` its "BoundaryIoU" keys: the caller
    computes per-class Boundary IoU itself."""
    evaluator._compute_boundary_iou = False


def clear_checkpoint_url(checkpointer: DetectionCheckpointer) -> None:
    """Clear the URL that ``DetectionCheckpointer.load`` keeps during a load. It clears it
    only after a load that succeeded, and asserts at the start of every load that it is
    clear: without this, a load that raised (a corrupt file) makes every later load of the
    same checkpointer fail on that assertion."""
    checkpointer._parsed_url_during_load = None


def evaluate_predictions_on_coco(
    coco_gt,
    coco_results: List[dict],
    iou_type: str,
    cocoeval_fn: Callable,
    *,
    kpt_oks_sigmas=None,
    img_ids: Optional[List[int]] = None,
    max_dets_per_image: Optional[List[int]] = None,
):
    """Detectron2's COCO evaluation of a list of results (the one ``COCOEvaluator`` runs): the
    ``cocoeval_fn(coco_gt, coco_dt, iou_type)`` evaluator, evaluated, accumulated and
    summarized, with mask AP using mask areas and Detectron2's handling of
    ``max_dets_per_image`` and keypoint sigmas."""
    return coco_evaluation._evaluate_predictions_on_coco(
        coco_gt,
        coco_results,
        iou_type,
        kpt_oks_sigmas=kpt_oks_sigmas,
        cocoeval_fn=cocoeval_fn,
        img_ids=img_ids,
        max_dets_per_image=max_dets_per_image,
    )


def compared_annotations(cocoeval: COCOeval, img_id, cat_id) -> Tuple[List[dict], List[dict]]:
    """The ground truths and the detections (by decreasing score, at most maxDets[-1]) of one
    image and category (all categories when ``params.useCats`` is off) that pycocotools'
    ``COCOeval.computeIoU`` compares, for subclasses that compute their IoU another way."""
    p = cocoeval.params
    cat_ids = [cat_id] if p.useCats else p.catIds
    gts = [g for c in cat_ids for g in cocoeval._gts[img_id, c]]
    dts = [d for c in cat_ids for d in cocoeval._dts[img_id, c]]
    order = np.argsort([-d["score"] for d in dts], kind="mergesort")
    return gts, [dts[i] for i in order[: p.maxDets[-1]]]
