"""Evaluation: evaluator selection by dataset type, an instance evaluator for datasets whose
thing classes are a subset of all classes, and a semantic evaluator that reports ground-truth
labels outside the classes."""
from .build import EVALUATOR_TYPES, build_evaluator, register_evaluator_type
from .instance_evaluation import InstanceSegEvaluator
from .semantic_evaluation import CheckedSemSegEvaluator

__all__ = [
    "EVALUATOR_TYPES",
    "CheckedSemSegEvaluator",
    "InstanceSegEvaluator",
    "build_evaluator",
    "register_evaluator_type",
]
