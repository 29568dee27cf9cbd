"""The evaluator of YouTube-VIS format datasets (evaluator_type "ytvis"): predictions in the
YouTube-VIS results format, and video AP / AR (:mod:`.video_ap`) on annotated splits."""

import copy
import itertools
import json
import logging
import os
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np
import pycocotools.mask as mask_util
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from tabulate import tabulate

from .video_ap import evaluate_videos

__all__ = ["YTVISEvaluator", "video_results"]

# the metrics reported, as published
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10")


def video_results(video_id, output: Dict) -> List[Dict]:
    """The video model's output for one video in the YouTube-VIS results format: one dict per
    prediction with "video_id", "score", "category_id" (the model's contiguous class) and
    "segmentations" (one compressed RLE per frame, "counts" as str)."""
    results = []
    for score, label, masks in zip(
        output["pred_scores"], output["pred_labels"], output["pred_masks"]
    ):
        frames = np.asfortranarray(masks.numpy().astype(np.uint8).transpose(1, 2, 0))
        rles = mask_util.encode(frames)
        for rle in rles:
            rle["counts"] = rle["counts"].decode("ascii")
        results.append(
            {
                "video_id": video_id,
                "score": float(score),
                "category_id": int(label),
                "segmentations": rles,
            }
        )
    return results


class YTVISEvaluator(DatasetEvaluator):
    """Collects the video model's outputs (one video per call of :meth:`process`), writes
    ``results.json`` (the YouTube-VIS results format, dataset category ids: the file the
    challenge servers take) to ``output_dir`` and, when the dataset's JSON file
    (metadata ``json_file``) has annotations, returns {"segm": {"AP", "AP50", "AP75", "APs",
    "APm", "APl", "AR1", "AR10", "AP-<class>"...}} in percent."""

    def __init__(
        self, dataset_name: str, output_dir: Optional[str] = None, distributed: bool = True
    ):
        self._logger = logging.getLogger(__name__)
        self._metadata = MetadataCatalog.get(dataset_name)
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._distributed = distributed
        self._predictions: List[Dict] = []

    def reset(self):
        self._predictions = []

    def process(self, inputs, outputs):
        """
        Args:
            inputs: one video's input (a list of one dict with "video_id").
            outputs: the model's output for it (a dict with "pred_scores", "pred_labels",
                "pred_masks").
        """
        if len(inputs) != 1:
            raise ValueError(f"YTVISEvaluator takes one video per call, got {len(inputs)}")
        self._predictions.extend(video_results(inputs[0]["video_id"], outputs))

    def _to_dataset_ids(self, predictions: List[Dict]) -> List[Dict]:
        contiguous_to_dataset = {
            v: k for k, v in self._metadata.thing_dataset_id_to_contiguous_id.items()
        }
        predictions = copy.copy(predictions)
        for i, prediction in enumerate(predictions):
            label = prediction["category_id"]
            if label not in contiguous_to_dataset:
                raise ValueError(
                    f"YTVISEvaluator({self._dataset_name!r}): a prediction has class {label}; "
                    f"the dataset has {len(contiguous_to_dataset)} classes (is "
                    "MODEL.SEM_SEG_HEAD.NUM_CLASSES right?)"
                )
            predictions[i] = dict(prediction, category_id=contiguous_to_dataset[label])
        return predictions

    def evaluate(self):
        predictions = self._predictions
        if self._distributed:
            comm.synchronize()
            predictions = list(itertools.chain(*comm.gather(predictions, dst=0)))
            if not comm.is_main_process():
                return {}
        predictions = self._to_dataset_ids(predictions)
        if self._output_dir:
            PathManager.mkdirs(self._output_dir)
            path = os.path.join(self._output_dir, "results.json")
            self._logger.info(f"Saving {len(predictions)} predictions to {path}")
            with PathManager.open(path, "w") as f:
                json.dump(predictions, f)
        with PathManager.open(self._metadata.json_file) as f:
            ground_truth = json.load(f)
        if "annotations" not in ground_truth:
            self._logger.info(
                f"{self._metadata.json_file} has no annotations: no local evaluation "
                "(submit results.json to the challenge server)"
            )
            return {}
        stats, evaluator = evaluate_videos(ground_truth, predictions)
        results = OrderedDict(
            (m, stats[m] * 100 if stats[m] >= 0 else float("nan")) for m in METRICS
        )
        results.update(self._per_class_ap(evaluator))
        self._logger.info(
            f"Video instance segmentation of {self._dataset_name}:\n"
            + tabulate([list(results.values())[: len(METRICS)]], headers=METRICS, floatfmt=".2f")
        )
        return {"segm": results}

    def _per_class_ap(self, evaluator) -> Dict[str, float]:
        """AP of each class (all areas, 100 detections), in percent, named as in the
        metadata's thing_classes; NaN without ground truth."""
        precision = evaluator.eval["precision"]  # (IoU, recall, class, area, max dets)
        names = {c["id"]: c["name"] for c in evaluator.cocoGt.dataset["categories"]}
        classes = self._metadata.get("thing_classes", [])
        for dataset_id, contiguous in self._metadata.thing_dataset_id_to_contiguous_id.items():
            if contiguous < len(classes):
                names[dataset_id] = classes[contiguous]
        per_class = {}
        for k, category_id in enumerate(evaluator.params.catIds):
            values = precision[:, :, k, 0, -1]
            values = values[values > -1]
            ap = float(values.mean() * 100) if values.size else float("nan")
            per_class[f"AP-{names[category_id]}"] = ap
        return per_class
