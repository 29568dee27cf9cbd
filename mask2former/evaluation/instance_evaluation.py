"""COCO-style instance segmentation evaluation for datasets whose thing classes are a subset of
the model's classes (ADE20K, Mapillary Vistas)."""
import itertools
import json
import os

from detectron2.evaluation import COCOEvaluator
from detectron2.evaluation.coco_evaluation import _evaluate_predictions_on_coco
from detectron2.utils.file_io import PathManager
from pycocotools.cocoeval import COCOeval


class InstanceSegEvaluator(COCOEvaluator):
    """Mask (and box) AP with pycocotools' official ``COCOeval``.

    Detectron2's :class:`COCOEvaluator` requires the contiguous ids of
    ``thing_dataset_id_to_contiguous_id`` to be exactly ``0..N-1``. A model trained on all
    classes of a panoptic dataset predicts thing classes by their index among *all* classes, so
    its thing ids are a non-contiguous subset (ADE20K: 100 things among 150 classes). This
    evaluator maps them back to dataset category ids through the inverse of that dict, whatever
    values it holds. It never uses Detectron2's compiled fast evaluator.
    """

    def __init__(self, dataset_name, tasks=None, distributed=True, output_dir=None, **kwargs):
        kwargs["use_fast_impl"] = False
        super().__init__(dataset_name, tasks, distributed, output_dir, **kwargs)
        self._dataset_name = dataset_name

    def _to_dataset_category_ids(self, coco_results):
        id_map = self._metadata.get("thing_dataset_id_to_contiguous_id")
        if id_map is None:
            return
        contiguous_to_dataset = {v: k for k, v in id_map.items()}
        for result in coco_results:
            contiguous_id = result["category_id"]
            if contiguous_id not in contiguous_to_dataset:
                raise ValueError(
                    f"InstanceSegEvaluator({self._dataset_name!r}): a prediction has class "
                    f"{contiguous_id}, which is not a thing class of the dataset (thing classes "
                    f"have contiguous ids {sorted(contiguous_to_dataset)}); instance predictions "
                    "must be restricted to thing classes"
                )
            result["category_id"] = contiguous_to_dataset[contiguous_id]

    def _eval_predictions(self, predictions, img_ids=None):
        coco_results = list(itertools.chain.from_iterable(p["instances"] for p in predictions))
        self._to_dataset_category_ids(coco_results)

        if self._output_dir:
            file_path = os.path.join(self._output_dir, "coco_instances_results.json")
            self._logger.info(f"Saving results to {file_path}")
            with PathManager.open(file_path, "w") as f:
                json.dump(coco_results, f)

        if not self._do_evaluation:
            self._logger.info("Annotations are not available for evaluation.")
            return

        for task in sorted(self._tasks or self._tasks_from_predictions(coco_results)):
            # pycocotools cannot evaluate an empty result list (the metrics are NaN then)
            coco_eval = (
                _evaluate_predictions_on_coco(
                    self._coco_api,
                    coco_results,
                    task,
                    kpt_oks_sigmas=self._kpt_oks_sigmas,
                    cocoeval_fn=COCOeval,
                    img_ids=img_ids,
                    max_dets_per_image=self._max_dets_per_image,
                )
                if coco_results
                else None
            )
            self._results[task] = self._derive_coco_results(
                coco_eval, task, class_names=self._metadata.get("thing_classes")
            )
