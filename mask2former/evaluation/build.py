"""Evaluators of a dataset, chosen by its metadata ``evaluator_type`` and the tasks that
``MODEL.MASK_FORMER.TEST.{SEMANTIC,INSTANCE,PANOPTIC}_ON`` turn on."""

import logging
import os
from typing import Callable, Dict, List, Optional, Set

from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.evaluation import (
    CityscapesInstanceEvaluator,
    CityscapesSemSegEvaluator,
    COCOPanopticEvaluator,
    DatasetEvaluator,
    DatasetEvaluators,
)
from detectron2.utils.registry import Registry

from .instance_evaluation import InstanceSegEvaluator
from .lvis_evaluation import LVISEvaluator
from .semantic_evaluation import CheckedSemSegEvaluator

logger = logging.getLogger(__name__)

# (dataset_name, output_dir) -> evaluator, or None when the dataset lacks the ground truth the
# evaluator needs
EvaluatorFactory = Callable[[str, str], Optional[DatasetEvaluator]]

# A task of an evaluator type: "always" (single-task dataset types), or a task of
# MODEL.MASK_FORMER.TEST: "semantic", "instance", "panoptic".
ALWAYS = "always"
TASKS = (ALWAYS, "semantic", "instance", "panoptic")

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = """
The evaluators of each dataset ``evaluator_type`` (a key of the dataset's metadata), as
:class:`EvaluatorType` entries named after the type; add one with
:func:`register_evaluator_type`.
"""


class EvaluatorType:
    """The evaluators of the datasets whose metadata has ``evaluator_type`` ``name``:
    ``factories`` maps a task of :data:`TASKS` to a callable ``(dataset_name, output_dir) ->
    DatasetEvaluator`` (or None when the dataset lacks the ground truth it needs)."""

    def __init__(self, name: str, factories: Dict[str, EvaluatorFactory]):
        unknown = set(factories) - set(TASKS)
        if unknown:
            raise ValueError(f"register_evaluator_type({name!r}): unknown tasks {unknown}")
        self.__name__ = name  # the name the registry files it under
        self.factories = dict(factories)

    def __call__(
        self, dataset_name: str, output_dir: str, enabled: Set[str]
    ) -> List[DatasetEvaluator]:
        """The evaluators of the tasks in ``enabled`` (and the "always" one) that the dataset
        has ground truth for."""
        built = [
            factory(dataset_name, output_dir)
            for task, factory in self.factories.items()
            if task == ALWAYS or task in enabled
        ]
        return [evaluator for evaluator in built if evaluator is not None]


def register_evaluator_type(evaluator_type: str, factories: Dict[str, EvaluatorFactory]) -> None:
    """Declare the evaluators of datasets whose metadata has ``evaluator_type``: ``factories``
    maps "always", "semantic", "instance" or "panoptic" to a callable
    ``(dataset_name, output_dir) -> DatasetEvaluator`` (or None when the dataset lacks the
    ground truth that evaluator needs). Raises ValueError for a type already registered."""
    if evaluator_type in EVALUATOR_REGISTRY:
        raise ValueError(f"register_evaluator_type: {evaluator_type!r} is already registered")
    EVALUATOR_REGISTRY.register(EvaluatorType(evaluator_type, factories))


def _sem_seg(name, output_dir):
    return CheckedSemSegEvaluator(name, distributed=True, output_dir=output_dir)


def _sem_seg_if_labelled(name, output_dir):
    """mIoU on a panoptic dataset, if it has semantic labels: detectron2's
    ``coco_2017_*_panoptic`` have none (the MaskFormer release evaluates only PQ there; the
    ``..._panoptic_with_sem_seg`` variants have them)."""
    if MetadataCatalog.get(name).get("sem_seg_root") is None:
        logger.info(
            f"Dataset {name!r} has no semantic labels (no sem_seg_root in its metadata): "
            "its semantic results are not evaluated."
        )
        return None
    return _sem_seg(name, output_dir)


def _coco_instance(name, output_dir):
    # Detectron2's COCOEvaluator extended to non-contiguous thing ids, with faster-coco-eval
    return InstanceSegEvaluator(name, output_dir=output_dir)


def _lvis(name, output_dir):
    return LVISEvaluator(name, output_dir=output_dir)


def _panoptic(name, output_dir):
    return COCOPanopticEvaluator(name, output_dir=output_dir)


def _cityscapes_sem_seg(name, output_dir):
    return CityscapesSemSegEvaluator(name)


class CityscapesInstanceEvaluatorInOutputDir(CityscapesInstanceEvaluator):
    """cityscapesscripts' instance evaluation always writes ``matches.json`` into the current
    directory; this runs it inside ``output_dir`` so that file lands next to the other results."""

    def __init__(self, dataset_name: str, output_dir: str):
        super().__init__(dataset_name)
        self._output_dir = output_dir

    def evaluate(self):
        os.makedirs(self._output_dir, exist_ok=True)
        cwd = os.getcwd()
        os.chdir(self._output_dir)
        try:
            return super().evaluate()
        finally:
            os.chdir(cwd)


def _cityscapes_instance(name, output_dir):
    return CityscapesInstanceEvaluatorInOutputDir(name, output_dir)


register_evaluator_type("sem_seg", {ALWAYS: _sem_seg})
register_evaluator_type("coco", {ALWAYS: _coco_instance})
register_evaluator_type("lvis", {ALWAYS: _lvis})
register_evaluator_type("cityscapes_sem_seg", {ALWAYS: _cityscapes_sem_seg})
register_evaluator_type("cityscapes_instance", {ALWAYS: _cityscapes_instance})
# the thing ids of ADE20K and Mapillary Vistas are a non-contiguous subset of all class ids
# (which InstanceSegEvaluator handles)
for _type in ("coco_panoptic_seg", "ade20k_panoptic_seg", "mapillary_vistas_panoptic_seg"):
    register_evaluator_type(
        _type,
        {"panoptic": _panoptic, "instance": _coco_instance, "semantic": _sem_seg_if_labelled},
    )
register_evaluator_type(
    "cityscapes_panoptic_seg",
    {"panoptic": _panoptic, "instance": _cityscapes_instance, "semantic": _cityscapes_sem_seg},
)


def build_evaluator(
    cfg: CfgNode, dataset_name: str, output_folder: Optional[str] = None
) -> DatasetEvaluator:
    """The evaluator(s) of ``dataset_name``: one evaluator, or :class:`DatasetEvaluators` when
    the config turns on several tasks (e.g. PQ, mask AP and mIoU on a panoptic dataset).

    Raises NotImplementedError (which ``DefaultTrainer.test`` reports and skips) when the
    dataset has no known ``evaluator_type`` or no enabled task has an evaluator.
    """
    if output_folder is None:
        output_folder = os.path.join(cfg.OUTPUT_DIR, "inference")
    evaluator_type = MetadataCatalog.get(dataset_name).get("evaluator_type")
    if evaluator_type not in EVALUATOR_REGISTRY:
        raise NotImplementedError(
            f"dataset {dataset_name!r} has evaluator_type {evaluator_type!r} in its metadata; "
            f"known types: {sorted(name for name, _ in EVALUATOR_REGISTRY)}"
        )
    test = cfg.MODEL.MASK_FORMER.TEST
    enabled = {
        task
        for task, on in (
            ("semantic", test.SEMANTIC_ON),
            ("instance", test.INSTANCE_ON),
            ("panoptic", test.PANOPTIC_ON),
        )
        if on
    }
    evaluators_of_type = EVALUATOR_REGISTRY.get(evaluator_type)
    evaluators = evaluators_of_type(dataset_name, output_folder, enabled)
    if not evaluators:
        raise NotImplementedError(
            f"dataset {dataset_name!r} ({evaluator_type}): none of its tasks "
            f"{sorted(evaluators_of_type.factories)} is on in MODEL.MASK_FORMER.TEST "
            "with the ground truth it needs"
        )
    return evaluators[0] if len(evaluators) == 1 else DatasetEvaluators(evaluators)
