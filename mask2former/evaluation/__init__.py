"""Evaluation: evaluator selection by dataset type, COCO-style instance evaluation (datasets
whose thing classes are a subset of all classes, faster-coco-eval, Boundary AP), LVIS, a
semantic evaluator that reports ground-truth labels outside the classes, and PQ of semantic
predictions."""

from .boundary_iou import BoundaryCOCOeval, boundary_iou, mask_boundary
from .build import EVALUATOR_REGISTRY, build_evaluator, register_evaluator_type
from .coco_eval import cocoeval_fn, fast_cocoeval_available
from .instance_evaluation import InstanceSegEvaluator
from .lvis_evaluation import LVISEvaluator
from .semantic_evaluation import CheckedSemSegEvaluator

__all__ = [
    "BoundaryCOCOeval",
    "CheckedSemSegEvaluator",
    "EVALUATOR_REGISTRY",
    "InstanceSegEvaluator",
    "LVISEvaluator",
    "boundary_iou",
    "build_evaluator",
    "cocoeval_fn",
    "fast_cocoeval_available",
    "mask_boundary",
    "register_evaluator_type",
]
