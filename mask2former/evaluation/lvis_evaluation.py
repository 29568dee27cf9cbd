"""LVIS evaluation (datasets of evaluator type "lvis"): Detectron2's LVISEvaluator, made to run
with the numpy this project installs."""

import contextlib

import numpy as np
from detectron2.evaluation import LVISEvaluator as _D2LVISEvaluator

__all__ = ["LVISEvaluator"]


@contextlib.contextmanager
def _numpy_float_alias():
    """``np.float`` (removed in numpy 1.24) exists only inside this context."""
    if "float" in np.__dict__:
        yield
        return
    np.float = float
    try:
        yield
    finally:
        del np.float


class LVISEvaluator(_D2LVISEvaluator):
    """Detectron2's :class:`~detectron2.evaluation.LVISEvaluator`. The last release of the
    ``lvis`` package (0.5.3) calls ``np.float``, which numpy 1.24 removed (fixed in lvis-api's
    unreleased main branch), so its evaluation runs with that alias defined for its duration."""

    def evaluate(self):
        with _numpy_float_alias():
            return super().evaluate()
