"""Evaluators of a dataset, chosen by its metadata ``evaluator_type`` and the tasks that
``MODEL.MASK_FORMER.TEST.{SEMANTIC,INSTANCE,PANOPTIC}_ON`` turn on."""
import os
from typing import Callable, Dict, Optional

from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.evaluation import (
    CityscapesInstanceEvaluator,
    CityscapesSemSegEvaluator,
    COCOEvaluator,
    COCOPanopticEvaluator,
    DatasetEvaluator,
    DatasetEvaluators,
    SemSegEvaluator,
)

from .instance_evaluation import InstanceSegEvaluator

# (dataset_name, output_dir) -> evaluator
EvaluatorFactory = Callable[[str, str], DatasetEvaluator]

# A task key of EVALUATOR_TYPES: "always" (single-task dataset types), or a task of
# MODEL.MASK_FORMER.TEST: "semantic", "instance", "panoptic".
ALWAYS = "always"
EVALUATOR_TYPES: Dict[str, Dict[str, EvaluatorFactory]] = {}


def register_evaluator_type(evaluator_type: str, factories: Dict[str, EvaluatorFactory]) -> None:
    """Declare the evaluators of datasets whose metadata has ``evaluator_type``: ``factories``
    maps "always", "semantic", "instance" or "panoptic" to a callable
    ``(dataset_name, output_dir) -> DatasetEvaluator``."""
    unknown = set(factories) - {ALWAYS, "semantic", "instance", "panoptic"}
    if unknown:
        raise ValueError(f"register_evaluator_type({evaluator_type!r}): unknown tasks {unknown}")
    EVALUATOR_TYPES[evaluator_type] = dict(factories)


def _sem_seg(name, output_dir):
    return SemSegEvaluator(name, distributed=True, output_dir=output_dir)


def _coco_instance(name, output_dir):
    return COCOEvaluator(name, output_dir=output_dir)


def _instance_subset(name, output_dir):
    return InstanceSegEvaluator(name, output_dir=output_dir)


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
register_evaluator_type("cityscapes_sem_seg", {ALWAYS: _cityscapes_sem_seg})
register_evaluator_type("cityscapes_instance", {ALWAYS: _cityscapes_instance})
register_evaluator_type(
    "coco_panoptic_seg", {"panoptic": _panoptic, "instance": _coco_instance, "semantic": _sem_seg}
)
# the thing ids of these panoptic datasets are a non-contiguous subset of all class ids
for _type in ("ade20k_panoptic_seg", "mapillary_vistas_panoptic_seg"):
    register_evaluator_type(
        _type, {"panoptic": _panoptic, "instance": _instance_subset, "semantic": _sem_seg}
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
    if evaluator_type not in EVALUATOR_TYPES:
        raise NotImplementedError(
            f"dataset {dataset_name!r} has evaluator_type {evaluator_type!r} in its metadata; "
            f"known types: {sorted(EVALUATOR_TYPES)}"
        )
    test = cfg.MODEL.MASK_FORMER.TEST
    enabled = {
        ALWAYS: True,
        "semantic": test.SEMANTIC_ON,
        "instance": test.INSTANCE_ON,
        "panoptic": test.PANOPTIC_ON,
    }
    evaluators = [
        factory(dataset_name, output_folder)
        for task, factory in EVALUATOR_TYPES[evaluator_type].items()
        if enabled[task]
    ]
    if not evaluators:
        raise NotImplementedError(
            f"dataset {dataset_name!r} ({evaluator_type}): none of its tasks "
            f"{sorted(EVALUATOR_TYPES[evaluator_type])} is on in MODEL.MASK_FORMER.TEST"
        )
    return evaluators[0] if len(evaluators) == 1 else DatasetEvaluators(evaluators)
