"""Evaluation: evaluator selection by dataset type, and an instance evaluator for datasets whose
thing classes are a subset of all classes."""
from .build import EVALUATOR_TYPES, build_evaluator, register_evaluator_type
from .instance_evaluation import InstanceSegEvaluator

__all__ = ["EVALUATOR_TYPES", "InstanceSegEvaluator", "build_evaluator", "register_evaluator_type"]
